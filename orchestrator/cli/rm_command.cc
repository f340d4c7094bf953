// `kitgate rm [-f] NAME…|--all [--keep-volumes]`.
#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"
#include "orchestrator/sandbox/run_record.h"

namespace kitgate::cli {

namespace {
constexpr std::string_view kCmd = "rm";
constexpr std::string_view kRmUsage =
    "Usage: kitgate rm [-f] NAME... | --all  [--keep-volumes]\n\n"
    "Removes sandboxes: the container, its network, the proxy registration and\n"
    "credential routes, secrets scoped to the sandbox (--sandbox NAME), the\n"
    "proxy's listener on its network, and its named volumes. Global secrets and\n"
    "rules are kept. Asks for confirmation unless -f; without a terminal to ask\n"
    "on, refuses unless -f.\n\n"
    "Options:\n"
    "  -f, --force       do not ask\n"
    "  --all             every sandbox 'kitgate ls' shows\n"
    "  --keep-volumes    keep the sandbox's named volumes\n\n"
    "Examples:\n"
    "  kitgate rm amp-app\n"
    "  kitgate rm -f --all\n";
}  // namespace

int runRmCommand(const Args& args, Io& io) {
  bool force = false, all = false, keep_volumes = false;
  std::vector<std::string> names;
  for (const std::string& a : args) {
    if (isHelpFlag(a)) {
      io.out << kRmUsage;
      return kExitOk;
    }
    if (a == "-f" || a == "--force") {
      force = true;
    } else if (a == "--all") {
      all = true;
    } else if (a == "--keep-volumes") {
      keep_volumes = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return usageError(io, kCmd, kRmUsage, "unknown option " + a);
    } else {
      names.push_back(a);
    }
  }
  if (all && !names.empty()) return usageError(io, kCmd, kRmUsage, "give NAMEs or --all, not both");
  if (!all && names.empty()) return usageError(io, kCmd, kRmUsage, "NAME (or --all) is required");
  for (const std::string& n : names) {
    if (!state::validSandboxName(n)) {
      return usageError(io, kCmd, kRmUsage, "invalid sandbox name \"" + n + "\"");
    }
  }
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  if (all) names = sandbox::listRunRecords(ctx->paths.runDir());
  if (names.empty()) {
    io.out << "No sandboxes to remove.\n";
    return kExitOk;
  }
  if (!force) {
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    // Nobody to ask (a script, a pipe): removing needs -f, as sbx and
    // `kitgate secret rm` do.
    if (!stdinIsTerminal()) {
      return fail(
          io, kCmd,
          "not removing " + list + " without confirmation: stdin is not a terminal; pass -f");
    }
    if (!confirm(io, "Remove " + list + "?")) {
      io.err << "Nothing removed.\n";
      return kExitFailed;
    }
  }
  int rc = kExitOk;
  sandbox::Progress progress = progressFor(io);
  for (const std::string& n : names) {
    if (Status s = ctx->manager->remove(n, keep_volumes, progress); !s.isOk()) {
      rc = fail(io, kCmd, s.message());
    } else {
      io.out << "Removed " << n << "\n";
    }
  }
  return rc;
}

}  // namespace kitgate::cli
