// Strict HTTP/1.1 response head parsing for the upstream side of the proxy,
// with body framing decided per RFC 9112 §6.3. Same field rules as request.h
// (obs-fold, bare LF/CR, CTLs, duplicate or invalid Content-Length, CL with
// TE, any Transfer-Encoding other than chunked, TE in HTTP/1.0 — all refused).
// Every error carries http status 502: the proxy answers the client "Bad
// Gateway" and closes the upstream connection.
//
// Thread-compatible: pure functions; the caller owns every buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/limits.h"
#include "proxy/http/message.h"

namespace kitgate::http {

struct ResponseHead {
  int version_minor = 1;
  int status = 0;  // 100..599
  std::string reason;
  std::vector<Header> headers;  // all fields, in order, hop-by-hop included

  // How the body that follows is delimited:
  //  kNone         HEAD request, 1xx (but 101), 204, 304
  //  kTunnel       2xx to CONNECT, or 101 Switching Protocols
  //  kChunked      Transfer-Encoding: chunked
  //  kContentLength
  //  kUntilClose   neither CL nor TE
  // The caller may change it before serializing (e.g. re-frame an
  // until-close body as chunked for a keep-alive client).
  BodyFraming framing = BodyFraming::kNone;
  // The Content-Length value when the header was present, even when framing
  // is kNone (a HEAD or 304 response announces the length of a body it does
  // not carry; serialization keeps it).
  bool has_content_length = false;
  uint64_t content_length = 0;
  // The upstream connection may carry another request after this response.
  bool keep_alive = true;

  // 1xx other than 101: forward it, then parse the next head (RFC 9110 §15.2).
  bool isInterim() const { return status >= 100 && status < 200 && status != 101; }
};

// Parses the response head at the start of `buf`. `request_method` is the
// method of the request this answers (HEAD and CONNECT change the framing).
// kIncomplete: need more bytes; kComplete: *out filled, *consumed = head
// length including the final CRLFCRLF; kError: httpStatus() == 502.
ParseStatus parseResponseHead(std::string_view buf, const HeadLimits& limits,
                              std::string_view request_method, ResponseHead* out,
                              size_t* consumed);

}  // namespace kitgate::http
