// The changes `kitgate secret` makes to the state directory, as one piece of
// code for its two callers: the CLI when it is root (its own state directory)
// and the root kitgate daemon for a CLI that is not root (orchestrator/privd):
// the same validation, the same check with the proxy's own loader before
// anything is saved, the same reload.
//
// A value arrives resolved — typed, read from stdin, or printed by a
// --command/--ref helper the CLI ran as its user. Nothing here runs a
// command. A value never appears in an Outcome, an error or a listing
// (values are masked there).
//
// Main thread; file I/O under the state lock (state.h lockState).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/state/secret_sources.h"
#include "orchestrator/state/state.h"
#include "proxy/common/status.h"

namespace kitgate::stateops {

// What a change has to say: `notes` (stderr) before `done` (stdout);
// `reload_error` when the change was saved but the proxy did not reload
// (the command fails); `warnings` (stderr) after.
struct Outcome {
  std::vector<std::string> notes;
  std::string done;
  std::string reload_error;
  std::vector<std::string> warnings;
};

// Field checks shared by the CLI's flags and the daemon's requests.
bool validService(std::string_view service);  // 1-128 of letters, digits, - _ .
bool validEnv(std::string_view env);          // a shell variable name
bool validScope(std::string_view scope);      // "global" | "sandbox:<sandbox name>"
// One line, not empty, no leading/trailing space. The message never quotes it.
Status checkValue(std::string_view value);
// At least 8 printable ASCII characters without spaces.
Status checkPlaceholder(std::string_view placeholder);

// Stores `value` as the secret `key` names: key.kind, key.scope, key.name
// (the service, or a custom secret's env variable with key.hosts — canonical
// patterns — and key.placeholder), replacing the entry of that scope and
// name. `source`: the --command/--ref record that resolved the value
// (replaces the secret's source); null = a typed value (drops any source).
StatusOr<Outcome> storeSecret(const state::Paths& paths, const state::SecretSource& key,
                              const std::string& value, const state::SecretSource* source);

// `secret rm`: exactly one of service, host (canonical) and placeholder.
struct SecretSelector {
  std::string scope;
  std::string service, host, placeholder;
};
// An error when nothing matches; `dry_run` changes nothing (the CLI asks
// for confirmation between the two calls).
StatusOr<Outcome> removeSecret(const state::Paths& paths, const SecretSelector& selector,
                               bool dry_run);

// The `kitgate secret ls --json` document over every scope: {"secrets": [...],
// "custom_secrets": [...], "oauth": [...]}, values masked.
StatusOr<std::string> listSecrets(const state::Paths& paths);

// Loads `candidate` with the proxy's own loader (secrets::loadStore, in a
// scratch directory beside the real files) so that nothing saves a
// secrets.yaml the proxy would refuse.
Status checkWithProxyLoader(const state::Paths& paths, const state::Secrets& candidate);

// One line per sandbox whose interception CA cannot sign for a host it now
// has credentials for (a restart makes one that can).
std::vector<std::string> restartWarnings(const state::Paths& paths);

// "global" -> "global", "sandbox:dev1" -> "sandbox dev1".
std::string scopeShown(std::string_view scope);

}  // namespace kitgate::stateops
