// `kitgate secret set|set-custom|ls|rm|refresh|import`: credential values in the
// state directory, typed or resolved from --command/--ref
// (orchestrator/state/secret_sources.h). Called from the subcommand table on
// the main thread; see app.h.
#pragma once

#include "orchestrator/cli/app.h"
#include "orchestrator/state/state.h"

namespace kitgate::cli {

int runSecretCommand(const Args& args, Io& io);

// Before a sandbox starts (`run`, `start`): resolves the --command/--ref
// secrets that are due and the on-demand ones, saves them and reloads the
// proxy. Failures are warnings (the last good value stays until it expires).
void refreshSecretsForLaunch(const state::Paths& paths, Io& io);

// After a change of secrets or policy: warns about each sandbox whose
// interception CA (made when it was created or last started) cannot sign for
// a host it now has credentials bound to; a restart makes a CA that can.
void warnWhereRestartNeeded(const state::Paths& paths, Io& io);

}  // namespace kitgate::cli
