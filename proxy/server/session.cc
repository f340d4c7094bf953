#include "proxy/server/session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/http/serialize.h"
#include "proxy/secrets/rewrite.h"
#include "proxy/server/worker.h"

namespace kitgate::server {
namespace {

using Clock = std::chrono::steady_clock;

// Above this many buffered bytes toward one side, stop reading the other.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
constexpr std::chrono::milliseconds kLingerAfterError{2000};
constexpr std::string_view kConnectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

timeval toTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

enum class Move { kProgress, kDone, kError };

// Moves the body bytes buffered in `in` to `out` as framed by `reader`:
// payload chains move without copying; framing bytes are dropped; with
// `rechunk` every data piece is re-encoded as one chunk and the end gets the
// last-chunk marker. Bytes after the end of the body stay in `in`.
Move moveBody(evbuffer* in, evbuffer* out, http::BodyReader& reader, bool rechunk, uint64_t* moved) {
  while (!reader.done() && evbuffer_get_length(in) > 0) {
    evbuffer_iovec seg;
    if (evbuffer_peek(in, -1, nullptr, &seg, 1) < 1) break;
    std::string_view sv(static_cast<const char*>(seg.iov_base), seg.iov_len);
    size_t consumed = 0;
    std::string_view data;
    switch (reader.read(sv, &consumed, &data)) {
      case http::DecodeResult::kData: {
        size_t framing = static_cast<size_t>(data.data() - sv.data());
        evbuffer_drain(in, framing);
        if (rechunk) {
          char hdr[http::ChunkedEncoder::kMaxChunkHeaderBytes];
          size_t n = http::ChunkedEncoder::writeChunkHeader(data.size(), hdr);
          evbuffer_add(out, hdr, n);
        }
        evbuffer_remove_buffer(in, out, data.size());
        if (rechunk) evbuffer_add(out, http::ChunkedEncoder::kChunkEnd.data(), http::ChunkedEncoder::kChunkEnd.size());
        evbuffer_drain(in, consumed - framing - data.size());
        *moved += data.size();
        break;
      }
      case http::DecodeResult::kNeedMore:
        evbuffer_drain(in, consumed);
        break;
      case http::DecodeResult::kDone:
        evbuffer_drain(in, consumed);
        break;
      case http::DecodeResult::kError:
        return Move::kError;
    }
  }
  if (reader.done()) {
    if (rechunk) evbuffer_add(out, http::ChunkedEncoder::kLastChunk.data(), http::ChunkedEncoder::kLastChunk.size());
    return Move::kDone;
  }
  return Move::kProgress;
}

}  // namespace

Session::Session(Worker& worker, UniqueFd client, const policy::IpAddress& peer)
    : w_(worker), snap_(worker.snapshot()), client_(std::move(client)), peer_(peer) {
  cin_ = evbuffer_new();
  cout_ = evbuffer_new();
  uin_ = evbuffer_new();
  uout_ = evbuffer_new();
  client_io_ = std::make_unique<tunnel::PlainTransport>(client_.get());
  cev_ = event_new(w_.base(), client_.get(), EV_READ | EV_PERSIST, &Session::onClient, this);
  cwev_ = event_new(w_.base(), client_.get(), EV_WRITE, &Session::onClientWritable, this);
  timer_ = evtimer_new(w_.base(), &Session::onTimer, this);
  w_.metrics().connections_accepted.add();
}

Session::~Session() {
  for (event* e : {cev_, cwev_, uev_, uwev_, timer_}) {
    if (e) event_free(e);
  }
  for (evbuffer* b : {cin_, cout_, uin_, uout_}) {
    if (b) evbuffer_free(b);
  }
  relay_.reset();
  if (sandbox_counter_) sandbox_counter_->fetch_sub(1, std::memory_order_relaxed);
  w_.shared().open_connections.fetch_sub(1, std::memory_order_relaxed);
  w_.metrics().connections_closed.add();
}

void Session::start() {
  const auto& limits = snap_->config.limits;
  int64_t open = w_.shared().open_connections.fetch_add(1, std::memory_order_relaxed) + 1;
  if (static_cast<size_t>(open) > limits.max_connections) {
    end(stream::EndReason::kConnectionLimit);
    return;
  }
  req_start_ = Clock::now();
  armTimer(limits.head_timeout);
  updateReadInterest();
}

void Session::armTimer(std::chrono::milliseconds d) {
  timeval tv = toTimeval(d);
  event_add(timer_, &tv);
}

// ---------------------------------------------------------------- events

void Session::onClient(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Session*>(arg);
  if (s->state_ == State::kClientHandshake) {
    s->driveClientHandshake();
    return;
  }
  s->readClient();
  if (s->state_ != State::kDead && s->client_io_ && s->client_io_->writeBlockedOnRead()) s->flushClient();
}

void Session::onClientWritable(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Session*>(arg);
  if (s->state_ == State::kClientHandshake) {
    s->driveClientHandshake();
    return;
  }
  s->flushClient();
  if (s->state_ != State::kDead && s->client_io_ && s->client_io_->readBlockedOnWrite()) s->readClient();
}

void Session::onUpstream(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Session*>(arg);
  if (s->state_ == State::kUpstreamHandshake) {
    s->driveUpstreamHandshake();
    return;
  }
  s->readUpstream();
  if (s->state_ != State::kDead && s->upstream_io_ && s->upstream_io_->writeBlockedOnRead()) s->flushUpstream();
}

void Session::onUpstreamWritable(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Session*>(arg);
  if (s->state_ == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s->upstream_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    s->onConnectDone(err);
    return;
  }
  if (s->state_ == State::kUpstreamHandshake) {
    s->driveUpstreamHandshake();
    return;
  }
  s->flushUpstream();
  if (s->state_ != State::kDead && s->upstream_io_ && s->upstream_io_->readBlockedOnWrite()) s->readUpstream();
}

void Session::onTimer(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Session*>(arg);
  const auto& limits = s->snap_->config.limits;
  switch (s->state_) {
    case State::kHead:
      if (evbuffer_get_length(s->cin_) == 0 && s->sandbox_ != nullptr) {
        // Keep-alive connection with nothing pending: plain idle close.
        s->w_.metrics().limit_hits[admin::idx(admin::Limit::kIdleTimeout)].add();
        s->terminate();
        return;
      }
      s->end(stream::EndReason::kHeadTimeout, std::to_string(limits.head_timeout.count()));
      return;
    case State::kConnecting:
      s->w_.metrics().limit_hits[admin::idx(admin::Limit::kConnectTimeout)].add();
      s->onConnectDone(ETIMEDOUT);
      return;
    case State::kResolving: {
      s->lookup_.reset();
      s->end(stream::EndReason::kDnsTimeout);
      return;
    }
    case State::kForward:
      s->w_.metrics().limit_hits[admin::idx(admin::Limit::kIdleTimeout)].add();
      s->terminate();
      return;
    case State::kClientHandshake:
    case State::kUpstreamHandshake:
      s->logDecision(false, 0, "TLS handshake timed out", 0, 0);
      s->terminate();
      return;
    case State::kClosing:
    case State::kTunnel:
    case State::kDead:
      s->terminate();
      return;
  }
}

// ---------------------------------------------------------------- request head

void Session::readClient() {
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
    case State::kHead:
      if (flags_.client_eof && evbuffer_get_length(cin_) == 0) {
        terminate();
        return;
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
      evbuffer_drain(cin_, evbuffer_get_length(cin_));
      if (flags_.client_eof) terminate();
      return;
    default:
      // Resolving/connecting: keep bytes (pipelined tunnel data) but stop
      // reading once a head's worth is buffered; EOF ends the attempt.
      if (flags_.client_eof) {
        terminate();
        return;
      }
      updateReadInterest();
      return;
  }
}

void Session::tryHead() {
  size_t len = evbuffer_get_length(cin_);
  if (len == 0) {
    if (flags_.client_eof) terminate();
    return;
  }
  size_t view = std::min(len, snap_->head_limits.max_head_bytes);
  const char* p = reinterpret_cast<const char*>(evbuffer_pullup(cin_, static_cast<ssize_t>(view)));
  size_t consumed = 0;
  http::ParseStatus st = http::parseRequestHead(std::string_view(p, view), snap_->head_limits, &req_, &consumed);
  if (st.isIncomplete()) {
    if (flags_.client_eof) terminate();
    return;
  }
  port_ = req_.port;
  if (st.isError()) {
    end(stream::EndReason::kBadRequest, st.reason(), st.httpStatus());
    return;
  }
  evbuffer_drain(cin_, consumed);
  handleRequest();
}

bool Session::identify() {
  if (sandbox_ != nullptr) return true;
  std::optional<std::string_view> auth;
  if (const http::Header* h = http::findHeader(req_.headers, "Proxy-Authorization")) auth = h->value;
  sandbox_ = snap_->registry->identify(peer_, auth);
  if (sandbox_ == nullptr) {
    end(stream::EndReason::kUnauthenticated);
    return false;
  }
  sandbox_counter_ = snap_->counterFor(sandbox_->name());
  if (sandbox_counter_ != nullptr) {
    size_t limit = sandbox_->limits().max_connections.value_or(
        static_cast<uint32_t>(snap_->config.limits.max_connections_per_sandbox));
    int64_t open = sandbox_counter_->fetch_add(1, std::memory_order_relaxed) + 1;
    if (static_cast<size_t>(open) > limit) {
      end(stream::EndReason::kSandboxConnectionLimit, sandbox_->name());
      return false;
    }
  }
  return true;
}

void Session::handleRequest() {
  event_del(timer_);
  req_start_ = Clock::now();
  req_bytes_up_ = 0;
  req_bytes_down_ = 0;
  if (flags_.intercepted) {  // the CONNECT's host, decision and sandbox stay
    handleInterceptedRequest();
    return;
  }
  address_text_.clear();
  decision_ = {};
  host_ = {};
  if (!identify()) return;

  const bool is_connect = req_.form == http::RequestHead::TargetForm::kAuthority;
  if (!is_connect && req_.form != http::RequestHead::TargetForm::kAbsolute) {
    end(stream::EndReason::kNotProxyRequest);
    return;
  }
  auto host = policy::normalizeHost(req_.host, policy::Ipv6Brackets::kOptional);
  if (!host) {
    end(stream::EndReason::kInvalidHost, host.status().message());
    return;
  }
  host_ = std::move(host.value());
  port_ = req_.port;
  decideAndRoute();
}

void Session::decideAndRoute() {
  const bool is_connect = req_.form == http::RequestHead::TargetForm::kAuthority;
  decision_ = sandbox_->policy().evaluate(host_, port_);
  if (decision_.denied()) {
    end(stream::EndReason::kPolicyDeny, decision_.reason);
    return;
  }
  if (is_connect) decideInterception();
  if (!is_connect) {
    std::string key = host_.text + ":" + std::to_string(port_);
    if (upstream_.valid() && key == upstream_key_) {
      startForward();
      return;
    }
    closeUpstream();
  }
  startResolve();
}

// ---------------------------------------------------------------- upstream

void Session::startResolve() {
  state_ = State::kResolving;
  updateReadInterest();
  step_start_ = Clock::now();
  if (host_.isIp()) {
    onResolved(tunnel::ResolveResult{{host_.ip}, {}});
    return;
  }
  if (snap_->static_hosts) {
    auto it = snap_->static_hosts->find(host_.text);
    if (it != snap_->static_hosts->end()) {
      onResolved(tunnel::ResolveResult{it->second, {}});
      return;
    }
  }
  armTimer(snap_->config.limits.connect_timeout);
  lookup_ = w_.resolver().resolve(host_.text, [this](tunnel::ResolveResult r) { onResolved(std::move(r)); });
}

void Session::onResolved(tunnel::ResolveResult r) {
  if (state_ != State::kResolving) return;
  event_del(timer_);
  if (!host_.isIp()) w_.metrics().dns_duration.observe(Clock::now() - step_start_);
  if (r.addresses.empty()) {
    end(stream::EndReason::kDnsFailure, r.error);
    return;
  }
  policy::AddressDecision ad =
      sandbox_->policy().decideAddresses(decision_, r.addresses, port_, snap_->self);
  if (ad.decision.denied()) {
    address_text_ = std::move(ad.refused_address);
    decision_ = std::move(ad.decision);  // the addresses decided, not the name rule
    end(stream::EndReason::kAddressBlocked, decision_.reason);
    return;
  }
  candidates_ = std::move(ad.allowed);
  candidate_ = 0;
  decision_ = std::move(ad.decision);  // final: kAllow, never kCheckAddress
  connectNext();
}

void Session::connectNext() {
  state_ = State::kConnecting;
  if (candidate_ >= candidates_.size()) {
    const int err = errno;
    if (err == ETIMEDOUT) {
      end(stream::EndReason::kConnectTimeout);
    } else {
      end(stream::EndReason::kConnectFailed, std::strerror(err));
    }
    return;
  }
  const policy::IpAddress& ip = candidates_[candidate_];
  sockaddr_storage ss{};
  socklen_t len = ip.toSockaddr(port_, &ss);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++candidate_;
    connectNext();
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  upstream_.reset(fd);
  address_text_ = ip.toString();
  step_start_ = Clock::now();
  if (uwev_) event_free(uwev_);
  if (uev_) event_free(uev_);
  uwev_ = event_new(w_.base(), fd, EV_WRITE, &Session::onUpstreamWritable, this);
  uev_ = event_new(w_.base(), fd, EV_READ | EV_PERSIST, &Session::onUpstream, this);
  flags_.upstream_reading = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    onConnectDone(0);
    return;
  }
  if (errno != EINPROGRESS) {
    onConnectDone(errno);
    return;
  }
  event_add(uwev_, nullptr);
  armTimer(snap_->config.limits.connect_timeout);
}

void Session::onConnectDone(int err) {
  event_del(timer_);
  if (err != 0) {
    event_del(uwev_);
    event_del(uev_);
    upstream_.reset();
    ++candidate_;
    errno = err;
    connectNext();
    return;
  }
  w_.metrics().connect_duration.observe(Clock::now() - step_start_);
  upstream_io_ = std::make_unique<tunnel::PlainTransport>(upstream_.get());
  upstream_key_ = host_.text + ":" + std::to_string(port_);
  if (flags_.intercepted) {
    startUpstreamTls();  // reconnect for an inner request
  } else if (req_.form == http::RequestHead::TargetForm::kAuthority) {
    if (decision_.interception.intercept) {
      startIntercept();
    } else {
      startTunnel();
    }
  } else {
    startForward();
  }
}

void Session::upstreamReady() {
  if (state_ == State::kDead) return;
  startForward();
}

// ---------------------------------------------------------------- tunnel

void Session::startTunnel() {
  state_ = State::kTunnel;
  std::string early(evbuffer_get_length(cin_), '\0');
  evbuffer_remove(cin_, early.data(), early.size());
  for (event** e : {&cev_, &cwev_, &uev_, &uwev_}) {
    if (*e) {
      event_free(*e);
      *e = nullptr;
    }
  }
  event_free(timer_);
  timer_ = nullptr;
  // A tunnel may idle for hours: keep only what the relay and the final log
  // line need (the relay owns its own events and idle timer).
  for (evbuffer** b : {&cin_, &cout_, &uin_, &uout_}) {
    evbuffer_free(*b);
    *b = nullptr;
  }
  client_io_.reset();
  upstream_io_.reset();
  req_.headers = {};
  req_.path = {};
  candidates_ = {};
  scratch_ = {};
  ex_.reset();
  flags_.client_reading = flags_.upstream_reading = false;
  w_.metrics().tunnels_opened.add();
  w_.metrics().request(admin::ReqType::kConnect, admin::Verdict::kAllowed, admin::ProxyPath::kForwardBypass);
  relay_ = std::make_unique<tunnel::SpliceRelay>(
      w_.base(), w_.pipes(), std::move(client_), std::move(upstream_), std::string(kConnectEstablished),
      std::move(early), snap_->config.limits.idle_timeout, [this](const tunnel::RelayStats& st) {
        auto& m = w_.metrics();
        m.tunnels_closed.add();
        m.bytes_up.add(st.bytes_up);
        // The relay counted our "200 Connection established" line too.
        const uint64_t down = st.bytes_down >= kConnectEstablished.size() ? st.bytes_down - kConnectEstablished.size() : 0;
        m.bytes_down.add(down);
        if (std::strcmp(st.end_reason, "idle timeout") == 0) m.limit_hits[admin::idx(admin::Limit::kIdleTimeout)].add();
        logDecision(true, 200, decision_.reason.empty() ? std::string_view("allowed") : std::string_view(decision_.reason),
                    st.bytes_up, down);
        terminate();
      });
  relay_->start();
}

// ---------------------------------------------------------------- forward

void Session::startForward() {
  if (!ex_) ex_ = std::make_unique<Exchange>();
  // The request as forwarded: a copy of the one received (assignment keeps
  // the strings' capacity from the previous request on this connection).
  ex_->fwd.method = req_.method;
  ex_->fwd.scheme = flags_.intercepted ? std::string_view("https") : std::string_view(req_.scheme);
  ex_->fwd.host = host_.text;
  ex_->fwd.port = port_;
  ex_->fwd.path = req_.path;
  ex_->fwd.headers = req_.headers;
  ex_->fwd_wire = req_.wire();
  ex_->fwd_wire.keep_alive = true;  // the upstream connection is ours to reuse
  if (flags_.intercepted) {
    std::string unavailable;
    Status st = secrets::rewriteRequest(*plan_, ex_->fwd, &unavailable);
    if (!st) {
      // A bound value that cannot be written as a header value was skipped
      // (the request goes out without it); say so once, without the value.
      spdlog::warn("sandbox {}: {}", sandbox_->name(), st.message());
    }
    if (!unavailable.empty()) {
      end(stream::EndReason::kCredentialUnavailable, unavailable);
      return;
    }
  } else {
    ex_->fwd_wire.upgrade = false;  // protocol upgrades are relayed on intercepted connections only
  }
  state_ = State::kForward;
  w_.metrics().request(admin::ReqType::kHttp, admin::Verdict::kAllowed, admin::ProxyPath::kForward);
  flags_.client_keep_alive = req_.keep_alive;
  scratch_.clear();
  http::serializeRequestForOrigin(ex_->fwd, ex_->fwd_wire, &scratch_);
  evbuffer_add(uout_, scratch_.data(), scratch_.size());
  req_bytes_up_ = scratch_.size();  // the body adds to it as it is read
  ex_->req_body.emplace(req_.framing, req_.content_length);
  ex_->resp_body.reset();
  flags_.req_done = req_.framing == http::BodyFraming::kNone;
  flags_.resp_head_done = false;
  flags_.resp_done = false;
  pumpRequestBody();
  if (state_ != State::kForward) return;
  flushUpstream();
  if (state_ != State::kForward) return;
  armTimer(snap_->config.limits.idle_timeout);
  updateReadInterest();
  // An upstream that already sent bytes (reused connection) is read now.
  if (evbuffer_get_length(uin_) > 0) pumpResponse();
}

void Session::pumpRequestBody() {
  if (!flags_.req_done) {
    uint64_t moved = 0;
    Move m =
        moveBody(cin_, uout_, *ex_->req_body, req_.framing == http::BodyFraming::kChunked, &moved);
    if (m == Move::kError) {
      if (!flags_.resp_head_done) {
        end(stream::EndReason::kBadRequestBody, ex_->req_body->error());
      } else {
        stream::countEnd(stream::EndReason::kBadRequestBody,
                         w_.metrics());  // the response has begun: just close
        terminate();
      }
      return;
    }
    if (m == Move::kDone) flags_.req_done = true;
  }
  flushUpstream();
  if (state_ == State::kForward) updateReadInterest();
}

void Session::readUpstream() {
  size_t n = 0;
  tunnel::Io io = upstream_io_->read(uin_, kReadChunk, &n);
  if (io == tunnel::Io::kWouldBlock) {
    if (upstream_io_->readBlockedOnWrite()) event_add(uwev_, nullptr);
    return;
  }
  if (io == tunnel::Io::kOk) {
    if (n >= kReadChunk || upstream_io_->hasBuffered()) event_active(uev_, EV_READ, 0);
    req_bytes_down_ += n;
    if (state_ == State::kForward) {
      armTimer(snap_->config.limits.idle_timeout);
      pumpResponse();
    } else {
      closeUpstream();  // bytes from an idle upstream: it is not reusable
    }
    return;
  }
  // EOF or error from upstream.
  if (state_ != State::kForward) {
    closeUpstream();
    return;
  }
  if (flags_.resp_head_done && ex_->resp_body && ex_->resp_body->finishOnClose()) {
    flags_.resp_done = true;
    flags_.upstream_keep_alive = false;
    finishExchange();
    return;
  }
  if (!flags_.resp_head_done && evbuffer_get_length(cout_) == 0) {
    end(stream::EndReason::kUpstreamNoResponse);
    return;
  }
  terminate();  // truncated response: the client sees the close
}

void Session::pumpResponse() {
  while (!flags_.resp_done) {
    if (!flags_.resp_head_done) {
      size_t len = evbuffer_get_length(uin_);
      if (len == 0) break;
      size_t view = std::min(len, snap_->head_limits.max_head_bytes);
      const char* p = reinterpret_cast<const char*>(evbuffer_pullup(uin_, static_cast<ssize_t>(view)));
      size_t consumed = 0;
      http::ParseStatus st = http::parseResponseHead(std::string_view(p, view), snap_->head_limits,
                                                     req_.method, &ex_->resp, &consumed);
      if (st.isIncomplete()) break;
      const bool switching = ex_->resp.framing == http::BodyFraming::kTunnel &&
                             flags_.intercepted && ex_->fwd_wire.upgrade && ex_->resp.status == 101;
      if (st.isError() || (ex_->resp.framing == http::BodyFraming::kTunnel && !switching)) {
        end(stream::EndReason::kUpstreamBadResponse,
            st.isError() ? st.reason() : "unexpected protocol switch");
        return;
      }
      evbuffer_drain(uin_, consumed);
      scratch_.clear();
      if (flags_.intercepted && creds_ != nullptr) secrets::scrubResponse(*creds_, ex_->resp);
      if (switching) {
        // WebSocket (or other Upgrade) on an intercepted host: from here on
        // both directions are opaque byte streams, still through TLS.
        ex_->resp.keep_alive = false;
        http::serializeResponseForClient(ex_->resp, &scratch_);
        evbuffer_add(cout_, scratch_.data(), scratch_.size());
        flags_.upgraded = true;
        flags_.upstream_keep_alive = false;
        flags_.resp_head_done = true;
        ex_->resp_body.emplace(http::BodyFraming::kUntilClose, 0);
        ex_->req_body.emplace(http::BodyFraming::kUntilClose, 0);
        flags_.req_done = false;
        pumpRequestBody();
        if (state_ != State::kForward) return;
        continue;
      }
      if (ex_->resp.isInterim()) {
        http::serializeResponseForClient(ex_->resp, &scratch_);
        evbuffer_add(cout_, scratch_.data(), scratch_.size());
        continue;
      }
      flags_.upstream_keep_alive =
          ex_->resp.keep_alive && ex_->resp.framing != http::BodyFraming::kUntilClose;
      ex_->resp.keep_alive = flags_.client_keep_alive && !flags_.draining && !w_.draining() &&
                             ex_->resp.framing != http::BodyFraming::kUntilClose;
      http::serializeResponseForClient(ex_->resp, &scratch_);
      evbuffer_add(cout_, scratch_.data(), scratch_.size());
      flags_.resp_head_done = true;
      ex_->resp_body.emplace(ex_->resp.framing, ex_->resp.content_length);
      if (ex_->resp.framing == http::BodyFraming::kNone) {
        flags_.resp_done = true;
        break;
      }
    }
    uint64_t moved = 0;
    Move m = moveBody(uin_, cout_, *ex_->resp_body,
                      ex_->resp.framing == http::BodyFraming::kChunked, &moved);
    if (m == Move::kError) {
      w_.metrics().upstream_errors[admin::idx(admin::UpstreamError::kBadResponse)].add();
      terminate();
      return;
    }
    if (m == Move::kDone) flags_.resp_done = true;
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

void Session::finishExchange() {
  auto& m = w_.metrics();
  m.bytes_up.add(req_bytes_up_);
  m.bytes_down.add(req_bytes_down_);
  logDecision(
      true, ex_->resp.status,
      decision_.reason.empty() ? std::string_view("allowed") : std::string_view(decision_.reason),
      req_bytes_up_, req_bytes_down_);
  if (!flags_.upstream_keep_alive || !flags_.req_done || evbuffer_get_length(uin_) > 0)
    closeUpstream();
  if (!ex_->resp.keep_alive || !flags_.req_done || flags_.client_eof) {
    closeAfterFlush();
    return;
  }
  state_ = State::kHead;
  ex_->req_body.reset();
  ex_->resp_body.reset();
  if (flags_.draining && evbuffer_get_length(cin_) == 0) {
    closeAfterFlush();
    return;
  }
  armTimer(evbuffer_get_length(cin_) > 0 ? snap_->config.limits.head_timeout : snap_->config.limits.idle_timeout);
  updateReadInterest();
  if (evbuffer_get_length(cin_) > 0) tryHead();
}

// ---------------------------------------------------------------- I/O plumbing

void Session::flushClient() {
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

void Session::flushUpstream() {
  if (!upstream_.valid() || !upstream_io_) return;
  {
    if (upstream_io_->write(uout_) == tunnel::Io::kError) {
      if (state_ == State::kForward && !flags_.resp_head_done) {
        end(stream::EndReason::kUpstreamReset);
      } else {
        terminate();
      }
      return;
    }
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

void Session::updateReadInterest() {
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
      want_upstream = upstream_.valid();  // notice an idle upstream closing
      break;
    case State::kResolving:
    case State::kConnecting:
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
    case State::kClosing:
      want_client = !flags_.client_eof;
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

void Session::closeUpstream() {
  if (uev_) event_del(uev_);
  if (uwev_) event_del(uwev_);
  flags_.upstream_reading = false;
  upstream_io_.reset();
  upstream_.reset();
  upstream_key_.clear();
  evbuffer_drain(uin_, evbuffer_get_length(uin_));
  evbuffer_drain(uout_, evbuffer_get_length(uout_));
}

// ---------------------------------------------------------------- endings

void Session::end(stream::EndReason reason, std::string_view detail, int status) {
  stream::countEnd(reason, w_.metrics(), status);
  const std::string authority = host_.text.empty() ? std::string() : host_.authority();
  stream::EndResponse e =
      stream::describeEnd(reason, {host_.text, authority, port_}, detail, status);
  if (e.policy_block) {
    auto type = req_.form == http::RequestHead::TargetForm::kAuthority ? admin::ReqType::kConnect
                                                                       : admin::ReqType::kHttp;
    w_.metrics().request(type, admin::Verdict::kBlocked, admin::ProxyPath::kNone);
  }
  std::string resp = http::errorResponse(e.status, e.phrase, e.body, true);
  if (!e.extra_header.empty()) resp.insert(resp.find("\r\n") + 2, e.extra_header);
  evbuffer_add(cout_, resp.data(), resp.size());
  logDecision(false, e.status, e.log, 0, 0);
  closeAfterFlush();
}

void Session::logDecision(bool allowed, int status, std::string_view reason, uint64_t up, uint64_t down) {
  admin::PolicyRecord r;
  r.sandbox = sandbox_ ? std::string_view(sandbox_->name()) : std::string_view("-");
  const bool is_connect = req_.form == http::RequestHead::TargetForm::kAuthority;
  r.type = is_connect ? "connect" : "http";
  r.method = req_.method;
  r.host = host_.text.empty() ? std::string_view() : std::string_view(host_.text);
  r.port = port_;
  r.address = address_text_;
  r.allowed = allowed;
  r.rule = decision_.rule;
  r.reason = reason;
  r.proxy = allowed ? (is_connect && !flags_.intercepted ? "forward-bypass" : "forward") : "";
  r.status = status;
  r.bytes_up = up;
  r.bytes_down = down;
  r.duration_ms = msSince(req_start_);
  w_.logDecision(r);
}

void Session::closeAfterFlush() {
  if (state_ == State::kDead) return;
  lookup_.reset();
  closeUpstream();
  state_ = State::kClosing;
  evbuffer_drain(cin_, evbuffer_get_length(cin_));
  armTimer(kLingerAfterError);
  flushClient();
}

void Session::drain() {
  flags_.draining = true;
  if (state_ == State::kHead && evbuffer_get_length(cin_) == 0) terminate();
}

void Session::forceClose() {
  if (relay_) relay_->abort();
  terminate();
}

void Session::terminate() {
  if (state_ == State::kDead) return;
  state_ = State::kDead;
  lookup_.reset();
  for (event* e : {cev_, cwev_, uev_, uwev_, timer_}) {
    if (e) event_del(e);
  }
  client_io_.reset();
  upstream_io_.reset();
  client_.reset();
  upstream_.reset();
  w_.retire(this);
}

}  // namespace kitgate::server
