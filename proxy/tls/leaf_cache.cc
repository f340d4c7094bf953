#include "proxy/tls/leaf_cache.h"

#include <arpa/inet.h>

#include "proxy/tls/x509_builder.h"

namespace kitgate::tls {
namespace {

// subjectAltName with one dNSName or iPAddress entry.
StatusOr<X509ExtensionPtr> subjectAltName(std::string_view host) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!names || !name) return backendError("SAN allocation");
  unsigned char ip[16];
  const std::string text(host);
  ASN1_STRING* value = nullptr;
  int type = GEN_DNS;
  if (inet_pton(AF_INET, text.c_str(), ip) == 1 || inet_pton(AF_INET6, text.c_str(), ip) == 1) {
    type = GEN_IPADD;
    value = ASN1_OCTET_STRING_new();
    const int len = text.find(':') == std::string::npos ? 4 : 16;
    if (value != nullptr && ASN1_STRING_set(value, ip, len) != 1) {
      ASN1_STRING_free(value);
      value = nullptr;
    }
  } else {
    value = ASN1_IA5STRING_new();
    if (value != nullptr &&
        ASN1_STRING_set(value, text.data(), static_cast<int>(text.size())) != 1) {
      ASN1_STRING_free(value);
      value = nullptr;
    }
  }
  if (value == nullptr) return backendError("SAN value");
  GENERAL_NAME_set0_value(name.get(), type, value);
  if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) return backendError("SAN push");
  name.release();
  X509ExtensionPtr ext(X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()));
  if (!ext) return backendError("SAN encoding");
  return ext;
}

}  // namespace

StatusOr<std::shared_ptr<const LeafMinter>> LeafMinter::create(const CertificateAuthority& ca,
                                                               const LeafOptions& options) {
  std::shared_ptr<LeafMinter> m(new LeafMinter());
  m->ca_cert_ = upRef(ca.cert());
  m->ca_fingerprint_ = fingerprintSha256(m->ca_cert_.get());
  m->ca_key_ = upRef(ca.key());
  m->constraints_ = ca.constraints();
  m->options_ = options;
  StatusOr<EvpPkeyPtr> key = generateP256Key();
  if (!key) return key.status();
  m->leaf_key_ = std::move(*key);

  // SKI is a hash of the (shared) leaf public key, AKI the CA's key id: the
  // same for every leaf, so build them against a template holding the key.
  X509Ptr templ(X509_new());
  if (!templ || X509_set_pubkey(templ.get(), m->leaf_key_.get()) != 1) {
    return backendError("leaf template");
  }
  const struct {
    int nid;
    const char* value;
  } kExtensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  for (const auto& e : kExtensions) {
    StatusOr<X509ExtensionPtr> ext = makeExtension(e.nid, e.value, m->ca_cert_.get(), templ.get());
    if (!ext) return ext.status();
    m->common_extensions_.push_back(std::move(*ext));
  }
  return std::shared_ptr<const LeafMinter>(std::move(m));
}

SystemTime LeafMinter::now() const {
  return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

StatusOr<Leaf> LeafMinter::mint(std::string_view host, SystemTime now) const {
  // An IP literal gets no CN: verifiers may read a dotted CN as a DNS name.
  const bool is_ip = isIpLiteral(host);
  StatusOr<X509NamePtr> subject = makeName(is_ip || host.size() > 64 ? "" : host);
  if (!subject) return subject.status();
  StatusOr<X509ExtensionPtr> san = subjectAltName(host);
  if (!san) return san.status();

  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1 ||
      X509_set_subject_name(cert.get(), subject->get()) != 1 ||
      X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert_.get())) != 1 ||
      X509_set_pubkey(cert.get(), leaf_key_.get()) != 1) {
    return backendError("building leaf certificate");
  }
  Status s = setRandomSerial(cert.get());
  if (s) s = setValidity(cert.get(), now, options_.back_date, options_.lifetime);
  if (!s) return s;
  for (const X509ExtensionPtr& ext : common_extensions_) {
    if (X509_add_ext(cert.get(), ext.get(), -1) != 1) return backendError("leaf extension");
  }
  if (X509_add_ext(cert.get(), san->get(), -1) != 1) return backendError("leaf SAN");
  s = signCertificate(cert.get(), ca_key_.get());
  if (!s) return s;
  return Leaf{std::move(cert), upRef(leaf_key_.get()), std::string(host), now + options_.lifetime};
}

LeafCache::LeafCache(std::shared_ptr<const LeafMinter> minter)
    : minter_(std::move(minter)), leaves_(minter_->options().capacity) {}

StatusOr<std::shared_ptr<const Leaf>> LeafCache::get(std::string_view host) {
  const SystemTime now = minter_->now();
  std::shared_ptr<const Leaf>* cached = leaves_.find(host);
  std::string normalized;
  if (cached == nullptr) {
    StatusOr<std::string> n = normalizeHost(host);
    if (!n) return n.status();
    normalized = std::move(*n);
    cached = leaves_.find(normalized);
  }
  if (cached != nullptr) {
    if (now + minter_->options().renew_before < (*cached)->not_after) {
      ++hits_;
      return *cached;
    }
    normalized = (*cached)->host;  // about to expire: re-mint, replacing the entry
  }
  if (!minter_->constraints().permits(normalized)) {
    return Status::error("host " + normalized + " is outside the CA's name constraints");
  }
  StatusOr<Leaf> leaf = minter_->mint(normalized, now);
  if (!leaf) return leaf.status();
  ++misses_;
  return leaves_.insert(std::move(normalized), std::make_shared<const Leaf>(std::move(*leaf)));
}

}  // namespace kitgate::tls
