// The EndReason table: every reason a request can end with maps to the
// status and body the client sees, the policy-log wording and the metric —
// the wording agents and tests already know (unchanged from the hand-built
// responses it replaced).
#include "proxy/stream/end_reason.h"

#include <gtest/gtest.h>

#include <set>

namespace kitgate::stream {
namespace {

const EndContext kCtx{"api.example.com", "api.example.com", 8443};

struct Row {
  EndReason reason;
  std::string_view detail;
  int status;
  std::string_view phrase;
  std::string_view body;
  std::string_view log;
};

// One row per reason: what a user sees today for each ending.
const Row kRows[] = {
    {EndReason::kConnectionLimit, "", 503, "Service Unavailable",
     "kitgate: too many connections (max_connections reached)\n",
     "connection limit reached (max_connections)"},
    {EndReason::kSandboxConnectionLimit, "dev1", 503, "Service Unavailable",
     "kitgate: too many connections for sandbox dev1\n",
     "connection limit reached (max_connections_per_sandbox)"},
    {EndReason::kSourceUnidentifiedLimit, "", 503, "Service Unavailable",
     "kitgate: too many connections from this address that have not sent a request yet\n",
     "connection limit reached (max_unidentified_per_source)"},
    {EndReason::kUnidentifiedLimit, "", 503, "Service Unavailable",
     "kitgate: too many connections that have not sent a request yet\n",
     "connection limit reached (max_unidentified)"},
    {EndReason::kUnauthenticated, "", 407, "Proxy Authentication Required",
     "kitgate: this client is not a registered sandbox\n", "client not recognised as any sandbox"},
    {EndReason::kHeadTimeout, "10000", 408, "Request Timeout",
     "kitgate: request head not received in time\n",
     "request head timeout (head_timeout_ms 10000)"},
    {EndReason::kBadRequest, "invalid request line", 400, "Bad Request",
     "kitgate: bad request: invalid request line\n", "invalid request line"},
    {EndReason::kNotProxyRequest, "", 400, "Bad Request",
     "kitgate is a forward proxy: send CONNECT host:port, or an absolute-form request (GET "
     "http://host/path)\n",
     "not a proxy request (origin-form target)"},
    {EndReason::kInvalidHost, "empty label", 400, "Bad Request",
     "kitgate: invalid host: empty label\n", "invalid host: empty label"},
    {EndReason::kBadRequestBody, "bad chunk size", 400, "Bad Request",
     "kitgate: bad request body: bad chunk size\n", "bad request body framing"},
    {EndReason::kNotOriginForm, "", 400, "Bad Request",
     "kitgate: inside a TLS connection send origin-form requests (GET /path)\n",
     "non-origin-form request on an intercepted connection"},
    {EndReason::kMisdirected, "TLS SNI", 421, "Misdirected Request",
     "kitgate: TLS SNI does not match the CONNECT target api.example.com\n",
     "TLS SNI does not match the CONNECT target api.example.com"},
    {EndReason::kTunnelRefused,
     "TLS SNI evil.example is neither the CONNECT host nor allowed by policy", 421,
     "Misdirected Request",
     "kitgate: tunnel to api.example.com:8443 refused: TLS SNI evil.example is neither the CONNECT "
     "host nor allowed by policy\n",
     "tunnel to api.example.com:8443 refused: TLS SNI evil.example is neither the CONNECT host nor "
     "allowed by policy"},
    {EndReason::kPolicyDeny, "blocked by deny rule \"api.example.com\"", 403, "Forbidden",
     "Blocked by network policy: domain api.example.com:8443\n  detail: blocked by deny rule "
     "\"api.example.com\"\n",
     "blocked by deny rule \"api.example.com\""},
    {EndReason::kAddressBlocked, "resolved address 10.0.0.1 is private (blocked by default)", 403,
     "Forbidden",
     "Blocked by network policy: domain api.example.com:8443\n  detail: resolved address 10.0.0.1 "
     "is private "
     "(blocked by default)\n",
     "resolved address 10.0.0.1 is private (blocked by default)"},
    {EndReason::kDnsFailure, "NXDOMAIN", 502, "Bad Gateway",
     "kitgate: DNS lookup of api.example.com failed: NXDOMAIN\n",
     "DNS lookup of api.example.com failed: NXDOMAIN"},
    {EndReason::kDnsTimeout, "", 504, "Gateway Timeout",
     "kitgate: DNS lookup of api.example.com timed out\n",
     "DNS lookup of api.example.com timed out"},
    {EndReason::kConnectFailed, "Connection refused", 502, "Bad Gateway",
     "kitgate: connect to api.example.com:8443 failed: Connection refused\n",
     "connect to api.example.com:8443 failed: Connection refused"},
    {EndReason::kConnectTimeout, "", 504, "Gateway Timeout",
     "kitgate: connect to api.example.com:8443 timed out\n",
     "connect to api.example.com:8443 timed out"},
    {EndReason::kUpstreamReset, "", 502, "Bad Gateway",
     "kitgate: upstream api.example.com reset the connection\n",
     "upstream api.example.com reset the connection"},
    {EndReason::kUpstreamNoResponse, "", 502, "Bad Gateway",
     "kitgate: upstream api.example.com:8443 closed the connection without a response\n",
     "upstream api.example.com:8443 closed the connection without a response"},
    {EndReason::kUpstreamBadResponse, "invalid status line", 502, "Bad Gateway",
     "kitgate: upstream api.example.com sent an invalid response: invalid status line\n",
     "upstream api.example.com sent an invalid response: invalid status line"},
    {EndReason::kUpstreamTlsFailure, "TLS with upstream api.example.com failed: bad certificate",
     502, "Bad Gateway", "kitgate: TLS with upstream api.example.com failed: bad certificate\n",
     "TLS with upstream api.example.com failed: bad certificate"},
    {EndReason::kCertificateFailure, "key error", 502, "Bad Gateway",
     "kitgate: cannot issue a certificate for api.example.com: key error\n",
     "cannot issue a certificate for api.example.com: key error"},
    {EndReason::kInterceptSetupFailure, "no memory", 502, "Bad Gateway",
     "kitgate: TLS setup failed: no memory\n", "TLS setup failed: no memory"},
    {EndReason::kCredentialUnavailable, "amp", 503, "Service Unavailable",
     "kitgate: no credential available for service amp (its source has no current value)\n",
     "no credential available for service amp (its source has no current value)"},
    {EndReason::kInternal, "impossible", 502, "Bad Gateway", "kitgate: impossible\n", "impossible"},
};

TEST(EndReasonTable, EveryReasonHasARowHere) {
  std::set<EndReason> seen;
  for (const Row& r : kRows) seen.insert(r.reason);
  EXPECT_EQ(seen.size(), static_cast<size_t>(EndReason::kCount));
}

TEST(EndReasonTable, StatusPhraseBodyAndLogWording) {
  for (const Row& r : kRows) {
    SCOPED_TRACE(std::string(toString(r.reason)));
    EndResponse e = describeEnd(r.reason, kCtx, r.detail);
    EXPECT_EQ(e.status, r.status);
    EXPECT_EQ(e.phrase, r.phrase);
    EXPECT_EQ(e.body, r.body);
    EXPECT_EQ(e.log, r.log);
  }
}

TEST(EndReasonTable, NamesAreDistinct) {
  std::set<std::string_view> names;
  for (const Row& r : kRows) names.insert(toString(r.reason));
  EXPECT_EQ(names.size(), static_cast<size_t>(EndReason::kCount));
}

TEST(EndReasonTable, BadRequestTakesTheParsersStatusAndItsPhrase) {
  for (int status : {400, 417, 431, 501, 505}) {
    EndResponse e = describeEnd(EndReason::kBadRequest, kCtx, "x", status);
    EXPECT_EQ(e.status, status);
    EXPECT_FALSE(e.phrase.empty()) << status;
  }
  EXPECT_EQ(describeEnd(EndReason::kBadRequest, kCtx, "x", 505).phrase,
            "HTTP Version Not Supported");
}

TEST(EndReasonTable, OnlyTheUnauthenticatedAnswerAsksForProxyCredentials) {
  for (const Row& r : kRows) {
    EndResponse e = describeEnd(r.reason, kCtx, r.detail);
    if (r.reason == EndReason::kUnauthenticated) {
      EXPECT_EQ(e.extra_header, "Proxy-Authenticate: Basic realm=\"kitgate\"\r\n");
    } else {
      EXPECT_TRUE(e.extra_header.empty()) << toString(r.reason);
    }
  }
}

TEST(EndReasonTable, OnlyPolicyEndingsCountAsBlockedRequests) {
  for (const Row& r : kRows) {
    const bool policy = r.reason == EndReason::kPolicyDeny ||
                        r.reason == EndReason::kAddressBlocked ||
                        r.reason == EndReason::kTunnelRefused;
    EXPECT_EQ(describeEnd(r.reason, kCtx, r.detail).policy_block, policy) << toString(r.reason);
  }
}

TEST(EndReasonTable, BodiesNeverCarryControlCharactersFromTheHost) {
  const EndContext evil{"a\r\nX-Evil: 1", "a\r\nX-Evil: 1", 80};
  EndResponse e = describeEnd(EndReason::kPolicyDeny, evil, "reason");
  EXPECT_EQ(e.body.find("\r\nX-Evil"), std::string::npos) << e.body;
}

uint64_t total(const admin::Counter& c) { return c.get(); }

struct Counted {
  EndReason reason;
  int status;
  uint64_t bad_requests, unauthenticated;
  std::optional<admin::Limit> limit;
  std::optional<admin::UpstreamError> upstream;
};

TEST(EndReasonTable, CountsEachEndingWhereTheMetricsPageShowsIt) {
  using admin::Limit;
  using admin::UpstreamError;
  const Counted cases[] = {
      {EndReason::kConnectionLimit, 0, 0, 0, Limit::kMaxConnections, {}},
      {EndReason::kSandboxConnectionLimit, 0, 0, 0, Limit::kMaxConnectionsPerSandbox, {}},
      {EndReason::kSourceUnidentifiedLimit, 0, 0, 0, Limit::kMaxUnidentifiedPerSource, {}},
      {EndReason::kUnidentifiedLimit, 0, 0, 0, Limit::kMaxUnidentified, {}},
      {EndReason::kUnauthenticated, 0, 0, 1, {}, {}},
      {EndReason::kHeadTimeout, 0, 0, 0, Limit::kHeadTimeout, {}},
      {EndReason::kBadRequest, 400, 1, 0, {}, {}},
      {EndReason::kBadRequest, 431, 1, 0, Limit::kHeadTooLarge, {}},
      {EndReason::kNotProxyRequest, 0, 1, 0, {}, {}},
      {EndReason::kInvalidHost, 0, 1, 0, {}, {}},
      {EndReason::kBadRequestBody, 0, 1, 0, {}, {}},
      {EndReason::kNotOriginForm, 0, 1, 0, {}, {}},
      {EndReason::kMisdirected, 0, 0, 0, {}, {}},
      {EndReason::kTunnelRefused, 0, 0, 0, {}, {}},
      {EndReason::kPolicyDeny, 0, 0, 0, {}, {}},
      {EndReason::kAddressBlocked, 0, 0, 0, {}, UpstreamError::kAddressBlocked},
      {EndReason::kDnsFailure, 0, 0, 0, {}, UpstreamError::kDns},
      {EndReason::kDnsTimeout, 0, 0, 0, {}, UpstreamError::kDns},
      {EndReason::kConnectFailed, 0, 0, 0, {}, UpstreamError::kConnect},
      {EndReason::kConnectTimeout, 0, 0, 0, {}, UpstreamError::kTimeout},
      {EndReason::kUpstreamReset, 0, 0, 0, {}, UpstreamError::kConnect},
      {EndReason::kUpstreamNoResponse, 0, 0, 0, {}, UpstreamError::kBadResponse},
      {EndReason::kUpstreamBadResponse, 0, 0, 0, {}, UpstreamError::kBadResponse},
      {EndReason::kUpstreamTlsFailure, 0, 0, 0, {}, {}},
      {EndReason::kCertificateFailure, 0, 0, 0, {}, {}},
      {EndReason::kInterceptSetupFailure, 0, 0, 0, {}, {}},
      {EndReason::kCredentialUnavailable, 0, 0, 0, {}, {}},
      {EndReason::kInternal, 0, 0, 0, {}, {}},
  };
  for (const Counted& c : cases) {
    SCOPED_TRACE(std::string(toString(c.reason)) + " " + std::to_string(c.status));
    admin::WorkerMetrics m;
    countEnd(c.reason, m, c.status);
    EXPECT_EQ(total(m.bad_requests), c.bad_requests);
    EXPECT_EQ(total(m.unauthenticated), c.unauthenticated);
    for (size_t i = 0; i < m.limit_hits.size(); ++i) {
      EXPECT_EQ(total(m.limit_hits[i]), c.limit && admin::idx(*c.limit) == i ? 1u : 0u)
          << "limit " << i;
    }
    for (size_t i = 0; i < m.upstream_errors.size(); ++i) {
      EXPECT_EQ(total(m.upstream_errors[i]), c.upstream && admin::idx(*c.upstream) == i ? 1u : 0u)
          << "upstream error " << i;
    }
  }
}

}  // namespace
}  // namespace kitgate::stream
