// Which secret each credential route will use, as kitgate-proxy resolves it
// (secrets::routeSecret, proxy/secrets/FORMAT.md): the sandbox's service
// secret, else the global one, else the custom secret bound to the route's
// host (sandbox scope, then global). Named, never the value. `run` says it
// for the new sandbox, `kit inspect` for a kit (global scope only: a sandbox
// name is only known at run).
//
// Reads secrets.yaml (file I/O); main thread.
#pragma once

#include <string>
#include <vector>

#include "orchestrator/sandbox/plan.h"
#include "orchestrator/state/state.h"

namespace kitgate::sandbox {

struct RouteSecretNote {
  std::string service;
  std::string hosts;   // "ampcode.com, api.ampcode.com"
  std::string secret;  // "custom secret AMP_API_KEY (global)"; empty = none
  // "credential amp (ampcode.com): custom secret AMP_API_KEY (global)", or,
  // without a secret, what to set.
  std::string text() const;
};

// One note per route that writes something (routing-only routes have no
// secret). `sandbox` empty = no sandbox scope. An unreadable secrets.yaml is
// the error (its loader's message).
StatusOr<std::vector<RouteSecretNote>> routeSecretNotes(const state::Paths& paths,
                                                        const std::string& sandbox,
                                                        const std::vector<CredentialRoute>& routes);

}  // namespace kitgate::sandbox
