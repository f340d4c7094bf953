// Starting agents, shared by `kitgate run` (new and existing sandboxes) and
// `kitgate start`: the Ctrl-C guard for setup, attaching to the agent's TTY,
// the detached launch that waits until the agent is up (or reports how it
// ended), and `run NAME` on a sandbox that already exists.
//
// Main thread only (installs signal handlers while setup runs).
#pragma once

#include <optional>
#include <string>

#include "orchestrator/cli/app.h"
#include "orchestrator/cli/sandbox_cli.h"

namespace kitgate::cli {

// While alive, the first SIGINT/SIGTERM only sets interrupted() (setup then
// stops at the next step boundary and undoes itself); a second one kills
// kitgate as usual.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};
bool interrupted();

// start() + wait for the agent. Up: prints where it runs and the next
// commands, returns 0. Exited at once: prints its exit code and last output,
// keeps the sandbox, returns that code (1 when it was 0).
int launchDetached(SandboxContext& ctx, const sandbox::RunRecord& record, Io& io,
                   std::string_view cmd);
// Attaches to the agent's TTY, start()s it (unless it runs already) and
// relays until it exits or the user detaches; returns its exit code.
int launchAttached(SandboxContext& ctx, const sandbox::RunRecord& record, Io& io,
                   std::string_view cmd);

// `kitgate run [--name N|NAME] …` when that sandbox exists already: with
// --kit it is refused (sbx's message); otherwise a stopped sandbox is
// restarted and the agent attached (or detached with -d); a running one is
// attached. std::nullopt when the arguments do not name an existing sandbox
// (a new one is to be created).
std::optional<int> runExistingSandbox(const Args& args, Io& io);

// `kitgate start NAME…`.
int runStartCommand(const Args& args, Io& io);

}  // namespace kitgate::cli
