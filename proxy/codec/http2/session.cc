#include "proxy/codec/http2/session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>
#include <utility>

#include "proxy/http/request.h"
#include "proxy/http/serialize.h"

namespace kitgate::http2 {
namespace {

// A peer whose header blocks are refused this many times on one connection
// (HPACK bombs, oversized or malformed heads) gets GOAWAY: each refusal
// costs us a full HPACK decode.
constexpr uint64_t kMaxRefusedHeadsPerConnection = 16;
// RFC 9113 §6.5.2: each field counts its name, its value and 32 bytes.
constexpr size_t kFieldOverhead = 32;

struct OptionDeleter {
  void operator()(nghttp2_option* o) const { nghttp2_option_del(o); }
};
struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* c) const { nghttp2_session_callbacks_del(c); }
};
struct EvbufferDeleter {
  void operator()(evbuffer* b) const { evbuffer_free(b); }
};

std::string_view view(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

nghttp2_nv nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// host[:port] for :authority, IPv6 literals bracketed; the port omitted when
// it is 0 or the scheme's default.
std::string authorityOf(const http::Request& r, std::string_view scheme) {
  std::string a;
  const bool v6 = r.host.find(':') != std::string::npos;
  if (v6) a.push_back('[');
  a.append(r.host);
  if (v6) a.push_back(']');
  const uint16_t default_port = scheme == "http" ? 80 : 443;
  if (r.port != 0 && r.port != default_port) a.append(":").append(std::to_string(r.port));
  return a;
}

}  // namespace

void appendH2Fields(const std::vector<http::Header>& headers, std::vector<http::Header>* out) {
  for (const http::Header& h : headers) {
    if (http::equalsIgnoreCase(h.name, "te")) {
      // RFC 9113 §8.2.2: TE may only say "trailers" (gRPC requires it).
      if (http::equalsIgnoreCase(h.value, "trailers")) out->push_back({"te", "trailers"});
      continue;
    }
    if (http::isHopByHop(h.name) || http::equalsIgnoreCase(h.name, "host")) continue;
    out->push_back({lowerCase(h.name), h.value});
  }
}

// One stream's state: the header block being decoded, and the body queued
// toward the peer.
struct StreamState {
  int32_t id = 0;
  Head head;
  size_t head_bytes = 0;
  size_t head_fields = 0;
  bool refused = false;    // the header block broke a limit or a rule: reset
  bool announced = false;  // the consumer knows the stream (onClose is owed)
  bool final_response = false;
  std::unique_ptr<evbuffer, EvbufferDeleter> out{evbuffer_new()};
  bool out_end = false;
  bool deferred = false;  // the data provider is waiting for bytes
  bool provider = false;  // a data provider is attached (response or request submitted)
  std::vector<http::Header> out_trailers;
  bool has_trailers = false;
};

struct Session::Impl {
  Role role;
  Limits limits;
  Callbacks& cb;
  nghttp2_session* s = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<StreamState>> streams;
  Stats stats;
  std::string error;  // a connection error found in a callback
  // RST_STREAM frames from the peer since the last flush(). The library's
  // reset rate limit takes effect when its GOAWAY is sent, so one dispatch()
  // of a large read would still open every stream in it: past the burst
  // within one read, the session ends here.
  uint64_t resets_since_flush = 0;

  Impl(Role r, const Limits& l, Callbacks& c) : role(r), limits(l), cb(c) {}
  ~Impl() {
    if (s) nghttp2_session_del(s);
  }

  StreamState* find(int32_t id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second.get();
  }
  StreamState& get(int32_t id) {
    auto& slot = streams[id];
    if (!slot) {
      slot = std::make_unique<StreamState>();
      slot->id = id;
    }
    return *slot;
  }

  void refuse(StreamState& st, bool rejected) {
    if (st.refused) return;
    st.refused = true;
    if (rejected) {
      ++stats.heads_rejected;
    } else {
      ++stats.header_lists_refused;
    }
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st.id,
                              rejected ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_ENHANCE_YOUR_CALM);
    if (stats.heads_rejected + stats.header_lists_refused >= kMaxRefusedHeadsPerConnection) {
      error = "too many refused header blocks";
      nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  // The request's host and port from an authority; a malformed one refuses
  // the stream (false).
  bool setTarget(StreamState& st, std::string_view authority) {
    http::Authority a;
    if (http::parseAuthority(authority, false, &a) != nullptr) {
      refuse(st, true);
      return false;
    }
    st.head.request.host.assign(a.host);
    st.head.request.port = a.port;
    return true;
  }

  // ---------------------------------------------------------------- callbacks

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* f, void* u) {
    auto* self = static_cast<Impl*>(u);
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    StreamState& st = self->get(f->hd.stream_id);
    st.head_bytes = 0;
    st.head_fields = 0;
    Head& h = st.head;
    switch (f->headers.cat) {
      case NGHTTP2_HCAT_REQUEST:
        h.kind = Head::Kind::kRequest;
        h.request = http::Request{};
        break;
      case NGHTTP2_HCAT_RESPONSE:
      case NGHTTP2_HCAT_PUSH_RESPONSE:
        h.kind = Head::Kind::kResponse;  // or kInterim, once :status is known
        h.response = http::ResponseHead{};
        h.response.version_minor = 1;
        break;
      case NGHTTP2_HCAT_HEADERS:
        if (self->role == Role::kClient && !st.final_response) {
          h.kind = Head::Kind::kResponse;  // the final response after a 1xx
          h.response = http::ResponseHead{};
        } else {
          h.kind = Head::Kind::kTrailers;
          h.trailers.clear();
        }
        break;
    }
    return 0;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* u) {
    auto* self = static_cast<Impl*>(u);
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    StreamState* st = self->find(f->hd.stream_id);
    if (st == nullptr || st->refused) return 0;
    st->head_bytes += namelen + valuelen + kFieldOverhead;
    ++st->head_fields;
    if (st->head_bytes > self->limits.max_header_list_bytes ||
        st->head_fields > self->limits.max_headers) {
      self->refuse(*st, false);  // decoding goes on (HPACK state), nothing is kept
      return 0;
    }
    const std::string_view n = view(name, namelen);
    const std::string_view v = view(value, valuelen);
    Head& h = st->head;
    if (!n.empty() && n.front() == ':') {
      if (h.kind == Head::Kind::kRequest) {
        if (n == ":method") {
          h.request.method.assign(v);
        } else if (n == ":scheme") {
          h.request.scheme = lowerCase(v);
        } else if (n == ":path") {
          h.request.path.assign(v);
        } else if (n == ":authority") {
          self->setTarget(*st, v);
        }
      } else if (n == ":status" && h.kind != Head::Kind::kTrailers) {
        int status = 0;
        auto r = std::from_chars(v.data(), v.data() + v.size(), status);
        if (r.ec != std::errc() || status < 100 || status > 599) {
          self->refuse(*st, true);
          return 0;
        }
        h.response.status = status;
        if (h.response.isInterim()) h.kind = Head::Kind::kInterim;
      }
      return 0;
    }
    std::vector<http::Header>& fields =
        h.kind == Head::Kind::kRequest
            ? h.request.headers
            : (h.kind == Head::Kind::kTrailers ? h.trailers : h.response.headers);
    fields.push_back({std::string(n), std::string(v)});
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* f, void* u) {
    auto* self = static_cast<Impl*>(u);
    const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (f->hd.type) {
      case NGHTTP2_HEADERS: {
        StreamState* st = self->find(f->hd.stream_id);
        if (st == nullptr || st->refused) return 0;
        Head& h = st->head;
        if (h.kind == Head::Kind::kRequest && h.request.host.empty()) {
          // RFC 9113 §8.3.1: without :authority, Host names the target.
          const http::Header* host = http::findHeader(h.request.headers, "host");
          if (host != nullptr && !self->setTarget(*st, host->value)) return 0;
        }
        if (h.kind == Head::Kind::kResponse) {
          st->final_response = true;
          const http::Header* cl = http::findHeader(h.response.headers, "content-length");
          uint64_t len = 0;
          if (cl != nullptr &&
              std::from_chars(cl->value.data(), cl->value.data() + cl->value.size(), len).ec ==
                  std::errc()) {
            h.response.has_content_length = true;
            h.response.content_length = len;
          }
          h.response.framing = end ? http::BodyFraming::kNone : http::BodyFraming::kUntilClose;
        }
        st->announced = true;
        self->cb.onHeaders(f->hd.stream_id, h, end);
        if (end) self->cb.onEnd(f->hd.stream_id);
        return 0;
      }
      case NGHTTP2_RST_STREAM:
        if (self->role == Role::kServer && ++self->resets_since_flush > self->limits.reset_burst &&
            self->error.empty()) {
          self->error = "rapid reset: too many streams reset by the client";
          nghttp2_session_terminate_session(self->s, NGHTTP2_ENHANCE_YOUR_CALM);
        }
        return 0;
      case NGHTTP2_DATA: {
        StreamState* st = self->find(f->hd.stream_id);
        if (end && st != nullptr && !st->refused) self->cb.onEnd(f->hd.stream_id);
        return 0;
      }
      default:
        return 0;
    }
  }

  static int onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* u) {
    if (hd->type == NGHTTP2_PUSH_PROMISE) ++static_cast<Impl*>(u)->stats.pushes_refused;
    return 0;
  }

  static int onDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* u) {
    auto* self = static_cast<Impl*>(u);
    StreamState* st = self->find(id);
    if (st == nullptr || st->refused) {
      nghttp2_session_consume(self->s, id, len);  // nobody will: give the window back
      return 0;
    }
    self->cb.onData(id, view(data, len));
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t code, void* u) {
    auto* self = static_cast<Impl*>(u);
    auto it = self->streams.find(id);
    if (it == self->streams.end()) return 0;
    const bool announced = it->second->announced;
    self->streams.erase(it);
    if (announced) self->cb.onClose(id, static_cast<ErrorCode>(code));
    return 0;
  }

  static ssize_t readBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                          nghttp2_data_source* src, void* u) {
    auto* self = static_cast<Impl*>(u);
    auto* st = static_cast<StreamState*>(src->ptr);
    const int n = evbuffer_remove(st->out.get(), buf, len);
    const size_t taken = n > 0 ? static_cast<size_t>(n) : 0;
    if (evbuffer_get_length(st->out.get()) == 0) {
      if (st->out_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->has_trailers) {
          std::vector<nghttp2_nv> nva;
          nva.reserve(st->out_trailers.size());
          for (const http::Header& h : st->out_trailers) nva.push_back(nv(h.name, h.value));
          if (nghttp2_submit_trailer(self->s, id, nva.data(), nva.size()) == 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          }
        }
      } else if (taken == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    if (taken > 0) self->cb.onDataSent(id, taken);
    return static_cast<ssize_t>(taken);
  }

  nghttp2_data_provider provider(StreamState& st) {
    st.provider = true;
    nghttp2_data_provider p;
    p.source.ptr = &st;
    p.read_callback = &Impl::readBody;
    return p;
  }

  void resume(StreamState& st) {
    if (st.deferred) {
      st.deferred = false;
      nghttp2_session_resume_data(s, st.id);
    }
  }
};

// ---------------------------------------------------------------- Session

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

StatusOr<std::unique_ptr<Session>> Session::create(Role role, const Limits& limits,
                                                   Callbacks& callbacks) {
  auto impl = std::make_unique<Impl>(role, limits, callbacks);
  nghttp2_session_callbacks* raw_cbs = nullptr;
  if (nghttp2_session_callbacks_new(&raw_cbs) != 0) return Status::error("out of memory");
  std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> cbs(raw_cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs.get(), &Impl::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs.get(), &Impl::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs.get(), &Impl::onFrameRecv);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs.get(), &Impl::onBeginFrame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs.get(), &Impl::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs.get(), &Impl::onStreamClose);

  nghttp2_option* raw_opt = nullptr;
  if (nghttp2_option_new(&raw_opt) != 0) return Status::error("out of memory");
  std::unique_ptr<nghttp2_option, OptionDeleter> opt(raw_opt);
  nghttp2_option_set_no_auto_window_update(opt.get(), 1);
  nghttp2_option_set_max_settings(opt.get(), limits.max_settings);
  nghttp2_option_set_max_outbound_ack(opt.get(), limits.max_outbound_ack);
  nghttp2_option_set_stream_reset_rate_limit(opt.get(), limits.reset_burst, limits.reset_rate);
  nghttp2_option_set_max_continuations(opt.get(), limits.max_continuations);
  nghttp2_option_set_no_closed_streams(opt.get(), 1);
  nghttp2_option_set_max_reserved_remote_streams(opt.get(), 0);

  int rv = role == Role::kServer
               ? nghttp2_session_server_new2(&impl->s, cbs.get(), impl.get(), opt.get())
               : nghttp2_session_client_new2(&impl->s, cbs.get(), impl.get(), opt.get());
  if (rv != 0) return Status::error(std::string("nghttp2: ") + nghttp2_strerror(rv));

  std::vector<nghttp2_settings_entry> iv = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(limits.max_header_list_bytes)},
  };
  if (role == Role::kClient) iv.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  rv = nghttp2_submit_settings(impl->s, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(impl->s, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<int32_t>(limits.connection_window));
  }
  if (rv != 0) return Status::error(std::string("nghttp2: ") + nghttp2_strerror(rv));
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Status Session::dispatch(evbuffer* in) {
  while (evbuffer_get_length(in) > 0) {
    evbuffer_iovec seg;
    if (evbuffer_peek(in, -1, nullptr, &seg, 1) < 1) break;
    const ssize_t n =
        nghttp2_session_mem_recv(impl_->s, static_cast<const uint8_t*>(seg.iov_base), seg.iov_len);
    if (n < 0) {
      evbuffer_drain(in, evbuffer_get_length(in));
      // The library queued GOAWAY for protocol errors and floods.
      if (n == NGHTTP2_ERR_FLOODED) return Status::error("HTTP/2 flood (queued ACKs or resets)");
      return Status::error(std::string("HTTP/2 connection error: ") +
                           nghttp2_strerror(static_cast<int>(n)));
    }
    evbuffer_drain(in, static_cast<size_t>(n));
    if (!impl_->error.empty()) {
      evbuffer_drain(in, evbuffer_get_length(in));
      return Status::error(std::string("HTTP/2 connection error: ") + impl_->error);
    }
  }
  return Status::ok();
}

Status Session::flush(evbuffer* out, size_t high_water) {
  impl_->resets_since_flush = 0;
  while (evbuffer_get_length(out) < high_water) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(impl_->s, &data);
    if (n < 0) {
      return Status::error(std::string("HTTP/2 send: ") + nghttp2_strerror(static_cast<int>(n)));
    }
    if (n == 0) break;
    evbuffer_add(out, data, static_cast<size_t>(n));
  }
  return Status::ok();
}

bool Session::wantsRead() const { return nghttp2_session_want_read(impl_->s) != 0; }
bool Session::wantsWrite() const { return nghttp2_session_want_write(impl_->s) != 0; }

Status Session::submitResponse(int32_t stream_id, const http::ResponseHead& head, bool end_stream) {
  StreamState* st = impl_->find(stream_id);
  if (st == nullptr) return Status::error("no such stream");
  const std::string status = std::to_string(head.status);
  std::vector<http::Header> fields;
  appendH2Fields(head.headers, &fields);
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + 1);
  nva.push_back(nv(":status", status));
  for (const http::Header& h : fields) nva.push_back(nv(h.name, h.value));
  int rv = 0;
  if (head.isInterim()) {
    rv = nghttp2_submit_headers(impl_->s, NGHTTP2_FLAG_NONE, stream_id, nullptr, nva.data(),
                                nva.size(), nullptr);
  } else if (end_stream) {
    rv = nghttp2_submit_response(impl_->s, stream_id, nva.data(), nva.size(), nullptr);
  } else {
    nghttp2_data_provider p = impl_->provider(*st);
    rv = nghttp2_submit_response(impl_->s, stream_id, nva.data(), nva.size(), &p);
  }
  if (rv != 0) return Status::error(std::string("nghttp2: ") + nghttp2_strerror(rv));
  return Status::ok();
}

StatusOr<int32_t> Session::submitRequest(const http::Request& request, bool end_stream) {
  if (nghttp2_session_check_request_allowed(impl_->s) == 0) {
    return Status::error("the HTTP/2 connection takes no new streams (GOAWAY)");
  }
  const std::string scheme = request.scheme.empty() ? "https" : request.scheme;
  const std::string authority = authorityOf(request, scheme);
  std::vector<http::Header> fields;
  appendH2Fields(request.headers, &fields);
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + 4);
  nva.push_back(nv(":method", request.method));
  const bool connect = request.method == "CONNECT";
  if (!connect) {
    nva.push_back(nv(":scheme", scheme));
    nva.push_back(nv(":path", request.path.empty() ? std::string_view("/") : request.path));
  }
  nva.push_back(nv(":authority", authority));
  for (const http::Header& h : fields) nva.push_back(nv(h.name, h.value));
  // The stream's state exists before its id does: the provider points at it.
  auto st = std::make_unique<StreamState>();
  nghttp2_data_provider p{};
  if (!end_stream) p = impl_->provider(*st);
  const int32_t id = nghttp2_submit_request(impl_->s, nullptr, nva.data(), nva.size(),
                                            end_stream ? nullptr : &p, nullptr);
  if (id < 0) return Status::error(std::string("nghttp2: ") + nghttp2_strerror(id));
  st->id = id;
  st->announced = true;
  impl_->streams[id] = std::move(st);
  return id;
}

void Session::sendData(int32_t stream_id, evbuffer* data, bool end) {
  StreamState* st = impl_->find(stream_id);
  if (st == nullptr) {
    evbuffer_drain(data, evbuffer_get_length(data));
    return;
  }
  evbuffer_add_buffer(st->out.get(), data);
  st->out_end = st->out_end || end;
  impl_->resume(*st);
}

void Session::sendTrailers(int32_t stream_id, std::vector<http::Header> trailers) {
  StreamState* st = impl_->find(stream_id);
  if (st == nullptr) return;
  std::vector<http::Header> fields;
  appendH2Fields(trailers, &fields);
  st->out_trailers = std::move(fields);
  st->has_trailers = true;
  st->out_end = true;
  impl_->resume(*st);
}

void Session::resetStream(int32_t stream_id, ErrorCode code) {
  nghttp2_submit_rst_stream(impl_->s, NGHTTP2_FLAG_NONE, stream_id, static_cast<uint32_t>(code));
}

void Session::consume(int32_t stream_id, size_t bytes) {
  if (bytes > 0) nghttp2_session_consume(impl_->s, stream_id, bytes);
}

void Session::shutdown() {
  const int32_t last = nghttp2_session_get_last_proc_stream_id(impl_->s);
  nghttp2_submit_goaway(impl_->s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, nullptr, 0);
}

size_t Session::queuedBody(int32_t stream_id) const {
  StreamState* st = impl_->find(stream_id);
  return st == nullptr ? 0 : evbuffer_get_length(st->out.get());
}

size_t Session::openStreams() const { return impl_->streams.size(); }

const Stats& Session::stats() const { return impl_->stats; }

}  // namespace kitgate::http2
