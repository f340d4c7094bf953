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

std::string hostPort(const LogEntry& e) {
  const bool v6 = e.host.find(':') != std::string::npos;
  return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

}  // namespace

bool parseLogLine(std::string_view line, LogEntry* out) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("decision") || !j.contains("host")) return false;
  LogEntry e;
  e.time = str(j, "time");
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
  e.status = num<int>(j, "status");
  e.bytes_up = num<uint64_t>(j, "bytes_up");
  e.bytes_down = num<uint64_t>(j, "bytes_down");
  e.duration_ms = num<uint64_t>(j, "duration_ms");
  *out = std::move(e);
  return true;
}

void parseLogText(std::string_view text, std::string_view sandbox, std::vector<LogEntry>* out) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    LogEntry e;
    if (parseLogLine(text.substr(pos, end - pos), &e) &&
        (sandbox.empty() || e.sandbox == sandbox)) {
      out->push_back(std::move(e));
    }
    pos = end + 1;
  }
}

std::vector<LogEntry> readPolicyLog(const std::string& path, std::string_view sandbox) {
  std::vector<std::string> files;
  for (int i = 1; i < 100; ++i) {
    std::string rotated = path + "." + std::to_string(i);
    if (!std::ifstream(rotated)) break;
    files.insert(files.begin(), rotated);
  }
  files.push_back(path);
  std::vector<LogEntry> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) continue;
    std::ostringstream ss;
    ss << in.rdbuf();
    parseLogText(ss.str(), sandbox, &out);
  }
  return out;
}

std::vector<LogGroup> aggregatePolicyLog(const std::vector<LogEntry>& entries) {
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string,
                         std::string, std::string>;
  std::map<Key, LogGroup> groups;
  for (const auto& e : entries) {
    std::string host = hostPort(e);
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
  std::stable_sort(out.begin(), out.end(), [](const LogGroup& a, const LogGroup& b) {
    if (a.blocked() != b.blocked()) return a.blocked();
    return a.last_seen > b.last_seen;
  });
  return out;
}

}  // namespace kitgate::state
