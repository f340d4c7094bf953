// The OCI distribution HTTP API over libcurl (pull and push of one
// repository), with Docker's registry auth: a kitgate registry login first
// (`kitgate secret set --registry`), then ~/.docker/config.json (credHelpers,
// credsStore via `docker-credential-X get` with the server on stdin, inline
// auths); the `WWW-Authenticate: Bearer` token dance and Basic auth.
//
// HTTPS always. Loopback registries (localhost, 127.0.0.0/8, ::1) and
// registries the user lists as insecure are tried over HTTPS first and spoken
// to over plain HTTP when they do not speak TLS (Docker's behaviour; a
// certificate that fails verification is an error, never a fallback). A CA for
// one registry: $DOCKER_CONFIG/certs.d/HOST[:PORT]/ca.crt or
// /etc/docker/certs.d/HOST[:PORT]/ca.crt (Docker's layout).
//
// Secrets (passwords, tokens) never appear in returned errors, argv or logs.
// Not thread-safe; one Client per thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kitloader/oci/reference.h"

namespace kitgate::oci {

inline constexpr size_t kMaxManifestBytes = 4u << 20;
inline constexpr size_t kMaxBlobBytes = 128u << 20;

struct Credential {
  std::string username;
  std::string secret;  // password or token; never printed
  std::string origin;  // where it came from, for messages ("docker config.json", ...)
};

struct ClientOptions {
  // kitgate's own registry logins (JSON {"auths":{"HOST":{"username","password"}}});
  // "" = none.
  std::string registry_auth_file;
  // Docker's config dir; "" = $DOCKER_CONFIG, else $HOME/.docker.
  std::string docker_config_dir;
  // Registries spoken to over plain HTTP when they lack TLS (besides loopback).
  std::vector<std::string> insecure_registries;
};

// The options from the environment: KITGATE_INSECURE_REGISTRIES (comma list).
ClientOptions clientOptionsFromEnv();

// The credential for `registry` ("docker.io" or host[:port]); nullopt = anonymous.
// `error` is set when a configured source failed (a helper that crashed).
std::optional<Credential> findCredential(const std::string& registry, const ClientOptions& options,
                                         std::string* error);

struct Manifest {
  std::string bytes;
  std::string media_type;
  std::string digest;  // sha256 of bytes, checked against the reference's digest
};

class Client {
 public:
  Client(Reference ref, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The manifest the reference names (tag or digest). Digest-pinned
  // references are verified; a registry Docker-Content-Digest that
  // disagrees with the bytes is refused.
  bool getManifest(Manifest* out, std::string* error);
  // A blob, verified against `digest`.
  bool getBlob(const std::string& digest, std::string* out, std::string* error);
  // Uploads a blob unless the registry has it already.
  bool pushBlob(std::string_view data, const std::string& digest, std::string* error);
  // PUT /v2/<repo>/manifests/<tag>.
  bool putManifest(std::string_view bytes, const std::string& media_type, std::string* error);

  // OCI 1.1 referrers of the manifest `subject_digest` in this repository
  // whose artifactType is `artifact_type`: their manifest digests, from the
  // referrers API, else from the tag-schema fallback (an image index tagged
  // `sha256-<hex>`; distribution 2.8 has no referrers API). None = empty.
  bool referrers(const std::string& subject_digest, const std::string& artifact_type,
                 std::vector<std::string>* digests, std::string* error);
  // Pushes `manifest` (whose `subject` is `subject_digest`) by digest; when
  // the registry does not index it itself (no OCI-Subject answer), adds it to
  // the fallback index tagged `sha256-<hex>`.
  bool pushReferrer(std::string_view manifest, const std::string& subject_digest,
                    const std::string& artifact_type, std::string* error);
  // The manifest stored under `digest` in this repository, verified.
  bool getManifestByDigest(const std::string& digest, Manifest* out, std::string* error);

  const Reference& reference() const { return ref_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
  };
  bool send(const std::string& method, const std::string& path_or_url,
            const std::vector<std::string>& headers, std::string_view body, size_t max_body,
            Response* out, std::string* error);
  bool request(const std::string& method, const std::string& path_or_url,
               std::vector<std::string> headers, std::string_view body, size_t max_body,
               Response* out, std::string* error);
  bool authenticate(const std::string& challenge, std::string* error);
  bool chooseScheme(std::string* error);
  std::string httpError(const Response& r, const std::string& what) const;
  // GET/PUT /v2/<repo>/manifests/<at>; `not_found` (may be null) is set on 404.
  bool fetchManifest(const std::string& at, Manifest* out, bool* not_found, std::string* error);
  bool storeManifest(const std::string& at, std::string_view bytes, const std::string& media_type,
                     Response* r, std::string* error);

  struct Curl;
  Reference ref_;
  ClientOptions options_;
  std::unique_ptr<Curl> curl_;
  std::string base_;           // "https://host"
  std::string authorization_;  // "Authorization: ..." (secret; never printed)
  std::optional<Credential> credential_;
  bool credential_looked_up_ = false;
  bool push_ = false;
};

}  // namespace kitgate::oci
