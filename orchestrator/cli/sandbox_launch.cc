#include "orchestrator/cli/sandbox_launch.h"

#include <limits.h>
#include <stdlib.h>

#include <csignal>
#include <ostream>

#include "orchestrator/cli/secret_command.h"
#include "orchestrator/cli/state_cli.h"
#include "orchestrator/sandbox/plan.h"
#include "orchestrator/sandbox/run_record.h"
#include "orchestrator/sandbox/tty_relay.h"

namespace kitgate::cli {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void onInterrupt(int sig) {
  g_interrupted = 1;
  std::signal(sig, SIG_DFL);
}

constexpr std::string_view kStartCmd = "start";
constexpr std::string_view kStartUsage =
    "Usage: kitgate start NAME...\n\n"
    "Starts stopped sandboxes again, in the background, with their filesystem,\n"
    "volumes and secrets as they were: the proxy CA is trusted again, the kit's\n"
    "startup commands rerun and files/workspace is rewritten; install does not\n"
    "rerun. Waits until each agent is up; one that exits at once is reported\n"
    "with its exit code and last output. 'kitgate run NAME' does the same and\n"
    "attaches.\n\n"
    "Examples:\n"
    "  kitgate start amp-app\n"
    "  kitgate run amp-app          start it again and attach\n";

// What `run` was asked for, as far as an existing sandbox matters.
struct RunTarget {
  bool kit = false;
  bool detach = false;
  std::string name;       // --name
  std::string agent;      // the positional
  std::string workspace;  // --workspace
};

RunTarget scanRunArgs(const Args& args) {
  RunTarget t;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    auto value = [&]() -> std::string { return i + 1 < args.size() ? args[++i] : ""; };
    if (a == "--kit") {
      t.kit = true;
      value();
    } else if (a.rfind("--kit=", 0) == 0) {
      t.kit = true;
    } else if (a == "--name") {
      t.name = value();
    } else if (a == "--workspace" || a == "-w") {
      t.workspace = value();
    } else if (a == "--kit-arg" || a == "--kit-args-file") {
      value();
    } else if (a == "-d" || a == "--detach") {
      t.detach = true;
    } else if (!a.empty() && a[0] != '-' && t.agent.empty()) {
      t.agent = a;
    }
  }
  return t;
}

std::string realDirectory(const std::string& dir) {
  char buf[PATH_MAX];
  return ::realpath(dir.c_str(), buf) != nullptr ? std::string(buf) : "";
}

void printRunning(const sandbox::RunRecord& record, Io& io) {
  const std::string& name = record.name;
  io.out << "Sandbox " << name << " is running (container " << record.container << ", network "
         << record.network << ").\n"
         << "  kitgate exec -it " << name << " -- bash   a shell in it\n"
         << "  kitgate policy log " << name << "          see what it tried to reach\n"
         << "  kitgate stop " << name << "                stop it (kitgate start " << name
         << " again)\n"
         << "  kitgate rm " << name << "                  remove it\n";
}

// Restarts a stopped sandbox under the Ctrl-C guard; prints why not.
StatusOr<sandbox::RunRecord> restartSandbox(SandboxContext& ctx, const std::string& name, Io& io,
                                            std::string_view cmd) {
  refreshSecretsForLaunch(ctx.paths, io);
  sandbox::Progress progress = progressFor(io);
  progress.cancelled = [] { return interrupted(); };
  InterruptGuard guard;
  auto record = ctx.manager->restart(name, progress);
  if (!record.isOk()) {
    fail(io, cmd, "sandbox " + name + " was not started: " + record.status().message());
  }
  return record;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted = 0;
  old_int_ = std::signal(SIGINT, onInterrupt);
  old_term_ = std::signal(SIGTERM, onInterrupt);
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

bool interrupted() { return g_interrupted != 0; }

int launchDetached(SandboxContext& ctx, const sandbox::RunRecord& record, Io& io,
                   std::string_view cmd) {
  if (Status s = ctx.manager->start(record); !s.isOk()) return fail(io, cmd, s.message());
  auto launch = ctx.manager->waitForAgent(record);
  if (!launch.isOk()) return fail(io, cmd, launch.status().message());
  if (launch->running) {
    printRunning(record, io);
    return kExitOk;
  }
  if (!launch->last_output.empty()) {
    io.err << "--- last output of the agent ---\n" << launch->last_output;
    if (launch->last_output.back() != '\n') io.err << "\n";
  }
  fail(io, cmd,
       "the agent of sandbox " + record.name + " exited at once with code " +
           std::to_string(launch->exit_code) + "; the sandbox is kept (kitgate rm " + record.name +
           " removes it)");
  return launch->exit_code != 0 ? launch->exit_code : kExitFailed;
}

int launchAttached(SandboxContext& ctx, const sandbox::RunRecord& record, Io& io,
                   std::string_view cmd) {
  const std::string& name = record.name;
  // Attach first (so no output is lost), then let the agent start. (On a
  // running agent the marker is left unused; its entrypoint removes it when
  // the container starts again.)
  docker::AttachOptions attach;
  attach.detach_keys = "ctrl-p,ctrl-q";
  auto stream = ctx.docker->attach(record.container_id, attach);
  if (!stream.isOk()) return fail(io, cmd, "attach: " + stream.status().message());
  if (Status s = ctx.manager->start(record); !s.isOk()) return fail(io, cmd, s.message());
  io.out << std::flush;
  io.err << std::flush;
  Status relay = sandbox::relayTerminal(*ctx.docker, record.container_id, std::move(*stream), 0, 1);
  if (!relay.isOk()) return fail(io, cmd, relay.message());
  auto info = ctx.docker->inspectContainer(record.container_id);
  if (info.isOk() && info->has_value() && (*info)->state.running) {
    io.err << "\r\nDetached from " << name << " (still running). kitgate rm " << name
           << " removes it.\n";
    return kExitOk;
  }
  auto code = ctx.docker->waitContainer(record.container_id);
  if (!code.isOk()) return fail(io, cmd, code.status().message());
  io.err << "\r\nThe agent exited (" << *code << "). Sandbox " << name << " is kept; kitgate run "
         << name << " starts it again, kitgate rm " << name << " removes it.\n";
  return *code;
}

std::optional<int> runExistingSandbox(const Args& args, Io& io) {
  constexpr std::string_view kCmd = "run";
  const RunTarget t = scanRunArgs(args);
  // Read only: a run that creates (or a dry run) must not find the state made here.
  const state::Paths paths = state::defaultPaths();
  auto exists = [&](const std::string& n) {
    return !n.empty() && state::validSandboxName(n) &&
           sandbox::loadRunRecord(paths.runDir(), n).isOk();
  };
  std::string name;
  if (exists(t.name)) {
    name = t.name;
  } else if (t.name.empty() && exists(t.agent)) {
    name = t.agent;
  } else if (t.kit && t.name.empty() && !t.agent.empty()) {
    const std::string ws = realDirectory(t.workspace.empty() ? "." : t.workspace);
    if (!ws.empty() && exists(sandbox::defaultSandboxName(t.agent, ws))) {
      name = sandbox::defaultSandboxName(t.agent, ws);
    }
  }
  if (name.empty()) return std::nullopt;
  if (t.kit) {
    return fail(io, kCmd,
                "--kit can only be used when creating a new sandbox: sandbox " + name +
                    " exists (kitgate run " + name + " starts it; kitgate rm " + name +
                    " removes it, then run with --kit again to pick up kit changes)");
  }
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  auto record = sandbox::loadRunRecord(ctx->paths.runDir(), name);
  if (!record.isOk()) return fail(io, kCmd, record.status().message());
  auto info = ctx->docker->inspectContainer(record->container_id);
  if (!info.isOk()) return fail(io, kCmd, info.status().message());
  const bool running = info->has_value() && (*info)->state.running;
  if (!running) {
    auto restarted = restartSandbox(*ctx, name, io, kCmd);
    if (!restarted.isOk()) return kExitFailed;
    *record = *restarted;
  } else if (t.detach) {
    printRunning(*record, io);
    return kExitOk;
  }
  return t.detach ? launchDetached(*ctx, *record, io, kCmd)
                  : launchAttached(*ctx, *record, io, kCmd);
}

int runStartCommand(const Args& args, Io& io) {
  std::vector<std::string> names;
  for (const std::string& a : args) {
    if (isHelpFlag(a)) {
      io.out << kStartUsage;
      return kExitOk;
    }
    if (a.size() > 1 && a[0] == '-') {
      return usageError(io, kStartCmd, kStartUsage, "unknown option " + a);
    }
    names.push_back(a);
  }
  if (names.empty()) return usageError(io, kStartCmd, kStartUsage, "NAME is required");
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kStartCmd, ctx.status().message());
  int rc = kExitOk;
  for (const std::string& n : names) {
    auto record = restartSandbox(*ctx, n, io, kStartCmd);
    int one = record.isOk() ? launchDetached(*ctx, *record, io, kStartCmd) : kExitFailed;
    if (one != kExitOk) rc = one;
  }
  return rc;
}

}  // namespace kitgate::cli
