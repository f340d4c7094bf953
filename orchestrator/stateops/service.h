// StateService: what `kitgate secret` and `kitgate policy` ask of the state
// directory, behind one seam with two implementations — local (the
// functions of secret_ops.h / policy_ops.h on a state directory: the CLI as
// root, and the root kitgate daemon itself) and through the root kitgate
// daemon (orchestrator/privd/client.h: a CLI that is not root). The CLI
// parses flags, reads or resolves values and prints; everything that reads
// or writes the state files is behind this seam.
//
// Main thread; one call at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "orchestrator/state/policy_log.h"
#include "orchestrator/state/secret_sources.h"
#include "orchestrator/state/state.h"
#include "orchestrator/stateops/secret_ops.h"
#include "proxy/common/status.h"

namespace kitgate::stateops {

class StateService {
 public:
  virtual ~StateService() = default;
  // The state directory when it is this process's to read (local); null
  // through the daemon, where what needs it (--command/--ref sources,
  // `secret refresh`, following the policy log) is not offered.
  virtual const state::Paths* localPaths() const = 0;

  // `source` must be null through the daemon (it never runs commands).
  virtual StatusOr<Outcome> storeSecret(const state::SecretSource& key, const std::string& value,
                                        const state::SecretSource* source) = 0;
  virtual StatusOr<Outcome> removeSecret(const SecretSelector& selector, bool dry_run) = 0;
  virtual StatusOr<std::string> listSecrets() = 0;

  virtual StatusOr<Outcome> addRules(bool allow, const std::string& sandbox,
                                     const std::vector<std::string>& rules) = 0;
  virtual StatusOr<Outcome> removeRules(const std::string& sandbox,
                                        const std::vector<std::string>& rules, bool dry_run) = 0;
  virtual StatusOr<std::string> listRules() = 0;
  virtual StatusOr<std::string> checkTarget(const std::string& sandbox,
                                            const std::string& target) = 0;
  virtual StatusOr<std::string> readLog(const state::LogFilter& filter, bool summary,
                                        size_t limit) = 0;
};

std::unique_ptr<StateService> makeLocalStateService(state::Paths paths);

}  // namespace kitgate::stateops
