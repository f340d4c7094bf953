// Multi-tenant mode: a state directory with two sandboxes identified by
// token. Unrecognised clients get 407; each sandbox gets its own rules; the
// token never shows up in the policy log.
#include "tests/integration/harness.h"
#include "tests/support/curl.h"

namespace kitgate::testing {
namespace {

constexpr const char* kDev1Token = "kgt_dev1_0123456789abcdef";
constexpr const char* kDev2Token = "kgt_dev2_fedcba9876543210";

// dev1 may reach the origin; dev2 may only reach other.test (whose address,
// loopback, it is not allowed to connect to).
ProxyOptions twoSandboxes() {
  ProxyOptions o;
  o.dns_hosts = {{"origin.test", "127.0.0.1"}, {"other.test", "127.0.0.1"}};
  o.state_files["sandboxes/dev1.yaml"] = std::string("name: dev1\nmatch:\n  token: \"") + kDev1Token +
                                         "\"\nallow:\n  - \"origin.test\"\n  - \"127.0.0.1/32\"\n";
  o.state_files["sandboxes/dev2.yaml"] = std::string("name: dev2\nmatch:\n  token: \"") + kDev2Token +
                                         "\"\nallow:\n  - \"other.test\"\ndeny:\n  - \"origin.test\"\n";
  return o;
}

TEST(MultiTenant, UnrecognisedClientsGet407) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(twoSandboxes()));
  const struct {
    const char* name;
    std::string auth;
  } cases[] = {
      {"no credentials", ""},
      {"unknown token", proxyBasicAuth("dev1", "kgt_nobody_000000000000")},
      {"dev1 with dev2's token", proxyBasicAuth("dev1", kDev2Token)},
      {"bearer unknown", "Proxy-Authorization: Bearer kgt_nobody_000000000000\r\n"},
      {"malformed basic", "Proxy-Authorization: Basic !!!\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    for (bool connect : {true, false}) {
      std::string req = connect ? "CONNECT " + originAuthority(*origin) + " HTTP/1.1\r\n" + c.auth + "\r\n"
                                : absoluteGet(*origin, "/small", c.auth);
      ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), req));
      EXPECT_EQ(r.status, 407);
      EXPECT_EQ(r.header("Proxy-Authenticate"), "Basic realm=\"kitgate\"");
    }
  }
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
  auto line = proxy->waitForLog([](const nlohmann::json& j) { return j.value("status", 0) == 407; });
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "blocked");
  EXPECT_EQ(proxy->metric("kitgate_unauthenticated_total"), 10.0);
}

TEST(MultiTenant, EachSandboxGetsItsOwnRules) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(twoSandboxes()));
  // dev1: allowed, through Basic and through Bearer.
  ASSERT_OK_AND_ASSIGN(auto r1, requestOnce(proxy->port(), absoluteGet(*origin, "/small", proxyBasicAuth("dev1", kDev1Token))));
  EXPECT_EQ(r1.status, 200);
  ASSERT_OK_AND_ASSIGN(auto t1, openTunnel(proxy->port(), originAuthority(*origin),
                                           std::string("Proxy-Authorization: Bearer ") + kDev1Token + "\r\n"));
  EXPECT_EQ(t1.response.status, 200);
  // dev2: the same request is denied by dev2's own deny rule.
  ASSERT_OK_AND_ASSIGN(auto r2, requestOnce(proxy->port(), absoluteGet(*origin, "/small", proxyBasicAuth("dev2", kDev2Token))));
  EXPECT_EQ(r2.status, 403);
  EXPECT_EQ(r2.body, "Blocked by network policy: domain " + originAuthority(*origin) +
                         "\n  detail: blocked by deny rule \"origin.test\"\n");
  // dev2's allowed name still has to pass the address check (no CIDR allow).
  ASSERT_OK_AND_ASSIGN(auto r3, requestOnce(proxy->port(), "CONNECT other.test:443 HTTP/1.1\r\n" +
                                                               proxyBasicAuth("dev2", kDev2Token) + "\r\n"));
  EXPECT_EQ(r3.status, 403);
  EXPECT_NE(r3.body.find("resolved address 127.0.0.1"), std::string::npos) << r3.body;

  auto allowed = proxy->waitForLog(logLine("origin.test", 200, "http"));
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ((*allowed)["sandbox"], "dev1");
  auto denied = proxy->waitForLog(logLine("origin.test", 403, "http"));
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ((*denied)["sandbox"], "dev2");
  EXPECT_EQ((*denied)["rule"], "origin.test");
  EXPECT_EQ(origin->requestsServed(), 1u);
}

TEST(MultiTenant, CurlWithCredentialsInProxyUrl) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(twoSandboxes()));
  const std::string proxy_url = std::string("http://dev1:") + kDev1Token + "@127.0.0.1:" + std::to_string(proxy->port());
  const std::string url = "http://" + originAuthority(*origin) + "/small";
  ASSERT_OK_AND_ASSIGN(auto fwd, runCurl({"-x", proxy_url, url}, proxy->dir()));
  EXPECT_EQ(fwd.exit_code, 0) << fwd.err;
  EXPECT_EQ(fwd.body, patternBytes(0, kSmallBodySize));
  ASSERT_OK_AND_ASSIGN(auto tun, runCurl({"-p", "-x", proxy_url, url}, proxy->dir()));
  EXPECT_EQ(tun.exit_code, 0) << tun.err;
  EXPECT_EQ(tun.body, patternBytes(0, kSmallBodySize));
  // Without credentials curl sees the 407.
  ASSERT_OK_AND_ASSIGN(auto anon, runCurl({"-x", proxy->url(), url}, proxy->dir()));
  EXPECT_EQ(anon.http_code, 407);
}

TEST(MultiTenant, TokensNeverAppearInThePolicyLog) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(twoSandboxes()));
  ASSERT_OK(requestOnce(proxy->port(), absoluteGet(*origin, "/small", proxyBasicAuth("dev1", kDev1Token))).status());
  ASSERT_OK(requestOnce(proxy->port(), absoluteGet(*origin, "/small", proxyBasicAuth("dev2", kDev2Token))).status());
  ASSERT_OK(requestOnce(proxy->port(), absoluteGet(*origin, "/small", proxyBasicAuth("dev1", kDev2Token))).status());
  ASSERT_TRUE(proxy->waitForLog([](const nlohmann::json& j) { return j.value("status", 0) == 407; }).has_value());
  ASSERT_TRUE(proxy->waitForLog(logLine("origin.test", 403)).has_value());
  const std::string log = readFile(proxy->dir() + "/policy.log");
  EXPECT_EQ(log.find(kDev1Token), std::string::npos);
  EXPECT_EQ(log.find(kDev2Token), std::string::npos);
  EXPECT_EQ(log.find(base64(std::string("dev1:") + kDev1Token)), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::string metrics, proxy->metricsText());
  EXPECT_EQ(metrics.find(kDev1Token), std::string::npos);
  EXPECT_EQ(proxy->stderrText().find(kDev1Token), std::string::npos);
}

TEST(MultiTenant, PerSandboxConnectionLimit) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions o = twoSandboxes();
  o.state_files["sandboxes/dev1.yaml"] += "limits:\n  max_connections: 1\n";
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const std::string auth = proxyBasicAuth("dev1", kDev1Token);
  ASSERT_OK_AND_ASSIGN(auto t1, openTunnel(proxy->port(), originAuthority(*origin), auth));
  ASSERT_TRUE(t1.established());
  ASSERT_OK_AND_ASSIGN(auto t2, openTunnel(proxy->port(), originAuthority(*origin), auth));
  EXPECT_EQ(t2.response.status, 503);
  EXPECT_NE(t2.response.body.find("dev1"), std::string::npos) << t2.response.body;
  // Another sandbox is not affected.
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "CONNECT other.test:443 HTTP/1.1\r\n" +
                                                              proxyBasicAuth("dev2", kDev2Token) + "\r\n"));
  EXPECT_EQ(r.status, 403);
}

// Sandboxes recognised by the client's source address (127.0.0.x are all
// local): each gets its own rules; an address no sandbox lists gets 407; a
// sandbox that lists sources and a token needs both.
TEST(MultiTenant, SandboxesIdentifiedBySourceAddress) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o;
  o.dns_hosts = {{"origin.test", "127.0.0.1"}};
  o.state_files["sandboxes/local1.yaml"] =
      "name: local1\nmatch:\n  sources: [\"127.0.0.1\"]\nallow: [\"origin.test\", \"127.0.0.1/32\"]\n";
  o.state_files["sandboxes/local2.yaml"] =
      "name: local2\nmatch:\n  sources: [\"127.0.0.2\"]\nallow: [\"127.0.0.1/32\"]\ndeny: [\"origin.test\"]\n";
  o.state_files["sandboxes/both.yaml"] = std::string("name: both\nmatch:\n  sources: [\"127.0.0.4\"]\n  token: \"") +
                                         kDev1Token + "\"\nallow: [\"origin.test\", \"127.0.0.1/32\"]\n";
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  auto get = [&](const char* source, const std::string& auth) -> StatusOr<HttpResponse> {
    auto c = RawClient::connectFrom(source, proxy->port());
    if (!c) return c.status();
    Status st = c->send(absoluteGet(*origin, "/small", auth));
    if (!st) return st;
    return c->readResponse();
  };
  ASSERT_OK_AND_ASSIGN(auto r1, get("127.0.0.1", ""));
  EXPECT_EQ(r1.status, 200);
  ASSERT_OK_AND_ASSIGN(auto r2, get("127.0.0.2", ""));
  EXPECT_EQ(r2.status, 403);
  ASSERT_OK_AND_ASSIGN(auto r3, get("127.0.0.3", ""));
  EXPECT_EQ(r3.status, 407);
  ASSERT_OK_AND_ASSIGN(auto r4, get("127.0.0.4", ""));
  EXPECT_EQ(r4.status, 407);
  ASSERT_OK_AND_ASSIGN(auto r5, get("127.0.0.4", proxyBasicAuth("both", kDev1Token)));
  EXPECT_EQ(r5.status, 200);
  // The right token from the wrong address is refused too.
  ASSERT_OK_AND_ASSIGN(auto r6, get("127.0.0.1", proxyBasicAuth("both", kDev1Token)));
  EXPECT_EQ(r6.status, 407);

  auto allowed = proxy->waitForLog(logLine("origin.test", 200, "http"));
  ASSERT_TRUE(allowed.has_value());
  auto denied = proxy->waitForLog(logLine("origin.test", 403, "http"));
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ((*denied)["sandbox"], "local2");
  EXPECT_EQ(origin->requestsServed(), 2u);
}

}  // namespace
}  // namespace kitgate::testing
