// The metrics endpoint of the real proxy: counters move with the traffic
// that caused them, and no label carries a host or sandbox name.
#include <regex>
#include <sstream>

#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

double valueOr0(const std::string& text, const std::string& series) { return metricValue(text, series).value_or(0); }

TEST(Metrics, CountersFollowTraffic) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto echo, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions o = reachOrigin();
  o.deny = {"blocked.test"};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(std::string before, proxy->metricsText());

  const std::string http_ok = "kitgate_requests_total{type=\"http\",decision=\"allowed\",path=\"forward\"}";
  const std::string connect_ok = "kitgate_requests_total{type=\"connect\",decision=\"allowed\",path=\"forward-bypass\"}";
  const std::string connect_blocked = "kitgate_requests_total{type=\"connect\",decision=\"blocked\",path=\"none\"}";
  const std::string http_blocked = "kitgate_requests_total{type=\"http\",decision=\"blocked\",path=\"none\"}";
  for (const auto& s : {http_ok, connect_ok, connect_blocked, http_blocked}) {
    EXPECT_EQ(metricValue(before, s), 0.0) << s;
  }

  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(c.send(absoluteGet(*origin, "/bytes/1000")));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    ASSERT_EQ(r.status, 200);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "CONNECT blocked.test:443 HTTP/1.1\r\n\r\n"));
    ASSERT_EQ(r.status, 403);
  }
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n\r\n"));
  ASSERT_EQ(r.status, 403);
  ASSERT_OK_AND_ASSIGN(auto bad, requestOnce(proxy->port(), absoluteGet(*origin, "/", "Content-Length: 1\r\nContent-Length: 2\r\n")));
  ASSERT_EQ(bad.status, 400);
  {
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*echo)));
    ASSERT_TRUE(t.established());
    ASSERT_OK(t.client.send(std::string(5000, 'x')));
    ASSERT_OK(t.client.readExactly(5000).status());
    // While open, the tunnel is active.
    EXPECT_EQ(proxy->metric("kitgate_tunnels_active"), 1.0);
    t.client.shutdownWrite();
    ASSERT_OK(t.client.readUntilClose().status());
  }
  // Tunnel close is accounted asynchronously: wait for it.
  ASSERT_TRUE(waitUntil([&] { return proxy->metric("kitgate_tunnels_active") == 0.0; }, 10s));
  ASSERT_OK_AND_ASSIGN(std::string after, proxy->metricsText());

  EXPECT_EQ(valueOr0(after, http_ok), 3.0);
  EXPECT_EQ(valueOr0(after, connect_ok), 1.0);
  EXPECT_EQ(valueOr0(after, connect_blocked), 2.0);
  EXPECT_EQ(valueOr0(after, http_blocked), 1.0);
  EXPECT_EQ(valueOr0(after, "kitgate_tunnels_opened_total"), 1.0);
  EXPECT_EQ(valueOr0(after, "kitgate_bad_requests_total"), 1.0);
  // Tunnel payload both ways plus three 1000-byte bodies (with their heads) down.
  EXPECT_GE(valueOr0(after, "kitgate_bytes_total{direction=\"up\"}"), 5000.0);
  EXPECT_GE(valueOr0(after, "kitgate_bytes_total{direction=\"down\"}"), 5000.0 + 3000.0);
  EXPECT_GE(valueOr0(after, "kitgate_connections_accepted_total"), 6.0);
  // One upstream connect for the keep-alive HTTP connection, one for the tunnel.
  EXPECT_EQ(valueOr0(after, "kitgate_upstream_connect_duration_seconds_count"), 2.0);
  EXPECT_EQ(valueOr0(after, "kitgate_workers"), 2.0);
}

TEST(Metrics, LabelsNeverCarryHostsOrSandboxes) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.deny = {"blocked.test"};
  o.state_files["sandboxes/tenant-one.yaml"] =
      "name: tenant-one\nmatch:\n  sources: [\"127.0.0.1\"]\nallow: [\"origin.test\", \"127.0.0.1/32\"]\n";
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto ok, requestOnce(proxy->port(), absoluteGet(*origin, "/small")));
  EXPECT_EQ(ok.status, 200);
  ASSERT_OK_AND_ASSIGN(auto no, requestOnce(proxy->port(), "CONNECT blocked.test:443 HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(no.status, 403);
  ASSERT_OK_AND_ASSIGN(std::string text, proxy->metricsText());
  EXPECT_EQ(text.find(".test"), std::string::npos);
  EXPECT_EQ(text.find("tenant-one"), std::string::npos);
  EXPECT_EQ(text.find("127.0.0.1"), std::string::npos);
  // Every label value is a short lower-case word from a fixed set.
  const std::regex label(R"re((\w+)="([^"]*)")re");
  std::istringstream in(text);
  std::string line;
  size_t samples = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), label); it != std::sregex_iterator(); ++it) {
      const std::string v = (*it)[2];
      EXPECT_TRUE(std::regex_match(v, std::regex(R"([a-z_+\-]+|[0-9.e+\-]+|\+Inf)"))) << line;
    }
  }
  EXPECT_GT(samples, 20u);
}

TEST(Metrics, AdminEndpointsAnswer) {
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto health, proxy->admin("GET", "/healthz"));
  EXPECT_EQ(health.status, 200);
  ASSERT_OK_AND_ASSIGN(auto ready, proxy->admin("GET", "/readyz"));
  EXPECT_EQ(ready.status, 200);
  ASSERT_OK_AND_ASSIGN(auto get_reload, proxy->admin("GET", "/reload"));
  EXPECT_EQ(get_reload.status, 405);
  ASSERT_OK_AND_ASSIGN(auto metrics, proxy->admin("GET", "/metrics"));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("kitgate_requests_total"), std::string::npos);
  // The metrics listener serves nothing else.
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->metricsPort(), "POST /reload HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(r.status, 404);
}

}  // namespace
}  // namespace kitgate::testing
