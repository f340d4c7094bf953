#include "proxy/admin/metrics.h"

#include <cstdio>

namespace kitgate::admin {
namespace {

constexpr const char* kReqType[] = {"connect", "http"};
constexpr const char* kVerdict[] = {"allowed", "blocked"};
constexpr const char* kPath[] = {"forward", "forward-bypass", "none"};
constexpr const char* kLimit[] = {"head_timeout",    "head_too_large",  "too_many_headers", "max_connections",
                                  "max_connections_per_sandbox", "idle_timeout", "connect_timeout"};
constexpr const char* kUpstreamError[] = {"dns", "address_blocked", "connect", "timeout", "bad_response"};
static_assert(std::size(kLimit) == idx(Limit::kCount));
static_assert(std::size(kUpstreamError) == idx(UpstreamError::kCount));

class Writer {
 public:
  explicit Writer(const std::vector<const WorkerMetrics*>& w) : w_(w) {}

  void header(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  template <typename F>
  uint64_t sum(F f) const {
    uint64_t s = 0;
    for (const WorkerMetrics* m : w_) s += f(*m);
    return s;
  }
  void sample(const std::string& name_and_labels, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " %.17g\n", v);
    out_ += name_and_labels;
    out_ += buf;
  }
  void sample(const std::string& name_and_labels, uint64_t v) {
    out_ += name_and_labels;
    out_ += ' ';
    out_ += std::to_string(v);
    out_ += '\n';
  }
  template <typename F>
  void histogram(const char* name, const char* help, F pick) {
    header(name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
      cumulative += sum([&](const WorkerMetrics& m) { return pick(m).bucket(i); });
      char le[32];
      if (i < Histogram::kBounds.size()) {
        std::snprintf(le, sizeof le, "%g", Histogram::kBounds[i]);
      } else {
        std::snprintf(le, sizeof le, "+Inf");
      }
      sample(std::string(name) + "_bucket{le=\"" + le + "\"}", cumulative);
    }
    double s = 0;
    for (const WorkerMetrics* m : w_) s += pick(*m).sumSeconds();
    sample(std::string(name) + "_sum", s);
    sample(std::string(name) + "_count", sum([&](const WorkerMetrics& m) { return pick(m).count(); }));
  }
  std::string take() { return std::move(out_); }

 private:
  const std::vector<const WorkerMetrics*>& w_;
  std::string out_;
};

}  // namespace

void Histogram::observe(std::chrono::nanoseconds d) {
  double s = static_cast<double>(d.count()) / 1e9;
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].add();
  count_.add();
  sum_ns_.add(static_cast<uint64_t>(d.count() < 0 ? 0 : d.count()));
}

std::string renderPrometheus(const std::vector<const WorkerMetrics*>& workers, const GlobalMetrics& g) {
  Writer w(workers);
  auto accepted = w.sum([](const WorkerMetrics& m) { return m.connections_accepted.get(); });
  auto closed = w.sum([](const WorkerMetrics& m) { return m.connections_closed.get(); });
  w.header("kitgate_connections_accepted_total", "counter", "Client connections accepted.");
  w.sample("kitgate_connections_accepted_total", accepted);
  w.header("kitgate_connections_active", "gauge", "Client connections open now.");
  w.sample("kitgate_connections_active", accepted >= closed ? accepted - closed : 0);

  w.header("kitgate_requests_total", "counter",
           "Policy decisions, by request type (connect|http), verdict and proxy path.");
  for (size_t t = 0; t < idx(ReqType::kCount); ++t)
    for (size_t v = 0; v < idx(Verdict::kCount); ++v)
      for (size_t p = 0; p < idx(ProxyPath::kCount); ++p) {
        uint64_t n = w.sum([&](const WorkerMetrics& m) { return m.requests[t][v][p].get(); });
        w.sample(std::string("kitgate_requests_total{type=\"") + kReqType[t] + "\",decision=\"" + kVerdict[v] +
                     "\",path=\"" + kPath[p] + "\"}",
                 n);
      }

  auto opened = w.sum([](const WorkerMetrics& m) { return m.tunnels_opened.get(); });
  auto tclosed = w.sum([](const WorkerMetrics& m) { return m.tunnels_closed.get(); });
  w.header("kitgate_tunnels_opened_total", "counter", "CONNECT tunnels established.");
  w.sample("kitgate_tunnels_opened_total", opened);
  w.header("kitgate_tunnels_active", "gauge", "CONNECT tunnels open now.");
  w.sample("kitgate_tunnels_active", opened >= tclosed ? opened - tclosed : 0);

  w.header("kitgate_bytes_total", "counter", "Payload bytes relayed, by direction (up = client to upstream).");
  w.sample("kitgate_bytes_total{direction=\"up\"}", w.sum([](const WorkerMetrics& m) { return m.bytes_up.get(); }));
  w.sample("kitgate_bytes_total{direction=\"down\"}", w.sum([](const WorkerMetrics& m) { return m.bytes_down.get(); }));

  w.header("kitgate_limit_hits_total", "counter", "Requests or connections stopped by a configured limit.");
  for (size_t i = 0; i < idx(Limit::kCount); ++i)
    w.sample(std::string("kitgate_limit_hits_total{limit=\"") + kLimit[i] + "\"}",
             w.sum([&](const WorkerMetrics& m) { return m.limit_hits[i].get(); }));

  w.header("kitgate_upstream_errors_total", "counter", "Upstream failures, by kind.");
  for (size_t i = 0; i < idx(UpstreamError::kCount); ++i)
    w.sample(std::string("kitgate_upstream_errors_total{kind=\"") + kUpstreamError[i] + "\"}",
             w.sum([&](const WorkerMetrics& m) { return m.upstream_errors[i].get(); }));

  w.header("kitgate_bad_requests_total", "counter", "Malformed requests answered 400/431/501/505.");
  w.sample("kitgate_bad_requests_total", w.sum([](const WorkerMetrics& m) { return m.bad_requests.get(); }));
  w.header("kitgate_unauthenticated_total", "counter", "Clients refused 407 (no sandbox recognised).");
  w.sample("kitgate_unauthenticated_total", w.sum([](const WorkerMetrics& m) { return m.unauthenticated.get(); }));

  w.histogram("kitgate_dns_duration_seconds", "Time to resolve upstream names.",
              [](const WorkerMetrics& m) -> const Histogram& { return m.dns_duration; });
  w.histogram("kitgate_upstream_connect_duration_seconds", "Time to establish upstream TCP connections.",
              [](const WorkerMetrics& m) -> const Histogram& { return m.connect_duration; });

  w.header("kitgate_reloads_total", "counter", "Policy/state reloads, by result.");
  w.sample("kitgate_reloads_total{result=\"ok\"}", static_cast<uint64_t>(g.reloads_ok.load()));
  w.sample("kitgate_reloads_total{result=\"error\"}", static_cast<uint64_t>(g.reloads_failed.load()));
  w.header("kitgate_snapshot_loaded_timestamp_seconds", "gauge", "When the active policy snapshot was loaded.");
  w.sample("kitgate_snapshot_loaded_timestamp_seconds", static_cast<uint64_t>(g.snapshot_loaded_unix.load()));
  w.header("kitgate_workers", "gauge", "Worker threads.");
  w.sample("kitgate_workers", static_cast<uint64_t>(g.workers.load()));
  w.header("kitgate_draining", "gauge", "1 while shutting down gracefully.");
  w.sample("kitgate_draining", static_cast<uint64_t>(g.draining.load()));
  return w.take();
}

}  // namespace kitgate::admin
