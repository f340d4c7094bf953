// The subcommand table: one entry per `kitgate <name>`.
#include "orchestrator/cli/app.h"
#include "orchestrator/cli/daemon_command.h"
#include "orchestrator/cli/k8s_command.h"
#include "orchestrator/cli/kit_command.h"
#include "orchestrator/cli/policy_command.h"
#include "orchestrator/cli/proxy_command.h"
#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/sandbox_launch.h"
#include "orchestrator/cli/secret_command.h"

namespace kitgate::cli {

namespace {
constexpr Command kCommands[] = {
    {"kit", "validate, inspect and pack kits (spec.yaml + files/)", runKitCommand},
    {"secret", "store credentials the proxy injects (values never enter a sandbox)",
     runSecretCommand},
    {"policy", "network rules: allow, deny, ls, check, and the policy log", runPolicyCommand},
    {"run", "create a sandbox from a kit and start its agent", runRunCommand},
    {"start", "start stopped sandboxes again (startup reruns, install does not)", runStartCommand},
    {"ls", "list sandboxes", runLsCommand},
    {"exec", "run a command in a sandbox as the agent", runExecCommand},
    {"stop", "stop a sandbox's container", runStopCommand},
    {"rm", "remove sandboxes and everything they created", runRmCommand},
    {"proxy", "start, stop, reload the local kitgate-proxy daemon; status", runProxyCommand},
    {"daemon", "the root daemon that lets docker-group users run kitgate without sudo",
     runDaemonCommand},
    {"k8s", "print a kit's Kubernetes objects behind the kitgate gateway (render)", runK8sCommand},
    {"completion", "print a bash or zsh completion script", runCompletionCommand},
    {"version", "print kitgate's version", runVersionCommand},
};
}  // namespace

std::span<const Command> commands() { return kCommands; }

}  // namespace kitgate::cli
