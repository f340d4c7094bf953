#include "proxy/tls/tls_stream.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "proxy/tls/x509_builder.h"

namespace kitgate::tls {
namespace {

// SSL ex_data slot holding the owning TlsStream*.
int streamIndex() {
  static const int kIndex = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return kIndex;
}

IoResult want(IoStatus s) { return IoResult{s, 0, {}}; }

// A socket BIO that writes with send(MSG_NOSIGNAL): a peer that went away
// yields EPIPE (a kError) instead of a SIGPIPE that kills the process. It
// first serves bytes the server had already read from the socket (a
// ClientHello pipelined behind CONNECT). It never closes the fd.
//
// Reads ahead. TLS asks for a record's 5-byte header, then for its body:
// two recv() calls per record, and a third that finds the socket empty.
// Instead, a small read (the header, a short body) takes one recv() of up to
// kReadAhead bytes, which usually brings the whole record, and keeps what
// TLS did not ask for yet; a large body is read straight into TLS's buffer.
// A recv() that came back short means the socket was drained, so a read
// that follows within the same burst (TlsStream::read's `again`, or later
// within one TLS call) and finds nothing buffered answers "would block"
// without asking the kernel: the worker's event loop is level-triggered, so
// bytes that arrive meanwhile still wake it. The buffer exists only while it
// holds bytes (an idle connection keeps none).
constexpr size_t kReadAhead = 4096;

struct SocketBio {
  int fd = -1;
  std::string initial;
  size_t consumed = 0;
  std::unique_ptr<char[]> ahead;  // kReadAhead bytes while it holds any
  size_t ahead_begin = 0;
  size_t ahead_end = 0;
  bool drained = false;  // the last recv() was short: the socket is most likely empty

  size_t buffered() const { return initial.size() - consumed + (ahead_end - ahead_begin); }
};

SocketBio* stateOf(BIO* bio) { return static_cast<SocketBio*>(BIO_get_data(bio)); }

int socketWrite(BIO* bio, const char* buf, int len) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(stateOf(bio)->fd, buf, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

// Serves up to `len` bytes of `from[*begin, end)`.
int serve(const char* from, size_t* begin, size_t end, char* buf, int len) {
  const size_t n = std::min(static_cast<size_t>(len), end - *begin);
  std::memcpy(buf, from + *begin, n);
  *begin += n;
  return static_cast<int>(n);
}

int socketRead(BIO* bio, char* buf, int len) {
  BIO_clear_retry_flags(bio);
  SocketBio* st = stateOf(bio);
  if (st->consumed < st->initial.size()) {
    const int n = serve(st->initial.data(), &st->consumed, st->initial.size(), buf, len);
    if (st->consumed == st->initial.size()) std::string().swap(st->initial);
    return n;
  }
  if (st->ahead_begin < st->ahead_end) {
    const int n = serve(st->ahead.get(), &st->ahead_begin, st->ahead_end, buf, len);
    if (st->ahead_begin == st->ahead_end) {
      st->ahead.reset();
      st->ahead_begin = st->ahead_end = 0;
    }
    return n;
  }
  if (st->drained) {
    st->drained = false;
    BIO_set_retry_read(bio);
    errno = EAGAIN;
    return -1;
  }
  const bool direct = static_cast<size_t>(len) >= kReadAhead;
  if (!direct && !st->ahead) st->ahead = std::make_unique<char[]>(kReadAhead);
  char* into = direct ? buf : st->ahead.get();
  const size_t want = direct ? static_cast<size_t>(len) : kReadAhead;
  const ssize_t n = ::recv(st->fd, into, want, 0);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      BIO_set_retry_read(bio);
    }
    st->ahead.reset();
    return static_cast<int>(n);
  }
  st->drained = static_cast<size_t>(n) < want;
  if (direct) return static_cast<int>(n);
  st->ahead_end = static_cast<size_t>(n);
  return socketRead(bio, buf, len);  // serves from what just arrived
}

long socketCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int socketDestroy(BIO* bio) {
  delete stateOf(bio);
  BIO_set_data(bio, nullptr);
  return 1;
}

const BIO_METHOD* socketMethod() {
  static BIO_METHOD* const kMethod = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "kitgate socket");
    if (m == nullptr || BIO_meth_set_write(m, socketWrite) != 1 ||
        BIO_meth_set_read(m, socketRead) != 1 || BIO_meth_set_ctrl(m, socketCtrl) != 1 ||
        BIO_meth_set_destroy(m, socketDestroy) != 1) {
      std::abort();  // allocation failure at start-up
    }
    return m;
  }();
  return kMethod;
}

// The socket BIO attachSocket gave `ssl` (every TlsStream has one).
SocketBio* socketOf(const SSL* ssl) { return stateOf(SSL_get_rbio(ssl)); }

// Attaches the socket BIO for `fd` as both the read and the write side.
bool attachSocket(SSL* ssl, int fd, std::string_view initial_bytes = {}) {
  BIO* bio = BIO_new(socketMethod());
  if (bio == nullptr) return false;
  auto* state = new SocketBio;
  state->fd = fd;
  state->initial.assign(initial_bytes);
  BIO_set_data(bio, state);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // SSL owns it (one reference for both sides)
  return true;
}

}  // namespace

TlsStream::TlsStream(SslPtr ssl, int fd, bool is_server)
    : ssl_(std::move(ssl)), fd_(fd), is_server_(is_server) {
  SSL_set_ex_data(ssl_.get(), streamIndex(), this);
}

TlsStream::~TlsStream() {
  if (!ssl_) return;
  SSL_set_ex_data(ssl_.get(), streamIndex(), nullptr);
  // A session from a connection that failed stays invalidated; one from a
  // connection that simply ends is worth resuming.
  if (handshake_done_ && !failed_) compat::keepSessionOnClose(ssl_.get());
}

TlsStream* TlsStream::fromSsl(const SSL* ssl) {
  return static_cast<TlsStream*>(SSL_get_ex_data(ssl, streamIndex()));
}

StatusOr<std::unique_ptr<TlsStream>> TlsStream::accept(int fd, const ServerContext& ctx,
                                                       const Leaf* leaf, SniHook sni_hook,
                                                       std::string_view initial_bytes) {
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl || !attachSocket(ssl.get(), fd, initial_bytes)) return backendError("SSL_new (server)");
  SSL_set_accept_state(ssl.get());
  std::unique_ptr<TlsStream> stream(new TlsStream(std::move(ssl), fd, true));
  stream->sni_hook_ = std::move(sni_hook);
  if (leaf != nullptr) {
    Status s = stream->useLeaf(*leaf);
    if (!s) return s;
  }
  return stream;
}

StatusOr<std::unique_ptr<TlsStream>> TlsStream::connect(int fd, const ClientContext& ctx,
                                                        std::string_view host,
                                                        ClientSessionCache* sessions,
                                                        std::string session_key) {
  StatusOr<std::string> normalized = normalizeHost(host);
  if (!normalized) return normalized.status();
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl || !attachSocket(ssl.get(), fd)) return backendError("SSL_new (client)");
  SSL_set_connect_state(ssl.get());
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  const std::string& name = *normalized;
  if (isIpLiteral(name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
      return backendError("upstream IP verification");
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()) != 1 ||
        SSL_set_tlsext_host_name(ssl.get(), name.c_str()) != 1) {
      return backendError("upstream SNI / host verification");
    }
  }
  std::unique_ptr<TlsStream> stream(new TlsStream(std::move(ssl), fd, false));
  stream->sni_ = name;
  if (sessions != nullptr) {
    stream->sessions_ = sessions;
    stream->session_key_ = session_key.empty() ? name : std::move(session_key);
    if (SSL_SESSION* cached = sessions->find(stream->session_key_)) {
      SSL_set_session(stream->ssl_.get(), cached);  // takes its own reference
    }
  }
  return stream;
}

Status TlsStream::useLeaf(const Leaf& leaf) {
  if (!compat::useCertificateAndKey(ssl_.get(), leaf.cert.get(), leaf.key.get())) {
    return backendError("installing leaf certificate for " + leaf.host);
  }
  return Status::ok();
}

int TlsStream::onServerName(SSL* ssl, int* alert, void*) {
  TlsStream* self = fromSsl(ssl);
  if (self == nullptr) return SSL_TLSEXT_ERR_OK;
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  self->sni_ = name != nullptr ? name : "";
  if (!self->sni_hook_) return SSL_TLSEXT_ERR_OK;
  Status s;
  try {
    s = self->sni_hook_(self->sni_, *self);
  } catch (...) {  // never unwind through the backend
    s = Status::error("SNI hook threw");
  }
  if (s) return SSL_TLSEXT_ERR_OK;
  self->hook_error_ = s.message();
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

Status TlsStream::offerHttp2() {
  offer_h2_ = true;
  if (is_server_) return Status::ok();
  static const std::string kWire =
      std::string(1, static_cast<char>(kAlpnH2.size())) + std::string(kAlpnH2) +
      std::string(1, static_cast<char>(kAlpnHttp11.size())) + std::string(kAlpnHttp11);
  if (SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const unsigned char*>(kWire.data()),
                          static_cast<unsigned>(kWire.size())) != 0) {
    return backendError("setting ALPN");
  }
  return Status::ok();
}

// Selects "h2" when this connection offers it and the client does, else
// "http/1.1" if the client offers it; otherwise no ALPN answer.
int TlsStream::onSelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                            const unsigned char* in, unsigned int in_len, void*) {
  const TlsStream* self = fromSsl(ssl);
  const bool h2 = self != nullptr && self->offer_h2_;
  for (std::string_view want : {kAlpnH2, kAlpnHttp11}) {
    if (want == kAlpnH2 && !h2) continue;
    for (unsigned int i = 0; i < in_len;) {
      const unsigned int len = in[i];
      if (i + 1 + len > in_len) break;
      if (len == want.size() && std::memcmp(in + i + 1, want.data(), len) == 0) {
        *out = in + i + 1;
        *out_len = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int TlsStream::onNewSession(SSL* ssl, SSL_SESSION* session) {
  TlsStream* self = fromSsl(ssl);
  if (self == nullptr || self->sessions_ == nullptr) return 0;
  self->sessions_->store(self->session_key_, SslSessionPtr(session));
  return 1;  // we took the reference
}

IoResult TlsStream::failure(int ret, const char* op) {
  const int saved_errno = errno;
  const int err = SSL_get_error(ssl_.get(), ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return want(IoStatus::kWantRead);
    case SSL_ERROR_WANT_WRITE:
      return want(IoStatus::kWantWrite);
    case SSL_ERROR_ZERO_RETURN:
      return want(IoStatus::kClosed);
    default:
      break;
  }
  failed_ = true;
  if (compat::isUnexpectedEof(err, ret, ERR_peek_error())) {
    ERR_clear_error();
    if (handshake_done_) return want(IoStatus::kTruncated);
    return IoResult{IoStatus::kError, 0, std::string(op) + ": connection closed by peer"};
  }
  std::string detail;
  if (!hook_error_.empty()) {
    detail = hook_error_;
  } else if (!is_server_ && !handshake_done_ && SSL_get_verify_result(ssl_.get()) != X509_V_OK &&
             SSL_get_verify_result(ssl_.get()) != X509_V_ERR_INVALID_CALL) {
    // (INVALID_CALL: no certificate was verified yet — the handshake failed
    // before one arrived, e.g. on the peer's alert; the library error says why.)
    detail = std::string("upstream certificate verify failed: ") +
             X509_verify_cert_error_string(SSL_get_verify_result(ssl_.get()));
  } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    detail = std::string(op) + ": " + (saved_errno != 0 ? std::strerror(saved_errno) : "EOF");
  } else {
    detail = std::string(op) + ": " + compat::drainErrors();
  }
  ERR_clear_error();
  return IoResult{IoStatus::kError, 0, std::move(detail)};
}

IoResult TlsStream::handshake() {
  if (handshake_done_) return want(IoStatus::kOk);
  if (failed_) return IoResult{IoStatus::kError, 0, "handshake after failure"};
  socketOf(ssl_.get())->drained = false;  // called when the fd is ready: ask the kernel
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    handshake_done_ = true;
    return want(IoStatus::kOk);
  }
  IoResult r = failure(ret, "TLS handshake");
  // A failed resumption attempt must not be retried with the same session.
  if (r.status == IoStatus::kError && sessions_ != nullptr) sessions_->erase(session_key_);
  return r;
}

IoResult TlsStream::read(char* buf, size_t n, bool again) {
  if (failed_) return IoResult{IoStatus::kError, 0, "read after failure"};
  if (!again) socketOf(ssl_.get())->drained = false;  // a new burst asks the kernel
  ERR_clear_error();
  const int ret = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
  if (ret > 0) return IoResult{IoStatus::kOk, static_cast<size_t>(ret), {}};
  return failure(ret, "TLS read");
}

IoResult TlsStream::write(const char* buf, size_t n) {
  if (failed_) return IoResult{IoStatus::kError, 0, "write after failure"};
  if (n == 0) return want(IoStatus::kOk);
  ERR_clear_error();
  const int ret = SSL_write(ssl_.get(), buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
  if (ret > 0) return IoResult{IoStatus::kOk, static_cast<size_t>(ret), {}};
  return failure(ret, "TLS write");
}

IoResult TlsStream::shutdown() {
  if (failed_ || !handshake_done_) return want(IoStatus::kOk);  // nothing to close cleanly
  ERR_clear_error();
  const int ret = SSL_shutdown(ssl_.get());
  if (ret >= 0) return want(IoStatus::kOk);
  IoResult r = failure(ret, "TLS shutdown");
  return r.status == IoStatus::kClosed ? want(IoStatus::kOk) : r;
}

std::string_view TlsStream::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return data == nullptr ? std::string_view()
                         : std::string_view(reinterpret_cast<const char*>(data), len);
}

long TlsStream::verifyResult() const { return SSL_get_verify_result(ssl_.get()); }

bool TlsStream::sessionReused() const { return SSL_session_reused(ssl_.get()) == 1; }

size_t TlsStream::pending() const {
  // Decrypted bytes, and received bytes not yet decrypted (the read-ahead).
  return static_cast<size_t>(SSL_pending(ssl_.get())) + socketOf(ssl_.get())->buffered();
}

}  // namespace kitgate::tls
