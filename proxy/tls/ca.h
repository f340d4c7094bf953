// CertificateAuthority: an interception CA (ECDSA P-256, self-signed,
// CA:TRUE pathlen:0, keyUsage keyCertSign+cRLSign) whose critical X.509 Name
// Constraints permit only the hosts one sandbox's traffic is intercepted for
// (see name_constraints.h for how kit patterns map to constraints). A leaked
// CA key therefore cannot impersonate any other host.
//
// Threads: create/load/save from any thread; a built CA is immutable, and
// cert()/key() may be read from several threads (the backend reference-counts
// them; pass them on with upRef()). Owns its certificate and key.
//
// Files: the certificate is PEM, mode 0644; the key is PEM (PKCS#8), written
// 0600 through a temporary file + rename, and load() refuses a key file that
// group or others can read.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/tls/handles.h"
#include "proxy/tls/name_constraints.h"
#include "proxy/tls/x509_builder.h"

namespace kitgate::tls {

struct CaOptions {
  // Kit host patterns this CA may sign for: "api.x.com", "*.x.com", "**.x.com", IPs.
  std::vector<std::string> permitted_hosts;
  std::string common_name = "kitgate interception CA";
  std::chrono::seconds lifetime = std::chrono::hours(24 * 365);
  std::chrono::seconds back_date = std::chrono::hours(1);
  SystemTime now = std::chrono::system_clock::now();
};

class CertificateAuthority {
 public:
  static StatusOr<CertificateAuthority> create(const CaOptions& options);
  // Reads a CA written by save() (or any P-256/RSA CA with name constraints).
  static StatusOr<CertificateAuthority> load(const std::string& cert_path,
                                             const std::string& key_path);
  static StatusOr<CertificateAuthority> fromPem(std::string_view cert_pem,
                                                std::string_view key_pem);

  // Writes both files atomically (key 0600, certificate 0644).
  Status save(const std::string& cert_path, const std::string& key_path) const;

  X509* cert() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }
  const NameConstraints& constraints() const { return constraints_; }
  StatusOr<std::string> certPem() const { return certificateToPem(cert_.get()); }
  // "AB:CD:…" SHA-256 of the certificate (what `openssl x509 -fingerprint -sha256` shows).
  std::string fingerprint() const { return fingerprintSha256(cert_.get()); }

 private:
  CertificateAuthority(X509Ptr cert, EvpPkeyPtr key, NameConstraints constraints)
      : cert_(std::move(cert)), key_(std::move(key)), constraints_(std::move(constraints)) {}

  X509Ptr cert_;
  EvpPkeyPtr key_;
  NameConstraints constraints_;
};

// Writes `contents` to `path` via a temporary file in the same directory,
// fsync and rename, with the given mode. Never leaves a partial file.
Status writeFileAtomically(const std::string& path, std::string_view contents, unsigned mode);

// Reads a private-key file, refusing it if group or others can read it.
StatusOr<std::string> readPrivateFile(const std::string& path);

}  // namespace kitgate::tls
