#include "proxy/tls/x509_builder.h"

#include <cstdint>

namespace kitgate::tls {

Status backendError(std::string_view what) {
  std::string detail = compat::drainErrors();
  std::string msg(what);
  if (!detail.empty()) msg += ": " + detail;
  return Status::error(std::move(msg));
}

StatusOr<EvpPkeyPtr> generateP256Key() {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) != 1) {
    return backendError("P-256 key generation setup failed");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) return backendError("P-256 key generation failed");
  return EvpPkeyPtr(raw);
}

Status setRandomSerial(X509* cert) {
  uint8_t bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return backendError("RAND_bytes failed");
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // never shorter than 127 bits, never zero
  BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!bn) return backendError("serial: BN_bin2bn failed");
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) {
    return backendError("serial: cannot set");
  }
  return Status::ok();
}

Status setValidity(X509* cert, SystemTime now, std::chrono::seconds back_date,
                   std::chrono::seconds lifetime) {
  const time_t t = std::chrono::system_clock::to_time_t(now);
  if (ASN1_TIME_set(X509_getm_notBefore(cert), t - back_date.count()) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), t + lifetime.count()) == nullptr) {
    return backendError("validity: cannot set");
  }
  return Status::ok();
}

StatusOr<X509ExtensionPtr> makeExtension(int nid, const char* value, X509* issuer,
                                         X509* subject) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, subject, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (!ext) return backendError(std::string("extension ") + OBJ_nid2sn(nid) + " = " + value);
  return ext;
}

StatusOr<X509NamePtr> makeName(std::string_view common_name) {
  X509NamePtr name(X509_NAME_new());
  const auto add = [&](const char* field, std::string_view value) {
    return X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!name || !add("O", "kitgate") || (!common_name.empty() && !add("CN", common_name))) {
    return backendError("subject name");
  }
  return name;
}

Status signCertificate(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) return backendError("signing certificate");
  return Status::ok();
}

namespace {

StatusOr<std::string> bioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len < 0 || data == nullptr) return backendError("reading memory BIO");
  return std::string(data, static_cast<size_t>(len));
}

BioPtr readBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

StatusOr<std::string> certificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return backendError("writing PEM");
  return bioContents(bio.get());
}

StatusOr<X509Ptr> certificateFromPem(std::string_view pem) {
  BioPtr bio = readBio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return backendError("not a PEM certificate");
  return cert;
}

StatusOr<std::string> privateKeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return backendError("writing private key PEM");
  }
  StatusOr<std::string> pem = bioContents(bio.get());
  // The BIO's buffer held the key: wipe it before it is freed.
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (data != nullptr && len > 0) OPENSSL_cleanse(data, static_cast<size_t>(len));
  return pem;
}

StatusOr<EvpPkeyPtr> privateKeyFromPem(std::string_view pem) {
  BioPtr bio = readBio(pem);
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return backendError("not a PEM private key");
  return key;
}

std::string fingerprintSha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(len * 3);
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

}  // namespace kitgate::tls
