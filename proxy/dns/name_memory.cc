#include "proxy/dns/name_memory.h"

namespace kitgate::dns {

void NameMemory::remember(std::string_view sandbox, const policy::IpAddress& address,
                          std::string_view name, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(std::string(sandbox));
  if (it == sandboxes_.end()) it = sandboxes_.emplace(std::string(sandbox), PerSandbox{}).first;
  PerSandbox& s = it->second;
  if (auto old = s.by_addr.find(address); old != s.by_addr.end()) {
    s.order.erase(old->second);
    s.by_addr.erase(old);
  }
  while (!s.order.empty() &&
         (s.order.size() >= max_per_sandbox_ || s.order.front().expires <= now)) {
    s.by_addr.erase(s.order.front().address);
    s.order.pop_front();
  }
  if (max_per_sandbox_ == 0) return;
  s.order.push_back(Entry{address, std::string(name), now + ttl_});
  s.by_addr.emplace(address, std::prev(s.order.end()));
}

std::optional<std::string> NameMemory::lookup(std::string_view sandbox,
                                              const policy::IpAddress& address,
                                              Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(std::string(sandbox));
  if (it == sandboxes_.end()) return std::nullopt;
  auto e = it->second.by_addr.find(address);
  if (e == it->second.by_addr.end() || e->second->expires <= now) return std::nullopt;
  return e->second->name;
}

void NameMemory::forget(std::string_view sandbox) {
  std::lock_guard<std::mutex> lock(mu_);
  sandboxes_.erase(std::string(sandbox));
}

size_t NameMemory::size(std::string_view sandbox) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(std::string(sandbox));
  return it == sandboxes_.end() ? 0 : it->second.order.size();
}

}  // namespace kitgate::dns
