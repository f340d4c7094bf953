#include "proxy/admin/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cassert>
#include <iterator>
#include <sstream>

#include "proxy/admin/families.h"

namespace kitgate::admin {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr const char* kReqType[] = {"connect", "http", "transparent"};
constexpr const char* kVerdict[] = {"allowed", "blocked"};
constexpr const char* kProxyPath[] = {"forward", "forward-bypass", "transparent", "none"};
constexpr const char* kTunnelType[] = {"bypass", "intercepted", "transparent"};
constexpr const char* kInjection[] = {"header", "placeholder", "basic"};
constexpr const char* kLimit[] = {"head_timeout",
                                  "head_too_large",
                                  "too_many_headers",
                                  "max_connections",
                                  "max_connections_per_sandbox",
                                  "max_unidentified_per_source",
                                  "max_unidentified",
                                  "idle_timeout",
                                  "connect_timeout"};
constexpr const char* kOverloadAction[] = {"stop_accepting", "shed_idle", "descriptor_backoff"};
constexpr const char* kTunnelSni[] = {"match",   "other_allowed", "absent",
                                      "not_tls", "server_first",  "refused"};
constexpr const char* kUpstreamError[] = {"dns", "address_blocked", "connect", "timeout",
                                          "bad_response"};
constexpr const char* kDnsTransport[] = {"udp", "tcp"};
constexpr const char* kDnsResult[] = {"answered", "blocked", "nxdomain", "refused", "error"};
static_assert(std::size(kDnsTransport) == idx(DnsTransport::kCount));
static_assert(std::size(kDnsResult) == idx(DnsResult::kCount));
static_assert(std::size(kReqType) == idx(ReqType::kCount));
static_assert(std::size(kVerdict) == idx(Verdict::kCount));
static_assert(std::size(kProxyPath) == idx(ProxyPath::kCount));
static_assert(std::size(kTunnelType) == idx(TunnelType::kCount));
static_assert(std::size(kInjection) == idx(Injection::kCount));
static_assert(std::size(kLimit) == idx(Limit::kCount));
static_assert(std::size(kUpstreamError) == idx(UpstreamError::kCount));
static_assert(std::size(kOverloadAction) == idx(OverloadAction::kCount));
static_assert(std::size(kTunnelSni) == idx(TunnelSni::kCount));
constexpr const char* kOAuthWait[] = {"refresh_ended", "timed_out"};
static_assert(std::size(kOAuthWait) == idx(OAuthWait::kCount));
constexpr const char* kPoolResult[] = {"hit", "miss", "stale"};
static_assert(std::size(kPoolResult) == idx(PoolResult::kCount));

class WorkerCollector final : public prometheus::Collectable {
 public:
  WorkerCollector(std::vector<const WorkerMetrics*> workers, const GlobalMetrics& global)
      : w_(std::move(workers)), g_(global) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    out.reserve(32);
    const double accepted =
        sum([](const WorkerMetrics& m) { return m.connections_accepted.get(); });
    const double closed = sum([](const WorkerMetrics& m) { return m.connections_closed.get(); });
    sample(family(out, "kitgate_connections_accepted_total", "Client connections accepted.",
                  MetricType::Counter),
           accepted);
    sample(family(out, "kitgate_connections_active", "Client connections open now.",
                  MetricType::Gauge),
           accepted >= closed ? accepted - closed : 0);

    auto& req = family(out, "kitgate_requests_total",
                       "Policy decisions, by request type (connect|http|transparent), decision and "
                       "proxy mode (forward: the proxy speaks HTTP upstream; forward-bypass: bytes "
                       "relayed as is; transparent: a redirected connection relayed as is; none: "
                       "refused).",
                       MetricType::Counter);
    for (size_t t = 0; t < idx(ReqType::kCount); ++t)
      for (size_t v = 0; v < idx(Verdict::kCount); ++v)
        for (size_t p = 0; p < idx(ProxyPath::kCount); ++p)
          sample(req, sum([&](const WorkerMetrics& m) { return m.requests[t][v][p].get(); }),
                 {{"type", kReqType[t]}, {"decision", kVerdict[v]}, {"mode", kProxyPath[p]}});

    const double opened = sum([](const WorkerMetrics& m) { return m.tunnels_opened.get(); });
    const double tclosed = sum([](const WorkerMetrics& m) { return m.tunnels_closed.get(); });
    sample(family(out, "kitgate_tunnels_opened_total", "CONNECT tunnels established.",
                  MetricType::Counter),
           opened);
    sample(family(out, "kitgate_tunnels_active", "CONNECT tunnels open now.", MetricType::Gauge),
           opened >= tclosed ? opened - tclosed : 0);
    sample(
        family(out, "kitgate_intercepted_connections_total",
               "CONNECT tunnels whose TLS the proxy terminated to inspect and inject credentials.",
               MetricType::Counter),
        sum([](const WorkerMetrics& m) { return m.intercepted_connections.get(); }));
    auto& inj =
        family(out, "kitgate_credential_injections_total",
               "Credentials added to intercepted requests, by kind (header|placeholder|basic).",
               MetricType::Counter);
    for (size_t k = 0; k < idx(Injection::kCount); ++k)
      sample(inj, sum([&](const WorkerMetrics& m) { return m.credential_injections[k].get(); }),
             {{"kind", kInjection[k]}});

    auto& bytes = family(
        out, "kitgate_bytes_total",
        "Payload bytes relayed, by direction (up = client to upstream), counted as they flow.",
        MetricType::Counter);
    sample(bytes, sum([](const WorkerMetrics& m) { return m.bytes_up.get(); }),
           {{"direction", "up"}});
    sample(bytes, sum([](const WorkerMetrics& m) { return m.bytes_down.get(); }),
           {{"direction", "down"}});

    auto& limits =
        family(out, "kitgate_limit_hits_total",
               "Requests or connections stopped by a configured limit.", MetricType::Counter);
    for (size_t i = 0; i < idx(Limit::kCount); ++i)
      sample(limits, sum([&](const WorkerMetrics& m) { return m.limit_hits[i].get(); }),
             {{"limit", kLimit[i]}});
    auto& up = family(out, "kitgate_upstream_errors_total", "Upstream failures, by kind.",
                      MetricType::Counter);
    for (size_t i = 0; i < idx(UpstreamError::kCount); ++i)
      sample(up, sum([&](const WorkerMetrics& m) { return m.upstream_errors[i].get(); }),
             {{"kind", kUpstreamError[i]}});
    auto& ov = family(out, "kitgate_overload_actions_total",
                      "Overload actions taken: accepting paused (stop_accepting, "
                      "descriptor_backoff), idle connections closed (shed_idle).",
                      MetricType::Counter);
    for (size_t i = 0; i < idx(OverloadAction::kCount); ++i)
      sample(ov, sum([&](const WorkerMetrics& m) { return m.overload_actions[i].get(); }),
             {{"action", kOverloadAction[i]}});
    auto& sni = family(out, "kitgate_tunnel_sni_total",
                       "Opaque tunnels by what their first flight said about the server name "
                       "(refused: a name the policy does not allow, or unreadable TLS).",
                       MetricType::Counter);
    for (size_t i = 0; i < idx(TunnelSni::kCount); ++i)
      sample(sni, sum([&](const WorkerMetrics& m) { return m.tunnel_sni[i].get(); }),
             {{"result", kTunnelSni[i]}});
    auto& waits = family(out, "kitgate_oauth_waits_total",
                         "Requests held because their OAuth access token had expired, by how "
                         "they went on (refresh_ended: new tokens or a failure; timed_out).",
                         MetricType::Counter);
    for (size_t i = 0; i < idx(OAuthWait::kCount); ++i)
      sample(waits, sum([&](const WorkerMetrics& m) { return m.oauth_waits[i].get(); }),
             {{"outcome", kOAuthWait[i]}});
    auto& pool = family(out, "kitgate_upstream_pool_total",
                        "Idle upstream pool lookups: hit (a pooled connection reused), miss (none "
                        "for the sandbox, host and port), stale (only ones the server had closed).",
                        MetricType::Counter);
    for (size_t i = 0; i < idx(PoolResult::kCount); ++i)
      sample(pool, sum([&](const WorkerMetrics& m) { return m.upstream_pool[i].get(); }),
             {{"result", kPoolResult[i]}});
    const double pool_in = sum([](const WorkerMetrics& m) { return m.upstream_pool_in.get(); });
    const double pool_out = sum([](const WorkerMetrics& m) { return m.upstream_pool_out.get(); });
    sample(
        family(out, "kitgate_upstream_pool_idle",
               "Idle upstream HTTP/1.1 connections pooled now (all workers).", MetricType::Gauge),
        pool_in >= pool_out ? pool_in - pool_out : 0);
    auto& refreshes =
        family(out, "kitgate_oauth_refresh_total",
               "OAuth token refreshes the proxy made itself, by result.", MetricType::Counter);
    sample(refreshes, static_cast<double>(g_.oauth_refresh_ok.load()), {{"result", "ok"}});
    sample(refreshes, static_cast<double>(g_.oauth_refresh_failed.load()), {{"result", "failed"}});
    sample(family(out, "kitgate_bad_requests_total", "Malformed requests answered 400/431/501/505.",
                  MetricType::Counter),
           sum([](const WorkerMetrics& m) { return m.bad_requests.get(); }));
    sample(family(out, "kitgate_unauthenticated_total",
                  "Clients refused 407 (no sandbox recognised).", MetricType::Counter),
           sum([](const WorkerMetrics& m) { return m.unauthenticated.get(); }));

    histogram(out, "kitgate_dns_duration_seconds", "Time to resolve upstream names.", {},
              [](const WorkerMetrics& m) -> const Histogram& { return m.dns_duration; });
    histogram(out, "kitgate_upstream_connect_duration_seconds",
              "Time to establish upstream TCP connections.", {},
              [](const WorkerMetrics& m) -> const Histogram& { return m.connect_duration; });
    {
      auto& f = family(out, "kitgate_request_duration_seconds",
                       "From a request's head to its complete answer (http), or to the CONNECT's "
                       "answer (connect).",
                       MetricType::Histogram);
      for (size_t t = 0; t < idx(ReqType::kCount); ++t)
        addHistogram(f, {{"type", kReqType[t]}}, [t](const WorkerMetrics& m) -> const Histogram& {
          return m.request_duration[t];
        });
    }
    {
      auto& f =
          family(out, "kitgate_tunnel_duration_seconds",
                 "Lifetime of tunnels, by type (bypass: a CONNECT relayed as is; intercepted: "
                 "TLS terminated; transparent: a redirected connection relayed as is).",
                 MetricType::Histogram);
      for (size_t t = 0; t < idx(TunnelType::kCount); ++t)
        addHistogram(
            f, {{"type", kTunnelType[t]}},
            [t](const WorkerMetrics& m) -> const Histogram& { return m.tunnel_duration[t]; });
    }

    auto& dns = family(out, "kitgate_dns_queries_total",
                       "Questions to the sandboxes' DNS, by transport (udp|tcp) and result "
                       "(answered|blocked|nxdomain|refused|error).",
                       MetricType::Counter);
    for (size_t t = 0; t < idx(DnsTransport::kCount); ++t) {
      for (size_t r = 0; r < idx(DnsResult::kCount); ++r) {
        sample(dns, static_cast<double>(g_.dns.queries[t][r].load(std::memory_order_relaxed)),
               {{"transport", kDnsTransport[t]}, {"result", kDnsResult[r]}});
      }
    }

    auto& reloads = family(out, "kitgate_reloads_total", "Policy/state reloads, by result.",
                           MetricType::Counter);
    sample(reloads, static_cast<double>(g_.reloads_ok.load()), {{"result", "ok"}});
    sample(reloads, static_cast<double>(g_.reloads_failed.load()), {{"result", "error"}});
    sample(family(out, "kitgate_config_last_reload_successful",
                  "1 if the last reload (or the startup load) succeeded, 0 if it failed and the "
                  "previous policy "
                  "stayed active.",
                  MetricType::Gauge),
           g_.last_reload_ok.load());
    sample(family(out, "kitgate_config_last_reload_success_timestamp_seconds",
                  "When the last successful reload (or the startup load) happened.",
                  MetricType::Gauge),
           static_cast<double>(g_.last_reload_success_unix.load()));
    sample(family(out, "kitgate_snapshot_loaded_timestamp_seconds",
                  "When the active policy snapshot was loaded.", MetricType::Gauge),
           static_cast<double>(g_.snapshot_loaded_unix.load()));
    for (const config::LimitGauge& l : config::limitGauges(g_.limits())) {
      sample(family(out, std::string("kitgate_limit_") + l.name, l.help, MetricType::Gauge),
             l.value);
    }
    sample(family(out, "kitgate_workers", "Worker threads.", MetricType::Gauge), g_.workers.load());
    sample(family(out, "kitgate_draining", "1 while shutting down gracefully.", MetricType::Gauge),
           g_.draining.load());
    return out;
  }

 private:
  template <typename F>
  double sum(F f) const {
    uint64_t s = 0;
    for (const WorkerMetrics* m : w_) s += f(*m);
    return static_cast<double>(s);
  }

  template <typename Pick>
  void addHistogram(MetricFamily& f, std::vector<ClientMetric::Label> labels, Pick pick) const {
    ClientMetric m;
    m.label = std::move(labels);
    const std::span<const double> bounds = pick(*w_.front()).bounds();
    uint64_t cumulative = 0;
    double sum_seconds = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      for (const WorkerMetrics* w : w_) cumulative += pick(*w).bucket(i);
      m.histogram.bucket.push_back({cumulative, bounds[i]});
    }
    for (const WorkerMetrics* w : w_) {
      cumulative += pick(*w).bucket(bounds.size());
      sum_seconds += pick(*w).sumSeconds();
    }
    // The count is the buckets' total (not the separately read count) so
    // the +Inf bucket the serializer writes is never below a finite one.
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum_seconds;
    f.metric.push_back(std::move(m));
  }

  template <typename Pick>
  void histogram(std::vector<MetricFamily>& out, const char* name, const char* help,
                 std::vector<ClientMetric::Label> labels, Pick pick) const {
    addHistogram(family(out, name, help, MetricType::Histogram), std::move(labels), pick);
  }

  std::vector<const WorkerMetrics*> w_;
  const GlobalMetrics& g_;
};

class BuildInfoCollector final : public prometheus::Collectable {
 public:
  BuildInfoCollector(std::string version, std::string tls)
      : version_(std::move(version)), tls_(std::move(tls)) {}
  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    sample(family(out, "kitgate_build_info", "Always 1; the labels name this build.",
                  MetricType::Gauge),
           1, {{"version", version_}, {"tls", tls_}});
    return out;
  }

 private:
  std::string version_;
  std::string tls_;
};

}  // namespace

Histogram::Histogram(std::span<const double> bounds) : bounds_(bounds) {
  assert(bounds.size() <= kMaxBuckets);
}

void Histogram::observe(std::chrono::nanoseconds d) {
  const double s = static_cast<double>(d.count()) / 1e9;
  size_t i = 0;
  while (i < bounds_.size() && s > bounds_[i]) ++i;
  buckets_[i].add();
  count_.add();
  sum_ns_.add(static_cast<uint64_t>(d.count() < 0 ? 0 : d.count()));
}

void GlobalMetrics::reloaded(bool ok, int64_t now_unix) {
  (ok ? reloads_ok : reloads_failed).fetch_add(1);
  last_reload_ok = ok ? 1 : 0;
  if (ok) last_reload_success_unix = now_unix;
}

void GlobalMetrics::setLimits(const config::Limits& limits) {
  std::lock_guard<std::mutex> lock(limits_mu_);
  limits_ = limits;
}

config::Limits GlobalMetrics::limits() const {
  std::lock_guard<std::mutex> lock(limits_mu_);
  return limits_;
}

std::unique_ptr<prometheus::Collectable> makeMetricsCollector(
    std::vector<const WorkerMetrics*> workers, const GlobalMetrics& global) {
  assert(!workers.empty());
  return std::make_unique<WorkerCollector>(std::move(workers), global);
}

std::unique_ptr<prometheus::Collectable> makeBuildInfoCollector(std::string version,
                                                                std::string tls) {
  return std::make_unique<BuildInfoCollector>(std::move(version), std::move(tls));
}

std::string renderPrometheus(const std::vector<const prometheus::Collectable*>& collectables) {
  std::vector<MetricFamily> families;
  for (const prometheus::Collectable* c : collectables) {
    auto f = c->Collect();
    families.insert(families.end(), std::make_move_iterator(f.begin()),
                    std::make_move_iterator(f.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace kitgate::admin
