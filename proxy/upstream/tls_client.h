// TlsClient: the verified TLS leg toward an intercepted host's real server.
// SNI and certificate name = the CONNECT host; sessions resumed through the
// worker's cache (keyed host:port); the handshake driven on the loop and
// bounded by the connect timeout. On success the connection gets a Transport
// to run its codec over.
//
// Thread: the owning worker's loop. Destroying the handle cancels.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "proxy/mitm/handshake.h"
#include "proxy/tls/contexts.h"
#include "proxy/tunnel/transport.h"

namespace kitgate::upstream {

struct TlsResult {
  enum class Outcome { kOk, kSetupFailed, kFailed, kTimedOut };
  Outcome outcome = Outcome::kFailed;
  std::unique_ptr<tunnel::Transport> transport;  // kOk only
  std::string error;                             // the whole message, never a secret
};

class TlsClient {
 public:
  using Callback = std::function<void(TlsResult)>;
  struct Params {
    event_base* base = nullptr;
    int fd = -1;  // connected; owned by the caller, outlives the handshake
    const tls::ClientContext* context = nullptr;
    std::string host;  // SNI and the name the certificate must carry
    uint16_t port = 0;
    tls::ClientSessionCache* sessions = nullptr;
    std::chrono::milliseconds timeout{10000};
    bool offer_h2 = false;  // ALPN "h2" before "http/1.1"
  };
  // Starts the handshake; `done` runs once. When it ran before start()
  // returned (setup failure), start() returns nullptr.
  static std::unique_ptr<TlsClient> start(const Params& p, Callback done);
  ~TlsClient();

 private:
  TlsClient() = default;
  std::unique_ptr<tunnel::Transport> transport_;
  std::unique_ptr<mitm::Handshake> handshake_;
  Callback done_;
  std::string host_;
  bool finished_ = false;
};

}  // namespace kitgate::upstream
