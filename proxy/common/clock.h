// Clock: the time seam (STYLE.md rule 4). Code that decides by time (credential
// expiry, refresh schedules, later stream timeouts) asks a Clock, so tests
// drive time with a fake (tests/support/fake_clock.h) instead of sleeping.
//
// now() is callable from any thread.
#pragma once

#include <chrono>

namespace kitgate {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

// The real monotonic clock.
class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

// A process-wide SteadyClock.
inline const Clock& steadyClock() {
  static const SteadyClock clock;
  return clock;
}

}  // namespace kitgate
