// The only file of the proxy's config that includes yaml-cpp; every yaml-cpp
// exception is caught here and turned into a file:line:column message.
#include "proxy/config/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "proxy/common/yaml_keys.h"
#include "proxy/policy/ip_address.h"

namespace kitgate::config {
namespace {

class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}
  void add(const YAML::Mark& m, const std::string& msg) {
    std::ostringstream os;
    os << source_ << ":" << (m.line + 1) << ":" << (m.column + 1) << ": error: " << msg;
    lines_.push_back(os.str());
  }
  void add(const YAML::Node& n, const std::string& msg) { add(n.Mark(), msg); }
  bool empty() const { return lines_.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& l : lines_) {
      if (!out.empty()) out += '\n';
      out += l;
    }
    return out;
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

bool scalar(const YAML::Node& n, const char* key, Errors& e, std::string* out) {
  if (!n.IsScalar()) {
    e.add(n, std::string(key) + ": expected a string");
    return false;
  }
  *out = n.Scalar();
  return true;
}

void boolean(const YAML::Node& n, const char* key, Errors& e, bool* out) {
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
    *out = n.Scalar() == "true";
    return;
  }
  e.add(n, std::string(key) + ": expected true or false");
}

template <typename T>
bool number(const YAML::Node& n, const char* key, Errors& e, T* out, T min, T max) {
  if (!n.IsScalar()) {
    e.add(n, std::string(key) + ": expected a number");
    return false;
  }
  const std::string& s = n.Scalar();
  T v{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
    e.add(n, std::string(key) + ": expected an integer between " + std::to_string(min) + " and " +
                 std::to_string(max) + ", got '" + s + "'");
    return false;
  }
  *out = v;
  return true;
}

void millis(const YAML::Node& n, const char* key, Errors& e, std::chrono::milliseconds* out) {
  int64_t v = 0;
  if (number<int64_t>(n, key, e, &v, 1, 86'400'000)) *out = std::chrono::milliseconds(v);
}

void listenAddr(const YAML::Node& n, const char* key, Errors& e, std::string* out,
                bool allow_unix) {
  std::string s;
  if (!scalar(n, key, e, &s)) return;
  if (s.empty() || (allow_unix && s.rfind("unix:", 0) == 0)) {
    *out = s;
    return;
  }
  std::string host;
  uint16_t port = 0;
  if (!splitHostPort(s, &host, &port) || !policy::IpAddress::parse(host)) {
    e.add(n, std::string(key) + ": expected IP:port (e.g. 127.0.0.1:3128 or [::1]:3128)" +
                 (allow_unix ? " or unix:/path" : "") + ", got '" + s + "'");
    return;
  }
  *out = s;
}

// One IP:port or a list of them; replaces `out`.
void listenList(const YAML::Node& n, const char* key, Errors& e, std::vector<std::string>* out) {
  out->clear();
  auto one = [&](const YAML::Node& item) {
    std::string s;
    listenAddr(item, key, e, &s, false);
    if (!s.empty()) out->push_back(s);
  };
  if (n.IsSequence()) {
    for (const auto& item : n) one(item);
  } else {
    one(n);
  }
}

void rules(const YAML::Node& n, const char* key, Errors& e, std::vector<SourcedRule>* out) {
  if (!n.IsSequence()) {
    e.add(n, std::string(key) + ": expected a list of rules");
    return;
  }
  for (const auto& item : n) {
    std::string text;
    if (!scalar(item, key, e, &text)) continue;
    out->push_back(SourcedRule{text, e.source(), item.Mark().line + 1, item.Mark().column + 1});
  }
}

// Unknown, duplicate and non-string keys of `map` (proxy/common/yaml_keys.h).
void checkKeys(const YAML::Node& map, std::initializer_list<std::string_view> known,
               std::string_view where, Errors& e) {
  forEachKey(
      map, {known, where}, [&e](const YAML::Mark& m, const std::string& msg) { e.add(m, msg); },
      [](const std::string&, const YAML::Node&) {});
}

void parseLimits(const YAML::Node& n, Errors& e, Limits* l) {
  if (!n.IsMap()) {
    e.add(n, "limits: expected a mapping");
    return;
  }
  checkKeys(n,
            {"head_timeout_ms", "idle_timeout_ms", "connect_timeout_ms", "drain_timeout_ms",
             "max_connection_duration_ms", "max_head_bytes", "max_headers", "max_connections",
             "max_connections_per_sandbox", "max_unidentified_per_source", "max_unidentified",
             "overload_shed_idle_percent", "overload_stop_accepting_percent",
             "upstream_pool_idle_timeout_ms"},
            "limits", e);
  if (n["upstream_pool_idle_timeout_ms"]) {  // 0 = no pool
    int64_t v = 0;
    if (number<int64_t>(n["upstream_pool_idle_timeout_ms"], "upstream_pool_idle_timeout_ms", e, &v,
                        0, 3'600'000)) {
      l->upstream_pool_idle_timeout = std::chrono::milliseconds(v);
    }
  }
  if (n["max_connection_duration_ms"]) {  // 0 = no limit
    int64_t v = 0;
    if (number<int64_t>(n["max_connection_duration_ms"], "max_connection_duration_ms", e, &v, 0,
                        604'800'000)) {
      l->max_connection_duration = std::chrono::milliseconds(v);
    }
  }
  if (n["head_timeout_ms"]) millis(n["head_timeout_ms"], "head_timeout_ms", e, &l->head_timeout);
  if (n["idle_timeout_ms"]) millis(n["idle_timeout_ms"], "idle_timeout_ms", e, &l->idle_timeout);
  if (n["connect_timeout_ms"])
    millis(n["connect_timeout_ms"], "connect_timeout_ms", e, &l->connect_timeout);
  if (n["drain_timeout_ms"])
    millis(n["drain_timeout_ms"], "drain_timeout_ms", e, &l->drain_timeout);
  if (n["max_head_bytes"])
    number<size_t>(n["max_head_bytes"], "max_head_bytes", e, &l->max_head_bytes, 1024, 1 << 20);
  if (n["max_headers"])
    number<size_t>(n["max_headers"], "max_headers", e, &l->max_headers, 8, 10'000);
  if (n["max_connections"])
    number<size_t>(n["max_connections"], "max_connections", e, &l->max_connections, 1, 10'000'000);
  if (n["max_connections_per_sandbox"])
    number<size_t>(n["max_connections_per_sandbox"], "max_connections_per_sandbox", e,
                   &l->max_connections_per_sandbox, 1, 10'000'000);
  if (n["max_unidentified_per_source"])
    number<size_t>(n["max_unidentified_per_source"], "max_unidentified_per_source", e,
                   &l->max_unidentified_per_source, 1, 10'000'000);
  if (n["max_unidentified"])
    number<size_t>(n["max_unidentified"], "max_unidentified", e, &l->max_unidentified, 1,
                   10'000'000);
  if (n["overload_shed_idle_percent"])
    number<unsigned>(n["overload_shed_idle_percent"], "overload_shed_idle_percent", e,
                     &l->overload_shed_idle_percent, 1, 100);
  if (n["overload_stop_accepting_percent"])
    number<unsigned>(n["overload_stop_accepting_percent"], "overload_stop_accepting_percent", e,
                     &l->overload_stop_accepting_percent, 10, 100);
}

void parseDns(const YAML::Node& n, Errors& e, ProxyConfig* c) {
  if (!n.IsMap()) {
    e.add(n, "dns: expected a mapping");
    return;
  }
  checkKeys(n, {"hosts"}, "dns", e);
  const YAML::Node hosts = n["hosts"];
  if (!hosts) return;
  if (!hosts.IsMap()) {
    e.add(hosts, "dns.hosts: expected a mapping of name: address");
    return;
  }
  for (const auto& kv : hosts) {
    std::vector<std::string> addrs;
    auto one = [&](const YAML::Node& a) {
      if (!a.IsScalar() || !policy::IpAddress::parse(a.Scalar())) {
        e.add(a, "dns.hosts." + kv.first.Scalar() + ": expected an IP address");
        return;
      }
      addrs.push_back(a.Scalar());
    };
    if (kv.second.IsSequence()) {
      for (const auto& a : kv.second) one(a);
    } else {
      one(kv.second);
    }
    std::string name = kv.first.Scalar();
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    c->dns_hosts[name] = std::move(addrs);
  }
}

}  // namespace

std::vector<LimitGauge> limitGauges(const Limits& l) {
  auto secs = [](std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; };
  return {
      {"head_timeout_seconds", "Configured limits.head_timeout_ms, in seconds.",
       secs(l.head_timeout)},
      {"idle_timeout_seconds", "Configured limits.idle_timeout_ms, in seconds.",
       secs(l.idle_timeout)},
      {"connect_timeout_seconds", "Configured limits.connect_timeout_ms, in seconds.",
       secs(l.connect_timeout)},
      {"drain_timeout_seconds", "Configured limits.drain_timeout_ms, in seconds.",
       secs(l.drain_timeout)},
      {"max_head_bytes", "Configured limits.max_head_bytes.",
       static_cast<double>(l.max_head_bytes)},
      {"max_headers", "Configured limits.max_headers.", static_cast<double>(l.max_headers)},
      {"max_connections", "Configured limits.max_connections (client connections, whole proxy).",
       static_cast<double>(l.max_connections)},
      {"max_connections_per_sandbox", "Configured limits.max_connections_per_sandbox.",
       static_cast<double>(l.max_connections_per_sandbox)},
      {"max_unidentified_per_source", "Configured limits.max_unidentified_per_source.",
       static_cast<double>(l.max_unidentified_per_source)},
      {"max_unidentified", "Configured limits.max_unidentified.",
       static_cast<double>(l.max_unidentified)},
      {"overload_shed_idle_ratio", "Configured limits.overload_shed_idle_percent, as a ratio.",
       l.overload_shed_idle_percent / 100.0},
      {"overload_stop_accepting_ratio",
       "Configured limits.overload_stop_accepting_percent, as a ratio.",
       l.overload_stop_accepting_percent / 100.0},
  };
}

bool splitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    *host = text.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    *host = text.substr(0, colon);
    if (host->find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  }
  const char* b = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(b, end, v);
  if (ec != std::errc() || ptr != end || b == end || v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

StatusOr<ProxyConfig> parseConfig(const std::string& yaml, const std::string& source) {
  ProxyConfig c;
  c.source = source;
  Errors e(source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& ex) {
    e.add(ex.mark, ex.msg);
    return Status::error(e.joined());
  }
  if (root.IsNull()) return c;
  if (!root.IsMap()) {
    e.add(root, "expected a mapping at the top level");
    return Status::error(e.joined());
  }
  try {
    checkKeys(
        root,
        {"listen", "transparent_listen", "dns_listen", "workers", "metrics_listen", "admin_listen",
         "state_dir", "policy_log", "limits", "dns", "tls", "allow", "deny", "log_level"},
        "proxy config", e);
    if (auto n = root["listen"]) {
      listenList(n, "listen", e, &c.listen);
      if (n.IsSequence() && n.size() == 0) e.add(n, "listen: at least one address is required");
    }
    if (auto n = root["transparent_listen"])
      listenList(n, "transparent_listen", e, &c.transparent_listen);
    if (auto n = root["dns_listen"]) listenList(n, "dns_listen", e, &c.dns_listen);
    if (auto n = root["workers"]) number<int>(n, "workers", e, &c.workers, 0, 256);
    if (auto n = root["metrics_listen"])
      listenAddr(n, "metrics_listen", e, &c.metrics_listen, false);
    if (auto n = root["admin_listen"]) listenAddr(n, "admin_listen", e, &c.admin_listen, true);
    if (auto n = root["state_dir"]) scalar(n, "state_dir", e, &c.state_dir);
    if (auto n = root["log_level"]) {
      if (scalar(n, "log_level", e, &c.log_level)) {
        static const std::set<std::string> kLevels{"trace", "debug", "info",
                                                   "warn",  "error", "off"};
        if (!kLevels.count(c.log_level))
          e.add(n, "log_level: expected trace, debug, info, warn, error or off");
      }
    }
    if (auto n = root["policy_log"]) {
      if (!n.IsMap()) {
        e.add(n, "policy_log: expected a mapping");
      } else {
        checkKeys(n, {"path", "max_size_mb", "max_files"}, "policy_log", e);
        if (n["path"]) scalar(n["path"], "path", e, &c.policy_log_path);
        if (n["max_size_mb"])
          number<size_t>(n["max_size_mb"], "max_size_mb", e, &c.policy_log_max_size_mb, 1, 1 << 20);
        if (n["max_files"])
          number<size_t>(n["max_files"], "max_files", e, &c.policy_log_max_files, 1, 1000);
      }
    }
    if (auto n = root["limits"]) parseLimits(n, e, &c.limits);
    if (auto n = root["dns"]) parseDns(n, e, &c);
    if (auto n = root["tls"]) {
      if (!n.IsMap()) {
        e.add(n, "tls: expected a mapping");
      } else {
        checkKeys(
            n, {"upstream_ca_file", "ca_dir", "leaf_lifetime_hours", "http2", "tunnel_sni_check"},
            "tls", e);
        if (n["upstream_ca_file"])
          scalar(n["upstream_ca_file"], "upstream_ca_file", e, &c.upstream_ca_file);
        if (n["ca_dir"]) scalar(n["ca_dir"], "ca_dir", e, &c.ca_dir);
        if (n["leaf_lifetime_hours"])
          number<int>(n["leaf_lifetime_hours"], "leaf_lifetime_hours", e, &c.leaf_lifetime_hours, 2,
                      24 * 90);
        if (n["http2"]) boolean(n["http2"], "http2", e, &c.http2);
        if (n["tunnel_sni_check"])
          boolean(n["tunnel_sni_check"], "tunnel_sni_check", e, &c.tunnel_sni_check);
      }
    }
    if (auto n = root["allow"]) rules(n, "allow", e, &c.allow);
    if (auto n = root["deny"]) rules(n, "deny", e, &c.deny);
  } catch (const YAML::Exception& ex) {
    e.add(ex.mark, ex.msg);
  }
  if (!e.empty()) return Status::error(e.joined());
  return c;
}

StatusOr<ProxyConfig> loadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot read config file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parseConfig(ss.str(), path);
}

}  // namespace kitgate::config
