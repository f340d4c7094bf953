#include "proxy/tls/compat.h"

namespace kitgate::tls::compat {

std::string_view backendName() {
#if defined(KITGATE_TLS_BORINGSSL)
  return "boringssl";
#else
  return "openssl";
#endif
}

X509* peerCertificate(const SSL* ssl) {
#if defined(KITGATE_TLS_BORINGSSL)
  // BoringSSL returns a new reference; drop it again (the SSL keeps one).
  X509* cert = SSL_get_peer_certificate(ssl);
  if (cert != nullptr) X509_free(cert);
  return cert;
#else
  return SSL_get0_peer_certificate(ssl);
#endif
}

bool isUnexpectedEof(int ssl_error, int ret, unsigned long packed_error) {
  // kitgate's socket BIO reports a transport EOF as a 0-byte read; both
  // backends then answer SSL_ERROR_SYSCALL with return value 0.
  if (ssl_error == SSL_ERROR_SYSCALL && ret == 0) return true;
#if defined(KITGATE_TLS_OPENSSL)
  // OpenSSL's own socket BIO path (kept for completeness).
  return ssl_error == SSL_ERROR_SSL && ERR_GET_LIB(packed_error) == ERR_LIB_SSL &&
         ERR_GET_REASON(packed_error) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
  (void)packed_error;
  return false;
#endif
}

bool sameKey(const EVP_PKEY* a, const EVP_PKEY* b) {
#if defined(KITGATE_TLS_BORINGSSL)
  return EVP_PKEY_cmp(a, b) == 1;
#else
  return EVP_PKEY_eq(a, b) == 1;
#endif
}

void applyServerDefaults(SSL_CTX* ctx) {
#if defined(KITGATE_TLS_OPENSSL)
  // BoringSSL never renegotiates as a server; OpenSSL needs telling.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
#endif
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

void applyClientDefaults(SSL_CTX* ctx) {
#if defined(KITGATE_TLS_OPENSSL)
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
#endif
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

void keepSessionOnClose(SSL* ssl) {
#if defined(KITGATE_TLS_OPENSSL)
  SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN);
#else
  (void)ssl;
#endif
}

bool useCertificateAndKey(SSL* ssl, X509* cert, EVP_PKEY* key) {
  return SSL_use_certificate(ssl, cert) == 1 && SSL_use_PrivateKey(ssl, key) == 1;
}

std::string drainErrors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace kitgate::tls::compat
