// The interception half of Session: deciding to intercept a CONNECT, the two
// TLS handshakes, and the checks on every inner request. The HTTP exchange
// itself is the same loop as plain forwarding (session.cc), running over
// TLS transports.
//
//   CONNECT allowed + credential bound for host + sandbox CA
//     -> "200 Connection established"
//     -> TLS with the sandbox (leaf minted for the CONNECT host, ALPN http/1.1)
//     -> verified TLS with the real upstream (SNI = CONNECT host)
//     -> kHead: origin-form requests whose Host (and SNI) must equal the CONNECT
//        host (else 421), rewritten (inject, placeholders), forwarded.
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <optional>
#include <utility>

#include <cstring>

#include "proxy/http/serialize.h"
#include "proxy/mitm/tls_transport.h"
#include "proxy/secrets/rewrite.h"
#include "proxy/server/session.h"
#include "proxy/server/worker.h"

namespace kitgate::server {
namespace {
constexpr std::string_view kConnectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
}

void Session::decideInterception() {
  // The decision is computed here, once per CONNECT, from the snapshot the
  // connection pinned; startIntercept() only executes it.
  policy::InterceptFacts f;
  f.tls_configured = snap_->client_tls != nullptr && snap_->upstream_tls != nullptr;
  creds_ = snap_->secrets ? snap_->secrets->forSandbox(sandbox_->name()) : nullptr;
  f.credentials_bound = creds_ != nullptr;
  plan_ = creds_ != nullptr ? creds_->planFor(host_) : nullptr;
  f.host_has_plan = plan_ != nullptr;
  f.sandbox_has_ca = snap_->minterFor(sandbox_->name()) != nullptr;
  if (plan_) f.plan = plan_->toString();
  decision_.interception = policy::decideInterception(decision_, f);
  SPDLOG_DEBUG("sandbox {}: CONNECT {}: {}", sandbox_->name(), host_.text,
               decision_.interception.reason);
}

void Session::startIntercept() {
  auto minter = snap_->minterFor(sandbox_->name());
  if (!minter || !plan_ || !creds_) {
    // decideInterception() saw all three in this same snapshot.
    const std::string_view why =
        "interception decided without its credentials or CA (internal error)";
    spdlog::error("sandbox {}: CONNECT {}: {}", sandbox_->name(), host_.text, why);
    end(stream::EndReason::kInternal, why);
    return;
  }
  auto leaf = w_.leafCache(minter).get(host_.text);
  if (!leaf) {
    end(stream::EndReason::kCertificateFailure, leaf.status().message());
    return;
  }
  // Bytes the client pipelined behind its CONNECT (a ClientHello sent
  // before our 200) are the start of the TLS stream.
  std::string early(evbuffer_get_length(cin_), '\0');
  evbuffer_remove(cin_, early.data(), early.size());
  auto stream = tls::TlsStream::accept(client_.get(), *snap_->client_tls, leaf->get(), {}, early);
  if (!stream) {
    end(stream::EndReason::kInterceptSetupFailure, stream.status().message());
    return;
  }
  // The 200 is a few bytes on a fresh socket: it goes out in one send.
  if (::send(client_.get(), kConnectEstablished.data(), kConnectEstablished.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(kConnectEstablished.size())) {
    terminate();
    return;
  }
  flags_.intercepted = true;
  connect_port_ = req_.port;
  client_io_ = std::make_unique<mitm::TlsTransport>(std::move(stream.value()));
  w_.metrics().request(admin::ReqType::kConnect, admin::Verdict::kAllowed,
                       admin::ProxyPath::kForward);
  logDecision(true, 200, decision_.interception.reason, 0, 0);
  state_ = State::kClientHandshake;
  armTimer(snap_->config.limits.head_timeout);
  driveClientHandshake();
}

namespace {

// One step of a TLS handshake on `io`: arms the event it waits for and
// returns nullopt, or returns the final result (kOk or a failure).
std::optional<tls::IoResult> handshakeStep(tunnel::Transport& io, event* readable, bool& reading,
                                           event* writable) {
  tls::IoResult r = static_cast<mitm::TlsTransport&>(io).stream().handshake();
  if (r.status == tls::IoStatus::kWantRead) {
    if (!reading) {
      event_add(readable, nullptr);
      reading = true;
    }
    return std::nullopt;
  }
  if (r.status == tls::IoStatus::kWantWrite) {
    event_add(writable, nullptr);
    return std::nullopt;
  }
  return r;
}

std::string failureText(const tls::IoResult& r, const char* if_empty) {
  return r.error.empty() ? std::string(if_empty) : r.error;
}

}  // namespace

void Session::driveClientHandshake() {
  auto r = handshakeStep(*client_io_, cev_, flags_.client_reading, cwev_);
  if (!r) return;
  if (r->status != tls::IoStatus::kOk) {
    w_.metrics().upstream_errors[admin::idx(admin::UpstreamError::kBadResponse)].add();
    logDecision(false, 0, "TLS handshake with the sandbox failed: " + failureText(*r, "closed"), 0, 0);
    terminate();
    return;
  }
  sni_.assign(static_cast<mitm::TlsTransport&>(*client_io_).stream().sni());
  startUpstreamTls();
}

void Session::startUpstreamTls() {
  const std::string key = host_.text + ":" + std::to_string(connect_port_);
  auto stream = tls::TlsStream::connect(upstream_.get(), *snap_->upstream_tls, host_.text, &w_.tlsSessions(), key);
  if (!stream) {
    upstream_error_ = "upstream TLS setup failed: " + stream.status().message();
    closeUpstream();
    state_ = State::kHead;
    updateReadInterest();
    return;
  }
  upstream_io_ = std::make_unique<mitm::TlsTransport>(std::move(stream.value()));
  state_ = State::kUpstreamHandshake;
  armTimer(snap_->config.limits.connect_timeout);
  driveUpstreamHandshake();
}

void Session::driveUpstreamHandshake() {
  auto r = handshakeStep(*upstream_io_, uev_, flags_.upstream_reading, uwev_);
  if (!r) return;
  if (r->status != tls::IoStatus::kOk) {
    w_.metrics().upstream_errors[admin::idx(admin::UpstreamError::kConnect)].add();
    upstream_error_ = "TLS with upstream " + host_.text + " failed: " + failureText(*r, "connection closed");
    closeUpstream();
  }
  event_del(timer_);
  if (flags_.request_waiting) {
    // Reconnected for a request that is waiting.
    flags_.request_waiting = false;
    if (upstream_error_.empty()) {
      upstreamReady();
    } else {
      end(stream::EndReason::kUpstreamTlsFailure, std::exchange(upstream_error_, {}));
    }
    return;
  }
  // First handshake after CONNECT: the sandbox's first request. It may
  // already sit inside the TLS layer (sent right behind the client's
  // Finished), where no fd readiness will announce it: read now.
  state_ = State::kHead;
  armTimer(snap_->config.limits.head_timeout);
  updateReadInterest();
  readClient();  // parses what it reads
  if (state_ == State::kHead && evbuffer_get_length(cin_) > 0) tryHead();
}

void Session::handleInterceptedRequest() {
  if (req_.form != http::RequestHead::TargetForm::kOrigin) {
    end(stream::EndReason::kNotOriginForm);
    return;
  }
  auto host = policy::normalizeHost(req_.host, policy::Ipv6Brackets::kOptional);
  uint16_t port = req_.port != 0 ? req_.port : 443;
  const bool host_ok = host && host->text == host_.text && port == connect_port_;
  bool sni_ok = sni_.empty();
  if (!sni_ok) {
    auto sni = policy::normalizeHost(sni_, policy::Ipv6Brackets::kOptional);
    sni_ok = sni && sni->text == host_.text;
  }
  port_ = connect_port_;  // every inner request goes to the CONNECT target
  if (!host_ok || !sni_ok) {
    end(stream::EndReason::kMisdirected, !host_ok ? "Host header" : "TLS SNI");
    return;
  }
  if (!upstream_error_.empty()) {
    end(stream::EndReason::kUpstreamTlsFailure, std::exchange(upstream_error_, {}));
    return;
  }
  if (upstream_.valid() && upstream_io_) {
    startForward();
    return;
  }
  // The upstream ended keep-alive: connect again (same host, same address
  // checks), then TLS, then forward this request.
  flags_.request_waiting = true;
  startResolve();
}

}  // namespace kitgate::server
