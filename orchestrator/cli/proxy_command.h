// `kitgate proxy start|stop|status|reload`: the local kitgate-proxy daemon.
// Called from the subcommand table on the main thread; see app.h.
#pragma once

#include "orchestrator/cli/app.h"

namespace kitgate::cli {

int runProxyCommand(const Args& args, Io& io);

}  // namespace kitgate::cli
