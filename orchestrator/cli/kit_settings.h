// kitgate's kit settings (kit-spec §3.2, the keys and environment variables
// of sbx): kit.allowLocalKits, kit.allowedSources and registry.insecure,
// read from $KITGATE_SETTINGS, else $XDG_CONFIG_HOME/kitgate/settings.json
// (~/.config/kitgate/settings.json). Keys may be dotted ("kit.allowLocalKits")
// or nested ({"kit": {"allowLocalKits": false}}). DOCKER_SANDBOXES_KIT_ALLOW_LOCAL
// and DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES (comma list) override the file.
// Registry logins of `kitgate secret set --registry` live in the state
// directory (registries.json, 0600).
#pragma once

#include <string>

#include "kitloader/kit.h"

namespace kitgate::cli {

// The settings file's path (whether or not it exists).
std::string kitSettingsPath();

// Fills options->source_policy, insecure_registries and registry_auth_file.
// Returns "" or an error naming the settings file and the bad key.
std::string applyKitSettings(kit::LoadOptions* options);

}  // namespace kitgate::cli
