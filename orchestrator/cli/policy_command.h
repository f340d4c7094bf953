// `kitgate policy allow|deny|ls|check|log`: network rules and the policy log.
// Called from the subcommand table on the main thread; see app.h.
#pragma once

#include "orchestrator/cli/app.h"

namespace kitgate::cli {

int runPolicyCommand(const Args& args, Io& io);

}  // namespace kitgate::cli
