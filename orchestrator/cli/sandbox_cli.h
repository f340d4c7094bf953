// The sandbox subcommands (`kitgate run | ls | exec | stop | rm`, one file
// each) and what they share: the Docker connection, the proxy control and the
// SandboxManager over the state directory.
//
// Tests replace the Docker connection, the proxy control and the host
// firewall through the
// set…ForTesting hooks (a FakeDockerClient, a recording ProxyControl) and run
// the commands in-process with runCli(). Main thread only.
#pragma once

#include <functional>
#include <memory>

#include "orchestrator/cli/app.h"
#include "orchestrator/docker/docker_client.h"
#include "orchestrator/sandbox/manager.h"
#include "orchestrator/state/state.h"

namespace kitgate::cli {

int runRunCommand(const Args& args, Io& io);
int runLsCommand(const Args& args, Io& io);
int runExecCommand(const Args& args, Io& io);
int runStopCommand(const Args& args, Io& io);
int runRmCommand(const Args& args, Io& io);
int runCompletionCommand(const Args& args, Io& io);
int runVersionCommand(const Args& args, Io& io);

// Hooks (null = the real thing: connectDocker(), kitgate_state's daemon control).
// Shared pointers: a test keeps its fake alive (and inspectable) across commands.
using DockerFactory = std::function<StatusOr<std::shared_ptr<docker::DockerClient>>()>;
using ProxyControlFactory =
    std::function<std::shared_ptr<sandbox::ProxyControl>(const state::Paths&)>;
using FirewallFactory = std::function<std::shared_ptr<sandbox::HostFirewall>()>;
void setDockerFactoryForTesting(DockerFactory factory);
void setFirewallFactoryForTesting(FirewallFactory factory);
void setProxyControlFactoryForTesting(ProxyControlFactory factory);

// Everything a sandbox command needs, opened together.
struct SandboxContext {
  state::Paths paths;
  std::shared_ptr<docker::DockerClient> docker;
  std::shared_ptr<sandbox::ProxyControl> proxy;
  std::shared_ptr<sandbox::HostFirewall> firewall;
  std::shared_ptr<sandbox::PortForwarder> ports;
  // Not root: the firewall, the proxy control and the registry are the root
  // kitgate daemon's (orchestrator/privd/client.h); null registry = local.
  std::shared_ptr<sandbox::RegistrationStore> registry;
  std::unique_ptr<sandbox::SandboxManager> manager;
};
StatusOr<SandboxContext> openSandboxContext();

// The executor's step labels for `req`, in order (`run --dry-run`), from a
// manager whose Docker client, proxy control and firewall are never called:
// nothing is contacted or created. Fails as create() would fail before its
// first step (invalid name, refused workspace, existing sandbox).
StatusOr<std::vector<std::string>> plannedRunSteps(const sandbox::CreateRequest& req);

// Whether this CLI asks the root kitgate daemon for privileged steps: not
// root, and no test hook replaced the firewall.
bool usesDaemon();
// Asks the daemon who it is: "Privileged steps: the kitgate daemon at
// <socket> (state <dir>)", or the error that names the fix.
StatusOr<std::string> daemonNote();

// Progress printing for a command: steps and warnings on io.err.
sandbox::Progress progressFor(Io& io);

}  // namespace kitgate::cli
