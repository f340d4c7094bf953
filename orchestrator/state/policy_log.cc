// Policy log reading and aggregation (policy_log.h).
#include "orchestrator/state/policy_log.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

namespace kitgate::state {

namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <typename T>
T num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<T>() : T{};
}

// Newest first, blocked before allowed.
void sortGroups(std::vector<LogGroup>& out) {
  std::stable_sort(out.begin(), out.end(), [](const LogGroup& a, const LogGroup& b) {
    if (a.blocked() != b.blocked()) return a.blocked();
    return a.last_seen > b.last_seen;
  });
}

}  // namespace

std::string LogEntry::hostPort() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool LogFilter::matches(const LogEntry& e) const {
  if (!sandbox.empty() && e.sandbox != sandbox) return false;
  if (!decision.empty() && e.decision != decision) return false;
  if (!host.empty() && e.host != host &&
      !(e.host.size() > host.size() && e.host.ends_with(host) &&
        e.host[e.host.size() - host.size() - 1] == '.')) {
    return false;
  }
  return true;
}

std::vector<std::string> policyLogFiles(const std::string& path) {
  // spdlog's rotating_file_sink: "dir/policy.log" -> "dir/policy.1.log"; the
  // extension starts at the last dot of the file name, unless that dot
  // starts the name ("dir/.log" -> "dir/.log.1").
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  const bool has_ext =
      dot != std::string::npos && dot != 0 && (slash == std::string::npos || dot > slash + 1);
  const std::string base = has_ext ? path.substr(0, dot) : path;
  const std::string ext = has_ext ? path.substr(dot) : "";
  std::vector<std::string> files;
  for (int i = 1; i <= 1000; ++i) {  // proxy.yaml allows policy_log.max_files up to 1000
    std::string rotated = base + "." + std::to_string(i) + ext;
    if (!std::ifstream(rotated)) break;
    files.insert(files.begin(), rotated);
  }
  files.push_back(path);
  return files;
}

bool parseLogLine(std::string_view line, LogEntry* out) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("decision") || !j.contains("host")) return false;
  LogEntry e;
  e.time = str(j, "time");
  e.event = str(j, "event");
  e.id = str(j, "id");
  e.client = str(j, "client");
  e.sandbox = str(j, "sandbox");
  e.type = str(j, "type");
  e.method = str(j, "method");
  e.host = str(j, "host");
  e.port = num<uint32_t>(j, "port");
  e.address = str(j, "address");
  e.decision = str(j, "decision");
  e.rule = str(j, "rule");
  e.reason = str(j, "reason");
  e.proxy = str(j, "proxy");
  e.error = str(j, "error");
  e.status = num<int>(j, "status");
  auto timing = [&j](const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : -1.0;
  };
  e.dns_ms = timing("dns_ms");
  e.connect_ms = timing("connect_ms");
  e.tls_ms = timing("tls_ms");
  e.bytes_up = num<uint64_t>(j, "bytes_up");
  e.bytes_down = num<uint64_t>(j, "bytes_down");
  e.duration_ms = num<double>(j, "duration_ms");
  *out = std::move(e);
  return true;
}

void parseLogText(std::string_view text, std::string_view sandbox, std::vector<LogEntry>* out) {
  parseLogText(text, LogFilter{std::string(sandbox), "", ""}, out);
}

void parseLogText(std::string_view text, const LogFilter& filter, std::vector<LogEntry>* out) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    LogEntry e;
    if (parseLogLine(text.substr(pos, end - pos), &e) && filter.matches(e)) {
      out->push_back(std::move(e));
    }
    pos = end + 1;
  }
}

std::vector<LogEntry> readPolicyLog(const std::string& path, std::string_view sandbox) {
  return readPolicyLog(path, LogFilter{std::string(sandbox), "", ""});
}

std::vector<LogEntry> readPolicyLog(const std::string& path, const LogFilter& filter) {
  std::vector<LogEntry> out;
  for (const auto& f : policyLogFiles(path)) {
    std::ifstream in(f, std::ios::binary);
    if (!in) continue;
    std::ostringstream ss;
    ss << in.rdbuf();
    parseLogText(ss.str(), filter, &out);
  }
  return out;
}

std::vector<LogEntry> pairConnections(const std::vector<LogEntry>& entries) {
  std::vector<LogEntry> out;
  std::map<std::string, size_t> open_at;  // id -> index in out of its open line
  for (const auto& e : entries) {
    if (!e.id.empty() && e.event == "close") {
      auto it = open_at.find(e.id);
      if (it != open_at.end()) {
        LogEntry& slot = out[it->second];
        std::string opened = slot.time;
        slot = e;
        slot.opened = std::move(opened);
        open_at.erase(it);
        continue;
      }
    }
    if (!e.id.empty() && e.event == "open") open_at[e.id] = out.size();
    out.push_back(e);
    if (e.isOpen()) out.back().opened = e.time;
  }
  return out;
}

std::vector<LogGroup> aggregatePolicyLog(const std::vector<LogEntry>& entries) {
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string,
                         std::string, std::string>;
  std::map<Key, LogGroup> groups;
  for (const auto& e : entries) {
    std::string host = e.hostPort();
    Key key{e.sandbox, e.type, host, e.decision, e.proxy, e.rule, e.reason};
    auto [it, fresh] = groups.try_emplace(key);
    LogGroup& g = it->second;
    if (fresh) {
      g.sandbox = e.sandbox;
      g.type = e.type;
      g.host = std::move(host);
      g.decision = e.decision;
      g.proxy = e.proxy;
      g.rule = e.rule;
      g.reason = e.reason;
    }
    g.last_seen = std::max(g.last_seen, e.time);
    ++g.count;
  }
  std::vector<LogGroup> out;
  out.reserve(groups.size());
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  sortGroups(out);
  return out;
}

std::vector<LogGroup> summarizePolicyLog(const std::vector<LogEntry>& entries) {
  std::map<std::pair<std::string, std::string>, LogGroup> groups;
  for (const auto& e : entries) {
    LogGroup& g = groups[{e.hostPort(), e.decision}];
    if (g.count == 0 || e.time >= g.last_seen) {
      g.sandbox = e.sandbox;
      g.type = e.type;
      g.host = e.hostPort();
      g.decision = e.decision;
      g.proxy = e.proxy;
      g.rule = e.rule;
      g.reason = e.reason;
      g.last_seen = e.time;
    }
    ++g.count;
  }
  std::vector<LogGroup> out;
  out.reserve(groups.size());
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  sortGroups(out);
  return out;
}

}  // namespace kitgate::state
