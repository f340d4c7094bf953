// kitgate's kit settings (kit-spec §3.2, the keys and environment variables
// of sbx): kit.allowLocalKits, kit.allowedSources and registry.insecure,
// read from $KITGATE_SETTINGS, else $XDG_CONFIG_HOME/kitgate/settings.json
// (~/.config/kitgate/settings.json). Keys may be dotted ("kit.allowLocalKits")
// or nested ({"kit": {"allowLocalKits": false}}). DOCKER_SANDBOXES_KIT_ALLOW_LOCAL
// and DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES (comma list) override the file.
// kit.requireSignature (DOCKER_SANDBOXES_KIT_REQUIRE_SIGNATURE) and
// kit.trustedSigners (DOCKER_SANDBOXES_KIT_TRUSTED_SIGNERS, comma list) —
// signer fingerprints "sha256:<hex>" (kitloader/sign/sign.h) — make every kit
// load check its signature before the kit is decoded.
// Registry logins of `kitgate secret set --registry` live in the state
// directory (registries.json, 0600).
#pragma once

#include <string>
#include <vector>

#include "kitloader/kit.h"

namespace kitgate::cli {

// The settings file's path (whether or not it exists).
std::string kitSettingsPath();

struct SignatureSettings {
  bool required = false;
  std::vector<std::string> trusted;  // signer fingerprints
};

// Fills options->source_policy, insecure_registries, registry_auth_file and,
// when kit.requireSignature is on, check_signature; `signatures` (may be
// null) gets the signature settings. Returns "" or an error naming the
// settings file and the bad key.
std::string applyKitSettings(kit::LoadOptions* options, SignatureSettings* signatures = nullptr);

// The X-Registry-Auth value for pulling `image` through the Docker Engine
// (base64url JSON, Docker's format) from the same logins kit pulls use:
// `kitgate secret set --registry`, then ~/.docker/config.json (auths,
// credential helpers). "" = anonymous. A secret: never print it.
std::string registryAuthForImage(const std::string& image);

// The check kit.requireSignature installs: "" when `content` is signed by one
// of `trusted`, else the refusal.
std::string signatureProblem(const kit::KitContent& content,
                             const std::vector<std::string>& trusted,
                             const kit::LoadOptions& registry);

}  // namespace kitgate::cli
