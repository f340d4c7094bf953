// The metrics endpoint of the real proxy: counters move with the traffic
// that caused them, and no label carries a host or sandbox name.
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/integration/harness.h"
#include "tests/support/dns_wire.h"
#include "tests/support/subprocess.h"

namespace kitgate::testing {
namespace {

double valueOr0(const std::string& text, const std::string& series) {
  return metricValue(text, series).value_or(0);
}

// An origin, an echo origin and a proxy that reaches both but refuses
// blocked.test.
class MetricsWithTraffic : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(origin_, OriginServer::start());
    ASSERT_OK_AND_ASSIGN(echo_,
                         OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
    ProxyOptions o = reachOrigin();
    o.deny = {"blocked.test"};
    ASSERT_OK_AND_ASSIGN(proxy_, ProxyProcess::start(o));
  }
  std::unique_ptr<OriginServer> origin_;
  std::unique_ptr<OriginServer> echo_;
  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_F(MetricsWithTraffic, CountersFollowTraffic) {
  ASSERT_OK_AND_ASSIGN(std::string before, proxy_->metricsText());

  const std::string http_ok =
      "kitgate_requests_total{type=\"http\",decision=\"allowed\",mode=\"forward\"}";
  const std::string connect_ok =
      "kitgate_requests_total{type=\"connect\",decision=\"allowed\",mode=\"forward-bypass\"}";
  const std::string connect_blocked =
      "kitgate_requests_total{type=\"connect\",decision=\"blocked\",mode=\"none\"}";
  const std::string http_blocked =
      "kitgate_requests_total{type=\"http\",decision=\"blocked\",mode=\"none\"}";
  for (const auto& s : {http_ok, connect_ok, connect_blocked, http_blocked}) {
    EXPECT_EQ(metricValue(before, s), 0.0) << s;
  }

  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy_->port()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(c.send(absoluteGet(*origin_, "/bytes/1000")));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    ASSERT_EQ(r.status, 200);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(auto r,
                         requestOnce(proxy_->port(), "CONNECT blocked.test:443 HTTP/1.1\r\n\r\n"));
    ASSERT_EQ(r.status, 403);
  }
  ASSERT_OK_AND_ASSIGN(
      auto r, requestOnce(proxy_->port(),
                          "GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n\r\n"));
  ASSERT_EQ(r.status, 403);
  ASSERT_OK_AND_ASSIGN(
      auto bad,
      requestOnce(proxy_->port(),
                  absoluteGet(*origin_, "/", "Content-Length: 1\r\nContent-Length: 2\r\n")));
  ASSERT_EQ(bad.status, 400);
  {
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), originAuthority(*echo_)));
    ASSERT_TRUE(t.established());
    ASSERT_OK(t.client.send(std::string(5000, 'x')));
    ASSERT_OK(t.client.readExactly(5000).status());
    // While open, the tunnel is active.
    EXPECT_EQ(proxy_->metric("kitgate_tunnels_active"), 1.0);
    t.client.shutdownWrite();
    ASSERT_OK(t.client.readUntilClose().status());
  }
  // Tunnel close is accounted asynchronously: wait for it.
  ASSERT_TRUE(waitUntil([&] { return proxy_->metric("kitgate_tunnels_active") == 0.0; }, 10s));
  ASSERT_OK_AND_ASSIGN(std::string after, proxy_->metricsText());

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
      "name: tenant-one\nmatch:\n  sources: [\"127.0.0.1\"]\nallow: [\"origin.test\", "
      "\"127.0.0.1/32\"]\n";
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto ok, requestOnce(proxy->port(), absoluteGet(*origin, "/small")));
  EXPECT_EQ(ok.status, 200);
  ASSERT_OK_AND_ASSIGN(auto no,
                       requestOnce(proxy->port(), "CONNECT blocked.test:443 HTTP/1.1\r\n\r\n"));
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
    for (auto it = std::sregex_iterator(line.begin(), line.end(), label);
         it != std::sregex_iterator(); ++it) {
      const std::string v = (*it)[2];
      EXPECT_TRUE(std::regex_match(v, std::regex(R"([a-z_+\-]+|[0-9.e+\-]+|\+Inf)"))) << line;
    }
  }
  EXPECT_GT(samples, 20u);
}

// A live scrape of the real binary, after traffic of every kind has moved
// the counters and histograms, passes `promtool check metrics` (Debian's
// prometheus package, scripts/setup.sh) and carries the metrics operators
// alert on.
TEST_F(MetricsWithTraffic, LiveScrapePassesPromtool) {
  ASSERT_OK_AND_ASSIGN(auto ok, requestOnce(proxy_->port(), absoluteGet(*origin_, "/small")));
  ASSERT_EQ(ok.status, 200);
  ASSERT_OK_AND_ASSIGN(auto no,
                       requestOnce(proxy_->port(), "CONNECT blocked.test:443 HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(no.status, 403);
  {
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), originAuthority(*echo_)));
    ASSERT_TRUE(t.established());
    ASSERT_OK(t.client.send("ping"));
    ASSERT_OK(t.client.readExactly(4).status());
    t.client.shutdownWrite();
    ASSERT_OK(t.client.readUntilClose().status());
  }
  ASSERT_TRUE(waitUntil([&] { return proxy_->metric("kitgate_tunnels_active") == 0.0; }, 10s));
  ASSERT_OK_AND_ASSIGN(std::string text, proxy_->metricsText());
  for (const char* name :
       {"kitgate_build_info{", "process_open_fds ", "process_resident_memory_bytes ",
        "process_cpu_seconds_total ", "process_start_time_seconds ",
        "kitgate_config_last_reload_successful 1",
        "kitgate_config_last_reload_success_timestamp_seconds ", "kitgate_limit_max_connections ",
        "kitgate_request_duration_seconds_bucket{type=\"http\",le=\"+Inf\"}",
        "kitgate_tunnel_duration_seconds_count{type=\"bypass\"}",
        "kitgate_intercepted_connections_total ",
        "kitgate_credential_injections_total{kind=\"placeholder\"}"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("promtool"));
  const std::string scrape = dir.path() + "/scrape.prom";
  std::ofstream(scrape) << text;
  ASSERT_OK_AND_ASSIGN(auto promtool,
                       Subprocess::spawn({"sh", "-c", "promtool check metrics < " + scrape},
                                         dir.path() + "/promtool", /*search_path=*/true));
  auto st = promtool.wait(60s);
  ASSERT_TRUE(st.has_value()) << "promtool did not finish";
  EXPECT_TRUE(st->exited && st->code == 0) << st->toString() << "\n"
                                           << promtool.stdoutText() << promtool.stderrText();
}

// kitgate_config_last_reload_*: a failed reload turns the gauge to 0 and
// keeps the time of the last success; the next good reload restores both.
// The limit gauges show what the active config allows.
TEST(Metrics, ReloadStatusAndLimitsFollowTheActiveConfig) {
  ProxyOptions o = reachOrigin();
  o.limits = {{"max_connections", 321}, {"idle_timeout_ms", 2500}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  EXPECT_EQ(proxy->metric("kitgate_config_last_reload_successful"), 1.0);
  EXPECT_EQ(proxy->metric("kitgate_limit_max_connections"), 321.0);
  EXPECT_EQ(proxy->metric("kitgate_limit_idle_timeout_seconds"), 2.5);
  auto started = proxy->metric("kitgate_config_last_reload_success_timestamp_seconds");
  ASSERT_TRUE(started.has_value());
  EXPECT_GT(*started, 1.58e9);

  ASSERT_OK(proxy->writeStateFile("sandboxes/bad.yaml", "name: bad\nallow: [\"a.**.b\"]\n"));
  ASSERT_OK_AND_ASSIGN(auto failed, proxy->reloadViaAdmin());
  ASSERT_EQ(failed.status, 500);
  EXPECT_EQ(proxy->metric("kitgate_config_last_reload_successful"), 0.0);
  EXPECT_EQ(proxy->metric("kitgate_config_last_reload_success_timestamp_seconds"), started);
  EXPECT_EQ(proxy->metric("kitgate_limit_max_connections"), 321.0);

  ASSERT_OK(proxy->removeStateFile("sandboxes/bad.yaml"));
  o.limits["max_connections"] = 654;
  ASSERT_OK(proxy->rewriteConfig(o));
  ASSERT_OK_AND_ASSIGN(auto good, proxy->reloadViaAdmin());
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(proxy->metric("kitgate_config_last_reload_successful"), 1.0);
  EXPECT_GE(proxy->metric("kitgate_config_last_reload_success_timestamp_seconds"), started);
  EXPECT_EQ(proxy->metric("kitgate_limit_max_connections"), 654.0);
}

// The sandboxes' DNS, over UDP and TCP: each question counted once by its
// transport and result; names never become labels.
TEST(Metrics, DnsQuestionsAreCountedByTransportAndResult) {
  ProxyOptions o;
  o.allow = {"allowed.test"};
  o.dns_hosts = {{"allowed.test", "93.184.216.34"}};
  o.extra_yaml = "dns_listen: 127.0.0.1:0\n";
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const std::string ready = readFile(proxy->dir() + "/ready");
  const size_t at = ready.find("dns=127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << ready;
  const auto port = static_cast<uint16_t>(std::stoi(ready.substr(at + 14)));
  for (bool tcp : {false, true}) {
    SCOPED_TRACE(tcp ? "tcp" : "udp");
    auto ok = dnsExchange("127.0.0.1", "127.0.0.1", port, dnsQuery("allowed.test", kDnsA), tcp);
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(ok->addresses, std::vector<std::string>{"93.184.216.34"});
    for (int i = 0; i < 2; ++i) {
      auto no = dnsExchange("127.0.0.1", "127.0.0.1", port, dnsQuery("blocked.test", kDnsA), tcp);
      ASSERT_TRUE(no.has_value());
      EXPECT_EQ(no->rcode, 3);
    }
  }
  ASSERT_OK_AND_ASSIGN(std::string text, proxy->metricsText());
  for (const char* t : {"udp", "tcp"}) {
    SCOPED_TRACE(t);
    auto series = [&](const char* result) {
      return std::string("kitgate_dns_queries_total{transport=\"") + t + "\",result=\"" + result +
             "\"}";
    };
    EXPECT_EQ(valueOr0(text, series("answered")), 1.0) << text;
    EXPECT_EQ(valueOr0(text, series("blocked")), 2.0);
    EXPECT_EQ(valueOr0(text, series("refused")), 0.0);
    EXPECT_TRUE(metricValue(text, series("error")).has_value()) << "every series is exposed";
  }
  EXPECT_EQ(text.find("blocked.test"), std::string::npos);
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
  ASSERT_OK_AND_ASSIGN(
      auto r, requestOnce(proxy->metricsPort(), "POST /reload HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(r.status, 404);
}

}  // namespace
}  // namespace kitgate::testing

namespace kitgate::testing {
namespace {

// The data path's telemetry while a tunnel is open and after it closed: the
// canonical log's open line (id, client) then its close line with the same
// id; tunnel bytes counted as they flow (before the close); the connect
// latency and the tunnel lifetime histograms.
TEST(CanonicalLog, TunnelHasAnOpenLineWhileOpenAndACloseLineWithTheSameId) {
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*echo)));
  ASSERT_TRUE(t.established());
  const std::string payload(100000, 'x');
  ASSERT_OK(t.client.send(payload));
  ASSERT_OK_AND_ASSIGN(std::string back, t.client.readExactly(payload.size()));
  ASSERT_EQ(back.size(), payload.size());

  auto open =
      proxy->waitForLog([](const nlohmann::json& j) { return j.value("event", "") == "open"; });
  ASSERT_TRUE(open.has_value()) << "no open line while the tunnel is open";
  const std::string id = open->value("id", "");
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(open->value("type", ""), "connect");
  EXPECT_EQ(open->value("decision", ""), "allowed");
  EXPECT_EQ(open->value("client", "").rfind("127.0.0.1:", 0), 0u) << open->dump();
  // Bytes are counted as they flow: visible before the tunnel closes.
  EXPECT_GE(proxy->metric("kitgate_bytes_total{direction=\"up\"}"), 100000.0);
  EXPECT_GE(proxy->metric("kitgate_bytes_total{direction=\"down\"}"), 100000.0);
  EXPECT_EQ(proxy->metric("kitgate_request_duration_seconds_count{type=\"connect\"}"), 1.0);
  EXPECT_EQ(proxy->metric("kitgate_tunnel_duration_seconds_count{type=\"bypass\"}"), 0.0);

  t.client.shutdownWrite();  // the echo origin closes back; the relay ends
  ASSERT_OK(t.client.readUntilClose().status());
  auto close = proxy->waitForLog([&](const nlohmann::json& j) {
    return j.value("event", "") == "close" && j.value("id", "") == id;
  });
  ASSERT_TRUE(close.has_value()) << "no close line with the open line's id";
  EXPECT_EQ(close->value("bytes_up", 0), 100000);
  EXPECT_EQ(close->value("bytes_down", 0), 100000);
  ASSERT_TRUE(waitUntil(
      [&] {
        return proxy->metric("kitgate_tunnel_duration_seconds_count{type=\"bypass\"}") == 1.0;
      },
      5s));
  // Counted once: not again at the close.
  EXPECT_EQ(proxy->metric("kitgate_bytes_total{direction=\"up\"}"), 100000.0);
}

}  // namespace
}  // namespace kitgate::testing
