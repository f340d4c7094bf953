#include "proxy/server/connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "proxy/http/serialize.h"
#include "proxy/mitm/tls_transport.h"
#include "proxy/server/worker.h"
#include "proxy/tls/client_hello.h"

namespace kitgate::server {
namespace {

using Clock = std::chrono::steady_clock;

// Above this many buffered bytes toward one side, stop reading the other.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::chrono::milliseconds kLingerAfterError{2000};
// ... and at most this many of the client's bytes read and dropped meanwhile.
constexpr uint64_t kLingerMaxBytes = 1 << 20;

timeval toTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

stream::Target targetOf(const http::RequestHead& head) {
  switch (head.form) {
    case http1::TargetForm::kAuthority:
      return stream::Target::kConnect;
    case http1::TargetForm::kAbsolute:
      return stream::Target::kAbsolute;
    case http1::TargetForm::kOrigin:
      return stream::Target::kOrigin;
    case http1::TargetForm::kAsterisk:
      break;
  }
  return stream::Target::kOther;
}

upstream::TcpSettings tcpSettings(const Snapshot& snap) {
  return upstream::TcpSettings{snap.static_hosts.get(), &snap.self,
                               snap.config.limits.connect_timeout};
}

admin::TunnelType plainTunnelType(const stream::Stream& s) {
  return s.isTransparent() ? admin::TunnelType::kTransparent : admin::TunnelType::kBypass;
}

// The TLS endpoint under an intercepted connection's transport.
tls::TlsStream& tlsOf(tunnel::Transport& t) { return static_cast<mitm::TlsTransport&>(t).stream(); }

stream::StreamEnv streamEnv(Worker& w, const Snapshot& snap, upstream::Connector& connector) {
  stream::StreamEnv env;
  env.metrics = &w.metrics();
  env.connector = &connector;
  env.clock = &steadyClock();
  env.tls_configured = !snap.client_tls.empty() && snap.upstream_tls != nullptr;
  env.secrets = snap.secrets.get();
  env.minters = &snap.minters;
  env.gateways = &snap.gateways;
  env.oauth_waits = &w.oauthWaits();
  return env;
}

}  // namespace

Connection::Connection(Worker& worker, UniqueFd client, const policy::IpAddress& peer,
                       uint16_t peer_port, std::optional<Endpoint> original)
    : w_(worker),
      snap_(worker.snapshot()),
      client_(std::move(client)),
      peer_(peer),
      client_text_((peer.isV6() ? "[" + peer.toString() + "]" : peer.toString()) + ":" +
                   std::to_string(peer_port)),
      original_(std::move(original)),
      connector_(std::in_place, worker.base(), worker.resolver(), worker.metrics(),
                 tcpSettings(*snap_)),
      env_(streamEnv(worker, *snap_, *connector_)),
      stream_(env_, *this) {
  cin_ = evbuffer_new();
  cout_ = evbuffer_new();
  uin_ = evbuffer_new();
  uout_ = evbuffer_new();
  client_io_ = std::make_unique<tunnel::PlainTransport>(client_.get());
  cev_ = event_new(w_.base(), client_.get(), EV_READ | EV_PERSIST, &Connection::onClient, this);
  cwev_ = event_new(w_.base(), client_.get(), EV_WRITE, &Connection::onClientWritable, this);
  timer_ = evtimer_new(w_.base(), &Connection::onTimer, this);
  w_.metrics().connections_accepted.add();
}

Connection::~Connection() {
  stream_.cancel();
  client_hs_.reset();
  upstream_tls_.reset();
  for (event* e : {cev_, cwev_, uev_, uwev_, timer_, lifetime_, first_ev_}) {
    if (e) event_free(e);
  }
  for (evbuffer* b : {cin_, cout_, uin_, uout_, body_, scrubbed_}) {
    if (b) evbuffer_free(b);
  }
  relay_.reset();
  if (sandbox_counter_) sandbox_counter_->fetch_sub(1, std::memory_order_relaxed);
  releaseUnidentified();
  if (holds_identified_) w_.shared().identified_connections.fetch_sub(1, std::memory_order_relaxed);
  w_.shared().open_connections.fetch_sub(1, std::memory_order_relaxed);
  w_.metrics().connections_closed.add();
}

void Connection::start() {
  const auto& limits = snap_->config.limits;
  req_start_ = Clock::now();
  w_.shared().open_connections.fetch_add(1, std::memory_order_relaxed);
  if (!claimUnidentified()) return;
  armTimer(limits.head_timeout);
  if (limits.max_connection_duration.count() > 0) {
    lifetime_ = evtimer_new(w_.base(), &Connection::onLifetime, this);
    timeval tv = toTimeval(limits.max_connection_duration);
    event_add(lifetime_, &tv);
  }
  if (original_) {
    startTransparent();
    return;
  }
  updateReadInterest();
}

bool Connection::claimUnidentified() {
  const auto& limits = snap_->config.limits;
  Shared& shared = w_.shared();
  holds_unidentified_ = true;
  if (static_cast<size_t>(shared.unidentified_connections.fetch_add(1, std::memory_order_relaxed) +
                          1) > limits.max_unidentified) {
    endEarly(stream::EndReason::kUnidentifiedLimit);
    return false;
  }
  holds_source_ = shared.unidentified_by_source.acquire(peer_, limits.max_unidentified_per_source);
  if (!holds_source_) {
    endEarly(stream::EndReason::kSourceUnidentifiedLimit);
    return false;
  }
  return true;
}

void Connection::releaseUnidentified() {
  if (holds_unidentified_)
    w_.shared().unidentified_connections.fetch_sub(1, std::memory_order_relaxed);
  if (holds_source_) w_.shared().unidentified_by_source.release(peer_);
  holds_unidentified_ = holds_source_ = false;
}

bool Connection::idleBetweenRequests() const {
  return state_ == State::kHead && flags_.idle && sandbox_ != nullptr &&
         evbuffer_get_length(cin_) == 0;
}

void Connection::shed() {
  spdlog::debug(
      "closing an idle keep-alive connection: overloaded (limits.overload_shed_idle_percent)");
  terminate();
}

void Connection::onLifetime(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  const std::string reason =
      "closed: max_connection_duration (" +
      std::to_string(c->snap_->config.limits.max_connection_duration.count()) + " ms) reached";
  if (c->state_ == State::kTunnel) {
    c->revoke(reason);
    return;
  }
  spdlog::debug("{}", reason);
  c->drain();  // after the request in flight, or now when idle
}

void Connection::armTimer(std::chrono::milliseconds d) {
  timeval tv = toTimeval(d);
  event_add(timer_, &tv);
}

// ---------------------------------------------------------------- events

void Connection::onClient(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->readClient();
  if (c->state_ != State::kDead && c->client_io_ && c->client_io_->writeBlockedOnRead())
    c->flushClient();
}

void Connection::onClientWritable(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->flushClient();
  if (c->state_ == State::kH2) c->pumpH2(Status::ok());  // room for more frames
  if (c->state_ != State::kDead && c->client_io_ && c->client_io_->readBlockedOnWrite())
    c->readClient();
}

void Connection::onUpstream(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->readUpstream();
  if (c->state_ != State::kDead && c->upstream_io_ && c->upstream_io_->writeBlockedOnRead())
    c->flushUpstream();
}

void Connection::onUpstreamWritable(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->flushUpstream();
  if (c->state_ == State::kH2) c->pumpH2(Status::ok());
  if (c->state_ != State::kDead && c->upstream_io_ && c->upstream_io_->readBlockedOnWrite())
    c->readUpstream();
}

void Connection::onTimer(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  const auto& limits = c->snap_->config.limits;
  switch (c->state_) {
    case State::kHead:
      if (evbuffer_get_length(c->cin_) == 0 && c->sandbox_ != nullptr) {
        // Keep-alive connection with nothing pending: plain idle close.
        c->w_.metrics().limit_hits[admin::idx(admin::Limit::kIdleTimeout)].add();
        c->terminate();
        return;
      }
      c->endEarly(stream::EndReason::kHeadTimeout, std::to_string(limits.head_timeout.count()));
      return;
    case State::kForward:
    case State::kH2:
      c->w_.metrics().limit_hits[admin::idx(admin::Limit::kIdleTimeout)].add();
      c->terminate();
      return;
    case State::kFirstFlight:  // neither side said a word
      c->w_.metrics().limit_hits[admin::idx(admin::Limit::kIdleTimeout)].add();
      c->stream_.answered();
      c->stream_.logLine(true, 200, "allowed", 0, 0, admin::PolicyEvent::kClose,
                         "idle timeout before either side spoke");
      c->terminate();
      return;
    case State::kPeek:  // no name came: the bare address decides (it did not allow)
      c->decideTransparent({}, stream::TransparentTarget::NameSource::kNone);
      return;
    case State::kInterceptHello:  // the sandbox never finished its ClientHello
      c->stream_.logLine(false, 0, "no TLS ClientHello within the head timeout");
      c->terminate();
      return;
    case State::kUpstream:         // the connector times itself
    case State::kClientHandshake:  // and so do the handshakes
    case State::kUpstreamHandshake:
    case State::kClosing:
    case State::kTunnel:
    case State::kDead:
      c->terminate();
      return;
  }
}

// ---------------------------------------------------------------- requests

void Connection::readClient() {
  size_t n = 0;
  switch (client_io_->read(cin_, kReadChunk, &n)) {
    case tunnel::Io::kOk:
      // TLS may hold more bytes than we took: come back for them.
      if (n >= kReadChunk || client_io_->hasBuffered()) event_active(cev_, EV_READ, 0);
      break;
    case tunnel::Io::kWouldBlock:
      if (client_io_->readBlockedOnWrite()) event_add(cwev_, nullptr);
      return;
    case tunnel::Io::kEof:
      flags_.client_eof = true;
      break;
    case tunnel::Io::kError:
      terminate();
      return;
  }
  req_bytes_up_ += n;
  if (state_ == State::kForward && n > 0) armTimer(snap_->config.limits.idle_timeout);
  switch (state_) {
    case State::kH2:
      if (flags_.client_eof) {
        terminate();
        return;
      }
      if (n > 0) armTimer(snap_->config.limits.idle_timeout);
      pumpH2(h2_->onClientBytes(cin_));
      return;
    case State::kHead:
      if (flags_.client_eof && evbuffer_get_length(cin_) == 0) {
        terminate();
        return;
      }
      if (n > 0 && flags_.idle) {
        // The first bytes of the next head on a kept-alive connection: the
        // head timeout applies from here, not the idle timeout.
        flags_.idle = false;
        armTimer(snap_->config.limits.head_timeout);
      }
      tryHead();
      return;
    case State::kForward:
      if (flags_.client_eof && !flags_.req_done) {
        if (!flags_.upgraded) {
          terminate();  // client gave up mid-request
          return;
        }
        pumpRequestBody();  // forward what is buffered, then the half-close
        if (state_ != State::kForward) return;
        flags_.req_done = true;
        flushUpstream();
        if (upstream_io_) upstream_io_->shutdownWrite();
        updateReadInterest();
        return;
      }
      pumpRequestBody();
      return;
    case State::kClosing:
      // Bytes after our final answer are dropped, within bounds: a client
      // that keeps sending does not keep the proxy reading.
      lingered_ += evbuffer_get_length(cin_);
      evbuffer_drain(cin_, evbuffer_get_length(cin_));
      if (flags_.client_eof || lingered_ > kLingerMaxBytes) terminate();
      return;
    case State::kPeek:
      peekTransparent();
      return;
    case State::kFirstFlight:
      checkFirstFlight();
      return;
    case State::kInterceptHello:
      readInterceptHello();
      return;
    default:
      // Reaching the upstream: keep bytes (pipelined tunnel data) but stop
      // reading once a head's worth is buffered; EOF ends the attempt.
      if (flags_.client_eof) {
        terminate();
        return;
      }
      updateReadInterest();
      return;
  }
}

void Connection::tryHead() {
  if (evbuffer_get_length(cin_) == 0) {
    if (flags_.client_eof) terminate();
    return;
  }
  http::ParseStatus st = http1::dispatchRequestHead(cin_, snap_->head_limits, &req_);
  if (st.isIncomplete()) {
    if (flags_.client_eof) terminate();
    return;
  }
  if (st.isError()) {
    endEarly(stream::EndReason::kBadRequest, st.reason(), st.httpStatus());
    return;
  }
  handleRequest();
}

bool Connection::identify() {
  if (sandbox_ != nullptr) return true;
  std::optional<std::string_view> auth;
  if (const http::Header* h = http::findHeader(req_.headers, "Proxy-Authorization"))
    auth = h->value;
  sandbox_ = snap_->registry->identify(peer_, auth);
  if (sandbox_ == nullptr) {
    endEarly(stream::EndReason::kUnauthenticated);
    return false;
  }
  return admitSandbox();
}

bool Connection::admitSandbox() {
  // Identified: from the unidentified budget to the identified one.
  releaseUnidentified();
  holds_identified_ = true;
  if (static_cast<size_t>(
          w_.shared().identified_connections.fetch_add(1, std::memory_order_relaxed) + 1) >
      snap_->config.limits.max_connections) {
    endEarly(stream::EndReason::kConnectionLimit);
    return false;
  }
  sandbox_counter_ = snap_->counterFor(sandbox_->name());
  if (sandbox_counter_ != nullptr) {
    size_t limit = sandbox_->limits().max_connections.value_or(
        static_cast<uint32_t>(snap_->config.limits.max_connections_per_sandbox));
    int64_t open = sandbox_counter_->fetch_add(1, std::memory_order_relaxed) + 1;
    if (static_cast<size_t>(open) > limit) {
      endEarly(stream::EndReason::kSandboxConnectionLimit, sandbox_->name());
      return false;
    }
  }
  return true;
}

void Connection::handleRequest() {
  event_del(timer_);
  if (!applyReload()) return;
  req_start_ = Clock::now();
  req_bytes_up_ = 0;
  req_bytes_down_ = 0;
  flags_.retried = false;
  const stream::Target target = targetOf(req_);
  if (flags_.intercepted) {  // the CONNECT's host, decision and sandbox stay
    beginStream();
    state_ = State::kUpstream;
    stream_.onInnerRequest(req_, target, *ic_);
    // A kept-alive upstream reused at once leaves kUpstream within the call:
    // the read events are set for the state the request reached, not
    // switched off and on around it (two epoll_ctl calls per request).
    if (state_ == State::kUpstream) updateReadInterest();
    return;
  }
  if (!identify()) return;
  if (target == stream::Target::kConnect) closeUpstream();  // a tunnel never reuses one
  beginStream();
  state_ = State::kUpstream;
  stream_.onProxyRequest(req_, target);
  if (state_ == State::kUpstream) updateReadInterest();  // as for an inner request
}

void Connection::beginStream() {
  stream_.begin(sandbox_, req_start_);
  stream_.identify(client_text_, w_.nextLogId());
}

void Connection::endEarly(stream::EndReason reason, std::string_view detail, int status) {
  beginStream();
  if (original_) {
    stream_.describe(stream::TransparentTarget{original_->ip, original_->port, {}, {}});
  } else {
    stream_.describe(req_.method, targetOf(req_), req_.port, ic_.get());
  }
  stream_.end(reason, detail, status);
}

// ---------------------------------------------------------------- reload

void Connection::reload(std::shared_ptr<const Snapshot> snapshot) {
  if (state_ == State::kDead || state_ == State::kClosing) return;
  if (state_ == State::kH2) {
    // GOAWAY: streams in flight finish on the snapshot they began with; the
    // sandbox's new streams come on a new connection, decided on the new one.
    h2_->shutdown();
    pumpH2(Status::ok());
    return;
  }
  pending_snap_ = std::move(snapshot);
  // Between requests, or tunnelling (or about to): now. Otherwise
  // handleRequest() applies it before the next request is decided, and
  // tunnel() / awaitFirstFlight() once the tunnel's decision is final.
  if (tunnelDecided() || (state_ == State::kHead && evbuffer_get_length(cin_) == 0)) applyReload();
}

bool Connection::applyReload() {
  if (!pending_snap_) return true;
  std::shared_ptr<const Snapshot> next = std::move(pending_snap_);
  const sandbox::Sandbox* sandbox = nullptr;
  if (sandbox_ != nullptr) {
    sandbox = next->registry->find(sandbox_->name());
    if (sandbox == nullptr) {
      revoke("closed by reload: sandbox " + sandbox_->name() + " was removed");
      return false;
    }
  }
  const bool decided = tunnelDecided() || flags_.intercepted;
  policy::Decision decision;
  const secrets::SandboxCredentials* creds = nullptr;
  std::shared_ptr<const secrets::InterceptPlan> plan;
  if (decided && sandbox != nullptr) {
    // The tunnel's (or intercepted connection's) host and the address it is
    // connected to, decided again.
    const policy::Host& host = stream_.host();
    const uint16_t port = stream_.port();
    decision = sandbox->policy().evaluate(host, port);
    auto addr = policy::IpAddress::parse(flags_.intercepted ? ic_->address : stream_.address());
    if (!decision.denied() && addr) {
      decision = sandbox->policy().decideAddresses(decision, {*addr}, port, next->self).decision;
    }
    if (decision.denied()) {
      revoke("closed by reload: " + decision.reason);
      return false;
    }
    if (flags_.intercepted) {
      creds = next->secrets ? next->secrets->forSandbox(sandbox->name()) : nullptr;
      plan = creds != nullptr ? creds->planFor(host) : nullptr;
      if (plan == nullptr) {
        revoke("closed by reload: no credential is bound for " + host.text + " any more");
        return false;
      }
      decision.interception = ic_->decision.interception;
    }
  }
  // Keep the current snapshot one generation longer: the log line of a
  // request in flight still reads its views.
  prev_snap_ = std::move(snap_);
  snap_ = std::move(next);
  if (sandbox != nullptr) sandbox_ = sandbox;
  connector_.emplace(w_.base(), w_.resolver(), w_.metrics(), tcpSettings(*snap_));
  env_ = streamEnv(w_, *snap_, *connector_);
  if (decided && sandbox != nullptr) {
    stream_.rebase(sandbox_, decision);
    if (flags_.intercepted) {
      ic_->decision = decision;
      ic_->creds = creds;
      ic_->plan = std::move(plan);
    }
  }
  return true;
}

void Connection::revoke(const std::string& reason) {
  uint64_t up = 0;
  uint64_t down = 0;
  if (relay_) {
    up = relay_->stats().bytes_up;
    const uint64_t d = relay_->stats().bytes_down;
    const size_t prefix = relayPrefix().size();
    down = d >= prefix ? d - prefix : 0;
    relay_->abort();  // its on_done is not called
    w_.metrics().tunnelClosed(plainTunnelType(stream_), Clock::now() - tunnel_start_);
  }
  spdlog::info("sandbox {}: {} {}", sandbox_ ? sandbox_->name() : "-", stream_.host().text, reason);
  if (flags_.intercepted) {
    closeIntercepted(reason);
  } else {
    stream_.logLine(false, 0, reason, up, down, admin::PolicyEvent::kClose, "revoked");
  }
  terminate();
}

void Connection::closeIntercepted(std::string_view error) {
  if (!ic_ || intercept_id_.empty()) return;
  w_.metrics().tunnelClosed(admin::TunnelType::kIntercepted, Clock::now() - intercept_start_);
  admin::PolicyRecord r;
  r.event = admin::PolicyEvent::kClose;
  r.id = intercept_id_;
  r.client = client_text_;
  r.sandbox = sandbox_ ? std::string_view(sandbox_->name()) : std::string_view("-");
  r.type = "connect";
  r.method = "CONNECT";
  r.host = ic_->host.text;
  r.port = ic_->port;
  r.address = ic_->address;
  r.allowed = true;
  r.rule = ic_->decision.rule;
  r.reason = ic_->decision.interception.reason;  // why it was intercepted, as on the open line
  r.error = error;  // how it ended ("" = the client or upstream closed)
  r.proxy = "forward";
  r.status = 200;
  r.tls_ms = tls_ms_;
  r.duration_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - intercept_start_).count();
  w_.logDecision(r);
  intercept_id_.clear();
}

// ---------------------------------------------------------------- stream host

bool Connection::keepUpstreamFor(const policy::Host& host, uint16_t port) {
  if (upstream_.valid() && upstream_io_) {
    scratch_.assign(host.text).append(":").append(std::to_string(port));
    if (scratch_ == upstream_key_) return true;
  }
  closeUpstream();
  return false;
}

std::string Connection::poolKey(const policy::Host& host, uint16_t port, bool tls) const {
  std::string key = sandbox_ != nullptr ? sandbox_->name() : std::string();
  key.append("\n").append(host.text).append(":").append(std::to_string(port));
  key.append(tls ? "\ntls" : "\nplain");
  return key;
}

bool Connection::reuseIdleUpstream(const policy::Host& host, uint16_t port,
                                   policy::Decision& decision, std::string& address) {
  upstream::IdlePool& pool = w_.upstreamPool();
  // A connection still on an older snapshot (a reload not applied yet)
  // neither takes nor gives: the pool belongs to the current one.
  if (!pool.enabled() || sandbox_ == nullptr || pending_snap_ || snap_ != w_.snapshot())
    return false;
  // With HTTP/2 on, an intercepted connection's protocol is decided by the
  // sandbox's ClientHello (read later): a pooled HTTP/1.1 upstream taken now
  // would hand an h2 client (gRPC refuses anything else) http/1.1. Plain
  // forward requests still reuse.
  if (stream_.isConnect() && snap_->config.http2) return false;
  std::string key = poolKey(host, port, stream_.isConnect());
  const policy::Policy& pol = sandbox_->policy();
  policy::Decision final_decision;
  auto idle = pool.take(key, [&](const std::string& a) {
    // The name was decided again on this snapshot (the stream did); the
    // address the pooled connection goes to is decided again here.
    auto ip = policy::IpAddress::parse(a);
    if (!ip) return false;
    final_decision = pol.decideAddresses(decision, {*ip}, port, snap_->self).decision;
    return !final_decision.denied();
  });
  if (!idle) return false;
  final_decision.interception = decision.interception;
  decision = std::move(final_decision);
  address = idle->address;
  adoptUpstream(std::move(idle->fd), host, port);
  upstream_io_ = std::move(idle->io);
  pool_key_ = std::move(key);
  flags_.upstream_pooled = true;
  return true;
}

void Connection::poolUpstream() {
  if (!flags_.upstream_idle_ok) return;
  flags_.upstream_idle_ok = false;
  if (!upstream_.valid() || !upstream_io_ || sandbox_ == nullptr || state_ == State::kH2 ||
      w_.draining() || pending_snap_ || snap_ != w_.snapshot() || evbuffer_get_length(uin_) > 0 ||
      evbuffer_get_length(uout_) > 0) {
    return;
  }
  if (uev_) event_del(uev_);
  if (uwev_) event_del(uwev_);
  flags_.upstream_reading = false;
  w_.upstreamPool().put(
      pool_key_,
      upstream::IdleConnection{std::move(upstream_), std::move(upstream_io_), upstream_address_});
}

bool Connection::retryStale() {
  // Only a connection taken from the pool, before any response byte, for a
  // request that can be sent again as it was: idempotent, no body (nothing
  // read from the client that could not be replayed), and once.
  auto idempotent = [](std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" ||
           m == "DELETE";
  };
  if (!flags_.upstream_pooled || flags_.retried || flags_.resp_head_done ||
      evbuffer_get_length(cout_) > 0 || req_bytes_down_ > 0 || !ex_ || ex_->requestHasBody() ||
      !idempotent(req_.method)) {
    return false;
  }
  flags_.retried = true;
  w_.metrics().upstream_pool[admin::idx(admin::PoolResult::kStale)].add();
  closeUpstream();
  state_ = State::kUpstream;
  evtimer_del(timer_);
  updateReadInterest();
  stream_.retryOnNewConnection();
  return true;
}

void Connection::adoptUpstream(UniqueFd fd, const policy::Host& host, uint16_t port) {
  closeUpstream();
  upstream_ = std::move(fd);
  if (uwev_) event_free(uwev_);
  if (uev_) event_free(uev_);
  uwev_ = event_new(w_.base(), upstream_.get(), EV_WRITE, &Connection::onUpstreamWritable, this);
  uev_ = event_new(w_.base(), upstream_.get(), EV_READ | EV_PERSIST, &Connection::onUpstream, this);
  flags_.upstream_reading = false;
  upstream_io_ = std::make_unique<tunnel::PlainTransport>(upstream_.get());
  upstream_key_.assign(host.text).append(":").append(std::to_string(port));
  pool_key_ = poolKey(host, port, flags_.intercepted);
  upstream_address_ = stream_.address();
  flags_.upstream_pooled = false;
}

std::string_view Connection::relayPrefix() const {
  return stream_.isTransparent() || flags_.established_sent ? std::string_view()
                                                            : kConnectEstablished;
}

void Connection::reply(const stream::EndResponse& e) {
  if (flags_.established_sent) {
    // The CONNECT was answered 200 and its first flight refused: the client
    // is speaking TLS, so the refusal is a fatal TLS alert (access_denied),
    // then the close.
    static constexpr char kAccessDenied[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 49};
    evbuffer_add(cout_, kAccessDenied, sizeof kAccessDenied);
    closeAfterFlush();
    return;
  }
  if (original_) {
    // A transparent client asked nothing in HTTP: it is refused the way a
    // closed port refuses (a reset), kit-spec §4.7.
    if (client_.valid()) {
      linger l{1, 0};
      ::setsockopt(client_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    terminate();
    return;
  }
  std::string resp = http::errorResponse(e.status, e.phrase, e.body, true);
  if (!e.extra_header.empty()) resp.insert(resp.find("\r\n") + 2, e.extra_header);
  evbuffer_add(cout_, resp.data(), resp.size());
  closeAfterFlush();
}

void Connection::log(const admin::PolicyRecord& record) { w_.logDecision(record); }

// ---------------------------------------------------------------- tunnel

void Connection::tunnel(UniqueFd upstream) {
  if (awaitFirstFlight(upstream)) return;
  upstream_ = std::move(upstream);
  state_ = State::kTunnel;
  std::string early(evbuffer_get_length(cin_), '\0');
  evbuffer_remove(cin_, early.data(), early.size());
  for (event** e : {&cev_, &cwev_, &uev_, &uwev_, &first_ev_}) {
    if (*e) {
      event_free(*e);
      *e = nullptr;
    }
  }
  event_free(timer_);
  timer_ = nullptr;
  // A tunnel may idle for hours: keep only what the relay and the final log
  // line need (the relay owns its own events and idle timer).
  for (evbuffer** b : {&cin_, &cout_, &uin_, &uout_, &body_, &scrubbed_}) {
    if (*b) evbuffer_free(*b);
    *b = nullptr;
  }
  client_io_.reset();
  upstream_io_.reset();
  req_.headers = {};
  req_.path = {};
  scratch_ = {};
  ex_.reset();
  flags_.client_reading = flags_.upstream_reading = false;
  w_.metrics().tunnels_opened.add();
  w_.metrics().request(
      stream_.reqType(), admin::Verdict::kAllowed,
      stream_.isTransparent() ? admin::ProxyPath::kTransparent : admin::ProxyPath::kForwardBypass);
  stream_.answered();
  tunnel_start_ = Clock::now();
  relay_ = std::make_unique<tunnel::SpliceRelay>(
      w_.base(), w_.pipes(), std::move(client_), std::move(upstream_), std::string(relayPrefix()),
      std::move(early), snap_->config.limits.idle_timeout, [this](const tunnel::RelayStats& st) {
        w_.metrics().tunnelClosed(plainTunnelType(stream_), Clock::now() - tunnel_start_);
        // The relay counted our "200 Connection established" line too.
        const size_t prefix = relayPrefix().size();
        const uint64_t down = st.bytes_down >= prefix ? st.bytes_down - prefix : 0;
        if (std::strcmp(st.end_reason, "idle timeout") == 0) {
          w_.metrics().limit_hits[admin::idx(admin::Limit::kIdleTimeout)].add();
        }
        stream_.complete(200, st.bytes_up, down, /*count_bytes=*/false);  // counted as they flowed
        terminate();
      });
  relay_->countLive(&w_.metrics().bytes_up, &w_.metrics().bytes_down);
  relay_->start();
  // A reload that came while the upstream was being reached: decided again now.
  if (relay_ && pending_snap_) applyReload();
}

// ---------------------------------------------------------------- interception
//
//   CONNECT allowed + credential bound for host + sandbox CA
//     -> "200 Connection established"
//     -> TLS with the sandbox (leaf minted for the CONNECT host, ALPN http/1.1;
//        the sandbox's own context: its sessions resume, in it only)
//     -> verified TLS with the real upstream (SNI = CONNECT host)
//     -> kHead: inner requests, checked and rewritten by the stream.

void Connection::intercept(UniqueFd upstream) {
  const std::string& sandbox = sandbox_->name();
  const policy::Host& host = stream_.host();
  auto minter = snap_->minterFor(sandbox);
  const tls::ServerContext* client_tls = snap_->clientTlsFor(sandbox);
  if (!minter || client_tls == nullptr || !stream_.plan() || !stream_.credentials()) {
    // The stream decided to intercept from this same snapshot.
    const std::string_view why =
        "interception decided without its credentials or CA (internal error)";
    spdlog::error("sandbox {}: CONNECT {}: {}", sandbox, host.text, why);
    stream_.end(stream::EndReason::kInternal, why);
    return;
  }
  auto leaf = w_.leafCache(minter).get(host.text);
  if (!leaf) {
    stream_.end(stream::EndReason::kCertificateFailure, leaf.status().message());
    return;
  }
  if (snap_->config.http2) {
    // What the upstream is offered follows the sandbox's ClientHello: h2
    // only when the sandbox offers it too, so an HTTP/1 client never pays
    // for an h2 upstream leg it cannot use. Read it first.
    if (!sendEstablished()) return;
    beginIntercepted(std::move(upstream));
    hello_leaf_ = std::move(leaf.value());
    state_ = State::kInterceptHello;
    armTimer(snap_->config.limits.head_timeout);
    updateReadInterest();
    if (evbuffer_get_length(cin_) > 0 || flags_.client_eof) readInterceptHello();
    return;
  }
  // Bytes the client pipelined behind its CONNECT (a ClientHello sent
  // before our 200) are the start of the TLS stream.
  std::string early(evbuffer_get_length(cin_), '\0');
  evbuffer_remove(cin_, early.data(), early.size());
  auto tls = tls::TlsStream::accept(client_.get(), *client_tls, leaf->get(), {}, early);
  if (!tls) {
    stream_.end(stream::EndReason::kInterceptSetupFailure, tls.status().message());
    return;
  }
  if (!sendEstablished()) return;
  beginIntercepted(std::move(upstream));
  client_io_ = std::make_unique<mitm::TlsTransport>(std::move(tls.value()));
  upstream_first_ = false;
  handshakesOwnEvents();
  startClientHandshake();
}

bool Connection::sendEstablished() {
  // The 200 is a few bytes on a fresh socket: it goes out in one send.
  if (::send(client_.get(), kConnectEstablished.data(), kConnectEstablished.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(kConnectEstablished.size())) {
    terminate();
    return false;
  }
  return true;
}

void Connection::beginIntercepted(UniqueFd upstream) {
  const policy::Host& host = stream_.host();
  flags_.intercepted = true;
  if (upstream.valid()) adoptUpstream(std::move(upstream), host, stream_.port());  // else pooled
  stream_.setIntercepted(true);
  ic_ = std::make_unique<stream::InterceptContext>();
  ic_->host = host;
  ic_->port = stream_.port();
  ic_->decision = stream_.decision();
  ic_->address = stream_.address();
  ic_->creds = stream_.credentials();
  ic_->plan = stream_.plan();
  w_.metrics().request(admin::ReqType::kConnect, admin::Verdict::kAllowed,
                       admin::ProxyPath::kForward);
  w_.metrics().intercepted_connections.add();
  w_.metrics().tunnels_opened.add();
  stream_.answered();  // the open line; closeIntercepted() writes the close line
  intercept_id_ = stream_.id();
  intercept_start_ = Clock::now();
}

void Connection::handshakesOwnEvents() {
  // The handshakes own their events and timeouts: the connection's are off.
  event_del(timer_);
  event_del(cev_);
  flags_.client_reading = false;
}

// HTTP/2 on: the sandbox's ClientHello, read in the clear (as the tunnel
// check reads it), decides whether the upstream leg offers h2; the bytes
// read are the start of the TLS stream.
void Connection::readInterceptHello() {
  auto peek = peekFirstFlight();  // ends the connection on EOF without a byte
  if (!peek) return;
  std::string early(evbuffer_get_length(cin_), '\0');
  evbuffer_remove(cin_, early.data(), early.size());
  const tls::ServerContext* client_tls = snap_->clientTlsFor(sandbox_->name());
  auto leaf = std::move(hello_leaf_);
  auto tls = client_tls == nullptr
                 ? StatusOr<std::unique_ptr<tls::TlsStream>>(
                       Status::error("the sandbox's TLS context is gone"))
                 : tls::TlsStream::accept(client_.get(), *client_tls, leaf.get(), {}, early);
  if (!tls) {
    stream_.logLine(false, 0, "TLS with the sandbox could not start: " + tls.status().message());
    terminate();
    return;
  }
  client_io_ = std::make_unique<mitm::TlsTransport>(std::move(tls.value()));
  handshakesOwnEvents();
  // A pooled upstream (HTTP/1.1, its TLS done) decides: the sandbox gets
  // http/1.1. So does an OAuth token endpoint's host: token requests are
  // taken apart and rewritten by the HTTP/1 exchange only (a sandbox's own
  // refresh over h2 would reach the provider with the sentinel).
  const bool token_host = ic_->plan != nullptr && !ic_->plan->oauth_endpoints.empty();
  upstream_first_ = peek->result == tls::ClientHelloPeek::Result::kHello && peek->offers_h2 &&
                    !flags_.upstream_pooled && !token_host;
  if (upstream_first_) {
    startUpstreamTls(false);  // then the sandbox's, offered what the upstream speaks
    return;
  }
  startClientHandshake();
}

void Connection::startClientHandshake() {
  state_ = State::kClientHandshake;
  client_hs_ = std::make_unique<mitm::Handshake>(
      w_.base(), tlsOf(*client_io_), snap_->config.limits.head_timeout,
      [this](mitm::Handshake::Outcome o, std::string error) {
        onClientHandshake(o, std::move(error));
      });
  client_hs_->start();
}

void Connection::onClientHandshake(mitm::Handshake::Outcome o, std::string error) {
  client_hs_.reset();
  if (o == mitm::Handshake::Outcome::kTimedOut) {
    stream_.logLine(false, 0, error);
    terminate();
    return;
  }
  if (o == mitm::Handshake::Outcome::kFailed) {
    w_.metrics().upstream_errors[admin::idx(admin::UpstreamError::kBadResponse)].add();
    stream_.logLine(false, 0,
                    "TLS handshake with the sandbox failed: " +
                        (error.empty() ? std::string("closed") : error));
    terminate();
    return;
  }
  ic_->sni.assign(tlsOf(*client_io_).sni());
  if (upstream_first_ || flags_.upstream_pooled) {  // the upstream's TLS is done
    beginInnerRequests();
    return;
  }
  startUpstreamTls(false);
}

// The TLS leg toward the real server: right after the sandbox's handshake,
// or again for a waiting inner request when the upstream ended keep-alive.
// While it runs the connection reads nothing from the sandbox (bounded).
void Connection::startUpstreamTls(bool for_waiting_request) {
  state_ = State::kUpstreamHandshake;
  event_del(timer_);
  if (flags_.client_reading) {
    event_del(cev_);
    flags_.client_reading = false;
  }
  upstream::TlsClient::Params p;
  p.base = w_.base();
  p.fd = upstream_.get();
  p.context = snap_->upstream_tls.get();
  p.host = ic_->host.text;
  p.port = ic_->port;
  p.sessions = &w_.tlsSessions();
  p.timeout = snap_->config.limits.connect_timeout;
  p.offer_h2 = upstream_first_ && !for_waiting_request;
  upstream_io_.reset();
  upstream_tls_ = upstream::TlsClient::start(p, [this, for_waiting_request](upstream::TlsResult r) {
    onUpstreamTls(std::move(r), for_waiting_request);
  });
}

void Connection::onUpstreamTls(upstream::TlsResult r, bool for_waiting_request) {
  upstream_tls_.reset();
  if (r.outcome == upstream::TlsResult::Outcome::kTimedOut) {
    stream_.logLine(false, 0, r.error);
    terminate();
    return;
  }
  if (r.outcome == upstream::TlsResult::Outcome::kOk) {
    upstream_io_ = std::move(r.transport);
  } else {
    if (r.outcome == upstream::TlsResult::Outcome::kFailed) {
      w_.metrics().upstream_errors[admin::idx(admin::UpstreamError::kConnect)].add();
    }
    ic_->upstream_error = std::move(r.error);
    closeUpstream();
  }
  if (for_waiting_request) {
    if (ic_->upstream_error.empty()) {
      startForward(*pending_forward_);
    } else {
      stream_.end(stream::EndReason::kUpstreamTlsFailure, std::exchange(ic_->upstream_error, {}));
    }
    return;
  }
  if (upstream_first_) {
    // The sandbox is offered h2 exactly when the upstream negotiated it.
    if (upstream_io_ && tlsOf(*upstream_io_).alpn() == tls::kAlpnH2) {
      Status st = tlsOf(*client_io_).offerHttp2();
      if (!st) {
        stream_.logLine(false, 0, st.message());
        terminate();
        return;
      }
    }
    startClientHandshake();
    return;
  }
  beginInnerRequests();
}

void Connection::beginInnerRequests() {
  tls_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - intercept_start_).count();
  if (upstream_io_ && tlsOf(*client_io_).alpn() == tls::kAlpnH2) {
    H2Relay::Context c;
    c.env = &env_;
    c.ic = ic_.get();
    c.sandbox = sandbox_;
    c.client = client_text_;
    c.next_id = [this] { return w_.nextLogId(); };
    c.log = [this](const admin::PolicyRecord& r) { w_.logDecision(r); };
    c.tls_ms = tls_ms_;
    c.resume = [this] {  // -> pumpH2; a terminated connection only awaits its reaping
      if (state_ == State::kH2) event_active(cwev_, EV_WRITE, 0);
    };
    c.limits.max_header_list_bytes = snap_->head_limits.max_head_bytes;
    c.limits.max_headers = snap_->head_limits.max_headers;
    c.limits.stream_window = kHighWater;
    c.limits.connection_window = 4 * kHighWater;
    auto relay = H2Relay::create(std::move(c));
    if (!relay) {
      stream_.logLine(false, 0, relay.status().message());
      terminate();
      return;
    }
    h2_ = std::move(relay.value());
    state_ = State::kH2;
    armTimer(snap_->config.limits.idle_timeout);
    updateReadInterest();
    pumpH2(Status::ok());                    // our SETTINGS on both legs
    if (state_ == State::kH2) readClient();  // a preface already inside TLS
    return;
  }
  if (upstream_io_ && tlsOf(*upstream_io_).alpn() == tls::kAlpnH2) {
    // An HTTP/1 sandbox on an upstream that chose h2: the first request
    // reconnects with HTTP/1.1 only (no h2 -> h1 translation).
    closeUpstream();
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

// ---------------------------------------------------------------- forward

bool Connection::holdForRefresh() {
  evtimer_del(timer_);
  return true;
}

void Connection::forward(UniqueFd upstream, const http::Request& request) {
  if (upstream.valid()) {
    adoptUpstream(std::move(upstream), stream_.host(), stream_.port());
    if (flags_.intercepted) {  // reconnected for an inner request: TLS first
      pending_forward_ = &request;
      startUpstreamTls(true);
      return;
    }
  }
  startForward(request);
}

void Connection::startForward(const http::Request& request) {
  pending_forward_ = nullptr;
  flags_.upstream_idle_ok = false;
  if (!ex_) ex_ = std::make_unique<http1::Exchange>();
  // Protocol upgrades are relayed on intercepted connections only.
  ex_->begin(req_.wire(), flags_.intercepted);
  // A token request (OAuth): its body is read whole and rewritten before
  // the head goes (pumpTokenRequestBody).
  flags_.rewrite_req_body = stream_.rewritesRequestBody() && ex_->requestHasBody();
  state_ = State::kForward;
  flags_.client_keep_alive = req_.keep_alive;
  flags_.req_done = !ex_->requestHasBody();
  flags_.resp_head_done = false;
  flags_.resp_done = false;
  flags_.scrub_body = false;
  if (flags_.rewrite_req_body) {
    const http1::Framing& wire = req_.wire();
    if (wire.framing == http::BodyFraming::kContentLength &&
        wire.content_length > stream::kMaxTokenRequest) {
      endTokenRequestTooLarge();
      return;
    }
    held_head_ = &request;
    evbuffer_drain(bodyBuffer(), evbuffer_get_length(bodyBuffer()));
    req_bytes_up_ = 0;                // the body's bytes as read, the head when it goes
    if (ex_->rewriteRequestBody()) {  // Expect: 100-continue is answered here
      evbuffer_add(cout_, k100Continue.data(), k100Continue.size());
      flushClient();
      if (state_ != State::kForward) return;
    }
  } else {
    req_bytes_up_ = ex_->encodeRequestHead(request, uout_, &scratch_);  // the body adds to it
  }
  pumpRequestBody();
  if (state_ != State::kForward) return;
  flushUpstream();
  if (state_ != State::kForward) return;
  armTimer(snap_->config.limits.idle_timeout);
  updateReadInterest();
  // An upstream that already sent bytes (reused connection) is read now.
  if (evbuffer_get_length(uin_) > 0) pumpResponse();
}

void Connection::endTokenRequestTooLarge() {
  stream_.end(stream::EndReason::kBadRequest,
              "a token request body above " + std::to_string(stream::kMaxTokenRequest) + " bytes",
              413);
}

void Connection::pumpTokenRequestBody() {
  uint64_t moved = 0;
  const http1::BodyStatus m = ex_->decodeRequestBody(cin_, bodyBuffer(), &moved);
  if (m == http1::BodyStatus::kError) {
    stream_.end(stream::EndReason::kBadRequestBody, ex_->requestBodyError());
    return;
  }
  if (evbuffer_get_length(bodyBuffer()) > stream::kMaxTokenRequest) {  // chunked
    endTokenRequestTooLarge();
    return;
  }
  if (m == http1::BodyStatus::kDone) {
    flags_.req_done = true;
    stream_.rewriteRequestBody(bodyBuffer(), scrubbed_, true);
    ex_->bufferedRequestBody(evbuffer_get_length(scrubbed_));
    req_bytes_up_ += ex_->encodeRequestHead(*held_head_, uout_, &scratch_);
    held_head_ = nullptr;
    evbuffer_add_buffer(uout_, scrubbed_);
  }
  flushUpstream();
  if (state_ == State::kForward) updateReadInterest();
}

void Connection::pumpRequestBody() {
  if (flags_.rewrite_req_body && !flags_.req_done) {
    pumpTokenRequestBody();
    return;
  }
  if (!flags_.req_done) {
    uint64_t moved = 0;
    http1::BodyStatus m = ex_->moveRequestBody(cin_, uout_, &moved);
    if (m == http1::BodyStatus::kError) {
      if (!flags_.resp_head_done) {
        stream_.end(stream::EndReason::kBadRequestBody, ex_->requestBodyError());
      } else {
        stream::countEnd(stream::EndReason::kBadRequestBody,
                         w_.metrics());  // the response has begun: just close
        terminate();
      }
      return;
    }
    if (m == http1::BodyStatus::kDone) flags_.req_done = true;
  }
  flushUpstream();
  if (state_ == State::kForward) updateReadInterest();
}

void Connection::readUpstream() {
  size_t n = 0;
  tunnel::Io io = upstream_io_->read(uin_, kReadChunk, &n);
  if (io == tunnel::Io::kWouldBlock) {
    if (upstream_io_->readBlockedOnWrite()) event_add(uwev_, nullptr);
    return;
  }
  if (state_ == State::kH2) {
    if (io == tunnel::Io::kOk) {
      if (n >= kReadChunk || upstream_io_->hasBuffered()) event_active(uev_, EV_READ, 0);
      armTimer(snap_->config.limits.idle_timeout);
      pumpH2(h2_->onUpstreamBytes(uin_));
      return;
    }
    h2_->upstreamClosed();  // streams on it reset, GOAWAY to the sandbox
    closeUpstream();
    pumpH2(Status::ok());
    return;
  }
  if (io == tunnel::Io::kOk) {
    if (n >= kReadChunk || upstream_io_->hasBuffered()) event_active(uev_, EV_READ, 0);
    req_bytes_down_ += n;
    if (state_ == State::kForward) {
      armTimer(snap_->config.limits.idle_timeout);
      pumpResponse();
    } else {
      flags_.upstream_idle_ok = false;
      closeUpstream();  // bytes from an idle upstream: it is not reusable
    }
    return;
  }
  // EOF or error from upstream.
  if (state_ != State::kForward) {
    flags_.upstream_idle_ok = false;
    closeUpstream();
    return;
  }
  if (flags_.resp_head_done && ex_->finishResponseOnClose()) {
    if (flags_.scrub_body) {
      scrubResponseBody(true);
      flushClient();
    }
    flags_.resp_done = true;
    flags_.upstream_keep_alive = false;
    finishExchange();
    return;
  }
  if (!flags_.resp_head_done && evbuffer_get_length(cout_) == 0) {
    if (retryStale()) return;
    stream_.end(stream::EndReason::kUpstreamNoResponse);
    return;
  }
  terminate();  // truncated response: the client sees the close
}

void Connection::pumpResponse() {
  while (!flags_.resp_done) {
    if (!flags_.resp_head_done) {
      if (evbuffer_get_length(uin_) == 0) break;
      http::ResponseHead& resp = ex_->response();
      http::ParseStatus st =
          http1::dispatchResponseHead(uin_, snap_->head_limits, req_.method, &resp);
      if (st.isIncomplete()) break;
      const bool switching = resp.framing == http::BodyFraming::kTunnel && flags_.intercepted &&
                             ex_->upgradeRequested() && resp.status == 101;
      if (st.isError() || (resp.framing == http::BodyFraming::kTunnel && !switching)) {
        stream_.end(stream::EndReason::kUpstreamBadResponse,
                    st.isError() ? st.reason() : "unexpected protocol switch");
        return;
      }
      const bool scrub_body = stream_.onResponseHead(resp);
      if (switching) {
        // WebSocket (or other Upgrade) on an intercepted host: from here on
        // both directions are opaque byte streams, still through TLS.
        resp.keep_alive = false;
        ex_->encodeResponseHead(cout_, &scratch_);
        flags_.upgraded = true;
        flags_.upstream_keep_alive = false;
        flags_.resp_head_done = true;
        ex_->switchToOpaque();
        flags_.req_done = false;
        flags_.rewrite_req_body = false;
        pumpRequestBody();
        if (state_ != State::kForward) return;
        continue;
      }
      if (resp.isInterim()) {
        ex_->encodeResponseHead(cout_, &scratch_);
        continue;
      }
      flags_.upstream_keep_alive =
          resp.keep_alive && resp.framing != http::BodyFraming::kUntilClose;
      if (scrub_body) {
        // Replacements change the body's length: re-framed for the client.
        flags_.scrub_body = true;
        ex_->rewriteResponseBody();
      }
      resp.keep_alive = flags_.client_keep_alive && !flags_.draining && !w_.draining() &&
                        resp.framing != http::BodyFraming::kUntilClose;
      ex_->encodeResponseHead(cout_, &scratch_);
      flags_.resp_head_done = true;
      ex_->beginResponseBody();
      if (resp.framing == http::BodyFraming::kNone) {
        flags_.resp_done = true;
        break;
      }
    }
    uint64_t moved = 0;
    http1::BodyStatus m = flags_.scrub_body ? ex_->decodeResponseBody(uin_, bodyBuffer(), &moved)
                                            : ex_->moveResponseBody(uin_, cout_, &moved);
    if (m == http1::BodyStatus::kError) {
      w_.metrics().upstream_errors[admin::idx(admin::UpstreamError::kBadResponse)].add();
      terminate();
      return;
    }
    if (flags_.scrub_body) scrubResponseBody(m == http1::BodyStatus::kDone);
    if (m == http1::BodyStatus::kDone) flags_.resp_done = true;
    break;
  }
  flushClient();
  if (state_ != State::kForward) return;
  if (flags_.resp_done) {
    finishExchange();
  } else {
    updateReadInterest();
  }
}

evbuffer* Connection::bodyBuffer() {
  if (body_ == nullptr) {
    body_ = evbuffer_new();
    scrubbed_ = evbuffer_new();
  }
  return body_;
}

void Connection::scrubResponseBody(bool last) {
  stream_.scrubBody(bodyBuffer(), scrubbed_, last);
  ex_->encodeResponseBody(scrubbed_, cout_, last);
}

void Connection::finishExchange() {
  stream_.complete(ex_->response().status, req_bytes_up_, req_bytes_down_);
  if (!flags_.upstream_keep_alive || !flags_.req_done || evbuffer_get_length(uin_) > 0) {
    closeUpstream();
  } else {
    // Complete and framed, kept alive by the server: reusable by this
    // client connection, or by the next one through the pool. The client's
    // Connection: close ends only its own hop: the upstream was asked to keep
    // alive (Exchange::begin) and did, so the connection goes to the pool
    // (clients that close after every request — python's urllib, one-shot
    // tools — are the ones that gain most).
    flags_.upstream_idle_ok = !flags_.upgraded;
    flags_.upstream_pooled = false;
  }
  if (!ex_->response().keep_alive || !flags_.req_done || flags_.client_eof) {
    closeAfterFlush();
    return;
  }
  state_ = State::kHead;
  ex_->end();
  if (flags_.draining && evbuffer_get_length(cin_) == 0) {
    closeAfterFlush();
    return;
  }
  flags_.idle = evbuffer_get_length(cin_) == 0;
  armTimer(flags_.idle ? snap_->config.limits.idle_timeout : snap_->config.limits.head_timeout);
  updateReadInterest();
  if (!flags_.idle) tryHead();
}

// ---------------------------------------------------------------- HTTP/2

void Connection::pumpH2(Status st) {
  // Frames out until both directions hold a high-water mark or nothing is
  // ready; each pass writes to the transports, which makes room.
  constexpr int kPasses = 16;
  int pass = 0;
  for (; pass < kPasses; ++pass) {
    const size_t before = evbuffer_get_length(cout_) + evbuffer_get_length(uout_);
    if (Status f = h2_->flush(cout_, uout_, kHighWater); !f && st) st = std::move(f);
    const bool produced = evbuffer_get_length(cout_) + evbuffer_get_length(uout_) > before;
    flushUpstream();
    if (state_ != State::kH2) return;
    flushClient();
    if (state_ != State::kH2) return;
    if (!produced || evbuffer_get_length(cout_) >= kHighWater ||
        evbuffer_get_length(uout_) >= kHighWater) {
      break;
    }
  }
  if (pass == kPasses) event_active(cwev_, EV_WRITE, 0);  // more to frame: come back
  if (!st) {
    spdlog::debug("sandbox {}: {}: {}", sandbox_->name(), ic_->host.text, st.message());
    closeAfterFlush();
    return;
  }
  if (h2_->done()) closeAfterFlush();
}

// ---------------------------------------------------------------- I/O plumbing

void Connection::flushClient() {
  if (!client_.valid()) return;
  if (client_io_->write(cout_) == tunnel::Io::kError) {
    terminate();
    return;
  }
  if (evbuffer_get_length(cout_) > 0) {
    if (client_io_->writeBlockedOnRead()) {
      event_add(cev_, nullptr);
      flags_.client_reading = true;
    } else {
      event_add(cwev_, nullptr);
    }
  } else if (state_ == State::kClosing) {
    // All said: half-close and wait (bounded) for the client's EOF, so unread
    // request bytes do not turn our answer into a reset.
    client_io_->shutdownWrite();
  }
  updateReadInterest();  // kClosing reads (and drops) until the client's EOF
}

void Connection::flushUpstream() {
  if (!upstream_.valid() || !upstream_io_) return;
  if (upstream_io_->write(uout_) == tunnel::Io::kError) {
    if (state_ == State::kForward && !flags_.resp_head_done) {
      if (retryStale()) return;
      stream_.end(stream::EndReason::kUpstreamReset);
    } else {
      terminate();
    }
    return;
  }
  if (evbuffer_get_length(uout_) > 0) {
    if (upstream_io_->writeBlockedOnRead()) {
      event_add(uev_, nullptr);
      flags_.upstream_reading = true;
    } else {
      event_add(uwev_, nullptr);
    }
  }
  updateReadInterest();
}

void Connection::updateReadInterest() {
  // Tunnels and TLS handshakes arm their own events.
  if (state_ == State::kDead || state_ == State::kTunnel || state_ == State::kClientHandshake ||
      state_ == State::kUpstreamHandshake) {
    return;
  }
  bool want_client = false;
  bool want_upstream = false;
  switch (state_) {
    case State::kHead:
      want_client = !flags_.client_eof;
      want_upstream =
          upstream_.valid() && upstream_io_ != nullptr;  // notice an idle upstream closing
      break;
    case State::kUpstream:
      want_client =
          !flags_.client_eof && evbuffer_get_length(cin_) < snap_->head_limits.max_head_bytes;
      break;
    case State::kForward:
      // While the request body flows, read it as fast as upstream takes it;
      // after it, keep reading a pipelined next head (bounded) so the read
      // event is not switched off and on for every request.
      want_client = !flags_.client_eof &&
                    (flags_.req_done ? evbuffer_get_length(cin_) < snap_->head_limits.max_head_bytes
                                     : evbuffer_get_length(uout_) < kHighWater);
      want_upstream = upstream_.valid() && evbuffer_get_length(cout_) < kHighWater;
      break;
    case State::kH2:
      // The sessions' flow-control windows bound what a read can queue;
      // a sandbox that does not read our frames is not read either.
      want_client = !flags_.client_eof && evbuffer_get_length(cout_) < kHighWater;
      want_upstream =
          upstream_.valid() && upstream_io_ != nullptr && evbuffer_get_length(uout_) < kHighWater;
      break;
    case State::kClosing:
      want_client = !flags_.client_eof;
      break;
    case State::kPeek:
    case State::kFirstFlight:
    case State::kInterceptHello:
      want_client = !flags_.client_eof && evbuffer_get_length(cin_) < tls::kMaxClientHelloBytes;
      break;
    default:
      break;
  }
  if (cev_ && want_client != flags_.client_reading) {
    if (want_client) {
      event_add(cev_, nullptr);
    } else {
      event_del(cev_);
    }
    flags_.client_reading = want_client;
  }
  if (uev_ && want_upstream != flags_.upstream_reading) {
    if (want_upstream) {
      event_add(uev_, nullptr);
    } else {
      event_del(uev_);
    }
    flags_.upstream_reading = want_upstream;
  }
}

void Connection::closeUpstream() {
  poolUpstream();  // when its last exchange left it reusable
  if (first_ev_) event_del(first_ev_);
  if (uev_) event_del(uev_);
  if (uwev_) event_del(uwev_);
  flags_.upstream_reading = false;
  upstream_tls_.reset();
  upstream_io_.reset();
  upstream_.reset();
  upstream_key_.clear();
  if (uin_) evbuffer_drain(uin_, evbuffer_get_length(uin_));
  if (uout_) evbuffer_drain(uout_, evbuffer_get_length(uout_));
}

// ---------------------------------------------------------------- endings

void Connection::closeAfterFlush() {
  if (state_ == State::kDead) return;
  stream_.cancel();
  closeUpstream();
  state_ = State::kClosing;
  evbuffer_drain(cin_, evbuffer_get_length(cin_));
  armTimer(kLingerAfterError);
  flushClient();
}

void Connection::drain() {
  flags_.draining = true;
  if (state_ == State::kH2) {  // GOAWAY: streams in flight finish
    h2_->shutdown();
    pumpH2(Status::ok());
    return;
  }
  if (state_ == State::kHead && evbuffer_get_length(cin_) == 0) terminate();
}

void Connection::forceClose() {
  if (relay_) relay_->abort();
  terminate();
}

void Connection::terminate() {
  if (state_ == State::kDead) return;
  if (flags_.intercepted) closeIntercepted({});
  poolUpstream();
  state_ = State::kDead;
  stream_.cancel();
  client_hs_.reset();
  upstream_tls_.reset();
  for (event* e : {cev_, cwev_, uev_, uwev_, timer_, lifetime_, first_ev_}) {
    if (e) event_del(e);
  }
  client_io_.reset();
  upstream_io_.reset();
  client_.reset();
  upstream_.reset();
  w_.retire(this);
}

}  // namespace kitgate::server
