// `kitgate stop NAME…`: stop sandboxes' containers (rm removes them).
#include <cstdlib>
#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"

namespace kitgate::cli {

namespace {
constexpr std::string_view kCmd = "stop";
constexpr std::string_view kStopUsage =
    "Usage: kitgate stop [-t SECONDS] NAME...\n\n"
    "Stops the agent container of each sandbox (SIGTERM, SIGKILL after 10 s).\n"
    "The sandbox keeps its network, registration, volumes and files;\n"
    "'kitgate start' starts it again, 'kitgate rm' removes it.\n\n"
    "Options:\n"
    "  -t, --time SECONDS   seconds to wait before SIGKILL (default 10; 0-3600)\n\n"
    "Examples:\n"
    "  kitgate stop amp-app\n"
    "  kitgate stop -t 0 amp-app\n";
}  // namespace

int runStopCommand(const Args& args, Io& io) {
  std::vector<std::string> names;
  long grace = 10;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (isHelpFlag(a)) {
      io.out << kStopUsage;
      return kExitOk;
    }
    if (a == "-t" || a == "--time") {
      const std::string v = i + 1 < args.size() ? args[++i] : "";
      char* end = nullptr;
      grace = v.empty() ? -1 : std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || grace < 0 || grace > 3600) {
        return usageError(io, kCmd, kStopUsage, a + " needs a number of seconds (0-3600)");
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-') return usageError(io, kCmd, kStopUsage, "unknown option " + a);
    names.push_back(a);
  }
  if (names.empty()) return usageError(io, kCmd, kStopUsage, "NAME is required");
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  int rc = kExitOk;
  for (const std::string& n : names) {
    if (Status s = ctx->manager->stop(n, std::chrono::seconds(grace)); !s.isOk()) {
      rc = fail(io, kCmd, s.message());
    } else {
      io.out << "Stopped " << n << "\n";
    }
  }
  return rc;
}

}  // namespace kitgate::cli
