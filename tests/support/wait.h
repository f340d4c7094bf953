// waitUntil: poll a condition until it holds or a deadline passes.
//
// Tests never sleep for a fixed time: they wait for the condition they need,
// bounded by a deadline. Between checks this yields briefly (1 ms growing to
// 20 ms) so a polling test does not starve the processes it waits for.
// Any thread; `condition` runs on the calling thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

namespace kitgate::testing {

using Clock = std::chrono::steady_clock;

// True as soon as condition() returns true; false when `timeout` passed first
// (the condition is checked one last time at the deadline).
template <typename Condition>
bool waitUntil(Condition&& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::min(pause, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    deadline - Clock::now() + std::chrono::milliseconds(1))));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace kitgate::testing
