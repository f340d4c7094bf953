// RawClient: a blocking TCP client on loopback that sends exact bytes and
// reads responses with a deadline — for requests curl would normalise
// (smuggling cases, slow heads, pipelining) and for CONNECT tunnels.
//
// Every read takes a timeout and fails with a Status instead of hanging.
// Owned by one thread at a time (a tunnel test may write from a second
// thread while the first reads: send() and the read calls touch different
// state, and the socket is full-duplex).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::testing {

using namespace std::chrono_literals;

// One parsed HTTP/1.x response.
struct HttpResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;  // de-chunked
  std::string head;  // raw head bytes, status line to the blank line
  bool chunked = false;
  // First value of a header, case-insensitive name.
  std::optional<std::string> header(std::string_view name) const;
};

class RawClient {
 public:
  // Connects to host:port (IPv4 or IPv6 literal).
  static StatusOr<RawClient> connect(uint16_t port, std::string_view host = "127.0.0.1");
  // The same from a chosen local IPv4 address (e.g. "127.0.0.2": any
  // 127/8 address is local on Linux), to look like another client.
  static StatusOr<RawClient> connectFrom(std::string_view source, uint16_t port, std::string_view host = "127.0.0.1");

  RawClient(RawClient&&) = default;
  RawClient& operator=(RawClient&&) = default;

  Status send(std::string_view bytes);
  // Half-closes the sending side (the peer reads EOF).
  void shutdownWrite();

  // Reads one response. No body for 1xx/204/304 or when `head_request`;
  // otherwise framed by chunked, Content-Length, or the end of the stream.
  StatusOr<HttpResponse> readResponse(std::chrono::milliseconds timeout = 10s, bool head_request = false);
  // Reads exactly n bytes.
  StatusOr<std::string> readExactly(size_t n, std::chrono::milliseconds timeout = 10s);
  // Reads until the peer closes (EOF or reset); everything read.
  StatusOr<std::string> readUntilClose(std::chrono::milliseconds timeout = 10s);
  // Reads up to `max` bytes that are available within `timeout` (at least one
  // unless EOF: then ""). Error on timeout.
  StatusOr<std::string> readSome(size_t max, std::chrono::milliseconds timeout = 10s);

  // True when bytes (or EOF) arrive within `timeout`; nothing is consumed.
  bool readableWithin(std::chrono::milliseconds timeout);

  int fd() const { return fd_.get(); }

 private:
  RawClient() = default;
  // Appends more bytes to buf_; 0 = EOF; error on timeout/reset.
  StatusOr<size_t> fill(std::chrono::steady_clock::time_point deadline);
  StatusOr<std::string> takeLine(std::chrono::steady_clock::time_point deadline);

  UniqueFd fd_;
  std::string buf_;  // received, not yet consumed
  bool eof_ = false;
};

// "Proxy-Authorization: Basic base64(user:password)\r\n"
std::string proxyBasicAuth(std::string_view user, std::string_view password);
std::string base64(std::string_view in);

// Sends "CONNECT target HTTP/1.1" (plus `extra_headers`, each ending in CRLF)
// through the proxy and reads the answer. On 200 the client is positioned at
// the first tunnelled byte; otherwise the error response is in `response`.
struct Tunnel {
  RawClient client;
  HttpResponse response;
  bool established() const { return response.status == 200; }
};
StatusOr<Tunnel> openTunnel(uint16_t proxy_port, std::string_view target, std::string_view extra_headers = "",
                            std::chrono::milliseconds timeout = 10s);

// One request on a fresh connection; returns the response.
StatusOr<HttpResponse> requestOnce(uint16_t port, std::string_view raw_request,
                                   std::chrono::milliseconds timeout = 10s, bool head_request = false);

}  // namespace kitgate::testing
