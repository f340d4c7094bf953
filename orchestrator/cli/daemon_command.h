// `kitgate daemon`: the root kitgate daemon that does, for a kitgate CLI run
// by a docker-group user without sudo, what needs root (orchestrator/privd).
#pragma once

#include "orchestrator/cli/app.h"

namespace kitgate::cli {

int runDaemonCommand(const Args& args, Io& io);

}  // namespace kitgate::cli
