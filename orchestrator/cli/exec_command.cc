// `kitgate exec [-it] [-e K=V]... [-w DIR] NAME -- CMD…`: run a command in a
// sandbox as the agent. Exit codes follow docker exec: the command's own,
// 125 when the sandbox or Docker failed, 126 not executable, 127 not found.
#include <unistd.h>

#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "exec";
constexpr std::string_view kExecUsage =
    "Usage: kitgate exec [-it] [-e K=V]... [-w DIR] NAME -- CMD [ARGS...]\n\n"
    "Runs CMD in sandbox NAME as the agent user (uid 1000) in its workspace,\n"
    "with the sandbox's environment (proxy, CA, placeholders). Output is\n"
    "streamed. The exit code is CMD's; 1 for an unknown sandbox, 125 when\n"
    "Docker failed (daemon unreachable, sandbox not running),\n"
    "126 when CMD cannot be executed, 127 when it is not found (as docker exec).\n\n"
    "Options:\n"
    "  -it                  interactive, with a terminal (raw mode; the window\n"
    "                       size follows); -i and -t go together\n"
    "  -e, --env K=V        set a variable for CMD (repeatable)\n"
    "  -w, --workdir DIR    run CMD in DIR (default: the workspace)\n\n"
    "Examples:\n"
    "  kitgate exec -it amp-app -- bash\n"
    "  kitgate exec -e DEBUG=1 -w /tmp amp-app -- env\n"
    "  kitgate exec amp-app -- curl -sS https://ampcode.com/\n";

struct ExecArgs {
  std::string name;
  bool interactive = false;
  bool tty = false;
  sandbox::ExecRequest request;
};

// Parses; returns an error text or "".
std::string parseExecArgs(const Args& args, ExecArgs* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out->request.argv.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    auto value = [&](std::string* v) {
      if (i + 1 >= args.size()) return false;
      *v = args[++i];
      return true;
    };
    std::string v;
    if (a == "-e" || a == "--env") {
      if (!value(&v) || v.find('=') == std::string::npos || v.front() == '=') {
        return a + " needs NAME=VALUE";
      }
      out->request.env.push_back(v);
    } else if (a == "-w" || a == "--workdir") {
      if (!value(&v) || v.empty() || v.front() != '/') return a + " needs an absolute directory";
      out->request.working_dir = v;
    } else if (a.size() > 1 && a[0] == '-' && a[1] != '-' &&
               a.find_first_not_of("it", 1) == std::string::npos) {
      out->interactive = out->interactive || a.find('i') != std::string::npos;
      out->tty = out->tty || a.find('t') != std::string::npos;
    } else if (a == "--interactive") {
      out->interactive = true;
    } else if (a == "--tty") {
      out->tty = true;
    } else if (!out->name.empty() || (a.size() > 1 && a[0] == '-')) {
      return "unexpected argument " + a;
    } else {
      out->name = a;
    }
  }
  if (out->name.empty()) return "NAME is required";
  if (out->request.argv.empty()) return "a command is required after --";
  return "";
}

}  // namespace

int runExecCommand(const Args& args, Io& io) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (isHelpFlag(a)) {
      io.out << kExecUsage;
      return kExitOk;
    }
  }
  ExecArgs exec;
  if (std::string e = parseExecArgs(args, &exec); !e.empty()) {
    return usageError(io, kCmd, kExecUsage, e);
  }
  auto engineFailure = [&io](const std::string& message) {
    fail(io, kCmd, message);
    return sandbox::kExecEngineFailure;
  };
  if (exec.interactive != exec.tty) {
    return usageError(io, kCmd, kExecUsage, "use -i and -t together (-it), or neither");
  }
  if (exec.tty && ::isatty(STDIN_FILENO) == 0) {
    return usageError(io, kCmd, kExecUsage, "the input device is not a TTY (drop -it)");
  }
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return engineFailure(ctx.status().message());
  // An unknown sandbox is the user's mistake, not the engine's (docker: 1).
  if (!ctx->manager->exists(exec.name)) {
    return fail(io, kCmd, "no sandbox named \"" + exec.name + "\" (see `kitgate ls`)");
  }
  if (exec.tty) {
    io.out << std::flush;
    io.err << std::flush;
    auto code = ctx->manager->execInteractive(exec.name, exec.request, STDIN_FILENO, STDOUT_FILENO);
    if (!code.isOk()) return engineFailure(code.status().message());
    return *code;
  }
  auto code = ctx->manager->exec(
      exec.name, exec.request, [&io](docker::OutputStream s, std::string_view d) {
        (s == docker::OutputStream::kStdout ? io.out : io.err) << d << std::flush;
      });
  if (!code.isOk()) return engineFailure(code.status().message());
  return *code;
}

}  // namespace kitgate::cli
