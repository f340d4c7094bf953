// Sandbox planning: a validated Kit plus the facts of one `kitgate run`
// (sandbox name, workspace, the proxy address on the sandbox's network, the
// identification token, custom-secret placeholders, the proxy CA) become a
// SandboxPlan: the Docker network, volumes and container to create, the
// ordered setup steps to run inside it, the agent's argv, and what the proxy
// is told (registration + credential routes).
//
// Pure: no I/O, no clock, no randomness (the token is an input). Any thread.
// Everything returned is an owned value.
//
// Decisions (documented here because the executor and the e2e suite rely on
// them):
//  * Docker objects are named `kitgate-<name>` (network, container) and
//    `kitgate-<name>-<suffix>` (volumes), and labelled kitgate.sandbox=<name>.
//  * The proxy identifies the sandbox by BOTH its source address (the
//    sandbox network's subnet: only this sandbox's container is attached to
//    it) and a token carried in the proxy URL
//    (HTTP_PROXY=http://<name>:<token>@<gateway>:<port>). The token grants
//    nothing beyond this sandbox's own policy; it is not a secret value.
//  * The container's main process is a tiny `sh` wrapper that waits for the
//    file kStartMarker, then execs the agent (uid 1000, cwd = workspace).
//    Setup runs through `docker exec` while the wrapper waits; creating the
//    marker (the last step) starts the agent.
//  * The agent file (aiFilename) is written in the PARENT of the workspace
//    inside the container (kit-spec §3.6), so the host repository stays
//    clean.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kitloader/kit.h"
#include "proxy/secrets/oauth.h"
#include "orchestrator/docker/types.h"
#include "proxy/common/status.h"

namespace kitgate::sandbox {

inline constexpr int kProxyPort = 3128;
// The proxy's DNS listener on each sandbox gateway; the host rules redirect
// the sandbox's port 53 there (not 53 itself: a host resolver may hold it).
inline constexpr int kDnsPort = 3153;
inline constexpr uint32_t kAgentUid = 1000;
inline constexpr std::string_view kAgentHome = "/home/agent";
inline constexpr std::string_view kSandboxLabel = "kitgate.sandbox";
// Where the proxy CA and the bundle the CA variables point at live.
inline constexpr std::string_view kCaCertPath = "/usr/local/share/ca-certificates/kitgate.crt";
inline constexpr std::string_view kCaBundlePath = "/usr/local/share/kitgate/ca-bundle.pem";
inline constexpr std::string_view kSystemBundlePath = "/etc/ssl/certs/ca-certificates.crt";
// Created by the last setup step; the entrypoint wrapper waits for it.
inline constexpr std::string_view kStartMarker = "/tmp/.kitgate-start";
inline constexpr std::string_view kProxyManagedSentinel = "proxy-managed";

// `--name` default: "<agent>-<basename of workspace>", lower-cased, with
// characters outside the rule replaced by '-', cut to 63.
std::string defaultSandboxName(std::string_view agent, std::string_view workspace);

// Docker object names.
std::string containerName(std::string_view sandbox);
std::string networkName(std::string_view sandbox);

// The per-sandbox network: internal (no route out), labelled.
docker::NetworkSpec planNetwork(std::string_view sandbox);

struct PlanInput {
  kit::Kit kit;
  std::string name;       // sandbox name (state::validSandboxName)
  std::string workspace;  // absolute host path, mounted at the same path
  std::string agent;      // the AGENT positional, for records and labels
  std::string kit_ref;    // the --kit reference as given (redacted), for labels
  // The sandbox network as Docker created it.
  std::string subnet;   // "172.30.0.0/24"
  std::string gateway;  // "172.30.0.1": the proxy listens here
  int proxy_port = kProxyPort;
  std::string token;  // identification token (alnum, 16+)
  // env -> placeholder of the custom secrets visible in this sandbox.
  std::vector<std::pair<std::string, std::string>> placeholders;
  // PEM of the sandbox's interception CA; empty when the proxy made none.
  std::string ca_pem;
  std::vector<std::string> agent_args;  // after `--`
  bool interactive = true;              // use command.interactive when set
  bool persistent_home = false;         // a named volume for /home/agent
  // Composed mixins' agentInstructions.content (kit name, markdown), in
  // --kit order: written as kits-agent-context/<kit>.md beside the agent
  // file and indexed from its `## Kits` section (kit-spec §3.6).
  std::vector<std::pair<std::string, std::string>> mixin_contexts;
  // Container runtime: "" (the daemon's default, runc) or kRuntimeGvisor.
  std::string runtime;
  // The user accepted that a kit asking for security.privileged gets root on
  // the host under runc (`--allow-host-root`); see privilegedContainer().
  bool allow_host_root = false;
  // Host socket of the SSH agent to forward (ssh_agent.h); "" = none.
  std::string ssh_agent_socket;
  // Unix ms at planning: OAuth credential files state ExpiresAt from it.
  int64_t now_ms = 0;
};

// How long an OAuth credential file's sentinel token looks valid to the agent.
inline constexpr int64_t kCredentialFileLifetimeMs = 8LL * 3600 * 1000;

// gVisor's runtime name as registered with dockerd (tests/e2e/support/start-dockerd.sh).
inline constexpr std::string_view kRuntimeGvisor = "runsc";

// Whether the container runs privileged, for a kit's security.privileged:
// under gVisor (runsc) a privileged container is root in gVisor's user-space
// kernel, not on the host, so the kit gets it; under runc it is root on the
// host, so it is refused unless `allow_host_root` (never silently granted or
// dropped). A kit that does not ask runs unprivileged whatever the flags.
StatusOr<bool> privilegedContainer(const kit::Kit& kit, std::string_view runtime,
                                   bool allow_host_root);

struct VolumePlan {
  docker::VolumeSpec spec;
  std::string target;  // mount point in the container
};

enum class StepKind {
  kArchive,  // put `tar` into the container under `dir`
  kExec,     // run `argv` as `user` in `working_dir`
};

struct SetupStep {
  StepKind kind = StepKind::kExec;
  std::string stage;        // "ca", "files/home", "install", "setup.files", "startup", …
  std::string description;  // shown to the user: "Install Amp"
  // kArchive
  std::string dir;
  std::string tar;
  // kExec
  std::vector<std::string> argv;
  std::string user;
  std::string working_dir;
  // A failure stops `run` (install, files) or only warns (startup).
  bool gating = true;
  bool operator==(const SetupStep&) const = default;
};

// Registration handed to the proxy (sandboxes/<name>.yaml).
struct Registration {
  std::string name;
  std::vector<std::string> sources;
  std::string token;
  std::vector<std::string> allow;
  std::vector<std::string> deny;
};

// One credential route (credentials/<name>.yaml).
struct CredentialRoute {
  std::string service;
  std::vector<std::string> domains;
  std::string header;
  std::string format;
  std::string username;
  bool operator==(const CredentialRoute&) const = default;
};

struct SandboxPlan {
  std::string name;
  std::string proxy_url;  // http://<name>:<token>@<gateway>:<port>
  std::vector<VolumePlan> volumes;
  docker::ContainerSpec container;
  std::vector<SetupStep> steps;         // in order; the last one starts the agent
  std::vector<std::string> agent_argv;  // what the wrapper execs
  Registration registration;
  std::vector<CredentialRoute> routes;
  std::vector<secrets::OAuthRoute> oauth;  // oauth/<name>.json (orchestrator/sandbox/oauth_plan.h)
  std::vector<std::string> warnings;  // e.g. a kit variable overridden
  std::vector<int> ports;             // kit `ports` to publish (tcp)
};

// Fails (never throws) on inputs that cannot make a sandbox: no sandbox
// block, invalid name, relative workspace, missing gateway/token.
StatusOr<SandboxPlan> planSandbox(const PlanInput& input);

// Credential routes alone (the executor writes them before the container
// exists, so the proxy can mint the CA first).
std::vector<CredentialRoute> planRoutes(const kit::Kit& kit);

// What a restart of a stopped sandbox reruns (kit-spec §3.5 "On restart"):
// the startup commands and files/workspace, in creation order; not install,
// setup.files, files/home or the agent file (they live in the container's
// filesystem). The CA steps are not included: restart makes them from the
// CA the proxy holds then (caSteps).
std::vector<SetupStep> restartSteps(const SandboxPlan& plan);

// Installing the sandbox's interception CA: copy `ca_pem` (when not empty)
// and rebuild the trust store and the bundle the CA variables point at.
StatusOr<std::vector<SetupStep>> caSteps(const std::string& ca_pem);

// The agent file: kitgate's short preamble + the kit's instructions (+ the
// `## Kits` section between sbx's markers when mixins bring context).
std::string agentFileContent(const kit::Kit& kit, std::string_view workspace);
std::string agentFileContent(const kit::Kit& kit, std::string_view workspace,
                             const std::vector<std::pair<std::string, std::string>>& mixins);

// Directory (beside the agent file) holding each mixin's context file.
inline constexpr std::string_view kMixinContextDir = "kits-agent-context";

}  // namespace kitgate::sandbox
