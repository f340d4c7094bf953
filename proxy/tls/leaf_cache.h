// Leaf certificates for intercepted hosts.
//
// LeafMinter signs short-lived leaf certificates with a CA: one shared P-256
// leaf key per CA, a random 128-bit serial, notBefore = now - back_date,
// notAfter = now + lifetime, SAN dNSName (or iPAddress for an IP host), EKU
// serverAuth, keyUsage digitalSignature, basicConstraints CA:FALSE, SKI/AKI.
// A minter is immutable once built: share one per CA between all workers
// (std::shared_ptr<const LeafMinter>).
//
// LeafCache is the per-worker LRU in front of a minter: bounded by count,
// no locks, so ONE THREAD ONLY (give each worker its own cache over the
// shared minter). It refuses hosts outside the CA's name constraints and
// re-mints a leaf when it is within `renew_before` of expiring.
//
// A Leaf is handed out as shared_ptr<const Leaf>; installing it on a
// connection (TlsStream::useLeaf) takes the backend's own references, so the
// cache may evict it at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/common/status.h"
#include "proxy/tls/ca.h"
#include "proxy/tls/handles.h"
#include "proxy/tls/lru_map.h"

namespace kitgate::tls {

struct Leaf {
  X509Ptr cert;
  EvpPkeyPtr key;  // the minter's shared leaf key (own reference)
  std::string host;
  SystemTime not_after;
};

struct LeafOptions {
  std::chrono::seconds back_date = std::chrono::hours(1);
  std::chrono::seconds lifetime = std::chrono::hours(24);
  // The cache re-mints a cached leaf this long before it expires.
  std::chrono::seconds renew_before = std::chrono::hours(1);
  size_t capacity = 1024;
  // Injected clock (tests); the system clock when empty.
  std::function<SystemTime()> clock;
};

class LeafMinter {
 public:
  // Keeps its own references to the CA certificate and key.
  static StatusOr<std::shared_ptr<const LeafMinter>> create(const CertificateAuthority& ca,
                                                            const LeafOptions& options = {});

  // Signs a leaf for `host` (a normalized DNS name or IP literal) valid from
  // `now`. Does NOT check the CA's name constraints (LeafCache does); tests
  // use that to prove the verifiers enforce them. Thread-safe.
  StatusOr<Leaf> mint(std::string_view host, SystemTime now) const;

  EVP_PKEY* leafKey() const { return leaf_key_.get(); }
  // SHA-256 fingerprint of the CA certificate ("AB:CD:…"): which CA this is.
  const std::string& caFingerprint() const { return ca_fingerprint_; }
  const NameConstraints& constraints() const { return constraints_; }
  const LeafOptions& options() const { return options_; }
  SystemTime now() const;

 private:
  LeafMinter() = default;

  X509Ptr ca_cert_;
  std::string ca_fingerprint_;
  EvpPkeyPtr ca_key_;
  EvpPkeyPtr leaf_key_;
  NameConstraints constraints_;
  LeafOptions options_;
  // Identical in every leaf of this CA: built once, copied into each leaf.
  std::vector<X509ExtensionPtr> common_extensions_;
};

class LeafCache {
 public:
  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;  // = leaves minted (including renewals)
    uint64_t evictions = 0;
  };

  explicit LeafCache(std::shared_ptr<const LeafMinter> minter);

  // The leaf for `host` (any case, trailing dot allowed), minted on a miss.
  // Errors: invalid host, host outside the CA's name constraints, mint failure.
  StatusOr<std::shared_ptr<const Leaf>> get(std::string_view host);

  size_t size() const { return leaves_.size(); }
  Stats stats() const { return {hits_, misses_, leaves_.evictions()}; }

 private:
  std::shared_ptr<const LeafMinter> minter_;
  LruMap<std::shared_ptr<const Leaf>> leaves_;  // key: normalized host
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace kitgate::tls
