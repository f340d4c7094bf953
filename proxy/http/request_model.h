// http::Request: the protocol-neutral request — what policy, secrets and the
// policy log read (method, scheme, authority, port, path, headers). HTTP/1
// wire facts (target form, version, body framing, keep-alive, Expect,
// Upgrade) are not here: they are http1::Framing (proxy/http/request.h),
// owned by the codec that parsed the request. An HTTP/2 codec fills the same
// Request from its pseudo-headers (h2o's `h2o_req_t` input, Envoy's header
// map), so everything above the codec is shared.
//
// Plain value; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/http/message.h"

namespace kitgate::http {

struct Request {
  std::string method;  // case-sensitive token, e.g. "GET", "CONNECT"
  // "http" / "https" (lower-cased) when the request names one, else empty.
  std::string scheme;
  // The authority's host as sent (not lower-cased), without brackets for
  // IPv6 literals; empty when the request names none.
  std::string host;
  // The authority's port; 0 when the request names none (the caller knows
  // the default for its scheme).
  uint16_t port = 0;
  // Path and query ("/" when empty; "*" for OPTIONS *); empty for CONNECT.
  std::string path;
  std::vector<Header> headers;  // all fields, in order, hop-by-hop included
};

}  // namespace kitgate::http
