// Counter: a monotonically increasing count with exactly one writer thread
// and any number of readers.
//
// The writer adds with a relaxed load + store (no lock, no atomic
// read-modify-write, no fence on x86); readers (a metrics scrape on another
// thread) load with relaxed order and may see a slightly stale value, never a
// torn one. Lives in common so the relay (proxy/tunnel) can count bytes as
// they flow without depending on proxy/admin.
#pragma once

#include <atomic>
#include <cstdint>

namespace kitgate {

class Counter {
 public:
  // Writer thread only.
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Any thread.
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace kitgate
