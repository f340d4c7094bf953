// `kitgate kit validate | inspect | pack`: the kit author's commands.
// Main thread; see app.h for the subcommand contract.
#pragma once

#include "orchestrator/cli/app.h"

namespace kitgate::cli {

int runKitCommand(const Args& args, Io& io);

}  // namespace kitgate::cli
