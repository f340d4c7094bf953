// Types shared by request and response heads: Header, BodyFraming and the
// result of a head parse (ParseStatus). Plain values; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kitgate::http {

// One header field line. `name` keeps the case it was sent with (it is
// re-serialized as is); compare names with equalsIgnoreCase. `value` has its
// leading and trailing whitespace removed.
struct Header {
  std::string name;
  std::string value;

  bool operator==(const Header&) const = default;
};

// How a message body is delimited (RFC 9112 §6). Requests only ever get
// kNone, kContentLength or kChunked.
enum class BodyFraming {
  kNone,           // no body (requests without CL/TE; HEAD/1xx/204/304 responses)
  kContentLength,  // exactly content_length bytes
  kChunked,        // Transfer-Encoding: chunked
  kUntilClose,     // response body runs until the upstream closes
  kTunnel,         // 2xx to CONNECT or 101 Switching Protocols: raw bytes both ways
};

// ASCII case-insensitive comparison (header names, tokens, schemes).
bool equalsIgnoreCase(std::string_view a, std::string_view b);

// The first header named `name` (case-insensitive), or nullptr.
const Header* findHeader(const std::vector<Header>& headers, std::string_view name);

// Outcome of parseRequestHead / parseResponseHead.
class ParseStatus {
 public:
  enum class State { kIncomplete, kComplete, kError };

  static constexpr ParseStatus incomplete() { return ParseStatus(State::kIncomplete, 0, ""); }
  static constexpr ParseStatus complete() { return ParseStatus(State::kComplete, 0, ""); }
  // `reason` must be a string literal: it is short, fixed, never contains
  // bytes from the message, and so is safe to echo in an error response.
  static constexpr ParseStatus error(int http_status, const char* reason) {
    return ParseStatus(State::kError, http_status, reason);
  }

  // The same error answered with another status (response side: 502).
  constexpr ParseStatus withHttpStatus(int http_status) const {
    return ParseStatus(state_, http_status, reason_);
  }

  State state() const { return state_; }
  bool isIncomplete() const { return state_ == State::kIncomplete; }
  bool isComplete() const { return state_ == State::kComplete; }
  bool isError() const { return state_ == State::kError; }
  // The status to answer with: 400, 417, 431, 501, 505 for requests; 502 for
  // every bad upstream response. 0 unless isError().
  int httpStatus() const { return http_status_; }
  std::string_view reason() const { return reason_; }

 private:
  constexpr ParseStatus(State s, int http_status, const char* reason)
      : state_(s), http_status_(http_status), reason_(reason) {}

  State state_;
  int http_status_;
  const char* reason_;
};

}  // namespace kitgate::http
