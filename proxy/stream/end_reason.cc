#include "proxy/stream/end_reason.h"

#include <array>

#include "proxy/http/serialize.h"
#include "proxy/policy/decision.h"

namespace kitgate::stream {
namespace {

using admin::Limit;
using admin::UpstreamError;

// One row per EndReason, in enum order.
struct Row {
  EndReason reason;
  std::string_view name;
  int status;
  std::string_view phrase;
  std::optional<Limit> limit;
  std::optional<UpstreamError> upstream_error;
  bool bad_request;
  bool policy_block;
};

constexpr std::array<Row, static_cast<size_t>(EndReason::kCount)> kTable{{
    {EndReason::kConnectionLimit,
     "connection-limit",
     503,
     "Service Unavailable",
     Limit::kMaxConnections,
     {},
     false,
     false},
    {EndReason::kSandboxConnectionLimit,
     "sandbox-connection-limit",
     503,
     "Service Unavailable",
     Limit::kMaxConnectionsPerSandbox,
     {},
     false,
     false},
    {EndReason::kSourceUnidentifiedLimit,
     "source-unidentified-limit",
     503,
     "Service Unavailable",
     Limit::kMaxUnidentifiedPerSource,
     {},
     false,
     false},
    {EndReason::kUnidentifiedLimit,
     "unidentified-limit",
     503,
     "Service Unavailable",
     Limit::kMaxUnidentified,
     {},
     false,
     false},
    {EndReason::kUnauthenticated,
     "unauthenticated",
     407,
     "Proxy Authentication Required",
     {},
     {},
     false,
     false},
    {EndReason::kHeadTimeout,
     "head-timeout",
     408,
     "Request Timeout",
     Limit::kHeadTimeout,
     {},
     false,
     false},
    {EndReason::kBadRequest, "bad-request", 400, "Bad Request", {}, {}, true, false},
    {EndReason::kNotProxyRequest, "not-proxy-request", 400, "Bad Request", {}, {}, true, false},
    {EndReason::kInvalidHost, "invalid-host", 400, "Bad Request", {}, {}, true, false},
    {EndReason::kBadRequestBody, "bad-request-body", 400, "Bad Request", {}, {}, true, false},
    {EndReason::kNotOriginForm, "not-origin-form", 400, "Bad Request", {}, {}, true, false},
    {EndReason::kMisdirected, "misdirected", 421, "Misdirected Request", {}, {}, false, false},
    {EndReason::kTunnelRefused, "tunnel-refused", 421, "Misdirected Request", {}, {}, false, true},
    {EndReason::kPolicyDeny, "policy-deny", 403, "Forbidden", {}, {}, false, true},
    {EndReason::kAddressBlocked,
     "address-blocked",
     403,
     "Forbidden",
     {},
     UpstreamError::kAddressBlocked,
     false,
     true},
    {EndReason::kDnsFailure,
     "dns-failure",
     502,
     "Bad Gateway",
     {},
     UpstreamError::kDns,
     false,
     false},
    {EndReason::kDnsTimeout,
     "dns-timeout",
     504,
     "Gateway Timeout",
     {},
     UpstreamError::kDns,
     false,
     false},
    {EndReason::kConnectFailed,
     "connect-failed",
     502,
     "Bad Gateway",
     {},
     UpstreamError::kConnect,
     false,
     false},
    {EndReason::kConnectTimeout,
     "connect-timeout",
     504,
     "Gateway Timeout",
     {},
     UpstreamError::kTimeout,
     false,
     false},
    {EndReason::kUpstreamReset,
     "upstream-reset",
     502,
     "Bad Gateway",
     {},
     UpstreamError::kConnect,
     false,
     false},
    {EndReason::kUpstreamNoResponse,
     "upstream-no-response",
     502,
     "Bad Gateway",
     {},
     UpstreamError::kBadResponse,
     false,
     false},
    {EndReason::kUpstreamBadResponse,
     "upstream-bad-response",
     502,
     "Bad Gateway",
     {},
     UpstreamError::kBadResponse,
     false,
     false},
    {EndReason::kUpstreamTlsFailure,
     "upstream-tls-failure",
     502,
     "Bad Gateway",
     {},
     {},
     false,
     false},
    {EndReason::kCertificateFailure,
     "certificate-failure",
     502,
     "Bad Gateway",
     {},
     {},
     false,
     false},
    {EndReason::kInterceptSetupFailure,
     "intercept-setup-failure",
     502,
     "Bad Gateway",
     {},
     {},
     false,
     false},
    {EndReason::kCredentialUnavailable,
     "credential-unavailable",
     503,
     "Service Unavailable",
     {},
     {},
     false,
     false},
    {EndReason::kInternal, "internal", 502, "Bad Gateway", {}, {}, false, false},
}};

constexpr bool tableInEnumOrder() {
  for (size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<size_t>(kTable[i].reason) != i) return false;
  }
  return true;
}
static_assert(tableInEnumOrder(), "kTable rows must follow EndReason order");

const Row& row(EndReason r) { return kTable[static_cast<size_t>(r)]; }

std::string str(std::string_view s) { return std::string(s); }

// The log wording (also the body's text for most reasons).
std::string logWording(EndReason r, const EndContext& c, std::string_view d) {
  const std::string port = std::to_string(c.port);
  switch (r) {
    case EndReason::kConnectionLimit:
      return "connection limit reached (max_connections)";
    case EndReason::kSandboxConnectionLimit:
      return "connection limit reached (max_connections_per_sandbox)";
    case EndReason::kSourceUnidentifiedLimit:
      return "connection limit reached (max_unidentified_per_source)";
    case EndReason::kUnidentifiedLimit:
      return "connection limit reached (max_unidentified)";
    case EndReason::kUnauthenticated:
      return "client not recognised as any sandbox";
    case EndReason::kHeadTimeout:
      return "request head timeout (head_timeout_ms " + str(d) + ")";
    case EndReason::kNotProxyRequest:
      return "not a proxy request (origin-form target)";
    case EndReason::kInvalidHost:
      return "invalid host: " + str(d);
    case EndReason::kBadRequestBody:
      return "bad request body framing";
    case EndReason::kNotOriginForm:
      return "non-origin-form request on an intercepted connection";
    case EndReason::kMisdirected:
      return str(d) + " does not match the CONNECT target " + str(c.host);
    case EndReason::kTunnelRefused:
      return "tunnel to " + str(c.authority) + ":" + port + " refused: " + str(d);
    case EndReason::kDnsFailure:
      return "DNS lookup of " + str(c.host) + " failed: " + str(d);
    case EndReason::kDnsTimeout:
      return "DNS lookup of " + str(c.host) + " timed out";
    case EndReason::kConnectFailed:
      return "connect to " + str(c.authority) + ":" + port + " failed: " + str(d);
    case EndReason::kConnectTimeout:
      return "connect to " + str(c.authority) + ":" + port + " timed out";
    case EndReason::kUpstreamReset:
      return "upstream " + str(c.authority) + " reset the connection";
    case EndReason::kUpstreamNoResponse:
      return "upstream " + str(c.authority) + ":" + port +
             " closed the connection without a response";
    case EndReason::kUpstreamBadResponse:
      return "upstream " + str(c.authority) + " sent an invalid response: " + str(d);
    case EndReason::kCertificateFailure:
      return "cannot issue a certificate for " + str(c.host) + ": " + str(d);
    case EndReason::kInterceptSetupFailure:
      return "TLS setup failed: " + str(d);
    case EndReason::kCredentialUnavailable:
      return "no credential available for service " + str(d) + " (its source has no current value)";
    case EndReason::kBadRequest:
    case EndReason::kPolicyDeny:
    case EndReason::kAddressBlocked:
    case EndReason::kUpstreamTlsFailure:
    case EndReason::kInternal:
    case EndReason::kCount:
      break;
  }
  return str(d);
}

std::string bodyText(EndReason r, const EndContext& c, std::string_view d, const std::string& log) {
  switch (r) {
    case EndReason::kConnectionLimit:
      return "kitgate: too many connections (max_connections reached)\n";
    case EndReason::kSandboxConnectionLimit:
      return "kitgate: too many connections for sandbox " + str(d) + "\n";
    case EndReason::kSourceUnidentifiedLimit:
      return "kitgate: too many connections from this address that have not sent a request yet\n";
    case EndReason::kUnidentifiedLimit:
      return "kitgate: too many connections that have not sent a request yet\n";
    case EndReason::kUnauthenticated:
      return "kitgate: this client is not a registered sandbox\n";
    case EndReason::kHeadTimeout:
      return "kitgate: request head not received in time\n";
    case EndReason::kBadRequest:
      return "kitgate: bad request: " + str(d) + "\n";
    case EndReason::kNotProxyRequest:
      return "kitgate is a forward proxy: send CONNECT host:port, or an absolute-form request "
             "(GET http://host/path)\n";
    case EndReason::kBadRequestBody:
      return "kitgate: bad request body: " + str(d) + "\n";
    case EndReason::kNotOriginForm:
      return "kitgate: inside a TLS connection send origin-form requests (GET /path)\n";
    case EndReason::kPolicyDeny:
    case EndReason::kAddressBlocked:
      return policy::blockedBody(c.host, c.port, d);
    default:
      return "kitgate: " + log + "\n";
  }
}

}  // namespace

std::string_view toString(EndReason r) {
  return r < EndReason::kCount ? row(r).name : std::string_view("unknown");
}

EndResponse describeEnd(EndReason r, const EndContext& ctx, std::string_view detail, int status) {
  if (r >= EndReason::kCount) r = EndReason::kInternal;
  const Row& t = row(r);
  EndResponse out;
  out.status = t.status;
  out.phrase = t.phrase;
  if (r == EndReason::kBadRequest && status != 0) {
    out.status = status;
    out.phrase = http::reasonPhrase(status);
  }
  out.log = logWording(r, ctx, detail);
  out.body = bodyText(r, ctx, detail, out.log);
  if (r == EndReason::kUnauthenticated)
    out.extra_header = "Proxy-Authenticate: Basic realm=\"kitgate\"\r\n";
  out.policy_block = t.policy_block;
  return out;
}

void countEnd(EndReason r, admin::WorkerMetrics& m, int status) {
  if (r >= EndReason::kCount) return;
  const Row& t = row(r);
  if (t.limit) m.limit_hits[admin::idx(*t.limit)].add();
  if (r == EndReason::kBadRequest && status == 431)
    m.limit_hits[admin::idx(Limit::kHeadTooLarge)].add();
  if (t.upstream_error) m.upstream_errors[admin::idx(*t.upstream_error)].add();
  if (t.bad_request) m.bad_requests.add();
  if (r == EndReason::kUnauthenticated) m.unauthenticated.add();
}

}  // namespace kitgate::stream
