// The kits of one `kitgate run` (or `kit inspect`): every `--kit` loaded with
// its diagnostics shown, then composed (kitloader/compose.h) into the one
// sandbox kit the planner takes, and checked for what the proxy cannot
// enforce. Main thread; prints on the given streams.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kitloader/compose.h"
#include "orchestrator/cli/app.h"

namespace kitgate::cli {

struct RunKits {
  kit::Composition composition;
  std::string kit_ref;  // every reference, redacted, joined with ','
  std::string agent;    // AGENT, or the sandbox kit's name when AGENT was its reference
};

// Loads `refs` (in --kit order) and composes them with AGENT. Errors (a kit's
// diagnostics with carets, a composition error, patterns the proxy would
// refuse) are printed on io.err and give nullopt with `*exit_code` set
// (kExitUsage when AGENT does not name the sandbox kit, else kExitFailed);
// warnings are printed only when `show_warnings`.
std::optional<RunKits> loadRunKits(const std::vector<std::string>& refs, const std::string& agent,
                                   const kit::LoadOptions& options, Io& io, bool show_warnings,
                                   int* exit_code);

}  // namespace kitgate::cli
