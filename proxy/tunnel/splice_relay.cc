#include "proxy/tunnel/splice_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace kitgate::tunnel {
namespace {

// Per splice call; a pump moves at most kBurst bytes before yielding to the
// loop so one fast tunnel cannot starve the worker's other connections.
constexpr size_t kSpliceChunk = 1 << 20;
constexpr size_t kBurst = 8 << 20;
// A splice that returns less than this most likely emptied the socket's
// receive queue (small request/response traffic).
constexpr size_t kShortSplice = 64 * 1024;

timeval toTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

}  // namespace

SpliceRelay::SpliceRelay(event_base* base, PipePool& pipes, UniqueFd client, UniqueFd upstream,
                         std::string pending_to_client, std::string pending_to_upstream,
                         std::chrono::milliseconds idle_timeout, DoneCallback on_done)
    : base_(base),
      pipes_(pipes),
      client_(std::move(client)),
      upstream_(std::move(upstream)),
      idle_timeout_(idle_timeout),
      on_done_(std::move(on_done)) {
  up_.from = client_.get();
  up_.to = upstream_.get();
  up_.pending = std::move(pending_to_upstream);
  up_.counter = &stats_.bytes_up;
  down_.from = upstream_.get();
  down_.to = client_.get();
  down_.pending = std::move(pending_to_client);
  down_.counter = &stats_.bytes_down;
  for (Direction* d : {&up_, &down_}) {
    d->relay = this;
    d->read_ev = event_new(base_, d->from, EV_READ, &SpliceRelay::onEvent, d);
    d->write_ev = event_new(base_, d->to, EV_WRITE, &SpliceRelay::onEvent, d);
  }
  idle_ev_ = evtimer_new(base_, &SpliceRelay::onIdle, this);
  flush_ev_ = evtimer_new(base_, &SpliceRelay::onFlushCheck, this);
}

SpliceRelay::~SpliceRelay() {
  for (Direction* d : {&up_, &down_}) {
    if (d->read_ev) event_free(d->read_ev);
    if (d->write_ev) event_free(d->write_ev);
    // A pipe still holding bytes cannot go back to the pool.
    if (d->pipe.read_fd >= 0) {
      if (d->in_pipe == 0) {
        pipes_.release(d->pipe);
      } else {
        PipePool::destroy(d->pipe);
      }
    }
  }
  if (idle_ev_) event_free(idle_ev_);
  if (flush_ev_) event_free(flush_ev_);
}

void SpliceRelay::start() {
  event_base_gettimeofday_cached(base_, &last_activity_);
  armIdle();
  // Flush the pending prefixes first; each pump arms what it waits for.
  pump(down_);
  if (!finished_) pump(up_);
}

void SpliceRelay::abort() {
  finished_ = true;
  for (Direction* d : {&up_, &down_}) {
    event_del(d->read_ev);
    event_del(d->write_ev);
  }
  event_del(idle_ev_);
  if (flush_ev_) event_del(flush_ev_);
}

void SpliceRelay::onFlushCheck(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<SpliceRelay*>(arg);
  Direction& up = self->up_;
  const bool owed = up.in_pipe > 0 || up.pending_off < up.pending.size();
  if (self->finished_ || up.done || !owed) return;  // no longer stalled
  if (self->stats_.bytes_up == self->flushed_at_check_) {
    // The upstream took nothing for a while: is the client still there?
    // (Its FIN cannot arrive while our receive window is full; a reset can.)
    pollfd p{self->client_.get(), POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0) {
      self->finish("upstream not reading after the client closed");
      return;
    }
  }
  self->armFlushCheck();
}

void SpliceRelay::armFlushCheck() {
  flushed_at_check_ = stats_.bytes_up;
  timeval tv =
      toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(kFlushAfterClientClose));
  event_add(flush_ev_, &tv);
}

void SpliceRelay::armIdle() {
  if (idle_timeout_.count() <= 0) return;
  timeval tv = toTimeval(idle_timeout_);
  event_add(idle_ev_, &tv);
}

void SpliceRelay::onIdle(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<SpliceRelay*>(arg);
  timeval now{}, elapsed{};
  event_base_gettimeofday_cached(self->base_, &now);
  evutil_timersub(&now, &self->last_activity_, &elapsed);
  auto idle = std::chrono::seconds(elapsed.tv_sec) + std::chrono::microseconds(elapsed.tv_usec);
  if (idle >= self->idle_timeout_) {
    self->finish("idle timeout");
    return;
  }
  // Lazy re-arm: activity only stamps a time; the timer sleeps the remainder.
  timeval tv =
      toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(self->idle_timeout_ - idle));
  event_add(self->idle_ev_, &tv);
}

void SpliceRelay::onEvent(evutil_socket_t, short what, void* arg) {
  // Each event belongs to one direction: its source became readable or its
  // destination writable. Only that direction moves.
  auto* d = static_cast<Direction*>(arg);
  SpliceRelay* self = d->relay;
  event_base_gettimeofday_cached(self->base_, &self->last_activity_);
  if (what & EV_READ) d->source_drained = false;
  self->pump(*d);
}

void SpliceRelay::pump(Direction& d) {
  if (finished_ || d.done) return;
  Step s = move(d);
  switch (s) {
    case Step::kWaitRead:
      event_add(d.read_ev, nullptr);
      break;
    case Step::kWaitWrite:
      event_add(d.write_ev, nullptr);
      if (&d == &up_ && !event_pending(flush_ev_, EV_TIMEOUT, nullptr)) armFlushCheck();
      break;
    case Step::kYield:
      // More to move: come back after other connections had their turn.
      event_active(d.write_ev, EV_WRITE, 0);
      break;
    case Step::kDone:
      if (up_.done && down_.done) finish("closed");
      break;
    case Step::kError:
      finish("reset");
      break;
  }
}

SpliceRelay::Step SpliceRelay::move(Direction& d) {
  // 1. User-space prefix.
  while (d.pending_off < d.pending.size()) {
    ssize_t n = ::send(d.to, d.pending.data() + d.pending_off, d.pending.size() - d.pending_off,
                       MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return Step::kWaitWrite;
      return Step::kError;
    }
    d.pending_off += static_cast<size_t>(n);
    *d.counter += static_cast<uint64_t>(n);
    if (d.live != nullptr && d.live_pending) d.live->add(static_cast<uint64_t>(n));
  }
  if (!d.pending.empty()) std::string().swap(d.pending);

  size_t moved = 0;
  for (;;) {
    // 2. Drain the pipe into the destination.
    while (d.in_pipe > 0) {
      ssize_t n = ::splice(d.pipe.read_fd, nullptr, d.to, nullptr, d.in_pipe,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return Step::kWaitWrite;
        return Step::kError;
      }
      d.in_pipe -= static_cast<size_t>(n);
      *d.counter += static_cast<uint64_t>(n);
      if (d.live != nullptr) d.live->add(static_cast<uint64_t>(n));
      moved += static_cast<size_t>(n);
    }
    if (d.pipe.read_fd >= 0) {
      pipes_.release(d.pipe);
      d.pipe = {};
    }
    if (d.eof) {
      ::shutdown(d.to, SHUT_WR);
      d.done = true;
      return Step::kDone;
    }
    if (moved >= kBurst) return Step::kYield;
    // A short splice emptied the socket a moment ago: another attempt would
    // only return EAGAIN, so wait for readiness (level-triggered) instead.
    if (d.source_drained) return Step::kWaitRead;
    // 3. Fill the pipe from the source.
    d.pipe = pipes_.acquire();
    if (d.pipe.read_fd < 0) return Step::kError;  // out of fds
    ssize_t n = ::splice(d.from, nullptr, d.pipe.write_fd, nullptr, kSpliceChunk,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) {
      d.eof = true;
      continue;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        pipes_.release(d.pipe);
        d.pipe = {};
        return Step::kWaitRead;
      }
      return Step::kError;
    }
    d.in_pipe = static_cast<size_t>(n);
    d.source_drained = static_cast<size_t>(n) < kShortSplice;
  }
}

void SpliceRelay::finish(const char* reason) {
  if (finished_) return;
  abort();
  if (reason[0] == 'r') {
    // Propagate a reset as a reset: close both sides with RST, not FIN.
    linger lg{1, 0};
    ::setsockopt(client_.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::setsockopt(upstream_.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  stats_.end_reason = reason;
  if (on_done_) on_done_(stats_);
}

}  // namespace kitgate::tunnel
