// TlsStream: one non-blocking TLS endpoint over a connected socket, driven by
// an external event loop (the worker's libevent loop). Every call returns at
// once with what the stream needs next: wait for the fd to be readable
// (kWantRead) or writable (kWantWrite), or a final state. No call throws; the
// SNI hook runs inside the backend's callback and must not throw either
// (exceptions are caught and turned into a handshake failure).
//
// Threads: a stream belongs to the worker that created it; never share one.
// Ownership: the stream owns its SSL; the fd stays owned by the caller and
// must outlive the stream. Writes use send(MSG_NOSIGNAL): a vanished peer is
// an error result, never a SIGPIPE. Streams are heap objects (the backend keeps a
// pointer to them), hence the unique_ptr factories.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/common/status.h"
#include "proxy/tls/contexts.h"
#include "proxy/tls/handles.h"
#include "proxy/tls/leaf_cache.h"

namespace kitgate::tls {

enum class IoStatus {
  kOk,         // done (handshake/shutdown), or `bytes` moved (read/write)
  kWantRead,   // call again once the fd is readable
  kWantWrite,  // call again once the fd is writable
  kClosed,     // the peer sent close_notify (clean end of stream)
  kTruncated,  // TCP EOF without close_notify (the peer may have been cut off)
  kError,      // fatal; `error` says why; the stream is unusable
};

struct IoResult {
  IoStatus status = IoStatus::kOk;
  size_t bytes = 0;
  std::string error;  // only for kError
  bool ok() const { return status == IoStatus::kOk; }
};

class TlsStream;

// Runs during the server handshake with the client's SNI (empty if none),
// before the certificate is chosen. It may install a leaf (useLeaf). A non-OK
// Status aborts the handshake (alert unrecognized_name) and becomes the
// handshake()'s error text.
using SniHook = std::function<Status(std::string_view sni, TlsStream& stream)>;

class TlsStream {
 public:
  // Server side (client-facing). `leaf` may be null if the SNI hook sets it.
  // `initial_bytes`: bytes the caller already read from `fd` (a ClientHello
  // the client pipelined behind CONNECT); the handshake consumes them first.
  static StatusOr<std::unique_ptr<TlsStream>> accept(int fd, const ServerContext& ctx,
                                                     const Leaf* leaf, SniHook sni_hook = {},
                                                     std::string_view initial_bytes = {});

  // Client side (upstream): SNI = host (not for IP literals), certificate
  // must verify for `host`. With `sessions`, a cached session for
  // `session_key` (default: host) is offered and new ones are stored.
  static StatusOr<std::unique_ptr<TlsStream>> connect(int fd, const ClientContext& ctx,
                                                      std::string_view host,
                                                      ClientSessionCache* sessions = nullptr,
                                                      std::string session_key = {});

  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  IoResult handshake();
  // `again`: the caller read from this stream a moment ago, in the same turn
  // of its event loop, and got bytes. When that read found the socket drained
  // (a short recv), this one answers kWantRead without asking the kernel (the
  // caller's level-triggered loop wakes it for anything that arrives later).
  // A first read (`again` false) always asks the socket.
  IoResult read(char* buf, size_t n, bool again = false);
  // Partial writes are allowed (`bytes` may be < n); after kWantRead/kWantWrite
  // call again with the same or a longer buffer at any address.
  IoResult write(const char* buf, size_t n);
  // Sends close_notify (does not wait for the peer's). kOk when sent.
  IoResult shutdown();

  // Sets the certificate + key for this connection (server side, before the
  // handshake or from the SNI hook).
  Status useLeaf(const Leaf& leaf);

  bool handshakeDone() const { return handshake_done_; }
  // Server: the SNI the client sent ("" if none). Client: the host connected to.
  std::string_view sni() const { return sni_; }
  // HTTP/2 on this connection: a server selects "h2" when the client offers
  // it (else "http/1.1"); a client offers "h2" before "http/1.1". Call
  // before the handshake.
  Status offerHttp2();
  // The negotiated ALPN protocol, "" if none.
  std::string_view alpn() const;
  // The backend's X509_V_* verify result (client side), X509_V_OK when fine.
  long verifyResult() const;
  bool sessionReused() const;
  // Bytes held in user space — decrypted application data, and received
  // records not yet decrypted (the socket read-ahead) — that a read can
  // return without the fd becoming readable again (drain before waiting on
  // the fd).
  size_t pending() const;
  SSL* ssl() const { return ssl_.get(); }
  int fd() const { return fd_; }

 private:
  friend class ServerContext;
  friend class ClientContext;

  TlsStream(SslPtr ssl, int fd, bool is_server);
  IoResult failure(int ret, const char* op);
  static TlsStream* fromSsl(const SSL* ssl);
  // Backend callbacks (installed on the contexts).
  static int onServerName(SSL* ssl, int* alert, void* arg);
  static int onNewSession(SSL* ssl, SSL_SESSION* session);
  static int onSelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                          const unsigned char* in, unsigned int in_len, void* arg);

  SslPtr ssl_;
  int fd_;
  bool is_server_;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool offer_h2_ = false;
  std::string sni_;
  SniHook sni_hook_;
  std::string hook_error_;  // set when the SNI hook refused the handshake
  ClientSessionCache* sessions_ = nullptr;
  std::string session_key_;
};

}  // namespace kitgate::tls
