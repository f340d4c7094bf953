// PolicyLog: one JSON line per policy decision, in a size-rotated file.
//
//   {"time":"2026-11-27T08:01:02.123Z","sandbox":"default","type":"connect","method":"CONNECT",
//    "host":"api.example.com","port":443,"address":"93.184.216.34","decision":"allowed",
//    "rule":"**.example.com","reason":"…","proxy":"forward-bypass","status":200,
//    "bytes_up":512,"bytes_down":4096,"duration_ms":12.5}
//
// `kitgate policy log` reads this file. Lines never contain secrets, tokens or
// header values: only the normalised host, our own reason texts and numbers.
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

struct PolicyRecord {
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
  void flush();
  bool enabled() const { return logger_ != nullptr; }

  // Appends `s` as a JSON string literal (quotes included) to `out`.
  static void appendJsonString(std::string& out, std::string_view s);

 private:
  explicit PolicyLog(std::shared_ptr<spdlog::logger> logger);
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace kitgate::admin
