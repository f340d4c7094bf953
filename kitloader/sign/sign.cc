#include "kitloader/sign/sign.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "kitloader/oci/client.h"
#include "kitloader/oci/reference.h"
#include "kitloader/oci/sha256.h"
#include "kitloader/source.h"
#include "proxy/common/base64.h"

namespace kitgate::sign {

namespace {

using nlohmann::json;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using Bio = std::unique_ptr<BIO, BioDeleter>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

constexpr std::string_view kEmptyConfigType = "application/vnd.oci.empty.v1+json";
constexpr std::string_view kManifestType = "application/vnd.oci.image.manifest.v1+json";

std::string message(const std::string& content_digest) {
  return "kitgate-kit-signature-v1\n" + content_digest + "\n";
}

// Refuses a passphrase prompt: encrypted keys are not supported.
int noPassphrase(char*, int, int, void*) { return -1; }

bool isP256(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") != 1) return false;
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) return false;
  std::string_view g(group, len);
  return g == "prime256v1" || g == "P-256" || g == "secp256r1";
}

std::string fingerprintOf(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return "";
  std::string out = oci::sha256Digest(std::string_view(reinterpret_cast<char*>(der), n));
  OPENSSL_free(der);
  return out;
}

std::string publicPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : "";
}

// The private key at `path`: no group/world access, unencrypted PEM, EC P-256.
Pkey loadPrivateKey(const std::string& path, std::string* error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "cannot read the signing key " + path;
    return nullptr;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *error = "the signing key " + path + " is readable by group or others (mode " + mode +
             "); run 'chmod 600 " + path + "' first";
    return nullptr;
  }
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    *error = "cannot read the signing key " + path;
    return nullptr;
  }
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  if (!key) {
    *error = "the signing key " + path +
             " is not an unencrypted PEM private key (encrypted keys are not supported)";
    return nullptr;
  }
  if (!isP256(key.get())) {
    *error = "the signing key " + path + " is not an ECDSA P-256 key";
    return nullptr;
  }
  return key;
}

bool signDigest(EVP_PKEY* key, const std::string& content_digest, std::string* signature) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  std::string msg = message(content_digest);
  const auto* data = reinterpret_cast<const unsigned char*>(msg.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, msg.size()) != 1) return false;
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     msg.size()) != 1) {
    return false;
  }
  sig.resize(len);
  *signature = base64Encode(sig);
  return true;
}

std::string makeBundle(EVP_PKEY* key, const std::string& content_digest, std::string* error) {
  std::string signature;
  if (!signDigest(key, content_digest, &signature)) {
    *error = "signing failed (libcrypto)";
    return "";
  }
  json b = {{"mediaType", kBundleMediaType},
            {"contentDigest", content_digest},
            {"publicKey", publicPem(key)},
            {"signer", fingerprintOf(key)},
            {"signature", signature}};
  return b.dump(2) + "\n";
}

// The signer of `bundle` when its signature is valid; "" + `problem` otherwise.
// `signed_digest` gets the content digest the bundle names.
std::string checkBundle(std::string_view bundle, std::string* signed_digest, std::string* problem) {
  json b = json::parse(bundle, nullptr, false);
  auto field = [&](const char* name) {
    return b.is_object() && b.contains(name) && b[name].is_string() ? b[name].get<std::string>()
                                                                    : std::string();
  };
  if (field("mediaType") != kBundleMediaType) {
    *problem = "its signature bundle is not a " + std::string(kBundleMediaType) + " document";
    return "";
  }
  *signed_digest = field("contentDigest");
  std::string pem = field("publicKey");
  auto sig = base64Decode(field("signature"));
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key || !isP256(key.get()) || !sig || !oci::validDigest(*signed_digest)) {
    *problem = "its signature bundle is malformed (public key, signature or content digest)";
    return "";
  }
  MdCtx ctx(EVP_MD_CTX_new());
  std::string msg = message(*signed_digest);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1) {
    *problem = "its signature does not verify";
    return "";
  }
  return fingerprintOf(key.get());
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  for (const std::string& e : list) {
    if (e == item) return true;
  }
  return false;
}

// One bundle against the content and the trusted signers: "" = verified.
std::string judge(std::string_view bundle, const kit::KitContent& content,
                  const std::vector<std::string>& trusted, Verified* out) {
  std::string signed_digest;
  std::string problem;
  std::string signer = checkBundle(bundle, &signed_digest, &problem);
  if (signer.empty()) return problem;
  if (signed_digest != content.content_digest) {
    return "its content (" + content.content_digest + ") is not what was signed (" + signed_digest +
           "): the kit changed after signing";
  }
  if (!contains(trusted, signer)) {
    return "it is signed by " + signer + ", which is not a trusted signer";
  }
  out->signer = signer;
  out->content_digest = signed_digest;
  return "";
}

json descriptor(std::string_view media_type, std::string_view data) {
  return json{
      {"mediaType", media_type}, {"digest", oci::sha256Digest(data)}, {"size", data.size()}};
}

bool attachToOci(const kit::KitContent& content, const std::string& bundle,
                 const kit::LoadOptions& options, Signed* out, std::string* error) {
  auto ref = oci::parseReference(content.oci_reference, error);
  if (!ref) return false;
  std::string config = "{}";
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", kManifestType},
                   {"artifactType", kBundleMediaType},
                   {"config", descriptor(kEmptyConfigType, config)},
                   {"layers", json::array({descriptor(kBundleMediaType, bundle)})},
                   {"subject",
                    {{"mediaType", content.manifest_media_type},
                     {"digest", content.manifest_digest},
                     {"size", content.manifest_size}}}};
  std::string bytes = manifest.dump();
  oci::Client client(*ref, kit::ociClientOptions(options));
  if (!client.pushBlob(config, oci::sha256Digest(config), error) ||
      !client.pushBlob(bundle, oci::sha256Digest(bundle), error) ||
      !client.pushReferrer(bytes, content.manifest_digest, std::string(kBundleMediaType), error)) {
    return false;
  }
  out->where = ref->name() + "@" + oci::sha256Digest(bytes);
  return true;
}

}  // namespace

bool validFingerprint(std::string_view fingerprint) { return oci::validDigest(fingerprint); }

bool keyFingerprint(const std::string& pem_path, std::string* fingerprint, std::string* error) {
  Bio bio(BIO_new_file(pem_path.c_str(), "r"));
  if (!bio) {
    *error = "cannot read the key " + pem_path;
    return false;
  }
  Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, noPassphrase, nullptr));
  if (!key) {
    // A private key file: its public half.
    Bio again(BIO_new_file(pem_path.c_str(), "r"));
    if (again) key.reset(PEM_read_bio_PrivateKey(again.get(), nullptr, noPassphrase, nullptr));
  }
  if (!key || !isP256(key.get())) {
    *error = "the key " + pem_path + " is not an ECDSA P-256 PEM key";
    return false;
  }
  *fingerprint = fingerprintOf(key.get());
  return true;
}

bool signKit(std::string_view ref, const std::string& key_path, const kit::LoadOptions& options,
             Signed* out, std::string* error) {
  Pkey key = loadPrivateKey(key_path, error);
  if (!key) return false;
  kit::KitContent content;
  if (!kit::readKitContent(ref, options, &content, error)) return false;
  if (content.kind == kit::RefKind::kZip) {
    *error = "a ZIP cannot carry a signature; sign the kit directory or the pushed kit";
    return false;
  }
  if (content.kind == kit::RefKind::kGit) {
    *error = "sign the kit directory in your clone and commit its " +
             std::string(kit::kSignatureBundleName);
    return false;
  }
  std::string bundle = makeBundle(key.get(), content.content_digest, error);
  if (bundle.empty()) return false;
  out->content_digest = content.content_digest;
  out->signer = fingerprintOf(key.get());
  if (content.kind == kit::RefKind::kOci) return attachToOci(content, bundle, options, out, error);
  out->where = content.directory + "/" + std::string(kit::kSignatureBundleName);
  return kit::writeFileAtomic(out->where, bundle, error);
}

bool attachBundle(std::string_view ref, const std::string& bundle, const kit::LoadOptions& options,
                  std::string* where, std::string* error) {
  kit::KitContent content;
  if (!kit::readKitContent(ref, options, &content, error)) return false;
  if (content.kind != kit::RefKind::kOci) {
    *error = "not an OCI reference";
    return false;
  }
  std::string signed_digest;
  std::string problem;
  if (checkBundle(bundle, &signed_digest, &problem).empty()) {
    *error = "the kit's " + std::string(kit::kSignatureBundleName) + ": " + problem;
    return false;
  }
  if (signed_digest != content.content_digest) {
    *error = "the kit changed after it was signed (sign it again with 'kitgate kit sign')";
    return false;
  }
  Signed out;
  if (!attachToOci(content, bundle, options, &out, error)) return false;
  *where = out.where;
  return true;
}

std::string verifyContent(const kit::KitContent& content, const std::vector<std::string>& trusted,
                          const kit::LoadOptions& options, Verified* out) {
  std::string what = "kit \"" + content.reference + "\"";
  switch (content.kind) {
    case kit::RefKind::kZip:
      return what + " is a ZIP, which cannot carry a signature";
    case kit::RefKind::kDirectory:
    case kit::RefKind::kGit: {
      if (!content.bundle) {
        return what + " is not signed (no " + std::string(kit::kSignatureBundleName) +
               " next to its spec.yaml)";
      }
      std::string problem = judge(*content.bundle, content, trusted, out);
      return problem.empty() ? "" : what + ": " + problem;
    }
    case kit::RefKind::kOci:
      break;
  }
  std::string error;
  auto ref = oci::parseReference(content.oci_reference, &error);
  if (!ref) return what + ": " + error;
  oci::Client client(*ref, kit::ociClientOptions(options));
  std::vector<std::string> referrers;
  if (!client.referrers(content.manifest_digest, std::string(kBundleMediaType), &referrers,
                        &error)) {
    return what + ": cannot list its signatures: " + error;
  }
  if (referrers.empty()) return what + " is not signed (no signature referrer in the registry)";
  std::string last;
  for (const std::string& digest : referrers) {
    oci::Manifest m;
    if (!client.getManifestByDigest(digest, &m, &error)) {
      last = error;
      continue;
    }
    json j = json::parse(m.bytes, nullptr, false);
    // The referrer must name this kit manifest as its subject.
    if (!j.is_object() || !j.contains("subject") || !j["subject"].is_object() ||
        j["subject"].value("digest", "") != content.manifest_digest || !j.contains("layers") ||
        !j["layers"].is_array()) {
      last = "signature " + digest + " does not refer to this kit";
      continue;
    }
    for (const json& layer : j["layers"]) {
      if (!layer.is_object() || layer.value("mediaType", "") != kBundleMediaType) continue;
      std::string bundle;
      if (!client.getBlob(layer.value("digest", ""), &bundle, &error)) {
        last = error;
        continue;
      }
      std::string problem = judge(bundle, content, trusted, out);
      if (problem.empty()) return "";
      last = problem;
    }
  }
  return what + ": " + (last.empty() ? "no usable signature" : last);
}

}  // namespace kitgate::sign
