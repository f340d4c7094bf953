// TLS contexts for the two legs of an intercepted connection.
//
// ServerContext (client-facing leg, the proxy acts as the server): TLS 1.2+,
// ALPN selects "http/1.1", or "h2" on a connection that offers it
// (TlsStream::offerHttp2; a client that offers neither gets no ALPN answer), stateless session
// tickets for resumption, no server-side session cache. It carries no certificate: each connection
// gets its leaf through TlsStream (before the handshake, or from the SNI hook, which sees the
// client's SNI first).
//
// ClientContext (upstream leg): always verifies the server — system trust
// store plus an optional extra CA bundle from the config — and each
// TlsStream::connect sets SNI and hostname verification. ALPN offers
// "http/1.1" (and "h2" first on a connection that asks, offerHttp2). Sessions are resumed through a
// per-worker ClientSessionCache.
//
// Threads: both contexts are immutable after create() and may be shared by
// every worker (SSL_CTX is reference-counted and thread-safe for SSL_new).
// Use one ServerContext per CA/sandbox so tickets never cross sandboxes.
// Ticket keys are random per context: BoringSSL rotates them itself (every
// two days); OpenSSL keeps them for the context's life, so rebuild the
// context when the sandbox's TLS settings are reloaded.
// ClientSessionCache is per worker: ONE THREAD ONLY.
#pragma once

#include <string>
#include <string_view>

#include "proxy/common/status.h"
#include "proxy/tls/handles.h"
#include "proxy/tls/lru_map.h"

namespace kitgate::tls {

inline constexpr std::string_view kAlpnHttp11 = "http/1.1";
inline constexpr std::string_view kAlpnH2 = "h2";
inline constexpr const char* kSystemTrustFile = "/etc/ssl/certs/ca-certificates.crt";

struct ServerContextOptions {
  // Binds sessions to this context (use the CA fingerprint or sandbox id).
  std::string session_id_context = "kitgate";
  bool session_tickets = true;
};

class ServerContext {
 public:
  static StatusOr<ServerContext> create(const ServerContextOptions& options = {});
  SSL_CTX* get() const { return ctx_.get(); }

 private:
  explicit ServerContext(SslCtxPtr ctx) : ctx_(std::move(ctx)) {}
  SslCtxPtr ctx_;
};

struct ClientContextOptions {
  // PEM bundle of trusted roots; empty = do not use a system store.
  std::string system_trust_file = kSystemTrustFile;
  // Optional extra PEM bundle (config `upstream_ca_file`; tests use it).
  std::string extra_ca_file;
};

class ClientContext {
 public:
  // Fails if no trust anchor at all could be loaded, or a named file is bad.
  static StatusOr<ClientContext> create(const ClientContextOptions& options = {});
  SSL_CTX* get() const { return ctx_.get(); }

 private:
  explicit ClientContext(SslCtxPtr ctx) : ctx_(std::move(ctx)) {}
  SslCtxPtr ctx_;
};

// Upstream sessions by key (use "host:port"), bounded LRU, one worker only.
class ClientSessionCache {
 public:
  explicit ClientSessionCache(size_t capacity = 512) : sessions_(capacity) {}
  // Not up-ref'd; valid until the next call on this cache.
  SSL_SESSION* find(std::string_view key);
  void store(std::string key, SslSessionPtr session);
  void erase(std::string_view key) { sessions_.erase(key); }
  size_t size() const { return sessions_.size(); }

 private:
  LruMap<SslSessionPtr> sessions_;
};

}  // namespace kitgate::tls
