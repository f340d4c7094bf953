// Proxy metrics: declared here in one list, exposed through prometheus-cpp.
//
// Data path: every worker owns one WorkerMetrics block and is its only
// writer, so the hot path increments single-writer Counters (a relaxed load +
// store: no lock, no atomic read-modify-write). Scrape: MetricsCollector, a
// prometheus::Collectable, reads all blocks with relaxed loads and sums them
// (admin thread); a scrape may see a request's counters half-updated, never
// torn values. Its cost depends on the number of workers, never on the
// number of open connections or tunnels.
//
// Labels are bounded enums: never a host, a sandbox name or any string a
// sandbox controls.
//
// Where the data path bumps what (the stream layer's calls):
//   accept / close               connections_accepted / connections_closed .add()
//   policy decision              request(ReqType, Verdict, ProxyPath)
//   request answered             requestDone(ReqType, elapsed since the head arrived)
//   tunnel established / ended   tunnels_opened.add() / tunnelClosed(TunnelType, lifetime)
//   TLS interception starts      intercepted_connections.add()
//   credential injected          credentialInjected(Injection)
//   payload relayed (per read)   relayed(Direction, n), or the relay adds to
//                                bytes_up / bytes_down (common::Counter) itself
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "proxy/common/counter.h"
#include "proxy/config/config.h"

namespace prometheus {
class Collectable;
}

namespace kitgate::admin {

using kitgate::Counter;

// Upper bounds (seconds) of the latency buckets: DNS, connect, requests.
inline constexpr std::array<double, 14> kLatencyBounds{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};
// Upper bounds (seconds) of tunnel lifetimes: a tunnel lives for a whole
// session of an agent, from well under a second to an hour.
inline constexpr std::array<double, 12> kLifetimeBounds{0.1, 0.5, 1,   5,   10,   30,
                                                        60,  120, 300, 600, 1800, 3600};

// Single-writer histogram of durations with fixed buckets (seconds).
class Histogram {
 public:
  static constexpr size_t kMaxBuckets = 16;
  Histogram() : Histogram(kLatencyBounds) {}
  explicit Histogram(std::span<const double> bounds);

  // Writer thread only.
  void observe(std::chrono::nanoseconds d);
  // Any thread.
  std::span<const double> bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const {
    return buckets_[i].get();
  }  // not cumulative; i == bounds().size(): +Inf
  uint64_t count() const { return count_.get(); }
  double sumSeconds() const { return static_cast<double>(sum_ns_.get()) / 1e9; }

 private:
  std::span<const double> bounds_;
  std::array<Counter, kMaxBuckets + 1> buckets_{};
  Counter count_;
  Counter sum_ns_;
};

// Label values of every enum are in metrics.cc, one table each.
enum class ReqType : uint8_t { kConnect, kHttp, kTransparent, kCount };  // type=
enum class Verdict : uint8_t { kAllowed, kBlocked, kCount };             // decision=
enum class ProxyPath : uint8_t { kForward, kForwardBypass, kTransparent, kNone, kCount };  // mode=
enum class TunnelType : uint8_t { kBypass, kIntercepted, kTransparent, kCount };           // type=
enum class Injection : uint8_t { kHeader, kPlaceholder, kBasic, kCount };                  // kind=
enum class Direction : uint8_t { kUp, kDown };  // up = client to upstream
enum class Limit : uint8_t {
  kHeadTimeout,
  kHeadTooLarge,
  kTooManyHeaders,
  kMaxConnections,
  kMaxConnectionsPerSandbox,
  kMaxUnidentifiedPerSource,
  kMaxUnidentified,
  kIdleTimeout,
  kConnectTimeout,
  kCount
};
// What the overload manager did (action=): accepting paused at the
// stop_accepting level, an idle keep-alive connection closed at the
// shed_idle level, accepting paused because descriptors ran out.
enum class OverloadAction : uint8_t { kStopAccepting, kShedIdle, kDescriptorBackoff, kCount };
// What the first flight of an opaque tunnel (CONNECT not intercepted, or
// transparent) said about its server name (result=): the tunnel's host, another
// name the policy allows, a ClientHello without a name, not TLS, the server
// spoke first, refused (a name the policy does not allow, or TLS that cannot
// be read).
enum class TunnelSni : uint8_t {
  kMatch,
  kOtherAllowed,
  kAbsent,
  kNotTls,
  kServerFirst,
  kRefused,
  kCount
};
// How a request parked for an OAuth refresh (its stored access token had
// expired) went on (outcome=): the refresh ended (new tokens, or a failure:
// then with what is stored), or the wait hit its limit.
enum class OAuthWait : uint8_t { kRefreshEnded, kTimedOut, kCount };
// Idle upstream pool lookups (result=): a pooled connection taken, none for
// the key, or only dead ones (the server had closed them) — then a new one.
enum class PoolResult : uint8_t { kHit, kMiss, kStale, kCount };
enum class UpstreamError : uint8_t {
  kDns,
  kAddressBlocked,
  kConnect,
  kTimeout,
  kBadResponse,
  kCount
};

template <typename E>
constexpr size_t idx(E e) {
  return static_cast<size_t>(e);
}

// The sandboxes' DNS (proxy/dns/responder.h), by transport= and result=:
// answered (NOERROR, addresses or none), blocked (a name the policy denies:
// NXDOMAIN, logged), nxdomain (an allowed name that does not resolve),
// refused (a source no sandbox has), error (a message kitgate cannot answer:
// malformed, too large, not a single IN question).
enum class DnsTransport : uint8_t { kUdp, kTcp, kCount };
enum class DnsResult : uint8_t { kAnswered, kBlocked, kNxdomain, kRefused, kError, kCount };
struct DnsMetrics {
  std::array<std::array<std::atomic<uint64_t>, idx(DnsResult::kCount)>, idx(DnsTransport::kCount)>
      queries{};
  void query(DnsTransport t, DnsResult r) {
    queries[idx(t)][idx(r)].fetch_add(1, std::memory_order_relaxed);
  }
};

struct alignas(64) WorkerMetrics {
  Counter connections_accepted;
  Counter connections_closed;
  Counter tunnels_opened;
  Counter tunnels_closed;
  Counter intercepted_connections;  // CONNECTs answered by the TLS interceptor
  std::array<std::array<std::array<Counter, idx(ProxyPath::kCount)>, idx(Verdict::kCount)>,
             idx(ReqType::kCount)>
      requests{};
  std::array<Counter, idx(Injection::kCount)> credential_injections{};
  Counter bytes_up;    // client -> upstream payload
  Counter bytes_down;  // upstream -> client payload
  std::array<Counter, idx(Limit::kCount)> limit_hits{};
  std::array<Counter, idx(UpstreamError::kCount)> upstream_errors{};
  std::array<Counter, idx(OverloadAction::kCount)> overload_actions{};
  std::array<Counter, idx(TunnelSni::kCount)> tunnel_sni{};
  std::array<Counter, idx(OAuthWait::kCount)> oauth_waits{};
  std::array<Counter, idx(PoolResult::kCount)> upstream_pool{};
  Counter upstream_pool_in;   // connections put in the idle pool
  Counter upstream_pool_out;  // ... and out of it (taken or closed): in - out = idle now
  Counter bad_requests;       // 400/431/501/505 answered to clients
  Counter unauthenticated;    // 407
  Histogram dns_duration;
  Histogram connect_duration;
  std::array<Histogram, idx(ReqType::kCount)> request_duration{};
  std::array<Histogram, idx(TunnelType::kCount)> tunnel_duration{
      Histogram(kLifetimeBounds), Histogram(kLifetimeBounds), Histogram(kLifetimeBounds)};

  void request(ReqType t, Verdict v, ProxyPath p) { requests[idx(t)][idx(v)][idx(p)].add(); }
  // A request's head arrived `d` ago and its answer is complete (http), or
  // the CONNECT was answered (200 established or refused).
  void requestDone(ReqType t, std::chrono::nanoseconds d) { request_duration[idx(t)].observe(d); }
  // A tunnel that lived `d` ended (also counts tunnels_closed).
  void tunnelClosed(TunnelType t, std::chrono::nanoseconds d) {
    tunnels_closed.add();
    tunnel_duration[idx(t)].observe(d);
  }
  void credentialInjected(Injection k) { credential_injections[idx(k)].add(); }
  // Called per read as payload flows, so rate() is smooth for long tunnels.
  void relayed(Direction d, uint64_t n) { (d == Direction::kUp ? bytes_up : bytes_down).add(n); }
};

// Process-wide values not owned by a worker (written rarely, any thread).
struct GlobalMetrics {
  std::atomic<uint64_t> reloads_ok{0};
  std::atomic<uint64_t> reloads_failed{0};
  std::atomic<int64_t> snapshot_loaded_unix{0};
  std::atomic<int> last_reload_ok{1};                // the startup load counts as a successful one
  std::atomic<int64_t> last_reload_success_unix{0};  // startup, then every successful reload
  std::atomic<int> workers{0};
  std::atomic<int> draining{0};
  DnsMetrics dns;  // written by the DNS responder (main loop)
  // The proxy's own OAuth refreshes (the refresher thread).
  std::atomic<uint64_t> oauth_refresh_ok{0};
  std::atomic<uint64_t> oauth_refresh_failed{0};

  // Records a reload's outcome at `now_unix` (seconds since the epoch).
  void reloaded(bool ok, int64_t now_unix);
  // The configured limits exposed as gauges (set at start and on reload).
  void setLimits(const config::Limits& limits);
  config::Limits limits() const;

 private:
  mutable std::mutex limits_mu_;  // scrape and reload only, never the data path
  config::Limits limits_;
};

// Sums every worker's block and adds the process-wide values. The blocks and
// `global` must outlive the collector; Collect() runs on the scrape thread.
std::unique_ptr<prometheus::Collectable> makeMetricsCollector(
    std::vector<const WorkerMetrics*> workers, const GlobalMetrics& global);
// kitgate_build_info{version,tls} 1.
std::unique_ptr<prometheus::Collectable> makeBuildInfoCollector(std::string version,
                                                                std::string tls);

// Prometheus text exposition format 0.0.4 of everything `collectables` yield,
// serialised by prometheus-cpp's TextSerializer.
std::string renderPrometheus(const std::vector<const prometheus::Collectable*>& collectables);

}  // namespace kitgate::admin
