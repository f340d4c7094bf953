// What `kitgate policy` reads and changes in the state directory, as one
// piece of code for the CLI when it is root and for the root kitgate daemon
// serving a CLI that is not root (orchestrator/privd): rules are checked
// with the proxy's own parser (policy::parseRule), `check` evaluates with
// the proxy's own Policy, `log` reads the proxy's policy log.
//
// Main thread; file I/O (rule changes under the state lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/state/policy_log.h"
#include "orchestrator/state/state.h"
#include "orchestrator/stateops/secret_ops.h"
#include "proxy/common/status.h"

namespace kitgate::stateops {

// Every rule that does not parse, with a caret under its column.
Status checkRules(const std::vector<std::string>& rules);

// Adds allow (or deny) rules to the global policy (sandbox "") or to one
// sandbox's registration, then reloads the proxy.
StatusOr<Outcome> addRules(const state::Paths& paths, bool allow, const std::string& sandbox,
                           const std::vector<std::string>& rules);
// Removes the rules written exactly so (allow and deny alike); an error
// naming those that are not there. `dry_run` changes nothing.
StatusOr<Outcome> removeRules(const state::Paths& paths, const std::string& sandbox,
                              const std::vector<std::string>& rules, bool dry_run);

// `policy ls --json`: [{"scope", "decision", "rule", "source"}...] — proxy.yaml,
// policy.yaml, then each sandbox.
StatusOr<std::string> listRules(const state::Paths& paths);

// `policy check`: TARGET (host[:port], [v6]:port; default port 443) against
// the global rules, plus the sandbox's when `sandbox` is set:
// {"target", "scope", "decision", "rule", "reason", "allowed", "note"?}.
StatusOr<std::string> checkTarget(const state::Paths& paths, const std::string& sandbox,
                                  const std::string& target);
// host[:port] / [v6][:port] / bare v6 -> host text + port (default 443).
bool splitTarget(const std::string& target, std::string* host, uint16_t* port);

// `policy log`: {"path": the log file, "groups": [...]} — per (sandbox, type,
// host, decision, proxy, rule, reason), or per host and decision with
// `summary` ({"host", "decision", "count", "last_seen"}); at most `limit`
// groups (0 = all).
StatusOr<std::string> readLog(const state::Paths& paths, const state::LogFilter& filter,
                              bool summary, size_t limit);
// The policy log file proxy.yaml names (default <state>/policy.log).
StatusOr<std::string> logPath(const state::Paths& paths);

}  // namespace kitgate::stateops
