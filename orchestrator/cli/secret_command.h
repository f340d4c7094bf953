// `kitgate secret set|set-custom|ls|rm`: credential values in the state directory.
// Called from the subcommand table on the main thread; see app.h.
#pragma once

#include "orchestrator/cli/app.h"

namespace kitgate::cli {

int runSecretCommand(const Args& args, Io& io);

}  // namespace kitgate::cli
