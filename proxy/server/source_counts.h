// Connections per source address that have not been identified yet
// (limits.max_unidentified_per_source), shared by every worker: a
// connection claims a slot for its peer address when accepted and gives it
// back when identified or closed.
//
// Thread-safe (one mutex; taken twice per connection, never on the request
// path). Addresses with no connection are forgotten, so the map holds at most
// one entry per unidentified connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "proxy/policy/ip_address.h"

namespace kitgate::server {

class SourceCounts {
 public:
  // Claims one slot for `source`; false (nothing claimed) when it already
  // holds `limit`.
  bool acquire(const policy::IpAddress& source, size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    uint32_t& n = counts_[source];
    if (n >= limit) {
      if (n == 0) counts_.erase(source);
      return false;
    }
    ++n;
    return true;
  }
  void release(const policy::IpAddress& source) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(source);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }

 private:
  std::mutex mu_;
  std::unordered_map<policy::IpAddress, uint32_t, policy::IpAddressHash> counts_;
};

}  // namespace kitgate::server
