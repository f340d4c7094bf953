#include "proxy/tls/contexts.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "proxy/tls/tls_stream.h"
#include "proxy/tls/x509_builder.h"

namespace kitgate::tls {
namespace {

// The ALPN wire format of our one protocol: length byte + name.
const std::string& alpnWire() {
  static const std::string kWire =
      std::string(1, static_cast<char>(kAlpnHttp11.size())) + std::string(kAlpnHttp11);
  return kWire;
}

StatusOr<SslCtxPtr> newContext(const SSL_METHOD* method) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return backendError("SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return backendError("setting TLS 1.2 minimum");
  }
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

}  // namespace

StatusOr<ServerContext> ServerContext::create(const ServerContextOptions& options) {
  StatusOr<SslCtxPtr> ctx = newContext(TLS_server_method());
  if (!ctx) return ctx.status();
  SSL_CTX* c = ctx->get();
  compat::applyServerDefaults(c);
  SSL_CTX_set_alpn_select_cb(c, &TlsStream::onSelectAlpn, nullptr);
  SSL_CTX_set_tlsext_servername_callback(c, &TlsStream::onServerName);
  // Tickets carry the session state; no server-side cache (no lock, no memory).
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  if (!options.session_tickets) SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  const std::string& sid = options.session_id_context;
  if (SSL_CTX_set_session_id_context(
          c, reinterpret_cast<const unsigned char*>(sid.data()),
          static_cast<unsigned>(std::min<size_t>(sid.size(), SSL_MAX_SID_CTX_LENGTH))) != 1) {
    return backendError("session id context");
  }
  return ServerContext(std::move(*ctx));
}

StatusOr<ClientContext> ClientContext::create(const ClientContextOptions& options) {
  StatusOr<SslCtxPtr> ctx = newContext(TLS_client_method());
  if (!ctx) return ctx.status();
  SSL_CTX* c = ctx->get();
  compat::applyClientDefaults(c);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  int anchors = 0;
  for (const std::string* file : {&options.system_trust_file, &options.extra_ca_file}) {
    if (file->empty()) continue;
    if (::access(file->c_str(), R_OK) != 0) {
      return Status::error("trust file " + *file + " is not readable");
    }
    if (SSL_CTX_load_verify_locations(c, file->c_str(), nullptr) != 1) {
      return backendError("loading trust file " + *file);
    }
    ++anchors;
  }
  if (anchors == 0) return Status::error("upstream TLS needs at least one trust file");
  const std::string& alpn = alpnWire();
  if (SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(alpn.data()),
                              static_cast<unsigned>(alpn.size())) != 0) {
    return backendError("setting ALPN");
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c, &TlsStream::onNewSession);
  return ClientContext(std::move(*ctx));
}

SSL_SESSION* ClientSessionCache::find(std::string_view key) {
  SslSessionPtr* s = sessions_.find(key);
  return s == nullptr ? nullptr : s->get();
}

void ClientSessionCache::store(std::string key, SslSessionPtr session) {
  sessions_.insert(std::move(key), std::move(session));
}

}  // namespace kitgate::tls
