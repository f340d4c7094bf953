// CidrTable<V>: values keyed by IP prefixes, for rule CIDRs and sandbox
// source ranges. One hash map per distinct prefix length, so a lookup costs
// at most (number of distinct prefix lengths) hash probes, independent of
// the number of entries; an exact /32 or /128 is one probe.
//
// Built once, then read-only: const methods may be called from any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/policy/ip_address.h"

namespace kitgate::policy {

template <typename V>
class CidrTable {
 public:
  // `network` must already be masked to `prefix_len` (Rule guarantees it).
  void insert(const IpAddress& network, size_t prefix_len, V value) {
    auto& levels = network.isV4() ? v4_ : v6_;
    auto it = std::find_if(levels.begin(), levels.end(),
                           [&](const Level& l) { return l.prefix_len == prefix_len; });
    if (it == levels.end()) {
      levels.push_back(Level{prefix_len, {}});
      std::sort(levels.begin(), levels.end(),
                [](const Level& a, const Level& b) { return a.prefix_len > b.prefix_len; });
      it = std::find_if(levels.begin(), levels.end(),
                        [&](const Level& l) { return l.prefix_len == prefix_len; });
    }
    it->entries[network.masked(prefix_len)].push_back(std::move(value));
    ++size_;
  }

  // Calls fn(const V&) for every entry whose prefix contains `ip`, longest
  // prefix first, until fn returns true. Returns whether fn stopped it.
  template <typename Fn>
  bool forEachMatch(const IpAddress& ip, Fn&& fn) const {
    const auto& levels = ip.isV4() ? v4_ : v6_;
    for (const Level& level : levels) {
      auto it = level.entries.find(ip.masked(level.prefix_len));
      if (it == level.entries.end()) continue;
      for (const V& v : it->second) {
        if (fn(v)) return true;
      }
    }
    return false;
  }

  // First value of the longest prefix containing `ip`, or nullptr.
  const V* longestMatch(const IpAddress& ip) const {
    const V* found = nullptr;
    forEachMatch(ip, [&](const V& v) {
      found = &v;
      return true;
    });
    return found;
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

 private:
  struct Level {
    size_t prefix_len;
    std::unordered_map<IpAddress, std::vector<V>, IpAddressHash> entries;
  };
  std::vector<Level> v4_;
  std::vector<Level> v6_;
  size_t size_ = 0;
};

}  // namespace kitgate::policy
