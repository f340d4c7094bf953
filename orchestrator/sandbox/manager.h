// SandboxManager: the executor behind `kitgate run|ls|exec|stop|rm`. It
// drives a DockerClient and the proxy (through ProxyControl) over one state
// directory, following a SandboxPlan (plan.h).
//
// create(): network -> host firewall (the proxy is the sandbox's only way
// out: its port, its transparent listener for every other TCP, its DNS) ->
// proxy listen + DNS on its gateway -> registration + routes
// -> reload (the proxy mints the sandbox CA when credentials are bound) ->
// image (pulled when missing) -> volumes -> container -> base image check ->
// setup steps. Each is a Step (steps.h) run by one StepRunner: Ctrl-C is
// honoured between any two steps, any failure undoes everything created so
// far, in reverse, and the error names the failed step. The agent is not started yet:
// start() does that (so an attaching caller can attach first).
// remove() undoes a sandbox: container, firewall rules, network, registration, routes,
// sandbox-scoped secrets, proxy listen and DNS entries (+ reload), the sandbox's CA
// files, run record, volumes (unless kept). Every removal is idempotent.
//
// Threads: one manager per thread; it borrows the client and the proxy
// control (the caller owns them and keeps them alive). Progress callbacks
// run on the calling thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kitloader/kit.h"
#include "orchestrator/docker/docker_client.h"
#include "orchestrator/sandbox/host_firewall.h"
#include "orchestrator/sandbox/plan.h"
#include "orchestrator/sandbox/port_forward.h"
#include "orchestrator/sandbox/registration.h"
#include "orchestrator/sandbox/run_record.h"
#include "orchestrator/sandbox/steps.h"
#include "orchestrator/state/state.h"
#include "proxy/common/status.h"

namespace kitgate::sandbox {

// The proxy daemon, as the executor needs it (seam: tests record calls).
class ProxyControl {
 public:
  virtual ~ProxyControl() = default;
  virtual Status ensureRunning() = 0;
  virtual Status reload() = 0;
  virtual Status addListen(const std::string& addr) = 0;     // + reload
  virtual Status removeListen(const std::string& addr) = 0;  // + reload
  // The sandboxes' DNS (dns_listen), + reload.
  virtual Status addDnsListen(const std::string& addr) = 0;
  virtual Status removeDnsListen(const std::string& addr) = 0;
  // The port the running proxy's transparent listener is bound to (after
  // ensureRunning()); an error when it has none.
  virtual StatusOr<int> transparentPort() = 0;
  // Whether the proxy on `listen` serves sandbox `name` with `token` (after
  // reload). Controls that drive no real proxy (test doubles) accept.
  virtual Status checkServes(const std::string& listen, const std::string& name,
                             const std::string& token) {
    (void)listen, (void)name, (void)token;
    return Status::ok();
  }
  // What ensureRunning() repaired in the proxy's configuration since the
  // last call (one line each), for the user to read.
  virtual std::vector<std::string> takeRepairs() { return {}; }
};

// The real one: kitgate_state's ensureProxy/reloadProxy/addProxyListen/…
std::unique_ptr<ProxyControl> makeProxyControl(state::Paths paths, std::string proxy_binary);

struct CreateRequest {
  kit::Kit kit;
  std::string kit_ref;  // redacted, for labels and records
  std::string name;
  std::string workspace;  // absolute
  std::string agent;
  std::vector<std::string> agent_args;
  bool interactive = true;
  bool persistent_home = false;
  std::string token;  // identification token (alnum, 16+); generated when empty
  // Composed mixins' agent context (kit name, markdown): PlanInput::mixin_contexts.
  std::vector<std::pair<std::string, std::string>> mixin_contexts;
  std::string runtime;           // PlanInput::runtime
  bool allow_host_root = false;  // PlanInput::allow_host_root
  std::string ssh_agent_socket;  // PlanInput::ssh_agent_socket
};

struct Progress {
  std::function<void(std::string_view)> step;     // "Creating network kitgate-amp"
  std::function<void(std::string_view)> output;   // streamed setup output
  std::function<void(std::string_view)> warning;  // non-fatal problems
  std::function<void(const docker::PullProgress&)> pull;
  // Polled between steps: true = stop and undo (e.g. the user pressed Ctrl-C).
  std::function<bool()> cancelled;
};

// Why create() failed, beyond the message.
struct CreateFailure {
  std::string step;    // "install: Install Amp"
  int exit_code = 0;   // the failing command's exit code (exec steps)
  std::string output;  // the last output of that command
};

// How the agent's launch went (waitForAgent).
struct AgentLaunch {
  bool running = false;     // the agent command is running
  int exit_code = 0;        // when not running: the container's exit code
  std::string last_output;  // when not running: the last lines it printed
};

// `kitgate exec` options.
struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V", on top of the sandbox's environment
  std::string working_dir;       // empty = the workspace
};

// Exit codes of `exec` that are not the command's own (docker's convention).
inline constexpr int kExecEngineFailure = 125;  // the sandbox or Docker failed
inline constexpr int kExecNotExecutable = 126;
inline constexpr int kExecNotFound = 127;

struct SandboxStatus {
  RunRecord record;
  std::string state;  // "running", "exited", "created", "missing"
};

// The exit code `exec` reports for a finished exec (see kExecNotFound).
int execExitCode(const docker::ExecResult& result);

class SandboxManager {
 public:
  // `ports` (may be null: kit ports are then not published, with a warning).
  SandboxManager(docker::DockerClient& docker, ProxyControl& proxy, HostFirewall& firewall,
                 state::Paths paths, PortForwarder* ports = nullptr);

  // Everything up to (not including) starting the agent. On failure,
  // `failure` (optional) says which step and how.
  StatusOr<RunRecord> create(const CreateRequest& request, const Progress& progress,
                             CreateFailure* failure = nullptr);
  // The labels of the steps create(request) would run, in order, without
  // touching Docker or the proxy (for `run --dry-run`). Setup labels come
  // from the plan; whether a "ca" stage appears is a guess (the proxy mints
  // a CA when credentials are bound).
  StatusOr<std::vector<std::string>> plannedSteps(const CreateRequest& request);
  // Lets the waiting entrypoint exec the agent.
  Status start(const RunRecord& record);
  // After start(): waits (bounded) until the agent command runs or the
  // container has exited; when it exited, says with which code and output.
  StatusOr<AgentLaunch> waitForAgent(const RunRecord& record);

  // Starts a stopped sandbox again with its filesystem, volumes and secrets
  // (kit-spec §3.5 "On restart"): container start, the proxy CA trusted
  // again, startup commands rerun, files/workspace rewritten; install does
  // not rerun. The agent is not started yet (start() does that, as after
  // create()). Refused when the sandbox is running or its container is gone.
  StatusOr<RunRecord> restart(const std::string& name, const Progress& progress);
  // True when a sandbox of this name exists (has a run record).
  bool exists(const std::string& name) const;

  Status remove(const std::string& name, bool keep_volumes, const Progress& progress);
  Status stop(const std::string& name, std::chrono::seconds grace = std::chrono::seconds(10));
  StatusOr<std::vector<SandboxStatus>> list();
  // Runs argv as uid 1000 in the workspace; output streamed to `on_output`.
  StatusOr<int> exec(const std::string& name, const std::vector<std::string>& argv,
                     const docker::OutputFn& on_output);
  // The same with env/working dir; a command that is not there is 127, one
  // that cannot be executed 126 (as docker).
  StatusOr<int> exec(const std::string& name, const ExecRequest& request,
                     const docker::OutputFn& on_output);
  // Interactive: the command gets a TTY connected to in_fd/out_fd (raw mode
  // and window size forwarded when in_fd is a terminal). Blocks until the
  // command ends; returns its exit code.
  StatusOr<int> execInteractive(const std::string& name, const ExecRequest& request, int in_fd,
                                int out_fd);

  const state::Paths& paths() const { return paths_; }
  // The state files that hold secrets through `registry` (borrowed; null =
  // the state directory itself, as root). A CLI that is not root passes the
  // root kitgate daemon's (orchestrator/privd/client.h).
  void setRegistry(RegistrationStore* registry) { registry_ = registry; }

 private:
  struct CreateContext;
  // The two step lists of create(): up to the plan, then from the plan on.
  std::vector<Step> registrationSteps(CreateContext& c, const Progress& progress);
  std::vector<Step> containerSteps(CreateContext& c, const Progress& progress);
  std::vector<Step> setupStepList(CreateContext& c, const std::vector<SetupStep>& setup,
                                  const Progress& progress);
  Status runSetupStep(CreateContext& c, const SetupStep& step, const std::string& label,
                      const Progress& progress);
  Status checkCreate(const CreateRequest& request);
  Status ensureProxy(const Progress& progress);
  Status checkBaseImage(const std::string& container_id, const Progress& progress);
  Status ensureImage(const std::string& image, const Progress& progress);
  StatusOr<RunRecord> liveRecord(const std::string& name);

  // The "ports" step: publishes record.ports; undo stops the forwarder.
  Step portsStep(RunRecord& record, const Progress& progress);

  docker::DockerClient& docker_;
  PortForwarder* ports_;
  ProxyControl& proxy_;
  HostFirewall& firewall_;
  state::Paths paths_;
  std::unique_ptr<RegistrationStore> local_registry_;
  RegistrationStore* registry_ = nullptr;
  RegistrationStore& registry() { return registry_ != nullptr ? *registry_ : *local_registry_; }
};

}  // namespace kitgate::sandbox
