// Small helpers shared by the CA and the leaf minter: key generation, random
// serials, validity, extensions, PEM and fingerprint conversion. Internal to
// proxy/tls (tests may use them); stateless, callable from any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "proxy/common/status.h"
#include "proxy/tls/handles.h"

namespace kitgate::tls {

using SystemTime = std::chrono::system_clock::time_point;

// A fresh ECDSA P-256 key pair.
StatusOr<EvpPkeyPtr> generateP256Key();

// A positive, random 128-bit serial number (RFC 5280: at most 20 octets,
// CA/B Forum: at least 64 bits of randomness).
Status setRandomSerial(X509* cert);

// notBefore = now - back_date, notAfter = now + lifetime.
Status setValidity(X509* cert, SystemTime now, std::chrono::seconds back_date,
                   std::chrono::seconds lifetime);

// Builds an extension from OpenSSL's config syntax ("critical,CA:TRUE").
// `issuer` may equal `subject` (self-signed).
StatusOr<X509ExtensionPtr> makeExtension(int nid, const char* value, X509* issuer, X509* subject);

// Subject/issuer name "CN=<cn>, O=kitgate" (cn may be empty: O only).
StatusOr<X509NamePtr> makeName(std::string_view common_name);

// Signs with ECDSA-SHA256 (or whatever the key type implies, with SHA-256).
Status signCertificate(X509* cert, EVP_PKEY* key);

StatusOr<std::string> certificateToPem(X509* cert);
StatusOr<X509Ptr> certificateFromPem(std::string_view pem);
StatusOr<std::string> privateKeyToPem(EVP_PKEY* key);
StatusOr<EvpPkeyPtr> privateKeyFromPem(std::string_view pem);

// SHA-256 over the DER certificate as upper-case hex pairs joined by ':' —
// the same text `openssl x509 -noout -fingerprint -sha256` prints after '='.
std::string fingerprintSha256(X509* cert);

// An error Status "<what>: <backend error queue>" (drains the queue).
Status backendError(std::string_view what);

}  // namespace kitgate::tls
