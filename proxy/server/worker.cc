#include "proxy/server/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/config/config.h"
#include "proxy/server/connection.h"
#include "proxy/server/original_dst.h"

namespace kitgate::server {
namespace {
constexpr int kAcceptBatch = 64;
}  // namespace

StatusOr<UniqueFd> listenOn(const std::string& addr) {
  std::string host;
  uint16_t port = 0;
  if (!config::splitHostPort(addr, &host, &port))
    return Status::error("bad listen address " + addr);
  auto ip = policy::IpAddress::parse(host);
  if (!ip) return Status::error("bad listen address " + addr);
  sockaddr_storage ss{};
  socklen_t len = ip->toSockaddr(port, &ss);
  UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::error("socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return Status::error("cannot listen on " + addr + ": " + std::strerror(errno));
  }
  if (::listen(fd.get(), 4096) != 0)
    return Status::error("listen " + addr + ": " + std::strerror(errno));
  return fd;
}

std::string boundAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  auto ip = policy::IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  if (!ip) return "";
  uint16_t port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                          : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return (ip->isV6() ? "[" + ip->toString() + "]" : ip->toString()) + ":" + std::to_string(port);
}

Worker::Worker(int index, Shared& shared, std::shared_ptr<const Snapshot> snapshot)
    : index_(index), shared_(shared), snapshot_(std::move(snapshot)), pipes_(1024 * 1024, 64) {}

Worker::~Worker() {
  while (head_ != nullptr) {
    Connection* s = head_;
    unlink(s);
    delete s;
  }
  for (Connection* s : retired_) delete s;
  for (auto& l : listeners_) {
    if (l.ev) event_free(l.ev);
  }
  flushLog();
  for (event* e : {reap_ev_, inbox_ev_, drain_ev_, log_flush_ev_, accept_backoff_ev_}) {
    if (e) event_free(e);
  }
  resolver_.reset();
  oauth_waits_.reset();
  upstream_pool_.reset();
  if (base_) event_base_free(base_);
}

Status Worker::init(std::vector<std::string>& listen) {
  // A lock-free base: the only cross-thread wakeup is the inbox eventfd.
  event_config* cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  // No EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST: it defers event_del's
  // EPOLL_CTL_DEL to the next dispatch, after the owner has closed the fd, so
  // the worker then calls epoll_ctl on a descriptor number it no longer owns,
  // which another thread (a reload reading the state directory) may already
  // have reopened. TSan reported exactly that (epoll_ctl in the dispatch vs
  // closedir in loadRegistry); every owner here frees its events before it
  // closes the fd, which is only enough when epoll_ctl runs at once.
  base_ = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (base_ == nullptr) return Status::error("event_base_new failed");
  resolver_ = std::make_unique<tunnel::EvdnsResolver>(base_);
  oauth_waits_ = std::make_unique<stream::OAuthWaits>(base_);
  upstream_pool_ = std::make_unique<upstream::IdlePool>(base_, metrics_);
  upstream_pool_->setIdleTimeout(snapshot_->config.limits.upstream_pool_idle_timeout);
  // Activated by retire(); queued behind the callbacks already active, so a
  // connection is deleted only after every callback of this round has returned.
  reap_ev_ = event_new(base_, -1, 0, &Worker::onReap, this);
  inbox_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!inbox_fd_.valid()) return Status::error("eventfd: " + std::string(std::strerror(errno)));
  inbox_ev_ = event_new(base_, inbox_fd_.get(), EV_READ | EV_PERSIST, &Worker::onInbox, this);
  event_add(inbox_ev_, nullptr);
  drain_ev_ = evtimer_new(base_, &Worker::onDrainDeadline, this);
  accept_backoff_ev_ = evtimer_new(base_, &Worker::onAcceptBackoff, this);
  log_flush_ev_ = event_new(base_, -1, EV_PERSIST, &Worker::onLogFlush, this);
  timeval every{0, 100'000};
  event_add(log_flush_ev_, &every);
  return bindListeners(listen, false);
}

Status Worker::listenTransparent(std::vector<std::string>& listen) {
  return bindListeners(listen, true);
}

Status Worker::bindListeners(std::vector<std::string>& listen, bool transparent) {
  for (auto& addr : listen) {
    auto fd = listenOn(addr);
    if (!fd) return fd.status();
    addr = boundAddress(fd->get());
    Listener l;
    l.addr = addr;
    l.fd = std::move(fd.value());
    l.transparent = transparent;
    l.ev = event_new(base_, l.fd.get(), EV_READ | EV_PERSIST,
                     transparent ? &Worker::onAcceptTransparent : &Worker::onAccept, this);
    event_add(l.ev, nullptr);
    listeners_.push_back(std::move(l));
  }
  return Status::ok();
}

void Worker::run() {
  event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
  flushLog();
}

void Worker::logDecision(const admin::PolicyRecord& r) {
  if (shared_.policy_log == nullptr || !shared_.policy_log->enabled()) return;
  admin::PolicyLog::format(r, &log_batch_);
  if (log_batch_.size() >= 64 * 1024) flushLog();
}

void Worker::flushLog() {
  if (log_batch_.empty() || shared_.policy_log == nullptr) return;
  shared_.policy_log->writeBatch(log_batch_);
  log_batch_.clear();
}

void Worker::onLogFlush(evutil_socket_t, short, void* arg) {
  static_cast<Worker*>(arg)->flushLog();
}

void Worker::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t n = ::write(inbox_fd_.get(), &one, sizeof one);
  (void)n;  // a full counter still wakes the loop
}

void Worker::publish(std::shared_ptr<const Snapshot> snapshot) {
  post([this, s = std::move(snapshot)]() mutable {
    snapshot_ = std::move(s);
    // Pooled upstream connections were made under the old policy, sandboxes
    // and credentials: none is reused after a reload.
    upstream_pool_->setIdleTimeout(snapshot_->config.limits.upstream_pool_idle_timeout);
    upstream_pool_->clear();
    // Live connections decide again on the new snapshot (revocation: a
    // removed sandbox, a denied host or a removed credential closes them).
    for (Connection* c = head_; c != nullptr;) {
      Connection* next = c->next;
      c->reload(snapshot_);
      c = next;
    }
    // Drop leaf caches of CAs the new snapshot no longer uses.
    for (auto it = leaf_caches_.begin(); it != leaf_caches_.end();) {
      bool used = false;
      for (const auto& [name, m] : snapshot_->minters) used = used || m.get() == it->first;
      it = used ? std::next(it) : leaf_caches_.erase(it);
    }
  });
}

tls::LeafCache& Worker::leafCache(const std::shared_ptr<const tls::LeafMinter>& minter) {
  auto& slot = leaf_caches_[minter.get()];
  if (!slot.second) slot = {minter, std::make_unique<tls::LeafCache>(minter)};
  return *slot.second;
}

void Worker::addListener(std::string addr, UniqueFd fd) {
  auto shared_fd = std::make_shared<UniqueFd>(std::move(fd));
  post([this, addr = std::move(addr), shared_fd] {
    if (draining_) return;
    Listener l;
    l.addr = addr;
    l.fd = std::move(*shared_fd);
    l.ev = event_new(base_, l.fd.get(), EV_READ | EV_PERSIST, &Worker::onAccept, this);
    event_add(l.ev, nullptr);
    listeners_.push_back(std::move(l));
  });
}

void Worker::removeListener(std::string addr) {
  post([this, addr = std::move(addr)] {
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      if (it->addr == addr && !it->transparent) {
        if (it->ev) event_free(it->ev);
        it = listeners_.erase(it);
      } else {
        ++it;
      }
    }
  });
}

void Worker::drain(std::chrono::milliseconds deadline) {
  post([this, deadline] {
    if (draining_) return;
    draining_ = true;
    stopListening();
    upstream_pool_->clear();  // its events would keep the loop alive
    for (Connection* s = head_; s != nullptr;) {
      Connection* next = s->next;
      s->drain();
      s = next;
    }
    timeval tv{static_cast<time_t>(deadline.count() / 1000),
               static_cast<suseconds_t>((deadline.count() % 1000) * 1000)};
    evtimer_add(drain_ev_, &tv);
    maybeExit();
  });
}

void Worker::onInbox(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  uint64_t count = 0;
  ssize_t n = ::read(w->inbox_fd_.get(), &count, sizeof count);
  (void)n;
  std::vector<std::function<void()>> todo;
  {
    std::lock_guard<std::mutex> lock(w->inbox_mu_);
    todo.swap(w->inbox_);
  }
  for (auto& fn : todo) fn();
}

void Worker::onDrainDeadline(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  for (Connection* s = w->head_; s != nullptr;) {
    Connection* next = s->next;
    s->forceClose();
    s = next;
  }
}

void Worker::stopListening() {
  for (auto& l : listeners_) {
    if (l.ev) {
      event_free(l.ev);
      l.ev = nullptr;
    }
    l.fd.reset();
  }
}

void Worker::maybeExit() {
  if (draining_ && head_ == nullptr && retired_.empty()) event_base_loopbreak(base_);
}

void Worker::pauseAccepting(Pause why) {
  if (accept_paused_) return;
  accept_paused_ = true;
  pause_reason_ = why;
  ++accept_pauses_;
  metrics_
      .overload_actions[admin::idx(why == Pause::kOverload
                                       ? admin::OverloadAction::kStopAccepting
                                       : admin::OverloadAction::kDescriptorBackoff)]
      .add();
  for (auto& l : listeners_) {
    if (l.ev) event_del(l.ev);
  }
  if (accept_pauses_ == 1 || accept_pauses_ % 100 == 0) {
    spdlog::warn("worker {}: {} ({} pauses so far): accepting paused", index_,
                 why == Pause::kOverload ? "overloaded (limits.overload_stop_accepting_percent)"
                                         : "out of file descriptors",
                 accept_pauses_);
  }
  timeval tv{0, static_cast<suseconds_t>(kAcceptBackoff.count() * 1000)};
  evtimer_add(accept_backoff_ev_, &tv);
}

unsigned Worker::overloadPercent() const {
  const config::Limits& l = snapshot_->config.limits;
  const int64_t open = shared_.open_connections.load(std::memory_order_relaxed);
  const auto capacity = static_cast<int64_t>(l.max_connections + l.max_unidentified);
  return open <= 0 ? 0 : static_cast<unsigned>(open * 100 / capacity);
}

void Worker::shedIdle() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_shed_ < kShedInterval) return;
  last_shed_ = now;
  for (Worker* w : shared_.workers) {
    if (w == this) {
      shedOwnIdle();
    } else {
      w->post([w] { w->shedOwnIdle(); });
    }
  }
}

void Worker::shedOwnIdle() {
  for (Connection* c = head_; c != nullptr;) {
    Connection* next = c->next;  // shed() retires c
    if (c->idleBetweenRequests()) {
      c->shed();
      metrics_.overload_actions[admin::idx(admin::OverloadAction::kShedIdle)].add();
    }
    c = next;
  }
}

void Worker::onAcceptBackoff(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  const unsigned stop_at = w->snapshot_->config.limits.overload_stop_accepting_percent;
  if (w->pause_reason_ == Pause::kOverload && !w->draining_ && w->overloadPercent() + 5 > stop_at) {
    timeval tv{0, static_cast<suseconds_t>(kAcceptBackoff.count() * 1000)};
    evtimer_add(w->accept_backoff_ev_, &tv);  // still overloaded
    return;
  }
  w->accept_paused_ = false;
  if (w->draining_) return;
  for (auto& l : w->listeners_) {
    if (l.ev) event_add(l.ev, nullptr);
  }
}

void Worker::onAccept(evutil_socket_t fd, short, void* arg) {
  static_cast<Worker*>(arg)->acceptBatch(fd, false);
}

void Worker::onAcceptTransparent(evutil_socket_t fd, short, void* arg) {
  static_cast<Worker*>(arg)->acceptBatch(fd, true);
}

void Worker::acceptBatch(int listen_fd, bool transparent) {
  const config::Limits& limits = snapshot_->config.limits;
  for (int i = 0; i < kAcceptBatch; ++i) {
    if (overloadPercent() >= limits.overload_stop_accepting_percent) {
      pauseAccepting(Pause::kOverload);  // the backlog holds new connections meanwhile
      return;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd =
        ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors (or kernel memory): the listener stays readable,
      // so retrying at once would spin. Pause accepting for a moment; the
      // connections wait in the backlog.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        pauseAccepting(Pause::kDescriptors);
      return;  // EAGAIN: the next readiness
    }
    // A connection arrives at a level (not counting it) where idle ones go.
    if (overloadPercent() >= limits.overload_shed_idle_percent) shedIdle();
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto peer = policy::IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    const uint16_t port = ss.ss_family == AF_INET6
                              ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                              : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    std::optional<Endpoint> original;
    if (transparent) {
      original = originalDestination(fd);
      if (!original) {  // dialled directly, not redirected: nothing to decide on
        spdlog::debug("transparent listener: a connection that was not redirected, closed");
        ::close(fd);
        continue;
      }
    }
    auto* s = new Connection(*this, UniqueFd(fd), peer.value_or(policy::IpAddress{}), port,
                             std::move(original));
    link(s);
    s->start();
  }
}

void Worker::link(Connection* s) {
  s->next = head_;
  s->prev = nullptr;
  if (head_) head_->prev = s;
  head_ = s;
  ++connections_;
}

void Worker::unlink(Connection* s) {
  if (s->prev) {
    s->prev->next = s->next;
  } else {
    head_ = s->next;
  }
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  --connections_;
}

void Worker::retire(Connection* s) {
  unlink(s);
  retired_.push_back(s);
  event_active(reap_ev_, 0, 0);
}

void Worker::onReap(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  std::vector<Connection*> batch;
  batch.swap(w->retired_);
  for (Connection* s : batch) delete s;
  w->maybeExit();
}

}  // namespace kitgate::server
