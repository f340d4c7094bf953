// `kitgate exec NAME -- CMD…`: run a command in a sandbox as the agent.
#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"

namespace kitgate::cli {

namespace {
constexpr std::string_view kCmd = "exec";
constexpr std::string_view kExecUsage =
    "Usage: kitgate exec NAME -- CMD [ARGS...]\n\n"
    "Runs CMD in sandbox NAME as the agent user (uid 1000) in its workspace,\n"
    "with the sandbox's environment (proxy, CA, placeholders). Output is\n"
    "streamed; the exit code is CMD's.\n\n"
    "Examples:\n"
    "  kitgate exec amp-app -- sh -c 'echo $AMP_API_KEY'\n"
    "  kitgate exec amp-app -- curl -sS https://ampcode.com/\n";
}  // namespace

int runExecCommand(const Args& args, Io& io) {
  std::string name;
  std::vector<std::string> argv;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      argv.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (isHelpFlag(args[i])) {
      io.out << kExecUsage;
      return kExitOk;
    }
    if (!name.empty() || (args[i].size() > 1 && args[i][0] == '-')) {
      return usageError(io, kCmd, kExecUsage, "unexpected argument " + args[i]);
    }
    name = args[i];
  }
  if (name.empty()) return usageError(io, kCmd, kExecUsage, "NAME is required");
  if (argv.empty()) return usageError(io, kCmd, kExecUsage, "a command is required after --");
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  auto code = ctx->manager->exec(name, argv, [&io](docker::OutputStream s, std::string_view d) {
    (s == docker::OutputStream::kStdout ? io.out : io.err) << d << std::flush;
  });
  if (!code.isOk()) return fail(io, kCmd, code.status().message());
  return *code;
}

}  // namespace kitgate::cli
