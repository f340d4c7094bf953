// Handshake: drives one TLS handshake (either side) on the worker's loop —
// arms the read or write event the handshake waits for, bounded by a
// timeout — and calls back once with the outcome. The connection (client
// leg) and upstream::TlsClient (upstream leg) share it.
//
// Thread: the owning worker's loop. Owns its events, not the fd or stream.
// Destroying it cancels the handshake (the callback never runs after).
#pragma once

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <string>

#include "proxy/tls/tls_stream.h"

namespace kitgate::mitm {

class Handshake {
 public:
  enum class Outcome { kDone, kFailed, kTimedOut };
  // `error`: why it failed ("" when the peer just closed).
  using Callback = std::function<void(Outcome, std::string error)>;

  Handshake(event_base* base, tls::TlsStream& stream, std::chrono::milliseconds timeout,
            Callback done);
  ~Handshake();
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  // Takes the first step; the callback may run before start() returns.
  void start();

 private:
  static void onEvent(evutil_socket_t, short what, void* arg);
  void step();
  void finish(Outcome o, std::string error);

  tls::TlsStream& stream_;
  Callback done_;
  event* rev_ = nullptr;
  event* wev_ = nullptr;
  event* timer_ = nullptr;
  std::chrono::milliseconds timeout_;
};

}  // namespace kitgate::mitm
