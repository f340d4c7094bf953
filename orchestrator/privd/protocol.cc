#include "orchestrator/privd/protocol.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <variant>

#include "orchestrator/sandbox/plan.h"
#include "orchestrator/stateops/policy_ops.h"
#include "orchestrator/stateops/secret_ops.h"
#include "proxy/common/sandbox_name.h"
#include "proxy/secrets/host_pattern.h"

namespace kitgate::privd {

namespace {

using nlohmann::json;

struct VerbInfo {
  Verb verb;
  std::string_view name;
  std::set<std::string_view> required, optional;
};

const std::vector<VerbInfo>& verbTable() {
  static const std::vector<VerbInfo> kTable{{
      {Verb::kHello, "hello", {}, {}},
      {Verb::kFirewallIsolate, "firewall-isolate", {"name"}, {}},
      {Verb::kFirewallRelease, "firewall-release", {"name"}, {"subnet", "gateway"}},
      {Verb::kProxyEnsure, "proxy-ensure", {}, {}},
      {Verb::kProxyReload, "proxy-reload", {}, {}},
      {Verb::kListenAdd, "listen-add", {"listen"}, {}},
      {Verb::kListenRemove, "listen-remove", {"listen"}, {}},
      {Verb::kSandboxWrite,
       "sandbox-write",
       {"name", "token"},
       {"allow", "deny", "routes", "oauth"}},
      {Verb::kSandboxRemove, "sandbox-remove", {"name"}, {}},
      {Verb::kCaRemove, "ca-remove", {"name"}, {}},
      {Verb::kSecretsRemove, "secrets-remove", {"name"}, {}},
      {Verb::kSandboxCa, "sandbox-ca", {"name"}, {}},
      {Verb::kSandboxToken, "sandbox-token", {"name"}, {}},
      {Verb::kPlaceholders, "placeholders", {"name"}, {}},
      {Verb::kDnsListenAdd, "dns-listen-add", {"listen"}, {}},
      {Verb::kDnsListenRemove, "dns-listen-remove", {"listen"}, {}},
      {Verb::kTransparentPort, "transparent-port", {}, {}},
      {Verb::kSecretSet, "secret-set", {"scope", "service", "value"}, {}},
      {Verb::kSecretSetCustom,
       "secret-set-custom",
       {"scope", "env", "hosts", "placeholder", "value"},
       {}},
      {Verb::kSecretRemove, "secret-rm", {"scope"}, {"service", "host", "placeholder", "check"}},
      {Verb::kSecretList, "secret-ls", {}, {}},
      {Verb::kPolicyAllow, "policy-allow", {"rules"}, {"name"}},
      {Verb::kPolicyDeny, "policy-deny", {"rules"}, {"name"}},
      {Verb::kPolicyRemove, "policy-rm", {"rules"}, {"name", "check"}},
      {Verb::kPolicyList, "policy-ls", {}, {}},
      {Verb::kPolicyCheck, "policy-check", {"target"}, {"name"}},
      {Verb::kPolicyLog, "policy-log", {}, {"name", "decision", "host", "summary", "limit"}},
  }};
  return kTable;
}

const VerbInfo& infoOf(Verb verb) {
  for (const VerbInfo& v : verbTable()) {
    if (v.verb == verb) return v;
  }
  return verbTable()[0];
}

// Printable ASCII without spaces: rule patterns, domains, service names.
bool plainText(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

// Printable ASCII with spaces (a header format such as "Bearer %s").
bool printable(std::string_view s, size_t max) {
  if (s.size() > max) return false;
  for (char c : s) {
    if (c < ' ' || c > '~') return false;
  }
  return true;
}

bool validToken(std::string_view s) {
  if (s.size() < 16 || s.size() > 128) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

StatusOr<std::string> stringField(const json& j, const char* key) {
  if (!j.is_string()) return Status::error(std::string("field ") + key + " must be a string");
  return j.get<std::string>();
}

StatusOr<std::vector<std::string>> stringList(const json& j, const char* key, size_t max_len) {
  if (!j.is_array()) return Status::error(std::string("field ") + key + " must be a list");
  if (j.size() > kMaxListItems) {
    return Status::error(std::string("field ") + key + " has more than " +
                         std::to_string(kMaxListItems) + " entries");
  }
  std::vector<std::string> out;
  for (const json& item : j) {
    if (!item.is_string() || !plainText(item.get_ref<const std::string&>(), max_len)) {
      return Status::error(std::string("field ") + key + ": entry " +
                           std::to_string(out.size() + 1) + " is not 1-" + std::to_string(max_len) +
                           " printable characters without spaces");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

StatusOr<std::vector<state::Route>> routeList(const json& j) {
  if (!j.is_array()) return Status::error("field routes must be a list");
  if (j.size() > kMaxListItems) return Status::error("field routes has too many entries");
  std::vector<state::Route> out;
  for (const json& r : j) {
    const std::string where = "routes entry " + std::to_string(out.size() + 1);
    if (!r.is_object()) return Status::error(where + " must be an object");
    state::Route route;
    for (const auto& [key, value] : r.items()) {
      if (key == "domains") {
        auto d = stringList(value, "routes.domains", 253);
        if (!d) return Status::error(where + ": " + d.status().message());
        route.domains = std::move(*d);
        continue;
      }
      std::string* dest = key == "service"    ? &route.service
                          : key == "header"   ? &route.header
                          : key == "format"   ? &route.format
                          : key == "username" ? &route.username
                                              : nullptr;
      if (dest == nullptr) return Status::error(where + ": unknown field \"" + key + "\"");
      if (!value.is_string() || !printable(value.get_ref<const std::string&>(), 256)) {
        return Status::error(where + ": " + key + " must be up to 256 printable characters");
      }
      *dest = value.get<std::string>();
    }
    if (!plainText(route.service, 64)) return Status::error(where + ": service is missing");
    out.push_back(std::move(route));
  }
  return out;
}

// The fields of the secret-* and policy-* verbs, with the CLI's validators
// (stateops). No message quotes a value.
Status checkSecretFields(const json& j, const Request& r) {
  if (j.contains("scope") && !stateops::validScope(r.scope)) {
    return Status::error("invalid scope: \"global\" or \"sandbox:<sandbox name>\"");
  }
  if (j.contains("service") && !stateops::validService(r.service)) {
    return Status::error("invalid service name (1-128 of letters, digits, - _ .)");
  }
  if (j.contains("env") && !stateops::validEnv(r.env)) {
    return Status::error("invalid env: use a shell variable name");
  }
  if (j.contains("placeholder")) {
    if (Status s = stateops::checkPlaceholder(r.placeholder); !s) return s;
  }
  if (j.contains("host") && !plainText(r.host, 253)) {
    return Status::error("invalid host: 1-253 printable characters without spaces");
  }
  if (j.contains("value")) {
    if (Status s = stateops::checkValue(r.value); !s) return s;
  }
  if (j.contains("target") && !plainText(r.target, 300)) {
    return Status::error("invalid target: host[:port]");
  }
  if (j.contains("decision") && r.decision != "allowed" && r.decision != "blocked") {
    return Status::error("invalid decision: allowed or blocked");
  }
  if (r.verb == Verb::kSecretRemove) {
    const int selectors = j.contains("service") + j.contains("host") + j.contains("placeholder");
    if (selectors != 1) {
      return Status::error("malformed request: secret-rm takes one of service, host, placeholder");
    }
  }
  if (j.contains("hosts")) {
    const json& hosts = j.at("hosts");
    if (!hosts.is_array() || hosts.empty() || hosts.size() > kMaxListItems) {
      return Status::error("field hosts must be a list of 1-" + std::to_string(kMaxListItems) +
                           " host patterns");
    }
    for (const json& h : hosts) {
      if (!h.is_string() || std::holds_alternative<policy::RuleError>(
                                secrets::parseHostPattern(h.get_ref<const std::string&>()))) {
        return Status::error(
            "field hosts: entry is not a host pattern (example.com, "
            "*.example.com, **.example.com or an IP)");
      }
    }
  }
  return Status::ok();
}

bool parsePrefix(std::string_view s, int max, int* out) {
  if (s.empty() || s.size() > 3) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && *out >= 0 && *out <= max;
}

}  // namespace

std::string_view verbName(Verb verb) { return infoOf(verb).name; }

bool validIpAddress(std::string_view text) {
  if (text.empty() || text.size() > 45) return false;
  const std::string s(text);
  unsigned char buf[16];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Status checkSubnetAndGateway(std::string_view subnet, std::string_view gateway) {
  const size_t slash = subnet.find('/');
  if (slash == std::string_view::npos || slash > 45) {
    return Status::error("subnet is not an address/prefix");
  }
  const std::string net(subnet.substr(0, slash));
  const std::string gw(gateway.substr(0, 45));
  unsigned char a[16] = {}, b[16] = {};
  int family = AF_INET;
  if (::inet_pton(AF_INET, net.c_str(), a) != 1) {
    family = AF_INET6;
    if (::inet_pton(AF_INET6, net.c_str(), a) != 1)
      return Status::error("subnet is not an address/prefix");
  }
  const int bits = family == AF_INET ? 32 : 128;
  int prefix = 0;
  if (!parsePrefix(subnet.substr(slash + 1), bits, &prefix) || prefix == 0) {
    return Status::error("subnet prefix must be 1-" + std::to_string(bits));
  }
  if (gateway.size() > 45 || ::inet_pton(family, gw.c_str(), b) != 1) {
    return Status::error("gateway is not an address of the subnet's family");
  }
  for (int i = 0; i < prefix; ++i) {
    const unsigned char mask = static_cast<unsigned char>(0x80u >> (i % 8));
    if ((a[i / 8] & mask) != (b[i / 8] & mask))
      return Status::error("gateway is outside the subnet");
  }
  return Status::ok();
}

Status checkListen(std::string_view listen, std::string* ip, int allowed_port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) return Status::error("listen entry is not <address>:<port>");
  std::string_view host = listen.substr(0, colon);
  const std::string_view port = listen.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos)
      return Status::error("listen entry is not <address>:<port>");
  } else if (host.find(':') != std::string_view::npos) {
    return Status::error("listen entry: an IPv6 address goes in brackets");
  }
  if (!validIpAddress(host)) return Status::error("listen entry: not an IP address");
  if (port != std::to_string(allowed_port)) {
    return Status::error("listen entry: only port " + std::to_string(allowed_port) +
                         " may be added here");
  }
  const std::string h(host);
  unsigned char buf[16] = {};
  if (::inet_pton(AF_INET, h.c_str(), buf) == 1) {
    if (buf[0] == 127 || (buf[0] | buf[1] | buf[2] | buf[3]) == 0) {
      return Status::error(
          "listen entry: a loopback or unspecified address is not a sandbox gateway");
    }
  } else if (h == "::" || h == "::1") {
    return Status::error(
        "listen entry: a loopback or unspecified address is not a sandbox gateway");
  }
  if (ip != nullptr) *ip = h;
  return Status::ok();
}

std::string encodeRequest(const Request& r) {
  json j;
  j["verb"] = std::string(verbName(r.verb));
  const VerbInfo& info = infoOf(r.verb);
  auto takes = [&](std::string_view key) {
    return info.required.count(key) > 0 || info.optional.count(key) > 0;
  };
  if (takes("name")) j["name"] = r.name;
  if (takes("subnet") && !r.subnet.empty()) j["subnet"] = r.subnet;
  if (takes("gateway") && !r.gateway.empty()) j["gateway"] = r.gateway;
  if (takes("listen")) j["listen"] = r.listen;
  if (takes("token")) j["token"] = r.token;
  if (takes("allow")) j["allow"] = r.allow;
  if (takes("deny")) j["deny"] = r.deny;
  for (auto [key, value] : {std::pair{"scope", &r.scope}, std::pair{"service", &r.service},
                            std::pair{"env", &r.env}, std::pair{"placeholder", &r.placeholder},
                            std::pair{"host", &r.host}, std::pair{"value", &r.value},
                            std::pair{"target", &r.target}, std::pair{"decision", &r.decision}}) {
    const bool required = info.required.count(key) > 0;
    if (required || (takes(key) && !value->empty())) j[key] = *value;
  }
  if (takes("name") && info.required.count("name") == 0 && r.name.empty()) j.erase("name");
  if (takes("hosts")) j["hosts"] = r.hosts;
  if (takes("rules")) j["rules"] = r.rules;
  if (takes("check") && r.check) j["check"] = true;
  if (takes("summary") && r.summary) j["summary"] = true;
  if (takes("limit") && r.limit > 0) j["limit"] = r.limit;
  if (takes("oauth") && !r.oauth.empty())
    j["oauth"] = json::parse(secrets::renderOAuthRoutes(r.oauth));
  if (takes("routes")) {
    json routes = json::array();
    for (const state::Route& route : r.routes) {
      json o;
      o["service"] = route.service;
      o["domains"] = route.domains;
      if (!route.header.empty()) o["header"] = route.header;
      if (!route.format.empty()) o["format"] = route.format;
      if (!route.username.empty()) o["username"] = route.username;
      routes.push_back(std::move(o));
    }
    j["routes"] = std::move(routes);
  }
  return j.dump();
}

StatusOr<Request> parseRequest(std::string_view bytes) {
  if (bytes.size() > kMaxMessageBytes) {
    return Status::error("request too large (more than " + std::to_string(kMaxMessageBytes) +
                         " bytes)");
  }
  const json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::error("malformed request: not a JSON object");
  auto verb_it = j.find("verb");
  if (verb_it == j.end() || !verb_it->is_string()) {
    return Status::error("malformed request: no verb");
  }
  const std::string& verb = verb_it->get_ref<const std::string&>();
  const VerbInfo* info = nullptr;
  for (const VerbInfo& v : verbTable()) {
    if (v.name == verb) info = &v;
  }
  if (info == nullptr) {
    std::string known;
    for (const VerbInfo& v : verbTable())
      known += (known.empty() ? "" : ", ") + std::string(v.name);
    return Status::error("unknown verb (known: " + known + ")");
  }
  Request r;
  r.verb = info->verb;
  for (const auto& [key, value] : j.items()) {
    if (key == "verb") continue;
    if (info->required.count(key) == 0 && info->optional.count(key) == 0) {
      return Status::error("malformed request: " + std::string(info->name) + " takes no field \"" +
                           key.substr(0, 32) + "\"");
    }
  }
  for (std::string_view key : info->required) {
    if (!j.contains(key)) {
      return Status::error("malformed request: " + std::string(info->name) + " needs field " +
                           std::string(key));
    }
  }
  auto str = [&](const char* key, std::string* dest) -> Status {
    if (!j.contains(key)) return Status::ok();
    auto s = stringField(j.at(key), key);
    if (!s) return s.status();
    *dest = std::move(*s);
    return Status::ok();
  };
  for (auto [key, dest] : {std::pair{"name", &r.name}, std::pair{"subnet", &r.subnet},
                           std::pair{"gateway", &r.gateway}, std::pair{"listen", &r.listen},
                           std::pair{"token", &r.token}, std::pair{"scope", &r.scope},
                           std::pair{"service", &r.service}, std::pair{"env", &r.env},
                           std::pair{"placeholder", &r.placeholder}, std::pair{"host", &r.host},
                           std::pair{"value", &r.value}, std::pair{"target", &r.target},
                           std::pair{"decision", &r.decision}}) {
    if (Status s = str(key, dest); !s) return Status::error("malformed request: " + s.message());
  }
  for (auto [key, dest] : {std::pair{"check", &r.check}, std::pair{"summary", &r.summary}}) {
    if (!j.contains(key)) continue;
    if (!j.at(key).is_boolean()) {
      return Status::error(std::string("malformed request: field ") + key +
                           " must be true or false");
    }
    *dest = j.at(key).get<bool>();
  }
  if (j.contains("limit")) {
    if (!j.at("limit").is_number_unsigned() || j.at("limit").get<uint64_t>() > kMaxLogLimit) {
      return Status::error("malformed request: field limit must be a number up to " +
                           std::to_string(kMaxLogLimit));
    }
    r.limit = j.at("limit").get<size_t>();
  }
  if (Status s = checkSecretFields(j, r); !s) return s;
  if (j.contains("name") && !validSandboxName(r.name)) {
    return Status::error(
        "invalid sandbox name: use 1-63 of a-z 0-9 - _ . starting with a letter "
        "or digit (no paths)");
  }
  if (j.contains("subnet") != j.contains("gateway")) {
    return Status::error("malformed request: subnet and gateway go together");
  }
  if (j.contains("subnet")) {
    if (Status s = checkSubnetAndGateway(r.subnet, r.gateway); !s) return s;
  }
  if (j.contains("listen")) {
    const bool dns = r.verb == Verb::kDnsListenAdd || r.verb == Verb::kDnsListenRemove;
    if (Status s = checkListen(r.listen, nullptr, dns ? sandbox::kDnsPort : sandbox::kProxyPort);
        !s) {
      return s;
    }
  }
  if (j.contains("token") && !validToken(r.token)) {
    return Status::error("invalid token: 16-128 letters and digits");
  }
  for (auto [key, dest] : {std::pair{"allow", &r.allow}, std::pair{"deny", &r.deny},
                           std::pair{"rules", &r.rules}, std::pair{"hosts", &r.hosts}}) {
    if (!j.contains(key)) continue;
    auto list = stringList(j.at(key), key, 512);
    if (!list) return list.status();
    *dest = std::move(*list);
  }
  if (j.contains("routes")) {
    auto routes = routeList(j.at("routes"));
    if (!routes) return routes.status();
    r.routes = std::move(*routes);
  }
  if (j.contains("rules")) {
    if (Status s = stateops::checkRules(r.rules); !s) return s;
  }
  if (j.contains("oauth")) {
    if (!j.at("oauth").is_object()) return Status::error("field oauth must be an object");
    // The proxy's own reader of oauth/<sandbox>.json (FORMAT.md).
    auto routes = secrets::parseOAuthRoutes(j.at("oauth").dump(), "oauth");
    if (!routes) return routes.status();
    r.oauth = std::move(*routes);
  }
  return r;
}

std::string encodeResponse(const Response& r) {
  json j;
  j["ok"] = r.ok;
  if (!r.ok) j["error"] = r.error;
  if (!r.text.empty()) j["text"] = r.text;
  if (!r.lines.empty()) j["lines"] = r.lines;
  if (!r.notes.empty()) j["notes"] = r.notes;
  if (!r.warnings.empty()) j["warnings"] = r.warnings;
  if (!r.reload_error.empty()) j["reload_error"] = r.reload_error;
  if (!r.pairs.empty()) {
    json pairs = json::array();
    for (const auto& [k, v] : r.pairs) pairs.push_back(json::array({k, v}));
    j["pairs"] = std::move(pairs);
  }
  return j.dump();
}

StatusOr<Response> parseResponse(std::string_view bytes) {
  if (bytes.size() > kMaxResponseBytes) return Status::error("daemon response too large");
  const json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    return Status::error("malformed response from the kitgate daemon");
  }
  Response r;
  r.ok = j["ok"].get<bool>();
  auto getString = [&](const char* key, std::string* dest) {
    if (auto it = j.find(key); it != j.end() && it->is_string()) *dest = it->get<std::string>();
  };
  getString("error", &r.error);
  getString("text", &r.text);
  getString("reload_error", &r.reload_error);
  for (auto [key, dest] : {std::pair{"lines", &r.lines}, std::pair{"notes", &r.notes},
                           std::pair{"warnings", &r.warnings}}) {
    if (auto it = j.find(key); it != j.end() && it->is_array()) {
      for (const json& l : *it) {
        if (l.is_string()) dest->push_back(l.get<std::string>());
      }
    }
  }
  if (auto it = j.find("pairs"); it != j.end() && it->is_array()) {
    for (const json& p : *it) {
      if (p.is_array() && p.size() == 2 && p[0].is_string() && p[1].is_string()) {
        r.pairs.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
      }
    }
  }
  if (!r.ok && r.error.empty()) r.error = "the kitgate daemon refused the request";
  return r;
}

}  // namespace kitgate::privd
