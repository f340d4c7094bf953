// `kitgate stop NAME…`: stop sandboxes' containers (rm removes them).
#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"

namespace kitgate::cli {

namespace {
constexpr std::string_view kCmd = "stop";
constexpr std::string_view kStopUsage =
    "Usage: kitgate stop NAME...\n\n"
    "Stops the agent container of each sandbox (SIGTERM, SIGKILL after 10 s).\n"
    "The sandbox keeps its network, registration and files; 'kitgate rm'\n"
    "removes it.\n\n"
    "Examples:\n"
    "  kitgate stop amp-app\n";
}  // namespace

int runStopCommand(const Args& args, Io& io) {
  std::vector<std::string> names;
  for (const std::string& a : args) {
    if (isHelpFlag(a)) {
      io.out << kStopUsage;
      return kExitOk;
    }
    if (a.size() > 1 && a[0] == '-') return usageError(io, kCmd, kStopUsage, "unknown option " + a);
    names.push_back(a);
  }
  if (names.empty()) return usageError(io, kCmd, kStopUsage, "NAME is required");
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  int rc = kExitOk;
  for (const std::string& n : names) {
    if (Status s = ctx->manager->stop(n); !s.isOk()) {
      rc = fail(io, kCmd, s.message());
    } else {
      io.out << "Stopped " << n << "\n";
    }
  }
  return rc;
}

}  // namespace kitgate::cli
