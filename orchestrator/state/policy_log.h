// Reading the proxy's policy log (JSON lines, proxy/admin/policy_log.h) for
// `kitgate policy log`: parse lines, read the rotated files too, aggregate
// per (sandbox, type, host:port, decision, proxy, rule, reason).
//
// Pure functions except readPolicyLog (reads files); any thread. Lines that
// do not parse are skipped (a log being written may end mid-line).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kitgate::state {

struct LogEntry {
  std::string time;  // RFC 3339 as the proxy wrote it (sorts as text)
  std::string sandbox, type, method, host;
  uint32_t port = 0;
  std::string address, decision, rule, reason, proxy;
  int status = 0;
  uint64_t bytes_up = 0, bytes_down = 0, duration_ms = 0;
};

// One JSON line -> entry; false when it is not a policy log record.
bool parseLogLine(std::string_view line, LogEntry* out);

// Reads `path` and its rotations (path.N … path.1, oldest first, then path),
// keeping entries of `sandbox` (all when empty). Missing files are empty.
std::vector<LogEntry> readPolicyLog(const std::string& path, std::string_view sandbox);

// Parses the lines of `text` (appended to `out`), same filter.
void parseLogText(std::string_view text, std::string_view sandbox, std::vector<LogEntry>* out);

struct LogGroup {
  std::string sandbox, type, host;  // host: "example.com:443" ([v6]:port for IPv6)
  std::string decision, proxy, rule, reason;
  std::string last_seen;  // the latest `time`
  uint64_t count = 0;
  bool blocked() const { return decision == "blocked"; }
};

// Blocked groups first, then allowed; within each, the latest first.
std::vector<LogGroup> aggregatePolicyLog(const std::vector<LogEntry>& entries);

}  // namespace kitgate::state
