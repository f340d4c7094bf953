// A sandbox's registration in the state directory, as one unit: what the
// executor writes and removes (manager.cc) and what the root kitgate daemon
// does for a CLI that is not root (orchestrator/privd) — one code path.
//
// writeRegistration(): sandboxes/<name>.yaml (sources = the subnet),
// credentials/<name>.yaml and oauth/<name>.json (the kit's proxy-managed
// OAuth routes, oauth_plan.h), or none of them (a failed write removes
// what was written). removeRegistration(): all three and the OAuth tokens
// the proxy holds for the sandbox. removeSandboxCa(): the proxy-minted CA (crt, key,
// .outside); removeScopedSecrets(): secrets.yaml entries scoped to the
// sandbox (under the state lock). All idempotent. Main thread; file I/O.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/state/state.h"
#include "proxy/common/status.h"
#include "proxy/secrets/oauth.h"

namespace kitgate::sandbox {

Status writeRegistration(const state::Paths& paths, const std::string& name,
                         const std::string& subnet, const std::string& token,
                         const std::vector<std::string>& allow,
                         const std::vector<std::string>& deny,
                         const std::vector<state::Route>& routes,
                         const std::vector<secrets::OAuthRoute>& oauth);
Status removeRegistration(const state::Paths& paths, const std::string& name);
Status removeSandboxCa(const state::Paths& paths, const std::string& name);
// True when secrets were removed.
StatusOr<bool> removeScopedSecrets(const state::Paths& paths, const std::string& name);

// The executor's seam over the state files that hold secrets (the
// sandbox's token, the secrets, the OAuth routes and tokens, the CA): local (these functions on the
// state directory, for root) or through the root kitgate daemon
// (orchestrator/privd, for a CLI that is not root). The secret values never
// come back through it: only placeholders (env -> placeholder), the public
// CA certificate and the sandbox's own identification token (which its
// container holds anyway). (Not named Registry: kitgate::sandbox::Registry
// is the proxy's, and both are linked into one binary.)
class RegistrationStore {
 public:
  virtual ~RegistrationStore() = default;
  // Whether the executor may read the state directory itself (e.g. to say
  // which secret each route uses).
  virtual bool local() const = 0;
  virtual StatusOr<std::vector<std::pair<std::string, std::string>>> placeholders(
      const std::string& name) = 0;
  virtual Status write(const std::string& name, const std::string& subnet, const std::string& token,
                       const std::vector<std::string>& allow, const std::vector<std::string>& deny,
                       const std::vector<state::Route>& routes,
                       const std::vector<secrets::OAuthRoute>& oauth) = 0;
  // Registration, routes and OAuth state (sandboxes/, credentials/, oauth/).
  virtual Status remove(const std::string& name) = 0;
  virtual Status removeCa(const std::string& name) = 0;
  virtual StatusOr<bool> removeScopedSecrets(const std::string& name) = 0;
  virtual std::string caCert(const std::string& name) = 0;  // "" when none
  virtual StatusOr<std::string> token(const std::string& name) = 0;
  // The state directory these files live in (a workspace must stay out of it).
  virtual StatusOr<std::string> stateRoot() = 0;
};

std::unique_ptr<RegistrationStore> makeLocalRegistry(state::Paths paths);

}  // namespace kitgate::sandbox
