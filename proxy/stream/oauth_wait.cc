#include "proxy/stream/oauth_wait.h"

#include <utility>

namespace kitgate::stream {

OAuthWaits::Ticket::~Ticket() {
  if (registered_ && owner_ != nullptr) owner_->unregister(this);
  if (timer_ != nullptr) event_free(timer_);
}

void OAuthWaits::Ticket::onTimer(evutil_socket_t, short, void* arg) {
  auto* t = static_cast<Ticket*>(arg);
  if (t->registered_) t->owner_->unregister(t);
  t->fire(Outcome::kTimedOut);
}

void OAuthWaits::Ticket::fire(Outcome outcome) {
  // The callback may destroy this ticket: nothing of it is touched after.
  std::function<void(Outcome)> done = std::move(done_);
  done_ = nullptr;
  if (done) done(outcome);
}

OAuthWaits::~OAuthWaits() {
  for (auto& [slot, t] : parked_) t->registered_ = false;
}

std::unique_ptr<OAuthWaits::Ticket> OAuthWaits::wait(const secrets::OAuthSlot* slot,
                                                     std::chrono::milliseconds limit,
                                                     std::function<void(Outcome)> done) {
  std::unique_ptr<Ticket> t(new Ticket());
  t->owner_ = this;
  t->slot_ = slot;
  t->done_ = std::move(done);
  t->timer_ = evtimer_new(base_, &Ticket::onTimer, t.get());
  const auto ms = limit.count();
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  evtimer_add(t->timer_, &tv);
  parked_.emplace(slot, t.get());
  t->registered_ = true;
  return t;
}

void OAuthWaits::unregister(Ticket* t) {
  auto [first, last] = parked_.equal_range(t->slot_);
  for (auto it = first; it != last; ++it) {
    if (it->second == t) {
      parked_.erase(it);
      break;
    }
  }
  t->registered_ = false;
  if (t->timer_ != nullptr) evtimer_del(t->timer_);
}

void OAuthWaits::wake(const secrets::OAuthSlot* slot) {
  // One at a time: a callback may cancel (destroy) other tickets; only the
  // requests parked before this wake go on.
  for (size_t n = parked_.count(slot); n > 0; --n) {
    auto it = parked_.find(slot);
    if (it == parked_.end()) break;
    Ticket* t = it->second;
    unregister(t);
    t->fire(Outcome::kRefreshEnded);
  }
}

}  // namespace kitgate::stream
