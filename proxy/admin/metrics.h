// Proxy metrics: declared here in one list, exposed in Prometheus text format.
//
// Every worker owns one WorkerMetrics block and is its only writer, so the hot
// path increments with a relaxed load+store (no lock, no atomic RMW). A scrape
// (admin thread) reads all blocks with relaxed loads and sums them; a scrape
// may see a request's counters half-updated, never torn values.
// Labels are bounded enums: never a host, a sandbox name or any string a
// sandbox controls.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace kitgate::admin {

// Single-writer counter.
class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Single-writer histogram of durations, fixed buckets (seconds).
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                   0.025,  0.05,    0.1,    0.25,  0.5,    1.0,  5.0};
  void observe(std::chrono::nanoseconds d);
  uint64_t bucket(size_t i) const { return buckets_[i].get(); }  // i == kBounds.size(): +Inf
  uint64_t count() const { return count_.get(); }
  double sumSeconds() const { return static_cast<double>(sum_ns_.get()) / 1e9; }

 private:
  std::array<Counter, kBounds.size() + 1> buckets_{};
  Counter count_;
  Counter sum_ns_;
};

enum class ReqType : uint8_t { kConnect, kHttp, kCount };
enum class Verdict : uint8_t { kAllowed, kBlocked, kCount };
enum class ProxyPath : uint8_t { kForward, kForwardBypass, kNone, kCount };
enum class Limit : uint8_t {
  kHeadTimeout, kHeadTooLarge, kTooManyHeaders, kMaxConnections, kMaxConnectionsPerSandbox,
  kIdleTimeout, kConnectTimeout, kCount
};
enum class UpstreamError : uint8_t { kDns, kAddressBlocked, kConnect, kTimeout, kBadResponse, kCount };

template <typename E>
constexpr size_t idx(E e) { return static_cast<size_t>(e); }

struct alignas(64) WorkerMetrics {
  Counter connections_accepted;
  Counter connections_closed;
  Counter tunnels_opened;
  Counter tunnels_closed;
  std::array<std::array<std::array<Counter, idx(ProxyPath::kCount)>, idx(Verdict::kCount)>, idx(ReqType::kCount)> requests{};
  Counter bytes_up;    // client -> upstream
  Counter bytes_down;  // upstream -> client
  std::array<Counter, idx(Limit::kCount)> limit_hits{};
  std::array<Counter, idx(UpstreamError::kCount)> upstream_errors{};
  Counter bad_requests;  // 400/431/501/505 answered to clients
  Counter unauthenticated;  // 407
  Histogram dns_duration;
  Histogram connect_duration;

  void request(ReqType t, Verdict v, ProxyPath p) { requests[idx(t)][idx(v)][idx(p)].add(); }
};

// Process-wide values not owned by a worker (written rarely, any thread).
struct GlobalMetrics {
  std::atomic<uint64_t> reloads_ok{0};
  std::atomic<uint64_t> reloads_failed{0};
  std::atomic<int64_t> snapshot_loaded_unix{0};
  std::atomic<int> workers{0};
  std::atomic<int> draining{0};
};

// Renders Prometheus text exposition format 0.0.4 for all workers.
std::string renderPrometheus(const std::vector<const WorkerMetrics*>& workers, const GlobalMetrics& global);

}  // namespace kitgate::admin
