// The first flight of an opaque tunnel, checked before a byte of it goes
// upstream (Connection members; see connection.h):
//
//   CONNECT allowed, not intercepted, upstream connected
//     -> "200 Connection established" (the client speaks only after it)
//   transparent, decided on the name kitgate's DNS gave, upstream connected
//     -> (nothing is sent: no one asked)
//   -> kFirstFlight: whoever speaks first
//        upstream first (SSH banner, SMTP greeting …): nothing to check
//        the client: its bytes as far as a ClientHello goes
//          -> Stream::onFirstFlight: the server name must be the tunnel's
//             host (CONNECT: or another name the policy allows) — an allowed
//             tunnel cannot front a name the sandbox may not reach
//   -> tunnel(): the splice relay, the first flight as its first bytes;
//      refused: a TLS alert (CONNECT) or a reset (transparent).
//
// The wait is bounded by the idle timeout and by tls::kMaxClientHelloBytes
// of buffered first flight.
#include <event2/buffer.h>
#include <sys/socket.h>

#include "proxy/server/connection.h"
#include "proxy/server/worker.h"
#include "proxy/tls/client_hello.h"

namespace kitgate::server {

bool Connection::awaitFirstFlight(UniqueFd& upstream) {
  if (first_flight_seen_) return false;
  if (original_ ? !stream_.nameFromDns()
                : !(stream_.isConnect() && snap_->config.tunnel_sni_check)) {
    return false;
  }
  upstream_ = std::move(upstream);
  if (!original_) {
    // The 200 is a few bytes on a fresh socket: it goes out in one send.
    if (::send(client_.get(), kConnectEstablished.data(), kConnectEstablished.size(),
               MSG_NOSIGNAL) != static_cast<ssize_t>(kConnectEstablished.size())) {
      terminate();
      return true;
    }
    flags_.established_sent = true;
  }
  state_ = State::kFirstFlight;
  first_ev_ = event_new(w_.base(), upstream_.get(), EV_READ, &Connection::onUpstreamFirst, this);
  event_add(first_ev_, nullptr);
  armTimer(snap_->config.limits.idle_timeout);
  updateReadInterest();
  // A reload that came while the upstream was being reached: decided again now.
  if (pending_snap_ && !applyReload()) return true;
  if (evbuffer_get_length(cin_) > 0 || flags_.client_eof) checkFirstFlight();
  return true;
}

void Connection::onUpstreamFirst(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  if (c->state_ != State::kFirstFlight) return;
  // The server spoke first (SSH banner, SMTP greeting …): no ClientHello to check.
  c->stream_.onServerFirst();
  c->first_flight_seen_ = true;
  c->tunnel(std::move(c->upstream_));
}

std::optional<tls::ClientHelloPeek> Connection::peekFirstFlight() {
  const size_t len = evbuffer_get_length(cin_);
  if (len == 0) {
    if (flags_.client_eof) terminate();  // left without a word
    return std::nullopt;
  }
  const auto* bytes = reinterpret_cast<const char*>(evbuffer_pullup(cin_, -1));
  tls::ClientHelloPeek peek = tls::peekClientHello(std::string_view(bytes, len));
  if (peek.result == tls::ClientHelloPeek::Result::kIncomplete && !flags_.client_eof) {
    updateReadInterest();
    return std::nullopt;
  }
  return peek;
}

void Connection::checkFirstFlight() {
  if (evbuffer_get_length(cin_) == 0 && flags_.client_eof) {
    // Gone without a word: nothing to check; the relay ends the tunnel (and logs it).
    first_flight_seen_ = true;
    tunnel(std::move(upstream_));
    return;
  }
  auto peek = peekFirstFlight();
  if (!peek) return;
  if (!stream_.onFirstFlight(*peek, flags_.client_eof)) return;  // ended: reply() refused it
  first_flight_seen_ = true;
  tunnel(std::move(upstream_));
}

}  // namespace kitgate::server
