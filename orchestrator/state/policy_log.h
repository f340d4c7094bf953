// Reading the proxy's policy log (JSON lines, proxy/admin/policy_log.h) for
// `kitgate policy log`: parse lines, read the rotated files too (spdlog's
// names: policy.2.log, policy.1.log, then policy.log), pair a connection's
// "open" and "close" lines by id, filter, and aggregate per (sandbox, type,
// host:port, decision, proxy, rule, reason) or per host:port (summary).
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
  std::string time;   // RFC 3339 as the proxy wrote it (sorts as text)
  std::string event;  // "open" | "close" | "" (a one-line record: closed)
  std::string id;     // connection id, the same on open and close ("" if none)
  std::string client;
  std::string sandbox, type, method, host;
  uint32_t port = 0;
  std::string address, decision, rule, reason, proxy, error;
  int status = 0;
  double dns_ms = -1, connect_ms = -1, tls_ms = -1;  // -1: not done
  uint64_t bytes_up = 0, bytes_down = 0;
  double duration_ms = 0;
  std::string opened;  // time of the open line, once paired ("" if unseen)
  bool isOpen() const { return event == "open"; }
  std::string hostPort() const;  // "example.com:443", "[2001:db8::1]:443"
};

// Which entries to keep; empty fields match everything.
struct LogFilter {
  std::string sandbox;
  std::string decision;  // "allowed" | "blocked"
  std::string host;      // the host or any name below it ("example.com" keeps api.example.com)
  bool matches(const LogEntry& e) const;
};

// The files holding `path`'s log, oldest first: spdlog's rotations
// (policy.N.log … policy.1.log for policy.log; name.N for a name without an
// extension) that exist, then `path` itself.
std::vector<std::string> policyLogFiles(const std::string& path);

// One JSON line -> entry; false when it is not a policy log record.
bool parseLogLine(std::string_view line, LogEntry* out);

// Reads policyLogFiles(path) in order, keeping entries `filter` matches.
// Missing files are empty.
std::vector<LogEntry> readPolicyLog(const std::string& path, const LogFilter& filter);
std::vector<LogEntry> readPolicyLog(const std::string& path, std::string_view sandbox);

// Parses the lines of `text` (appended to `out`), same filter.
void parseLogText(std::string_view text, const LogFilter& filter, std::vector<LogEntry>* out);
void parseLogText(std::string_view text, std::string_view sandbox, std::vector<LogEntry>* out);

// One entry per connection, in the order they were opened: a "close" line
// replaces its "open" line (keeping the open time in `opened`); an "open"
// without its "close" stays (the connection is still open, or the proxy
// died). Entries without an id are kept as they are.
std::vector<LogEntry> pairConnections(const std::vector<LogEntry>& entries);

struct LogGroup {
  std::string sandbox, type, host;  // host: "example.com:443" ([v6]:port for IPv6)
  std::string decision, proxy, rule, reason;
  std::string last_seen;  // the latest `time`
  uint64_t count = 0;
  bool blocked() const { return decision == "blocked"; }
};

// Blocked groups first, then allowed; within each, the latest first.
std::vector<LogGroup> aggregatePolicyLog(const std::vector<LogEntry>& entries);

// Per host:port and decision only (sandbox, rule and reason set to the
// latest entry's): the `--summary` view. Same order.
std::vector<LogGroup> summarizePolicyLog(const std::vector<LogEntry>& entries);

}  // namespace kitgate::state
