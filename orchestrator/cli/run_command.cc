// `kitgate run --kit REF [--name N] [--workspace DIR] [-d] AGENT [-- ARGS…]`.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ostream>

#include "kitloader/kit.h"
#include "orchestrator/cli/kit_settings.h"
#include "orchestrator/cli/plan_view.h"
#include "orchestrator/cli/run_kits.h"
#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/sandbox_launch.h"
#include "orchestrator/cli/secret_command.h"
#include "orchestrator/cli/state_cli.h"
#include "orchestrator/sandbox/plan.h"
#include "orchestrator/sandbox/ssh_agent.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "run";
constexpr std::string_view kRunUsage =
    "Usage: kitgate run [--kit REF]... [--name NAME] [--workspace DIR] [-d] [--dry-run]\n"
    "                   [--kit-arg K=V]... [--runtime runc|runsc] [--allow-host-root]\n"
    "                   [--no-ssh-agent]\n"
    "                   AGENT [-- AGENT_ARGS...]\n"
    "       kitgate run NAME            (start a stopped sandbox again; same as kitgate start)\n\n"
    "Creates a sandbox from a kit and starts its agent in it: a container on its\n"
    "own internal Docker network whose only way out is kitgate-proxy (started\n"
    "when needed). The kit's rules become the sandbox's policy; its credentials\n"
    "are injected by the proxy; inside, secrets are only placeholders. Setup\n"
    "(files/home, install commands, setup.files, startup, files/workspace, the\n"
    "agent file) runs first, with its output shown; a failure removes everything\n"
    "the run created and names the failed step.\n\n"
    "--kit is repeatable: at most one sandbox kit plus any number of mixins,\n"
    "layered in --kit order. AGENT is the sandbox kit's name (or its --kit\n"
    "reference); with mixins only (or no --kit) it is a built-in agent (claude,\n"
    "codex, copilot, gemini, opencode, shell) or an image reference. The\n"
    "workspace (default: the current directory) is mounted at its absolute\n"
    "path; the sandbox name defaults to AGENT-<basename>.\n\n"
    "Options:\n"
    "  --kit REF              kit directory, .zip or git+https://…#dir=…&ref=… (repeatable)\n"
    "  --name NAME            sandbox name (a-z 0-9 - _ ., at most 63)\n"
    "  --workspace DIR        the project directory to mount (default: .)\n"
    "  -d, --detach           start the agent in the background and return\n"
    "  --dry-run              print the plan (image, environment, rules, intercepted\n"
    "                         hosts, steps) and exit; touches neither Docker nor the proxy\n"
    "  --kit-arg K=V          value for a kit argument (repeatable)\n"
    "  --non-interactive      use the kit's default command tail, not the interactive one\n"
    "  --home-volume          keep /home/agent in a named volume (kitgate-NAME-home-agent);\n"
    "                         'kitgate rm --keep-volumes' keeps it\n"
    "  --runtime runc|runsc   container runtime: runc (default; Linux namespaces on the\n"
    "                         host kernel) or runsc (gVisor: the agent's system calls\n"
    "                         go to a user-space kernel; Debian package runsc, registered\n"
    "                         with dockerd as \"runsc\")\n"
    "  --allow-host-root      run a kit that asks for security.privileged under runc,\n"
    "                         which makes the agent root on this host (without it such\n"
    "                         a kit is refused; under runsc it is root in gVisor only)\n"
    "  --no-ssh-agent         do not forward the host's SSH agent ($SSH_AUTH_SOCK) into\n"
    "                         the sandbox (forwarded by default: the socket only, no key)\n\n"
    "Examples:\n"
    "  kitgate run --kit ./amp/ amp\n"
    "  kitgate run --kit ./vale/ claude\n"
    "  kitgate run --kit ./amp/ --kit ./glab/ --dry-run amp\n"
    "  kitgate run --kit ./amp/ --name amp-dev --workspace ~/src/app -d amp\n"
    "  kitgate run --kit ./amp/ amp -- --help\n";

struct RunArgs {
  std::vector<std::string> kit_refs;
  bool dry_run = false;
  std::string name;
  std::string workspace = ".";
  bool detach = false;
  bool interactive = true;
  bool home_volume = false;
  std::string runtime;  // "" = the daemon's default (runc)
  bool allow_host_root = false;
  bool ssh_agent = true;
  std::string agent;
  std::vector<std::string> agent_args;
  kit::LoadOptions load;
};

// Parses; returns an error text or "".
std::string parseRunArgs(const Args& args, RunArgs* out) {
  ArgCursor cur(args);
  std::string error, value;
  while (!cur.done()) {
    if (cur.peek() == "--") {
      cur.next();
      while (!cur.done()) out->agent_args.push_back(cur.next());
      break;
    }
    if (cur.option({"--kit"}, &value, &error)) {
      if (!error.empty()) return error;
      out->kit_refs.push_back(value);
      continue;
    }
    if (cur.flag({"--dry-run"})) {
      out->dry_run = true;
      continue;
    }
    if (cur.option({"--name"}, &out->name, &error) ||
        cur.option({"--workspace", "-w"}, &out->workspace, &error)) {
      if (!error.empty()) return error;
      continue;
    }
    if (cur.option({"--kit-arg"}, &value, &error)) {
      if (!error.empty()) return error;
      auto arg = kit::parseKitArg(value);
      if (!arg) return "--kit-arg needs NAME=VALUE";
      out->load.args.push_back(*arg);
      continue;
    }
    if (cur.flag({"-d", "--detach"})) {
      out->detach = true;
      continue;
    }
    if (cur.option({"--runtime"}, &value, &error)) {
      if (!error.empty()) return error;
      if (value != "runc" && value != sandbox::kRuntimeGvisor)
        return "--runtime must be runc or runsc, not \"" + value + "\"";
      out->runtime = value;
      continue;
    }
    if (cur.flag({"--allow-host-root"})) {
      out->allow_host_root = true;
      continue;
    }
    if (cur.flag({"--no-ssh-agent"})) {
      out->ssh_agent = false;
      continue;
    }
    if (cur.flag({"--home-volume"})) {
      out->home_volume = true;
      continue;
    }
    if (cur.flag({"--non-interactive"})) {
      out->interactive = false;
      continue;
    }
    std::string a = cur.next();
    if (a.size() > 1 && a[0] == '-') return "unknown option " + a;
    if (!out->agent.empty()) return "unexpected argument " + a + " (agent arguments go after --)";
    out->agent = a;
  }
  if (out->agent.empty()) return "AGENT is required (the kit's name)";
  if (out->kit_refs.empty() && !kit::isShippedBuiltin(out->agent))
    return "--kit REF is required (or name a built-in agent: claude, codex, copilot, gemini, "
           "opencode, shell)";
  return "";
}

StatusOr<std::string> absoluteDirectory(const std::string& dir) {
  char buf[PATH_MAX];
  if (::realpath(dir.c_str(), buf) == nullptr) {
    return Status::error("workspace " + dir + " does not exist");
  }
  struct stat st {};
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::error("workspace " + dir + " is not a directory");
  }
  return std::string(buf);
}

}  // namespace

int runRunCommand(const Args& args, Io& io) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (isHelpFlag(a)) {
      io.out << kRunUsage;
      return kExitOk;
    }
  }
  if (auto existing = runExistingSandbox(args, io)) return *existing;
  RunArgs run;
  if (std::string e = parseRunArgs(args, &run); !e.empty())
    return usageError(io, kCmd, kRunUsage, e);
  if (std::string e = applyKitSettings(&run.load); !e.empty()) return fail(io, kCmd, e);

  // 1. The kits, composed: any error stops here, before anything is created.
  int load_exit = kExitFailed;
  std::optional<RunKits> kits =
      loadRunKits(run.kit_refs, run.agent, run.load, io, run.dry_run, &load_exit);
  if (!kits) {
    if (load_exit == kExitUsage) io.err << "\n" << kRunUsage;
    return load_exit;
  }
  run.agent = kits->agent;
  auto workspace = absoluteDirectory(run.workspace);
  if (!workspace.isOk()) return fail(io, kCmd, workspace.status().message());
  std::string name =
      run.name.empty() ? sandbox::defaultSandboxName(run.agent, *workspace) : run.name;
  if (!state::validSandboxName(name)) {
    return usageError(io, kCmd, kRunUsage,
                      "invalid sandbox name \"" + name +
                          "\": use 1-63 of a-z 0-9 - _ . starting with a letter or digit");
  }

  sandbox::CreateRequest req;
  req.kit = kits->composition.kit;
  req.kit_ref = kits->kit_ref;
  for (const kit::MixinContext& m : kits->composition.mixin_contexts)
    req.mixin_contexts.emplace_back(m.kit, m.content);
  req.name = name;
  req.workspace = *workspace;
  req.agent = run.agent;
  req.agent_args = run.agent_args;
  req.interactive = run.interactive && !run.detach;
  req.persistent_home = run.home_volume;
  req.runtime = run.runtime;
  req.allow_host_root = run.allow_host_root;
  if (run.ssh_agent) {
    sandbox::SshAgentForward agent = sandbox::sshAgentToForward(std::getenv("SSH_AUTH_SOCK"));
    req.ssh_agent_socket = agent.socket;
    if (!agent.note.empty()) io.err << "Note: " << agent.note << "\n";
  }
  if (run.dry_run) {
    auto steps = plannedRunSteps(req);
    if (!steps.isOk()) return fail(io, kCmd, steps.status().message());
    const int rc = printDryRun({req, kits->composition, std::move(*steps)}, io);
    if (rc != kExitOk || !usesDaemon()) return rc;
    // Not root: the privileged steps need the root kitgate daemon; say now whether it serves.
    auto note = daemonNote();
    io.err << (note.isOk() ? *note : "WARN: a run would fail: " + note.status().message()) << "\n";
    return rc;
  }

  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  refreshSecretsForLaunch(ctx->paths, io);

  sandbox::Progress progress = progressFor(io);
  progress.cancelled = [] { return interrupted(); };
  sandbox::CreateFailure failure;
  auto record = [&] {
    InterruptGuard guard;
    return ctx->manager->create(req, progress, &failure);
  }();
  if (!record.isOk()) {
    if (!failure.output.empty()) {
      io.err << "--- last output of the failed step ---\n" << failure.output;
      if (failure.output.back() != '\n') io.err << "\n";
    }
    fail(io, kCmd,
         "sandbox " + name + " was not created: " + record.status().message() +
             "\n  everything this run created has been removed");
    return failure.exit_code != 0 ? failure.exit_code : kExitFailed;
  }

  return run.detach ? launchDetached(*ctx, *record, io, kCmd)
                    : launchAttached(*ctx, *record, io, kCmd);
}

}  // namespace kitgate::cli
