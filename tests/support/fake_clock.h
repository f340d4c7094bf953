// FakeClock: a Clock (proxy/common/clock.h) that moves only when a test
// says so. advance() and now() may be called from different threads.
#pragma once

#include <atomic>

#include "proxy/common/clock.h"

namespace kitgate::testing {

class FakeClock final : public Clock {
 public:
  time_point now() const override { return time_point(duration(ticks_.load())); }
  void advance(duration d) { ticks_.fetch_add(d.count()); }

 private:
  std::atomic<duration::rep> ticks_{duration(std::chrono::hours(1)).count()};
};

}  // namespace kitgate::testing
