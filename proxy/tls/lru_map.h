// LruMap<V>: a string-keyed map bounded by count that evicts the least
// recently used entry. Lookups take string_view (no allocation on a hit).
// Not thread-safe: one owner thread (the per-worker caches use it).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace kitgate::tls {

template <typename V>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

  // The value for `key` (now the most recently used), or null.
  V* find(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->second;
  }

  // Inserts or replaces; evicts from the cold end beyond capacity.
  V& insert(std::string key, V value) {
    erase(key);
    entries_.emplace_front(std::move(key), std::move(value));
    index_.emplace(entries_.front().first, entries_.begin());
    while (index_.size() > capacity_) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
      ++evictions_;
    }
    return entries_.front().second;
  }

  void erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    const auto entry = it->second;
    index_.erase(it);
    entries_.erase(entry);
  }

  size_t size() const { return index_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Entries = std::list<std::pair<std::string, V>>;  // front = most recent

  size_t capacity_;
  Entries entries_;
  // Keys view the strings stored in entries_ (list nodes never move).
  std::unordered_map<std::string_view, typename Entries::iterator, Hash, std::equal_to<>> index_;
  uint64_t evictions_ = 0;
};

}  // namespace kitgate::tls
