// The metrics exposition: what a scrape of the summed worker blocks says,
// parsed back line by line (prometheus-cpp's TextSerializer writes it).
#include "proxy/admin/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/collectable.h>

#include <map>
#include <optional>
#include <sstream>

namespace kitgate::admin {
namespace {

using namespace std::chrono_literals;

// series (name + labels exactly as written) -> value; TYPE lines by name.
struct Scrape {
  std::map<std::string, double> values;
  std::map<std::string, std::string> types;
  std::optional<double> at(const std::string& series) const {
    auto it = values.find(series);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
};

Scrape parse(const std::string& text) {
  Scrape s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      s.types[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    s.values[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return s;
}

class MetricsExposition : public ::testing::Test {
 protected:
  Scrape scrape() {
    auto c = makeMetricsCollector({&w1_, &w2_}, global_);
    return parse(renderPrometheus({c.get()}));
  }
  WorkerMetrics w1_, w2_;
  GlobalMetrics global_;
};

TEST_F(MetricsExposition, CountersAreSummedOverWorkers) {
  w1_.connections_accepted.add(3);
  w2_.connections_accepted.add(4);
  w1_.connections_closed.add(2);
  w1_.request(ReqType::kHttp, Verdict::kAllowed, ProxyPath::kForward);
  w2_.request(ReqType::kHttp, Verdict::kAllowed, ProxyPath::kForward);
  w2_.request(ReqType::kConnect, Verdict::kBlocked, ProxyPath::kNone);
  w1_.limit_hits[idx(Limit::kIdleTimeout)].add();
  w2_.upstream_errors[idx(UpstreamError::kDns)].add(5);
  Scrape s = scrape();
  EXPECT_EQ(s.at("kitgate_connections_accepted_total"), 7);
  EXPECT_EQ(s.at("kitgate_connections_active"), 5);
  EXPECT_EQ(s.at("kitgate_requests_total{type=\"http\",decision=\"allowed\",mode=\"forward\"}"), 2);
  EXPECT_EQ(s.at("kitgate_requests_total{type=\"connect\",decision=\"blocked\",mode=\"none\"}"), 1);
  EXPECT_EQ(
      s.at("kitgate_requests_total{type=\"connect\",decision=\"allowed\",mode=\"forward-bypass\"}"),
      0);
  EXPECT_EQ(s.at("kitgate_limit_hits_total{limit=\"idle_timeout\"}"), 1);
  EXPECT_EQ(s.at("kitgate_upstream_errors_total{kind=\"dns\"}"), 5);
  EXPECT_EQ(s.types["kitgate_requests_total"], "counter");
  EXPECT_EQ(s.types["kitgate_connections_active"], "gauge");
}

TEST_F(MetricsExposition, TunnelsInterceptionAndInjectionsByKind) {
  w1_.tunnels_opened.add(3);
  w1_.tunnelClosed(TunnelType::kBypass, 2s);
  w2_.tunnelClosed(TunnelType::kIntercepted, 40min);
  w2_.intercepted_connections.add();
  w1_.credentialInjected(Injection::kHeader);
  w2_.credentialInjected(Injection::kHeader);
  w2_.credentialInjected(Injection::kPlaceholder);
  w1_.credentialInjected(Injection::kBasic);
  Scrape s = scrape();
  EXPECT_EQ(s.at("kitgate_tunnels_opened_total"), 3);
  EXPECT_EQ(s.at("kitgate_tunnels_active"), 1);
  EXPECT_EQ(s.at("kitgate_intercepted_connections_total"), 1);
  EXPECT_EQ(s.at("kitgate_credential_injections_total{kind=\"header\"}"), 2);
  EXPECT_EQ(s.at("kitgate_credential_injections_total{kind=\"placeholder\"}"), 1);
  EXPECT_EQ(s.at("kitgate_credential_injections_total{kind=\"basic\"}"), 1);
  EXPECT_EQ(s.types["kitgate_tunnel_duration_seconds"], "histogram");
  EXPECT_EQ(s.at("kitgate_tunnel_duration_seconds_count{type=\"bypass\"}"), 1);
  EXPECT_EQ(s.at("kitgate_tunnel_duration_seconds_sum{type=\"intercepted\"}"), 2400);
  // Tunnel lifetimes have their own buckets, up to an hour.
  EXPECT_EQ(s.at("kitgate_tunnel_duration_seconds_bucket{type=\"bypass\",le=\"1\"}"), 0);
  EXPECT_EQ(s.at("kitgate_tunnel_duration_seconds_bucket{type=\"bypass\",le=\"5\"}"), 1);
  EXPECT_EQ(s.at("kitgate_tunnel_duration_seconds_bucket{type=\"intercepted\",le=\"1800\"}"), 0);
  EXPECT_EQ(s.at("kitgate_tunnel_duration_seconds_bucket{type=\"intercepted\",le=\"3600\"}"), 1);
}

TEST_F(MetricsExposition, BytesCountAsTheyFlowNotAtClose) {
  // A long tunnel: the relay reports every read; the scrape in between
  // already sees what flowed so far.
  w1_.relayed(Direction::kUp, 100);
  w1_.relayed(Direction::kDown, 4000);
  EXPECT_EQ(scrape().at("kitgate_bytes_total{direction=\"down\"}"), 4000);
  w1_.relayed(Direction::kDown, 1000);
  w2_.bytes_up.add(23);  // what a relay holding the counter itself adds
  Scrape s = scrape();
  EXPECT_EQ(s.at("kitgate_bytes_total{direction=\"up\"}"), 123);
  EXPECT_EQ(s.at("kitgate_bytes_total{direction=\"down\"}"), 5000);
}

TEST_F(MetricsExposition, HistogramBucketsAreCumulativeAcrossWorkersWithInf) {
  w1_.requestDone(ReqType::kHttp, 200us);   // le 0.00025
  w2_.requestDone(ReqType::kHttp, 3ms);     // le 0.005
  w2_.requestDone(ReqType::kHttp, 30s);     // past the last bound: +Inf only
  w1_.requestDone(ReqType::kConnect, 1ms);  // le 0.001 (bounds are inclusive)
  w1_.dns_duration.observe(40ms);
  Scrape s = scrape();
  const std::string h = "kitgate_request_duration_seconds";
  EXPECT_EQ(s.at(h + "_bucket{type=\"http\",le=\"0.0001\"}"), 0);
  EXPECT_EQ(s.at(h + "_bucket{type=\"http\",le=\"0.00025\"}"), 1);
  EXPECT_EQ(s.at(h + "_bucket{type=\"http\",le=\"0.005\"}"), 2);
  EXPECT_EQ(s.at(h + "_bucket{type=\"http\",le=\"5\"}"), 2);
  EXPECT_EQ(s.at(h + "_bucket{type=\"http\",le=\"+Inf\"}"), 3);
  EXPECT_EQ(s.at(h + "_count{type=\"http\"}"), 3);
  EXPECT_NEAR(*s.at(h + "_sum{type=\"http\"}"), 30.0032, 1e-9);
  EXPECT_EQ(s.at(h + "_bucket{type=\"connect\",le=\"0.001\"}"), 1);
  EXPECT_EQ(s.at(h + "_bucket{type=\"connect\",le=\"0.0005\"}"), 0);
  EXPECT_EQ(s.at("kitgate_dns_duration_seconds_bucket{le=\"0.05\"}"), 1);
  EXPECT_EQ(s.at("kitgate_dns_duration_seconds_bucket{le=\"0.025\"}"), 0);
  EXPECT_EQ(s.at("kitgate_upstream_connect_duration_seconds_count"), 0);
}

TEST_F(MetricsExposition, ReloadOutcomeAndWhenItLastSucceeded) {
  global_.last_reload_success_unix = 1000;  // the startup load
  Scrape start = scrape();
  EXPECT_EQ(start.at("kitgate_config_last_reload_successful"), 1);
  EXPECT_EQ(start.at("kitgate_config_last_reload_success_timestamp_seconds"), 1000);

  global_.reloaded(false, 2000);
  Scrape failed = scrape();
  EXPECT_EQ(failed.at("kitgate_config_last_reload_successful"), 0);
  EXPECT_EQ(failed.at("kitgate_config_last_reload_success_timestamp_seconds"), 1000);
  EXPECT_EQ(failed.at("kitgate_reloads_total{result=\"error\"}"), 1);

  global_.reloaded(true, 3000);
  Scrape ok = scrape();
  EXPECT_EQ(ok.at("kitgate_config_last_reload_successful"), 1);
  EXPECT_EQ(ok.at("kitgate_config_last_reload_success_timestamp_seconds"), 3000);
  EXPECT_EQ(ok.at("kitgate_reloads_total{result=\"ok\"}"), 1);
}

TEST_F(MetricsExposition, EveryConfiguredLimitIsAGaugeInBaseUnits) {
  config::Limits l;
  l.max_connections = 123;
  l.max_connections_per_sandbox = 45;
  l.idle_timeout = 1500ms;
  l.max_head_bytes = 4096;
  global_.setLimits(l);
  Scrape s = scrape();
  EXPECT_EQ(s.at("kitgate_limit_max_connections"), 123);
  EXPECT_EQ(s.at("kitgate_limit_max_connections_per_sandbox"), 45);
  EXPECT_EQ(s.at("kitgate_limit_idle_timeout_seconds"), 1.5);
  EXPECT_EQ(s.at("kitgate_limit_max_head_bytes"), 4096);
  EXPECT_EQ(s.types["kitgate_limit_max_connections"], "gauge");
  size_t gauges = 0;
  for (const auto& [name, type] : s.types)
    gauges += name.rfind("kitgate_limit_", 0) == 0 && type == "gauge";
  EXPECT_EQ(gauges, config::limitGauges(l).size());
  // A reload that changes a limit changes the gauge.
  l.max_connections = 7;
  global_.setLimits(l);
  EXPECT_EQ(scrape().at("kitgate_limit_max_connections"), 7);
}

TEST(BuildInfo, NamesVersionAndTlsBackend) {
  auto c = makeBuildInfoCollector("1.2.3", "openssl");
  Scrape s = parse(renderPrometheus({c.get()}));
  EXPECT_EQ(s.at("kitgate_build_info{version=\"1.2.3\",tls=\"openssl\"}"), 1);
  EXPECT_EQ(s.types["kitgate_build_info"], "gauge");
}

TEST(RenderPrometheus, JoinsCollectablesInOrder) {
  WorkerMetrics w;
  GlobalMetrics g;
  auto a = makeBuildInfoCollector("9", "boringssl");
  auto b = makeMetricsCollector({&w}, g);
  std::string text = renderPrometheus({a.get(), b.get()});
  EXPECT_LT(text.find("kitgate_build_info"), text.find("kitgate_connections_accepted_total"));
}

}  // namespace
}  // namespace kitgate::admin
