// EndReason: every way a request can end without reaching (or while
// waiting for) an upstream answer, and the ONE table that turns it into what
// the client sees (status, reason phrase, body), what is counted (metric)
// and what the policy log says. The data path never builds an error
// response by hand: it names the reason and the few facts the wording needs.
// (smokescreen `rejectResponse`: typed deny errors turned into responses in
// one place.)
//
// Pure functions over plain values; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin/metrics.h"

namespace kitgate::stream {

enum class EndReason : uint8_t {
  // Refused before the request is looked at.
  kConnectionLimit,          // max_connections reached
  kSandboxConnectionLimit,   // max_connections_per_sandbox reached; detail: sandbox name
  kSourceUnidentifiedLimit,  // max_unidentified_per_source: too many unidentified from this address
  kUnidentifiedLimit,        // max_unidentified: too many unidentified connections in total
  kUnauthenticated,          // the client is no registered sandbox (407)
  kHeadTimeout,              // head_timeout; detail: the limit in ms
  // The request itself.
  kBadRequest,       // the head parser refused it; status: its status; detail: its reason
  kNotProxyRequest,  // origin-form target sent to the forward proxy
  kInvalidHost,      // detail: what is wrong with the host
  kBadRequestBody,   // body framing error; detail: the decoder's reason
  kNotOriginForm,    // non-origin-form request inside an intercepted connection
  kMisdirected,      // 421; detail: "Host header" or "TLS SNI"
  kTunnelRefused,  // an opaque tunnel's first flight (ClientHello) refused; detail: what it carried
  // Policy.
  kPolicyDeny,      // detail: the decision's reason
  kAddressBlocked,  // every resolved address refused; detail: the reason
  // Upstream.
  kDnsFailure,  // detail: the resolver's error
  kDnsTimeout,
  kConnectFailed,  // detail: strerror of the last attempt
  kConnectTimeout,
  kUpstreamReset,        // write to upstream failed before its response
  kUpstreamNoResponse,   // upstream closed before a response head
  kUpstreamBadResponse,  // detail: the response parser's reason
  kUpstreamTlsFailure,   // detail: the whole message (already counted at the handshake)
  // Interception setup.
  kCertificateFailure,     // detail: why no leaf could be issued
  kInterceptSetupFailure,  // detail: why the client-side TLS could not be set up
  kCredentialUnavailable,  // a refreshable credential has no current value; detail: the service
  kInternal,               // an impossible combination, failed closed; detail: which
  kCount
};

// What the request was about, for the wording.
struct EndContext {
  std::string_view host;       // normalised host ("" before it is known)
  std::string_view authority;  // host, IPv6 bracketed
  uint16_t port = 0;
};

// The response and log line of one ending.
struct EndResponse {
  int status = 0;
  std::string_view phrase;        // "Forbidden"
  std::string body;               // the text/plain body
  std::string log;                // the policy log's reason
  std::string_view extra_header;  // a full "Name: value\r\n" line, or empty
  bool policy_block = false;      // counted as a blocked request (kitgate_requests_total)
};

// Stable lower-case name ("policy-deny", "dns-timeout", …) for tests and debug logs.
std::string_view toString(EndReason r);

// The table: status, phrase, body and log wording of `r`. `status` overrides
// the table's status for kBadRequest (the parser's 400/417/431/501/505).
EndResponse describeEnd(EndReason r, const EndContext& ctx, std::string_view detail,
                        int status = 0);

// Counts the ending in `m` (bad request, limit hit, upstream error,
// unauthenticated; a blocked request via EndResponse::policy_block). `status`
// as for describeEnd (a 431 is also a head-too-large limit hit).
void countEnd(EndReason r, admin::WorkerMetrics& m, int status = 0);

}  // namespace kitgate::stream
