#include "proxy/upstream/idle_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace kitgate::upstream {

bool quietIdle(const IdleConnection& c) {
  if (!c.fd.valid() || !c.io || c.io->hasBuffered()) return false;
  char b = 0;
  const ssize_t n = ::recv(c.fd.get(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

IdlePool::Entry::~Entry() {
  if (ev) event_free(ev);
  conn.io.reset();  // before the fd it uses
}

IdlePool::~IdlePool() { clear(); }

void IdlePool::setIdleTimeout(std::chrono::milliseconds t) {
  idle_timeout_ = t;
  if (!enabled()) clear();
}

bool IdlePool::put(std::string_view key, IdleConnection c) {
  if (!enabled() || total_ >= kMaxTotal || !quietIdle(c)) return false;
  auto& list = entries_[std::string(key)];
  if (list.size() >= kMaxPerKey) return false;
  auto e = std::make_unique<Entry>();
  e->pool = this;
  e->key.assign(key);
  e->conn = std::move(c);
  e->ev = event_new(base_, e->conn.fd.get(), EV_READ, &IdlePool::onIdleEvent, e.get());
  const timeval tv{static_cast<time_t>(idle_timeout_.count() / 1000),
                   static_cast<suseconds_t>((idle_timeout_.count() % 1000) * 1000)};
  event_add(e->ev, &tv);
  list.push_back(std::move(e));
  ++total_;
  metrics_.upstream_pool_in.add();
  return true;
}

std::optional<IdleConnection> IdlePool::take(
    std::string_view key, const std::function<bool(const std::string&)>& allowed) {
  auto it = entries_.find(std::string(key));
  bool stale = false;
  while (it != entries_.end() && !it->second.empty()) {
    std::unique_ptr<Entry> e = std::move(it->second.back());
    it->second.pop_back();
    --total_;
    metrics_.upstream_pool_out.add();
    if (!quietIdle(e->conn)) {
      stale = true;
      continue;  // the server closed it (or spoke): closed here
    }
    if (!allowed(e->conn.address)) continue;
    event_free(e->ev);
    e->ev = nullptr;
    IdleConnection c = std::move(e->conn);
    if (it->second.empty()) entries_.erase(it);
    metrics_.upstream_pool[admin::idx(admin::PoolResult::kHit)].add();
    return c;
  }
  if (it != entries_.end() && it->second.empty()) entries_.erase(it);
  metrics_.upstream_pool[admin::idx(stale ? admin::PoolResult::kStale : admin::PoolResult::kMiss)]
      .add();
  return std::nullopt;
}

void IdlePool::onIdleEvent(evutil_socket_t, short, void* arg) {
  auto* e = static_cast<Entry*>(arg);
  e->pool->remove(e);  // EOF, bytes nobody asked for, or the idle timeout
}

void IdlePool::remove(Entry* e) {
  auto it = entries_.find(e->key);
  if (it == entries_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(), [e](const auto& p) { return p.get() == e; });
  if (pos == list.end()) return;
  list.erase(pos);  // destroys e
  --total_;
  metrics_.upstream_pool_out.add();
  if (list.empty()) entries_.erase(it);
}

void IdlePool::clear() {
  metrics_.upstream_pool_out.add(total_);
  entries_.clear();
  total_ = 0;
}

}  // namespace kitgate::upstream
