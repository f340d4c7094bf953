// Signed kits (kit-spec §6.2 `kit sign` / `kit verify`, §3.2 kit.requireSignature):
// an ECDSA P-256 signature over the kit content digest (kitloader/kit.h,
// "signatures"), kept in a bundle —
//   directory: kit.sig.bundle next to spec.yaml (commit it with a git kit);
//   OCI: an OCI referrer of the kit manifest (artifactType = the bundle media
//   type, one layer = the bundle, `subject` = the kit manifest), listed by the
//   referrers API or the `sha256-<hex>` tag-schema fallback index.
// A ZIP carries no signature. Keyless (Fulcio/Rekor) signing needs the
// internet and is not offered.
//
// Bundle format (JSON, one object):
//   mediaType      "application/vnd.kitgate.kit.signature.v1+json"
//   contentDigest  "sha256:<hex>"  the kit content digest that was signed
//   publicKey      PEM SubjectPublicKeyInfo of the signer (EC P-256)
//   signer         "sha256:<hex>"  its fingerprint (informational; recomputed)
//   signature      base64 DER ECDSA-with-SHA256 over the bytes
//                  "kitgate-kit-signature-v1\n" + contentDigest + "\n"
// A signer is trusted by fingerprint: "sha256:" + hex SHA-256 of the DER
// SubjectPublicKeyInfo (`openssl pkey -pubin -in pub.pem -outform DER | sha256sum`).
//
// libcrypto (OpenSSL 3, the libcrypto libcurl already brings into the
// orchestrator). Errors never contain key material. Not thread-safe per call
// (one OCI client per call).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kitloader/kit.h"

namespace kitgate::sign {

inline constexpr std::string_view kBundleMediaType =
    "application/vnd.kitgate.kit.signature.v1+json";

// True for "sha256:<64 lowercase hex>".
bool validFingerprint(std::string_view fingerprint);

// The fingerprint of a PEM public key, or of the public half of a PEM private key.
bool keyFingerprint(const std::string& pem_path, std::string* fingerprint, std::string* error);

struct Signed {
  std::string content_digest;
  std::string signer;  // fingerprint
  std::string where;   // the bundle file, or "REF@sha256:..." of the referrer
};

// `kit sign REF --key KEY`: a directory gets kit.sig.bundle, an OCI kit a
// signature referrer. The key must be an unencrypted EC P-256 PEM private key
// that neither group nor others can read.
bool signKit(std::string_view ref, const std::string& key_path, const kit::LoadOptions& options,
             Signed* out, std::string* error);

// Attaches an existing bundle to the pushed kit `ref` as a signature
// referrer, after checking that it signs that kit's content (a bundle left
// over from before an edit is refused). `where` names the referrer.
bool attachBundle(std::string_view ref, const std::string& bundle, const kit::LoadOptions& options,
                  std::string* where, std::string* error);

struct Verified {
  std::string signer;
  std::string content_digest;
};

// "" when `content` carries a valid signature by one of `trusted`
// (fingerprints; `out` filled), else why not: unsigned, tampered or untrusted.
std::string verifyContent(const kit::KitContent& content, const std::vector<std::string>& trusted,
                          const kit::LoadOptions& options, Verified* out);

}  // namespace kitgate::sign
