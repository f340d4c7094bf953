// SandboxManager: the executor behind `kitgate run|ls|exec|stop|rm`. It
// drives a DockerClient and the proxy (through ProxyControl) over one state
// directory, following a SandboxPlan (plan.h).
//
// create(): network -> host firewall (the sandbox reaches only the proxy
// port on the host) -> proxy listen on its gateway -> registration + routes
// -> reload (the proxy mints the sandbox CA when credentials are bound) ->
// image (pulled when missing) -> volumes -> container -> base image check ->
// setup steps. Any failure undoes everything created so far, in reverse,
// and the error names the failed step. The agent is not started yet:
// start() does that (so an attaching caller can attach first).
// remove() undoes a sandbox: container, firewall rules, network, registration, routes,
// sandbox-scoped secrets, proxy listen entry (+ reload), the sandbox's CA
// files, run record, volumes (unless kept). Every removal is idempotent.
//
// Threads: one manager per thread; it borrows the client and the proxy
// control (the caller owns them and keeps them alive). Progress callbacks
// run on the calling thread.
#pragma once

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
#include "orchestrator/sandbox/run_record.h"
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

struct SandboxStatus {
  RunRecord record;
  std::string state;  // "running", "exited", "created", "missing"
};

class SandboxManager {
 public:
  SandboxManager(docker::DockerClient& docker, ProxyControl& proxy, HostFirewall& firewall,
                 state::Paths paths);

  // Everything up to (not including) starting the agent. On failure,
  // `failure` (optional) says which step and how.
  StatusOr<RunRecord> create(const CreateRequest& request, const Progress& progress,
                             CreateFailure* failure = nullptr);
  // Lets the waiting entrypoint exec the agent.
  Status start(const RunRecord& record);

  Status remove(const std::string& name, bool keep_volumes, const Progress& progress);
  Status stop(const std::string& name);
  StatusOr<std::vector<SandboxStatus>> list();
  // Runs argv as uid 1000 in the workspace; output streamed to `on_output`.
  StatusOr<int> exec(const std::string& name, const std::vector<std::string>& argv,
                     const docker::OutputFn& on_output);

  const state::Paths& paths() const { return paths_; }

 private:
  Status checkBaseImage(const std::string& container_id, const Progress& progress);
  Status ensureImage(const std::string& image, const Progress& progress);
  StatusOr<RunRecord> liveRecord(const std::string& name);

  docker::DockerClient& docker_;
  ProxyControl& proxy_;
  HostFirewall& firewall_;
  state::Paths paths_;
};

}  // namespace kitgate::sandbox
