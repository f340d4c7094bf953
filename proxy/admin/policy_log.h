// PolicyLog: the canonical decision log, JSON lines in a size-rotated file
// (spdlog names rotations policy.1.log, policy.2.log, …; policy.1.log is the
// newest).
//
// A connection the policy allows writes two lines with the same "id": "open"
// when the decision is taken (a tunnel is visible while it is open) and
// "close" when it ends, with timings, error, bytes and duration. A refused
// request writes one "close" line (it ends at its decision). "close" repeats
// every field of "open", so each line stands alone after a rotation:
//
//   {"time":"2026-11-27T08:01:02.123Z","event":"open","id":"5f3a9c01-0-42","client":"10.0.0.5:51234",
//    "sandbox":"default","type":"connect","method":"CONNECT","host":"api.example.com","port":443,
//    "address":"93.184.216.34","decision":"allowed","rule":"**.example.com","reason":"…",
//    "proxy":"forward-bypass","status":200,"dns_ms":1.2,"connect_ms":0.8,"tls_ms":-1,"error":"",
//    "bytes_up":0,"bytes_down":0,"duration_ms":2.1}
//   {… "event":"close","id":"5f3a9c01-0-42", …
//   "bytes_up":512,"bytes_down":4096,"duration_ms":912.5}
//
// Timings are milliseconds, -1 when the step did not happen (no DNS for an IP
// literal, no TLS for a bypass tunnel). Records written without an event
// (PolicyEvent::kDecision, the format before open/close) carry no "event" or
// "id"; readers treat them as closed.
//
// `kitgate policy log` reads this file (orchestrator/state/policy_log.h).
// Lines never contain secrets, tokens or header values: only the normalised
// host, our own reason and error texts, addresses and numbers.
// Thread-safe: workers format lines on their own thread into a local batch
// (format()) and hand whole batches to writeBatch() — one queue push per
// batch, not per line — to spdlog's async logger (one background writer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/common/status.h"

namespace spdlog {
class logger;
}

namespace kitgate::admin {

enum class PolicyEvent : uint8_t {
  kDecision,  // one line, no event/id (before open/close; still accepted)
  kOpen,      // the decision was taken; the connection is now open
  kClose,     // the connection ended (or was refused)
};

struct PolicyRecord {
  PolicyEvent event = PolicyEvent::kDecision;
  std::string_view id;      // connectionId(); same on open and close
  std::string_view client;  // "ip:port" of the client ("[v6]:port")
  std::string_view sandbox;
  std::string_view type;    // "connect" | "http"
  std::string_view method;  // "CONNECT", "GET", …
  std::string_view host;    // normalised
  uint16_t port = 0;
  std::string_view address;  // resolved upstream address, "" if none
  bool allowed = false;
  std::string_view rule;  // rule text that decided, "" for default deny
  std::string_view reason;
  std::string_view proxy;  // "forward" | "forward-bypass" | ""
  int status = 0;          // HTTP status answered to the client
  double dns_ms = -1;      // name resolution; -1 = not done
  double connect_ms = -1;  // upstream TCP connect
  double tls_ms = -1;      // TLS handshakes of an intercepted connection
  std::string_view error;  // why it ended badly ("" = fine); our own words
  // Opaque tunnels whose first flight was checked (kit-spec §4.1; "" = not
  // checked): the ClientHello's server name, and what the check found:
  // "match" | "other-allowed" | "absent" | "not-tls" | "server-first" | "refused".
  std::string_view sni;
  std::string_view sni_check;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  double duration_ms = 0;
};

class PolicyLog {
 public:
  // path "" = disabled; "-" = stderr (no rotation).
  static StatusOr<std::unique_ptr<PolicyLog>> open(const std::string& path, size_t max_bytes,
                                                   size_t max_files);
  ~PolicyLog();

  // Appends `r` as one JSON line (with its '\n') to `out`.
  static void format(const PolicyRecord& r, std::string* out);
  // Writes lines produced by format() (must end with '\n'); any thread.
  void writeBatch(std::string_view lines);
  void write(const PolicyRecord& r);
  // write() of `r` as its open / close line (r.event is ignored).
  void opened(const PolicyRecord& r);
  void closed(const PolicyRecord& r);

  // A connection id unique across workers and restarts: a per-process random
  // tag, the worker index and the worker's own sequence number
  // ("5f3a9c01-2-42"). Any thread.
  static std::string connectionId(int worker, uint64_t seq);
  void flush();
  bool enabled() const { return logger_ != nullptr; }

  // Appends `s` as a JSON string literal (quotes included) to `out`.
  static void appendJsonString(std::string& out, std::string_view s);

 private:
  explicit PolicyLog(std::shared_ptr<spdlog::logger> logger);
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace kitgate::admin
