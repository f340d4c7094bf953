// The transparent entry into the stream pipeline (Connection members for
// connections accepted on a transparent listener; see connection.h).
//
//   accept: original destination known (worker)
//   -> the sandbox by source address (no credentials on this path)
//   -> a sandbox gateway (host.docker.internal): a host service, decided at
//      once as `localhost`:port and connected to the host's loopback
//   -> a name to decide on: the one kitgate's DNS answered this sandbox for
//      the address (NameMemory); else the ClientHello's server_name when the client
//      speaks TLS first — read before anything is decided, unless the bare
//      address is already allowed (IP/CIDR rules, `**`), so server-first
//      protocols to allowed addresses never wait
//   -> Stream::onTransparent: policy, then the connector to the original
//      address only (an SNI name must resolve to it) -> tunnel(): splice;
//      decided on a DNS name, the splice waits for the first flight
//      (first_flight.cc): the upstream speaking first, or a ClientHello that
//      must carry that name.
//
// Nothing is ever sent to the client before the decision; a refusal is a
// reset, as a closed port would give.
#include <event2/buffer.h>
#include <spdlog/spdlog.h>

#include "proxy/server/connection.h"
#include "proxy/server/worker.h"
#include "proxy/tls/client_hello.h"

namespace kitgate::server {

void Connection::startTransparent() {
  state_ = State::kPeek;
  sandbox_ = snap_->registry->identifyBySource(peer_);
  if (sandbox_ == nullptr) {
    decideTransparent({}, stream::TransparentTarget::NameSource::kNone);  // refused, logged
    return;
  }
  if (!admitSandbox()) return;
  // A gateway is the host: a host service, decided at once on the port
  // (server-first protocols never wait).
  if (snap_->isGateway(original_->ip)) {
    decideTransparent({}, stream::TransparentTarget::NameSource::kHostService);
    return;
  }
  // The name the sandbox resolved through kitgate's DNS decides first.
  if (const dns::NameMemory* names = w_.shared().names) {
    if (auto name = names->lookup(sandbox_->name(), original_->ip, steadyClock().now())) {
      decideTransparent(std::move(*name), stream::TransparentTarget::NameSource::kDns);
      return;
    }
  }
  if (stream::Stream::addressAllowed(*sandbox_, original_->ip, original_->port)) {
    decideTransparent({}, stream::TransparentTarget::NameSource::kNone);
    return;
  }
  updateReadInterest();  // the first flight may carry the name (head timeout bounds the wait)
}

void Connection::peekTransparent() {
  auto peek = peekFirstFlight();
  if (!peek) return;
  if (peek->result == tls::ClientHelloPeek::Result::kHello && !peek->sni.empty()) {
    decideTransparent(std::move(peek->sni), stream::TransparentTarget::NameSource::kSni);
  } else {
    decideTransparent({}, stream::TransparentTarget::NameSource::kNone);
  }
}

void Connection::decideTransparent(std::string name, stream::TransparentTarget::NameSource source) {
  event_del(timer_);
  beginStream();
  state_ = State::kUpstream;
  updateReadInterest();
  stream::TransparentTarget t;
  t.address = original_->ip;
  t.port = original_->port;
  t.name = std::move(name);
  t.source = source;
  stream_.onTransparent(t);
}

}  // namespace kitgate::server
