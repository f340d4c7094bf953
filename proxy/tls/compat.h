// The one place where the two TLS backends differ (BoringSSL from Debian's
// android-libboringssl-dev, or OpenSSL 3). Everything else in proxy/tls uses
// the API both share and includes the backend only through this header.
//
// Functions here are thin, stateless and callable from any thread.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <string>
#include <string_view>

// The build selects one backend (proxy/tls/CMakeLists.txt); make sure the
// headers that were found belong to it. In a BoringSSL build a stray
// -I/usr/include/openssl would otherwise compile against OpenSSL's headers
// and link BoringSSL.
#if defined(KITGATE_TLS_BORINGSSL)
#if !defined(OPENSSL_IS_BORINGSSL)
#error "KITGATE_TLS=boringssl but <openssl/ssl.h> is not BoringSSL's (include order)"
#endif
#elif defined(KITGATE_TLS_OPENSSL)
#if defined(OPENSSL_IS_BORINGSSL) || OPENSSL_VERSION_NUMBER < 0x30000000L
#error "KITGATE_TLS=openssl needs OpenSSL 3 headers"
#endif
#else
#error "link kitgate::tls_backend (defines KITGATE_TLS_BORINGSSL or KITGATE_TLS_OPENSSL)"
#endif

namespace kitgate::tls::compat {

// "boringssl" or "openssl".
std::string_view backendName();

// The peer's leaf certificate (not up-ref'd; valid while ssl lives), or null.
X509* peerCertificate(const SSL* ssl);

// True when an SSL_read failure means "the transport hit EOF without a
// close_notify" (a truncation, as opposed to a clean TLS close). The backends
// report it differently: BoringSSL as SSL_ERROR_SYSCALL with return value 0,
// OpenSSL 3 as SSL_ERROR_SSL with reason SSL_R_UNEXPECTED_EOF_WHILE_READING.
// `packed_error` is the first ERR_peek_error() after the failed call.
bool isUnexpectedEof(int ssl_error, int ret, unsigned long packed_error);

// True if both keys have the same public parameters.
bool sameKey(const EVP_PKEY* a, const EVP_PKEY* b);

// Options every server-side SSL_CTX gets (renegotiation off etc.).
void applyServerDefaults(SSL_CTX* ctx);

// Options every client-side SSL_CTX gets.
void applyClientDefaults(SSL_CTX* ctx);

// Called before freeing a connection that ended without a close_notify
// exchange but without any error either (the proxy closes idle upstream
// connections that way). OpenSSL would otherwise mark the session
// non-resumable when the SSL is freed; BoringSSL never does.
void keepSessionOnClose(SSL* ssl);

// Installs cert + key on one connection (server side, before or during the
// ClientHello callbacks). Returns false on failure (error queue set).
bool useCertificateAndKey(SSL* ssl, X509* cert, EVP_PKEY* key);

// Drains the backend's error queue into one line ("a; b; c"), empty if none.
std::string drainErrors();

}  // namespace kitgate::tls::compat
