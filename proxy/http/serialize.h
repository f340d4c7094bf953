// Re-serialization of parsed heads for forwarding, and short error responses.
//
// The proxy never forwards raw header bytes: it writes a fresh head from the
// parsed struct. Hop-by-hop fields are dropped (isHopByHop, plus every field
// the message's own Connection header names), Host and Content-Length are
// rewritten from the parsed target and framing, and Connection is written
// from keep_alive/upgrade. Note: a field listed in the client's Connection
// header is dropped even if the caller added it after parsing (RFC 9110
// §7.6.1); inject credentials under names the client cannot make hop-by-hop
// by first erasing the client's Connection header, or accept the drop.
//
// Thread-compatible; the functions append to a caller-owned string (reuse it
// across messages to avoid allocation).
#pragma once

#include <string>
#include <string_view>

#include "proxy/http/request.h"
#include "proxy/http/response.h"

namespace kitgate::http {

// Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade and every
// Proxy-* field (Proxy-Connection, Proxy-Authorization, Proxy-Authenticate…).
bool isHopByHop(std::string_view name);

// Appends "METHOD path HTTP/1.1", Host from req.host/req.port (IPv6
// bracketed; the port omitted when it is 0 or the scheme's default: 443 for
// scheme "https", else 80), the end-to-end fields in order (Expect only when
// expect_continue: a 1.0 request's ignored Expect is dropped), the framing field
// (Content-Length or Transfer-Encoding: chunked) and Connection (keep-alive,
// close, or "upgrade" plus the Upgrade field when req.upgrade). The body
// framing on the wire must then follow req.framing (chunked bodies are
// re-encoded with ChunkedEncoder).
// The same from the request as forwarded and the framing to forward it with.
void serializeRequestForOrigin(const Request& req, const http1::Framing& wire, std::string* out);
void serializeRequestForOrigin(const RequestHead& req, std::string* out);

// Appends "HTTP/1.1 status reason" (the standard phrase when reason is
// empty), end-to-end fields, framing from resp.framing (a HEAD/304 response
// keeps its Content-Length), and Connection from keep_alive (none on 1xx
// interim responses; "upgrade" on 101).
void serializeResponseForClient(const ResponseHead& resp, std::string* out);

// A complete short response: status line, Content-Type: text/plain;
// charset=utf-8, Content-Length, Connection (close or keep-alive), body.
// Bytes of reason_phrase that may not appear in a status line become '?'.
std::string errorResponse(int status, std::string_view reason_phrase, std::string_view body,
                          bool close);

// The standard reason phrase for a status code ("" when unknown).
std::string_view reasonPhrase(int status);

}  // namespace kitgate::http
