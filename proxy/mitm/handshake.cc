#include "proxy/mitm/handshake.h"

#include <utility>

namespace kitgate::mitm {

Handshake::Handshake(event_base* base, tls::TlsStream& stream, std::chrono::milliseconds timeout,
                     Callback done)
    : stream_(stream), done_(std::move(done)), timeout_(timeout) {
  rev_ = event_new(base, stream.fd(), EV_READ, &Handshake::onEvent, this);
  wev_ = event_new(base, stream.fd(), EV_WRITE, &Handshake::onEvent, this);
  timer_ = evtimer_new(base, &Handshake::onEvent, this);
}

Handshake::~Handshake() {
  for (event* e : {rev_, wev_, timer_}) event_free(e);
}

void Handshake::start() {
  const auto ms = timeout_.count();
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  event_add(timer_, &tv);
  step();
}

void Handshake::onEvent(evutil_socket_t, short what, void* arg) {
  auto* h = static_cast<Handshake*>(arg);
  if (what & EV_TIMEOUT) {
    h->finish(Outcome::kTimedOut, "TLS handshake timed out");
    return;
  }
  h->step();
}

void Handshake::step() {
  tls::IoResult r = stream_.handshake();
  if (r.status == tls::IoStatus::kWantRead) {
    event_add(rev_, nullptr);
    return;
  }
  if (r.status == tls::IoStatus::kWantWrite) {
    event_add(wev_, nullptr);
    return;
  }
  if (r.status == tls::IoStatus::kOk) {
    finish(Outcome::kDone, {});
  } else {
    finish(Outcome::kFailed, r.error);
  }
}

void Handshake::finish(Outcome o, std::string error) {
  for (event* e : {rev_, wev_, timer_}) event_del(e);
  auto done = std::move(done_);
  done(o, std::move(error));  // may destroy this handshake: nothing after
}

}  // namespace kitgate::mitm
