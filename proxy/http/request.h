// Strict HTTP/1.1 request head parsing (RFC 9112) for a forward proxy.
//
// Why hand-written rather than Debian's libhttp-parser: that library is
// unmaintained upstream (Node moved to llhttp), its strictness is a
// compile-time macro fixed by the distribution's build (we cannot rely on
// it), it accepts obs-fold continuation lines, and its callback API hands out
// field fragments we would copy anyway. A proxy holds the whole head before
// acting on it, so this parser works on a complete head: find the empty line
// (every LF must follow a CR), then validate the start line and each field
// line. The rules are all in one readable place, every refusal has a test,
// and fuzz/http drives it.
//
// Smuggling defences (each answered with an error, never "repaired"):
//   - Content-Length together with Transfer-Encoding; more than one
//     Content-Length (even equal); a value other than 1*DIGIT or overflowing.
//   - Transfer-Encoding in HTTP/1.0; more than one Transfer-Encoding line.
//     HTTP/1.1: exactly "chunked" (case-insensitive: we decode and re-encode
//     the body ourselves, so casing cannot desynchronise anyone) is accepted;
//     a list whose final coding is not chunked ("chunked, identity", "gzip")
//     is 400 (RFC 9112 §6.3 rule 4); a well-formed list ending in chunked
//     with other codings first ("gzip, chunked") is 501: understood syntax,
//     codings we do not implement.
//   - obs-fold, bare LF, bare CR, CTLs (but HT) in values, whitespace before
//     a colon, non-token names or methods, extra spaces in the request line.
//   - Content_Length / Transfer_Encoding (any '_' for '-'): gateways that map
//     '_' to '-' would frame by a field we forward as ordinary.
// Requests are re-serialized (serialize.h), never forwarded as raw bytes.
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
#include "proxy/http/request_model.h"

namespace kitgate::http1 {

// How an HTTP/1 request target was written (RFC 9112 §3.2).
enum class TargetForm {
  kOrigin,     // "/path?query" (MITM'd requests; Host header required)
  kAbsolute,   // "http://host[:port]/path" (plain HTTP through the proxy)
  kAuthority,  // "host:port", CONNECT only
  kAsterisk,   // "*", OPTIONS only
};

// The HTTP/1 wire facts of one request: how it was framed, not what it asks
// for. Kept by the HTTP/1 codec; never read by policy or secrets.
struct Framing {
  TargetForm form = TargetForm::kOrigin;
  int version_minor = 1;  // HTTP/1.<minor>; only 0 and 1 are accepted
  http::BodyFraming framing = http::BodyFraming::kNone;  // kNone, kContentLength or kChunked
  uint64_t content_length = 0;                           // valid when framing == kContentLength
  bool keep_alive = true;        // 1.1 unless "Connection: close"; 1.0 only with keep-alive
  bool expect_continue = false;  // "Expect: 100-continue" (HTTP/1.1)
  bool upgrade = false;          // "Connection: upgrade" plus an Upgrade header (HTTP/1.1)
};

}  // namespace kitgate::http1

namespace kitgate::http {

// One parsed HTTP/1 request head: the protocol-neutral Request plus the
// HTTP/1 Framing it came with. Field meanings for HTTP/1 targets:
//  - scheme: "http" (lower-cased) for absolute-form, empty otherwise.
//  - host: from the target for absolute- and authority-form (a Host header
//    that disagrees is ignored: RFC 9112 §3.2.2; it is rewritten on
//    serialization), from the Host header for origin-form; empty for
//    asterisk-form.
//  - port: explicit port, or 80 for absolute-form without one; 0 when
//    origin-form's Host header names no port.
//  - path: "/" when empty for origin-/absolute-form; empty for CONNECT; "*"
//    for asterisk-form. Fragments are refused, never stripped.
struct RequestHead : Request, http1::Framing {
  using TargetForm = http1::TargetForm;

  Request& request() { return *this; }
  const Request& request() const { return *this; }
  http1::Framing& wire() { return *this; }
  const http1::Framing& wire() const { return *this; }
};

// An authority as a request names it (an HTTP/1 target or Host header, an
// HTTP/2 :authority).
struct Authority {
  std::string_view host;  // without brackets
  uint16_t port = 0;
  bool has_port = false;
};

// "host[:port]" or "[v6][:port]" (RFC 3986 authority without userinfo; host
// limited to ALPHA DIGIT - . _ ~ so policy matching sees plain names). Returns
// nullptr on success, else a fixed reason safe to echo. `out` views `a`.
const char* parseAuthority(std::string_view a, bool port_required, Authority* out);

// Parses the request head at the start of `buf`. Empty lines before the
// request line are skipped (RFC 9112 §2.2).
//  - kIncomplete: need more bytes (but a `buf` already holding
//    limits.max_head_bytes without a complete head is a 431 error).
//  - kComplete: *out is filled and *consumed is the length of the head
//    including its final CRLFCRLF; the body (if any) follows.
//  - kError: httpStatus() is 400, 417, 431, 501 or 505; reason() is a fixed
//    text safe to echo. *out is unspecified.
// *out may be reused across calls: header strings keep their capacity.
ParseStatus parseRequestHead(std::string_view buf, const HeadLimits& limits, RequestHead* out,
                             size_t* consumed);

}  // namespace kitgate::http
