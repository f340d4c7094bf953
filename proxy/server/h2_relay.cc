#include "proxy/server/h2_relay.h"

#include <algorithm>
#include <utility>

namespace kitgate::server {

// One sandbox stream: the pipeline's Stream, and the upstream stream it
// was forwarded on.
class H2Relay::Exchange final : public stream::StreamHost {
 public:
  Exchange(H2Relay& relay, int32_t down)
      : relay_(relay), down_id(down), s(*relay.ctx_.env, *this) {}
  ~Exchange() override {
    if (held != nullptr) evbuffer_free(held);
  }

  // One upstream connection serves every stream while it lives; new streams
  // are refused before they reach the pipeline once it is gone.
  bool keepUpstreamFor(const policy::Host&, uint16_t) override { return true; }
  // Inner requests never tunnel or intercept (CONNECT inside is refused by
  // the stream as not origin-form).
  void tunnel(UniqueFd) override {}
  void intercept(UniqueFd) override {}

  // Only this stream waits (its request body is held, unanswered, and not
  // given back to the sandbox's window); the others keep flowing.
  bool holdForRefresh() override {
    parked = true;
    return true;
  }

  void forward(UniqueFd upstream, const http::Request& request) override {
    const bool was_parked = unpark();
    if (upstream.valid()) {  // only after keepUpstreamFor() said no: never
      s.end(stream::EndReason::kInternal, "HTTP/2 stream asked for a new upstream");
    } else if (!relay_.upstream_alive_) {  // it closed while this stream waited
      s.end(stream::EndReason::kUpstreamReset, "the upstream connection closed");
    } else {
      const bool held_body = held != nullptr && evbuffer_get_length(held) > 0;
      auto id =
          relay_.up_->submitRequest(request, request_ended && !held_body && held_trailers.empty());
      if (!id) {
        s.end(stream::EndReason::kUpstreamReset, id.status().message());
      } else {
        up_id = id.value();
        relay_.up_to_down_[up_id] = down_id;
        if (held_body) relay_.up_->sendData(up_id, held, request_ended && held_trailers.empty());
        if (!held_trailers.empty()) relay_.up_->sendTrailers(up_id, std::move(held_trailers));
      }
    }
    if (was_parked) relay_.resume();
  }

  void reply(const stream::EndResponse& e) override {
    const bool was_parked = unpark();
    answer(e);
    if (was_parked) relay_.resume();
  }

  // The wait ended (the stream goes on, or ends).
  bool unpark() {
    const bool was = parked;
    parked = false;
    return was;
  }

  void answer(const stream::EndResponse& e) {
    logged = true;  // Stream::end wrote the line
    status = e.status;
    http::ResponseHead head;
    head.status = e.status;
    head.headers = {{"content-type", "text/plain; charset=utf-8"},
                    {"content-length", std::to_string(e.body.size())}};
    std::string_view extra = e.extra_header;  // "Name: value\r\n"
    const size_t colon = extra.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = extra.substr(colon + 1);
      while (!value.empty() &&
             (value.front() == ' ' || value.back() == '\n' || value.back() == '\r')) {
        value = value.front() == ' ' ? value.substr(1) : value.substr(0, value.size() - 1);
      }
      head.headers.push_back({std::string(extra.substr(0, colon)), std::string(value)});
    }
    if (!relay_.down_->submitResponse(down_id, head, e.body.empty()).isOk()) return;
    if (!e.body.empty()) {
      evbuffer_add(relay_.scratch_, e.body.data(), e.body.size());
      relay_.down_->sendData(down_id, relay_.scratch_, true);
    }
  }

  void log(const admin::PolicyRecord& r) override { relay_.ctx_.log(r); }

  H2Relay& relay_;
  const int32_t down_id;
  int32_t up_id = -1;
  bool up_closed = false;
  stream::Stream s;
  http::Request request;       // as received; the Stream reads it until forwarded
  bool request_ended = false;  // the sandbox ended its side
  bool logged = false;         // an EndReason wrote the stream's line
  int status = 0;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  // Waiting for an OAuth refresh (Stream::parkForRefresh): the request body
  // and trailers the sandbox sends meanwhile, forwarded when it goes on.
  bool parked = false;
  evbuffer* held = nullptr;
  std::vector<http::Header> held_trailers;
  // Flow control: every DATA byte a leg received is given back to that leg
  // (its stream's and its connection's window) exactly once — when the
  // other leg has framed it, when a scrub replacement removed it, or when
  // the exchange ends with it still queued. A byte never given back shrinks
  // the connection's window for good: 1 MiB of them and the whole
  // connection stalls. consume() on a stream nghttp2 has closed still
  // reopens the connection's window.
  bool scrub_body = false;                        // the response body goes through the secret scrub
  uint64_t up_received = 0, up_credited = 0;      // response DATA from the upstream
  uint64_t down_received = 0, down_credited = 0;  // request DATA from the sandbox
  void creditUp(uint64_t n) {
    n = std::min(n, up_received - up_credited);
    up_credited += n;
    if (n > 0 && up_id >= 0) relay_.up_->consume(up_id, n);
  }
  void creditDown(uint64_t n) {
    n = std::min(n, down_received - down_credited);
    down_credited += n;
    if (n > 0) relay_.down_->consume(down_id, n);
  }
  // The exchange ends: whatever is still queued on either leg is dropped.
  void creditAll() {
    creditUp(up_received - up_credited);
    creditDown(down_received - down_credited);
  }
};

// Toward the sandbox: requests in, responses out.
class H2Relay::DownCallbacks final : public http2::Callbacks {
 public:
  explicit DownCallbacks(H2Relay& r) : r_(r) {}

  void onHeaders(int32_t id, http2::Head& head, bool end_stream) override {
    if (head.kind == http2::Head::Kind::kRequest) {
      r_.onRequest(id, head, end_stream);
      return;
    }
    Exchange* ex = r_.byDown(id);
    if (ex != nullptr && ex->parked) {
      ex->held_trailers = std::move(head.trailers);
    } else if (ex != nullptr && ex->up_id >= 0 && !ex->up_closed) {
      r_.up_->sendTrailers(ex->up_id, std::move(head.trailers));
    }
  }
  void onData(int32_t id, std::string_view data) override {
    Exchange* ex = r_.byDown(id);
    if (ex == nullptr) {
      r_.down_->consume(id, data.size());  // nobody takes it: drop, window back
      return;
    }
    ex->down_received += data.size();
    if (ex->parked) {
      // Held, not credited: the stream's window bounds what it can send
      // meanwhile (given back when framed upstream, or when it ends).
      if (ex->held == nullptr) ex->held = evbuffer_new();
      ex->bytes_up += data.size();
      evbuffer_add(ex->held, data.data(), data.size());
      return;
    }
    if (ex->up_id < 0 || ex->up_closed) {
      ex->creditDown(data.size());  // nobody takes it: drop, window back
      return;
    }
    ex->bytes_up += data.size();
    evbuffer_add(r_.scratch_, data.data(), data.size());
    r_.up_->sendData(ex->up_id, r_.scratch_, false);
  }
  void onEnd(int32_t id) override {
    Exchange* ex = r_.byDown(id);
    if (ex == nullptr) return;
    ex->request_ended = true;
    if (ex->up_id >= 0 && !ex->up_closed) r_.up_->sendData(ex->up_id, r_.scratch_, true);
  }
  void onClose(int32_t id, http2::ErrorCode code) override {
    Exchange* ex = r_.byDown(id);
    if (ex == nullptr) return;
    if (ex->up_id >= 0 && !ex->up_closed) r_.up_->resetStream(ex->up_id, http2::ErrorCode::kCancel);
    if (!ex->logged) {
      if (code == http2::ErrorCode::kNoError) {
        ex->s.complete(ex->status, ex->bytes_up, ex->bytes_down);
      } else {
        ex->s.logLine(true, ex->status, "stream reset", ex->bytes_up, ex->bytes_down,
                      admin::PolicyEvent::kClose, "stream-reset");
      }
    }
    r_.retire(id);
  }
  void onDataSent(int32_t id, size_t bytes) override {
    // Framed toward the sandbox: the upstream may send as much again (its
    // stream may have ended meanwhile; its connection window has not).
    if (Exchange* ex = r_.byDown(id)) ex->creditUp(bytes);
  }

 private:
  H2Relay& r_;
};

// Toward the upstream: forwarded requests out, responses in.
class H2Relay::UpCallbacks final : public http2::Callbacks {
 public:
  explicit UpCallbacks(H2Relay& r) : r_(r) {}

  void onHeaders(int32_t id, http2::Head& head, bool end_stream) override {
    Exchange* ex = r_.byUp(id);
    if (ex == nullptr) return;
    switch (head.kind) {
      case http2::Head::Kind::kInterim:
        (void)r_.down_->submitResponse(ex->down_id, head.response, false);
        return;
      case http2::Head::Kind::kResponse:
        // Scrubbed of the sandbox's secrets; a body that is scrubbed too
        // loses its content-length (a replacement changes the length).
        ex->scrub_body = ex->s.onResponseHead(head.response) && !end_stream;
        if (ex->scrub_body) {
          std::erase_if(head.response.headers, [](const http::Header& h) {
            return http::equalsIgnoreCase(h.name, "content-length");
          });
          head.response.has_content_length = false;
        }
        ex->status = head.response.status;
        (void)r_.down_->submitResponse(ex->down_id, head.response, end_stream);
        return;
      case http2::Head::Kind::kTrailers:
        r_.down_->sendTrailers(ex->down_id, std::move(head.trailers));
        return;
      case http2::Head::Kind::kRequest:
        return;  // a client session never receives requests
    }
  }
  void onData(int32_t id, std::string_view data) override {
    Exchange* ex = r_.byUp(id);
    if (ex == nullptr) {
      r_.up_->consume(id, data.size());
      return;
    }
    ex->bytes_down += data.size();
    ex->up_received += data.size();
    if (ex->scrub_body) {
      const size_t held_before = ex->s.scrubHeld();
      evbuffer_add(r_.body_, data.data(), data.size());
      ex->s.scrubBody(r_.body_, r_.scratch_, false);
      // Bytes a replacement removed will never be "sent": their window
      // goes back now (held bytes still count: they are still here).
      const size_t in = held_before + data.size();
      const size_t out = evbuffer_get_length(r_.scratch_) + ex->s.scrubHeld();
      if (out < in) ex->creditUp(in - out);
    } else {
      evbuffer_add(r_.scratch_, data.data(), data.size());
    }
    r_.down_->sendData(ex->down_id, r_.scratch_, false);
  }
  void onEnd(int32_t id) override {
    Exchange* ex = r_.byUp(id);
    if (ex == nullptr) return;
    if (ex->scrub_body) ex->s.scrubBody(r_.body_, r_.scratch_, true);  // the held tail
    r_.down_->sendData(ex->down_id, r_.scratch_, true);
  }
  void onClose(int32_t id, http2::ErrorCode code) override {
    Exchange* ex = r_.byUp(id);
    r_.up_to_down_.erase(id);
    if (ex == nullptr) return;
    ex->up_closed = true;
    if (code != http2::ErrorCode::kNoError) r_.down_->resetStream(ex->down_id, code);
  }
  void onDataSent(int32_t id, size_t bytes) override {
    if (Exchange* ex = r_.byUp(id)) ex->creditDown(bytes);
  }

 private:
  H2Relay& r_;
};

// ---------------------------------------------------------------- relay

H2Relay::H2Relay(Context context)
    : ctx_(std::move(context)),
      down_cb_(std::make_unique<DownCallbacks>(*this)),
      up_cb_(std::make_unique<UpCallbacks>(*this)),
      scratch_(evbuffer_new()),
      body_(evbuffer_new()) {}

H2Relay::~H2Relay() {
  // The sessions go first: closing them reports nothing to exchanges.
  down_.reset();
  up_.reset();
  exchanges_.clear();
  retired_.clear();
  evbuffer_free(scratch_);
  evbuffer_free(body_);
}

StatusOr<std::unique_ptr<H2Relay>> H2Relay::create(Context context) {
  std::unique_ptr<H2Relay> r(new H2Relay(std::move(context)));
  auto down = http2::Session::create(http2::Session::Role::kServer, r->ctx_.limits, *r->down_cb_);
  if (!down) return down.status();
  auto up = http2::Session::create(http2::Session::Role::kClient, r->ctx_.limits, *r->up_cb_);
  if (!up) return up.status();
  r->down_ = std::move(down.value());
  r->up_ = std::move(up.value());
  return r;
}

H2Relay::Exchange* H2Relay::byDown(int32_t id) {
  auto it = exchanges_.find(id);
  return it == exchanges_.end() ? nullptr : it->second.get();
}

H2Relay::Exchange* H2Relay::byUp(int32_t id) {
  auto it = up_to_down_.find(id);
  return it == up_to_down_.end() ? nullptr : byDown(it->second);
}

void H2Relay::onRequest(int32_t id, http2::Head& head, bool end_stream) {
  if (!upstream_alive_) {
    down_->resetStream(id, http2::ErrorCode::kRefusedStream);  // the client retries elsewhere
    return;
  }
  auto owned = std::make_unique<Exchange>(*this, id);
  Exchange& ex = *owned;
  exchanges_[id] = std::move(owned);
  ex.request = std::move(head.request);
  ex.request_ended = end_stream;
  ex.s.begin(ctx_.sandbox, ctx_.env->clock->now());
  ex.s.identify(ctx_.client, ctx_.next_id());
  ex.s.setTlsMs(ctx_.tls_ms);
  // HTTP/2 has no absolute form: :scheme and :path make an origin request;
  // CONNECT (no :path) is refused by the stream.
  const stream::Target target =
      ex.request.method == "CONNECT" ? stream::Target::kConnect : stream::Target::kOrigin;
  ex.s.onInnerRequest(ex.request, target, *ctx_.ic);
}

void H2Relay::retire(int32_t down_id) {
  auto it = exchanges_.find(down_id);
  if (it == exchanges_.end()) return;
  it->second->s.cancel();  // a wait for an OAuth refresh ends with the stream
  if (it->second->up_id >= 0) up_to_down_.erase(it->second->up_id);
  it->second->creditAll();
  retired_.push_back(std::move(it->second));
  exchanges_.erase(it);
}

void H2Relay::collect() { retired_.clear(); }

void H2Relay::resume() {
  if (ctx_.resume) ctx_.resume();
}

Status H2Relay::onClientBytes(evbuffer* in) {
  Status st = down_->dispatch(in);
  collect();
  return st;
}

Status H2Relay::onUpstreamBytes(evbuffer* in) {
  Status st = up_->dispatch(in);
  if (!st.isOk()) upstreamClosed();
  collect();
  return st;
}

void H2Relay::upstreamClosed() {
  if (!upstream_alive_) return;
  upstream_alive_ = false;
  for (auto& [id, ex] : exchanges_) {
    if (ex->up_id >= 0 && !ex->up_closed) {
      ex->up_closed = true;
      down_->resetStream(id, http2::ErrorCode::kInternalError);
    } else if (ex->parked) {  // nothing left to forward it on
      ex->s.cancel();
      ex->unpark();
      ex->s.end(stream::EndReason::kUpstreamReset, "the upstream connection closed");
    }
  }
  down_->shutdown();
}

Status H2Relay::flush(evbuffer* to_client, evbuffer* to_upstream, size_t high_water) {
  // Data framed on one leg opens the other leg's windows: the second pass
  // sends those WINDOW_UPDATEs at once.
  Status st = down_->flush(to_client, high_water);
  if (st.isOk() && upstream_alive_) st = up_->flush(to_upstream, high_water);
  if (st.isOk()) st = down_->flush(to_client, high_water);
  collect();
  return st;
}

void H2Relay::shutdown() { down_->shutdown(); }

bool H2Relay::done() const { return !down_->wantsRead() && !down_->wantsWrite(); }

}  // namespace kitgate::server
