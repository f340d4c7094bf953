// NameMemory: what kitgate's DNS told each sandbox — address -> name — so a
// transparent connection to an address can be decided on the name the
// sandbox looked up (kit-spec §4.1: names resolve through kitgate's resolver).
//
// Bounded twice: each entry expires `ttl` after the answer that made it (an
// address is not a name's forever: hosting moves), and each sandbox keeps at
// most `max_per_sandbox` entries (the oldest answer goes first), so no
// sandbox can grow it without limit by asking for names.
//
// When two names answered with the same address (a CDN), the latest answer
// wins: it is the name the sandbox most recently asked for, and both names
// were allowed when they were answered.
//
// Thread-safe: the DNS responder writes on the main loop, workers read once
// per transparent connection (a short mutex, never per byte). Time is passed
// in (tests use a fake clock).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/common/clock.h"
#include "proxy/policy/ip_address.h"

namespace kitgate::dns {

class NameMemory {
 public:
  NameMemory(std::chrono::seconds ttl, size_t max_per_sandbox)
      : ttl_(ttl), max_per_sandbox_(max_per_sandbox) {}

  // `sandbox` was told that `name` has `address`, at `now`.
  void remember(std::string_view sandbox, const policy::IpAddress& address, std::string_view name,
                Clock::time_point now);
  // The name `sandbox` last resolved to `address`, unless expired at `now`.
  std::optional<std::string> lookup(std::string_view sandbox, const policy::IpAddress& address,
                                    Clock::time_point now) const;
  // Forgets a sandbox (removed by a reload).
  void forget(std::string_view sandbox);
  size_t size(std::string_view sandbox) const;

 private:
  struct Entry {
    policy::IpAddress address;
    std::string name;
    Clock::time_point expires;
  };
  struct PerSandbox {
    std::list<Entry> order;  // oldest answer first
    std::unordered_map<policy::IpAddress, std::list<Entry>::iterator, policy::IpAddressHash>
        by_addr;
  };

  const std::chrono::seconds ttl_;
  const size_t max_per_sandbox_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, PerSandbox> sandboxes_;
};

}  // namespace kitgate::dns
