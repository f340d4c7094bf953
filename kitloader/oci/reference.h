// OCI references (kit-spec §6.1): `[oci://][REGISTRY/]REPO[:TAG][@sha256:HEX]`.
// Docker's conventions: a first component with a `.` or `:` (or `localhost`)
// is a registry, otherwise the kit is on Docker Hub (`docker.io/`, one-name
// repositories under `library/`); no tag and no digest = `latest`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kitgate::oci {

struct Reference {
  std::string registry;    // as written: "docker.io", "127.0.0.1:5000", "ghcr.io"
  std::string repository;  // "sbx/amp-kit", "library/x"
  std::string tag;         // "" when pinned by digest only
  std::string digest;      // "sha256:..." or ""

  // The host the HTTP API lives on (docker.io -> registry-1.docker.io).
  std::string apiHost() const;
  // "registry/repository" (what kit.allowedSources matches).
  std::string name() const;
  // "registry/repository:tag", "...@digest" or both.
  std::string str() const;
  // Tag or digest, as used in /v2/<repo>/manifests/<it>.
  std::string manifestRef() const { return digest.empty() ? tag : digest; }
};

// Parses `text`; on failure returns nullopt and sets `error`.
std::optional<Reference> parseReference(std::string_view text, std::string* error);

// True for digests of the form sha256:<64 lowercase hex>.
bool validDigest(std::string_view digest);

// Docker's insecure-by-default registries: localhost, 127.0.0.0/8, ::1.
bool isLoopbackRegistry(std::string_view registry);

}  // namespace kitgate::oci
