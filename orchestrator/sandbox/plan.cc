#include "orchestrator/sandbox/plan.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "kitloader/compose.h"
#include "orchestrator/docker/tar.h"
#include "orchestrator/sandbox/ssh_agent.h"
#include "orchestrator/sandbox/oauth_plan.h"
#include "orchestrator/state/state.h"

namespace kitgate::sandbox {

namespace {

constexpr std::string_view kStageDir = "/tmp/.kitgate-setup";

// The container's main process: wait for the start marker (a stale one from
// an earlier run of the container is removed first, so a restart waits for
// its setup again), then consume it and become the agent. An agent command
// that is not there ends the container with 127, saying so, and leaves the
// marker (SandboxManager::waitForAgent tells the two apart by it). $0 is a
// label for `ps`; "$@" is the agent argv.
constexpr std::string_view kWaitScript =
    "rm -f /tmp/.kitgate-start; while [ ! -e /tmp/.kitgate-start ]; do sleep 0.1; done; "
    "if ! command -v \"$1\" >/dev/null 2>&1; then echo \"kitgate: $1: command not found\" >&2; "
    "exit 127; fi; rm -f /tmp/.kitgate-start; exec \"$@\"";

// Installs the proxy CA (when one was copied in) into the system store and
// writes the bundle the CA variables point at: system roots + the proxy CA.
// $1 = CA file, $2 = system bundle, $3 = kitgate bundle.
constexpr std::string_view kCaScript =
    "set -e\n"
    "mkdir -p \"$(dirname \"$3\")\"\n"
    "if [ -s \"$1\" ] && command -v update-ca-certificates >/dev/null 2>&1; then\n"
    "  update-ca-certificates >/dev/null 2>&1 || echo 'kitgate: update-ca-certificates failed' "
    ">&2\n"
    "fi\n"
    ": > \"$3\"\n"
    "if [ -f \"$2\" ]; then cat \"$2\" >> \"$3\"; fi\n"
    "if [ -s \"$1\" ]; then cat \"$1\" >> \"$3\"; fi\n"
    "chmod 0644 \"$3\"\n";

// Copies one staged setup file into place as the agent.
// $1 = staged copy, $2 = destination, $3 = octal mode, $4 = 1 when only if missing.
constexpr std::string_view kSetupFileScript =
    "if [ \"$4\" = 1 ] && [ -e \"$2\" ]; then exit 0; fi\n"
    "mkdir -p \"$(dirname \"$2\")\" && cp \"$1\" \"$2\" && chmod \"$3\" \"$2\"\n";

// Names the engine owns; a kit may not set them (kit-spec §3.7).
bool isEngineOwnedVariable(std::string_view name) {
  static const std::set<std::string, std::less<>> kOwned = {"HTTP_PROXY",
                                                            "HTTPS_PROXY",
                                                            "NO_PROXY",
                                                            "ALL_PROXY",
                                                            "http_proxy",
                                                            "https_proxy",
                                                            "no_proxy",
                                                            "all_proxy",
                                                            "HOME",
                                                            "USER",
                                                            "SHELL",
                                                            "PATH",
                                                            "NODE_EXTRA_CA_CERTS",
                                                            "SSL_CERT_FILE",
                                                            "REQUESTS_CA_BUNDLE",
                                                            "PIP_CERT",
                                                            "NODE_USE_ENV_PROXY",
                                                            "WORKSPACE_DIR"};
  if (kOwned.count(name)) return true;
  for (std::string_view prefix : {"LD_", "SBX_", "DOCKER_", "KITGATE_"}) {
    if (name.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// Ordered NAME=value list where a later set() replaces an earlier value.
class EnvList {
 public:
  void set(const std::string& name, const std::string& value) {
    for (auto& [n, v] : vars_) {
      if (n == name) {
        v = value;
        return;
      }
    }
    vars_.emplace_back(name, value);
  }
  bool has(const std::string& name) const {
    return std::any_of(vars_.begin(), vars_.end(), [&](const auto& p) { return p.first == name; });
  }
  std::vector<std::string> render() const {
    std::vector<std::string> out;
    for (const auto& [n, v] : vars_) out.push_back(n + "=" + v);
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

std::string parentDir(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string replaceAll(std::string text, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

// A volume-name-safe suffix from a container path: "/home/agent/.cache" ->
// "home-agent-.cache".
std::string volumeSuffix(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "root" : out;
}

// Adds every missing parent directory of `path` (relative) to the archive.
Status addParents(docker::TarWriter& tar, std::string_view path, std::set<std::string>& made,
                  docker::TarEntryOwner owner) {
  for (size_t slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    std::string dir(path.substr(0, slash));
    if (!made.insert(dir).second) continue;
    Status s = tar.addDirectory(dir, 0755, owner);
    if (!s.isOk()) return s;
  }
  return Status::ok();
}

// One archive with the kit files of `target`, owned by the agent.
StatusOr<std::string> filesArchive(const kit::Kit& kit, kit::FileTarget target) {
  docker::TarWriter tar;
  std::set<std::string> made;
  const docker::TarEntryOwner agent{kAgentUid, kAgentUid};
  for (const kit::KitFile& f : kit.files) {
    if (f.target != target) continue;
    Status s = addParents(tar, f.relative_path, made, agent);
    if (s.isOk()) s = tar.addFile(f.relative_path, f.content, f.mode, agent);
    if (!s.isOk()) return Status::error("files/" + f.relative_path + ": " + s.message());
  }
  return tar.finish();
}

bool hasFiles(const kit::Kit& kit, kit::FileTarget target) {
  return std::any_of(kit.files.begin(), kit.files.end(),
                     [&](const kit::KitFile& f) { return f.target == target; });
}

SetupStep execStep(std::string stage, std::string description, std::vector<std::string> argv,
                   std::string user) {
  SetupStep step;
  step.kind = StepKind::kExec;
  step.stage = std::move(stage);
  step.description = std::move(description);
  step.argv = std::move(argv);
  step.user = std::move(user);
  return step;
}

SetupStep archiveStep(std::string stage, std::string description, std::string dir,
                      std::string tar) {
  SetupStep step;
  step.kind = StepKind::kArchive;
  step.stage = std::move(stage);
  step.description = std::move(description);
  step.dir = std::move(dir);
  step.tar = std::move(tar);
  return step;
}

std::vector<std::string> agentArgv(const PlanInput& in) {
  const kit::Sandbox& sb = *in.kit.sandbox;
  std::vector<std::string> argv = sb.entrypoint;
  if (argv.empty()) argv = {"sh"};
  if (sb.command) {
    const std::vector<std::string>& tail = in.interactive && sb.command->interactive
                                               ? *sb.command->interactive
                                               : sb.command->default_args;
    argv.insert(argv.end(), tail.begin(), tail.end());
  }
  argv.insert(argv.end(), in.agent_args.begin(), in.agent_args.end());
  return argv;
}

}  // namespace

std::string defaultSandboxName(std::string_view agent, std::string_view workspace) {
  while (workspace.size() > 1 && workspace.back() == '/') workspace.remove_suffix(1);
  std::string_view base = workspace.substr(workspace.rfind('/') + 1);
  std::string raw = std::string(agent) + (base.empty() ? "" : "-" + std::string(base));
  std::string out;
  for (char c : raw) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || l == '_' || l == '.';
    out += ok ? l : '-';
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
  if (out.size() > 63) out.resize(63);
  return out.empty() ? "sandbox" : out;
}

std::string containerName(std::string_view sandbox) { return "kitgate-" + std::string(sandbox); }
std::string networkName(std::string_view sandbox) { return "kitgate-" + std::string(sandbox); }

docker::NetworkSpec planNetwork(std::string_view sandbox) {
  docker::NetworkSpec spec;
  spec.name = networkName(sandbox);
  spec.internal = true;
  spec.labels[std::string(kSandboxLabel)] = std::string(sandbox);
  return spec;
}

std::vector<CredentialRoute> planRoutes(const kit::Kit& kit) {
  std::vector<CredentialRoute> routes;
  for (const kit::Credential& c : kit.credentials) {
    if (!c.api_key) continue;
    for (const kit::Inject& in : c.api_key->inject) {
      CredentialRoute r{c.service, {in.domain}, in.header, in.format, in.username};
      if (std::find(routes.begin(), routes.end(), r) == routes.end()) routes.push_back(r);
    }
  }
  return routes;
}

std::string agentFileContent(const kit::Kit& kit, std::string_view workspace) {
  return agentFileContent(kit, workspace, {});
}

std::string agentFileContent(const kit::Kit& kit, std::string_view workspace,
                             const std::vector<std::pair<std::string, std::string>>& mixins) {
  std::string out =
      "# kitgate sandbox\n\n"
      "You are running inside a kitgate sandbox (a container). Your workspace is `" +
      std::string(workspace) +
      "`, mounted at its host path.\n"
      "All network traffic goes through an egress proxy. A request to a host the\n"
      "sandbox's policy does not allow is refused with HTTP 403 and a short text\n"
      "naming the rule; ask the user to allow the host (`kitgate policy allow`)\n"
      "instead of working around it. Credentials are injected by the proxy: the\n"
      "values you see in the environment are placeholders.\n";
  if (!kit.agent_instructions.content.empty()) {
    out += "\n" + kit.agent_instructions.content;
    if (out.back() != '\n') out += '\n';
  }
  if (!mixins.empty()) {
    out += "\n<!-- sbx:kits-section start -->\n## Kits\n\n";
    for (const auto& [name, content] : mixins) {
      out += "- " + name + ": see `" + std::string(kMixinContextDir) + "/" + name + ".md`\n";
    }
    out += "<!-- sbx:kits-section end -->\n";
  }
  return out;
}

StatusOr<std::vector<SetupStep>> caSteps(const std::string& ca_pem) {
  std::vector<SetupStep> steps;
  if (!ca_pem.empty()) {
    docker::TarWriter tar;
    std::string rel = std::string(kCaCertPath).substr(1);
    std::set<std::string> made;
    Status s = addParents(tar, rel, made, {});
    if (s.isOk()) s = tar.addFile(rel, ca_pem, 0644);
    if (!s.isOk()) return Status::error("proxy CA: " + s.message());
    steps.push_back(archiveStep("ca", "Copy the proxy CA", "/", tar.finish()));
  }
  steps.push_back(
      execStep("ca", "Trust the proxy CA",
               {"sh", "-c", std::string(kCaScript), "kitgate-ca", std::string(kCaCertPath),
                std::string(kSystemBundlePath), std::string(kCaBundlePath)},
               "0"));
  return steps;
}

std::vector<SetupStep> restartSteps(const SandboxPlan& plan) {
  std::vector<SetupStep> out;
  for (const SetupStep& s : plan.steps) {
    if (s.stage == "startup" || s.stage == "files/workspace") out.push_back(s);
  }
  return out;
}

StatusOr<bool> privilegedContainer(const kit::Kit& kit, std::string_view runtime,
                                   bool allow_host_root) {
  if (!kit.privileged) return false;
  if (runtime == kRuntimeGvisor || allow_host_root) return true;
  return Status::error(
      "kit \"" + kit.name + "\" asks for security.privileged: under runtime " +
      (runtime.empty() ? std::string("runc (the default)") : std::string(runtime)) +
      " that makes the agent root on the host. Run it under gVisor (--runtime runsc), or pass "
      "--allow-host-root to accept that");
}

StatusOr<SandboxPlan> planSandbox(const PlanInput& in) {
  const kit::Kit& kit = in.kit;
  if (kit.kind != kit::KitKind::kSandbox || !kit.sandbox) {
    return Status::error("kit \"" + kit.name + "\" is a mixin; `run` needs a sandbox kit");
  }
  if (kit.sandbox->image.empty()) {
    return Status::error("kit \"" + kit.name + "\" names no image (sandbox.image)");
  }
  if (!state::validSandboxName(in.name)) {
    return Status::error("invalid sandbox name \"" + in.name +
                         "\": use 1-63 of a-z 0-9 - _ . starting with a letter or digit");
  }
  if (in.workspace.empty() || in.workspace.front() != '/') {
    return Status::error("workspace \"" + in.workspace + "\" is not an absolute path");
  }
  if (in.gateway.empty() || in.subnet.empty()) {
    return Status::error("the sandbox network has no gateway/subnet");
  }
  if (in.token.size() < 16) return Status::error("identification token too short");
  auto privileged = privilegedContainer(kit, in.runtime, in.allow_host_root);
  if (!privileged.isOk()) return privileged.status();

  SandboxPlan plan;
  plan.name = in.name;
  const std::string gw_host =
      in.gateway.find(':') != std::string::npos ? "[" + in.gateway + "]" : in.gateway;
  plan.proxy_url =
      "http://" + in.name + ":" + in.token + "@" + gw_host + ":" + std::to_string(in.proxy_port);

  // --- environment: kit variables, sentinels, placeholders, then ours.
  EnvList env;
  std::vector<std::string> no_proxy = {"localhost", "127.0.0.1", "::1"};
  for (const auto& [name, value] : kit.environment) {
    if (name == "NO_PROXY" || name == "no_proxy") {
      // Loopback entries may join kitgate's list; nothing else.
      kit::NoProxySplit split = kit::splitNoProxy(value);
      for (const std::string& e : split.kept) {
        if (std::find(no_proxy.begin(), no_proxy.end(), e) == no_proxy.end()) no_proxy.push_back(e);
      }
      std::string dropped;
      for (const std::string& e : split.dropped) dropped += (dropped.empty() ? "" : ",") + e;
      plan.warnings.push_back("kit variable " + name +
                              " is overridden by kitgate's proxy settings" +
                              (dropped.empty() ? std::string(" (its loopback entries are kept)")
                                               : "; dropped entries: " + dropped));
      continue;
    }
    if (isEngineOwnedVariable(name)) {
      plan.warnings.push_back("kit variable " + name +
                              " is set by kitgate; the kit's value is ignored");
      continue;
    }
    env.set(name, value);
  }
  for (const std::string& name : kit.proxyManagedNames()) {
    env.set(name, std::string(kProxyManagedSentinel));
  }
  for (const auto& [name, placeholder] : in.placeholders) {
    if (isEngineOwnedVariable(name)) {
      plan.warnings.push_back("custom secret variable " + name + " is set by kitgate; skipped");
      continue;
    }
    env.set(name, placeholder);
  }
  for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) {
    env.set(name, plan.proxy_url);
  }
  std::string no_proxy_value;
  for (const std::string& e : no_proxy) no_proxy_value += (no_proxy_value.empty() ? "" : ",") + e;
  env.set("NO_PROXY", no_proxy_value);
  env.set("no_proxy", no_proxy_value);
  if (!in.ca_pem.empty()) env.set("NODE_EXTRA_CA_CERTS", std::string(kCaCertPath));
  for (const char* name : {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT"}) {
    env.set(name, std::string(kCaBundlePath));
  }
  env.set("NODE_USE_ENV_PROXY", "1");
  env.set("WORKSPACE_DIR", in.workspace);
  env.set("KITGATE_SANDBOX", in.name);
  if (!in.ssh_agent_socket.empty()) env.set("SSH_AUTH_SOCK", std::string(kSshAgentPath));

  // --- container.
  docker::ContainerSpec& c = plan.container;
  c.name = containerName(in.name);
  c.image = kit.sandbox->image;
  c.env = env.render();
  c.user = std::to_string(kAgentUid);
  c.working_dir = in.workspace;
  c.hostname = in.name.substr(0, 63);
  c.labels[std::string(kSandboxLabel)] = in.name;
  c.labels["kitgate.agent"] = in.agent;
  c.labels["kitgate.kit"] = in.kit_ref;
  c.labels["kitgate.workspace"] = in.workspace;
  c.entrypoint = std::vector<std::string>{"sh", "-c", std::string(kWaitScript), "kitgate-agent"};
  plan.agent_argv = agentArgv(in);
  c.cmd = plan.agent_argv;
  c.tty = true;
  c.open_stdin = true;
  c.init = true;
  c.runtime = in.runtime;
  c.privileged = *privileged;
  if (c.privileged && in.runtime != kRuntimeGvisor) {
    plan.warnings.push_back("kit \"" + kit.name +
                            "\" runs privileged under runc (--allow-host-root): the agent is root "
                            "on this host");
  }
  c.network = networkName(in.name);
  // Docker's embedded DNS forwards names it does not know to the host's
  // resolvers (Moby before 26 even from internal networks, through the host's
  // namespace when they are on its loopback: CVE-2024-29018) — a way out that
  // bypasses the proxy. Pinned to the gateway, the forward leaves from the
  // sandbox's own namespace to an address kitgate controls (the host firewall
  // drops it unless the proxy answers there).
  c.dns = {in.gateway};
  c.mounts.push_back({docker::MountType::kBind, in.workspace, in.workspace, false});
  if (!in.ssh_agent_socket.empty()) {  // the socket only: keys stay with the host's agent
    c.mounts.push_back(
        {docker::MountType::kBind, in.ssh_agent_socket, std::string(kSshAgentPath), false});
  }
  auto addVolume = [&](const std::string& target) {
    VolumePlan v;
    v.spec.name = "kitgate-" + in.name + "-" + volumeSuffix(target);
    v.spec.labels[std::string(kSandboxLabel)] = in.name;
    v.target = target;
    c.mounts.push_back({docker::MountType::kVolume, v.spec.name, target, false});
    plan.volumes.push_back(std::move(v));
  };
  if (in.persistent_home) addVolume(std::string(kAgentHome));
  for (const kit::Volume& v : kit.volumes) {
    if (v.type == "tmpfs") {
      c.mounts.push_back({docker::MountType::kTmpfs, "", v.path, false});
    } else {
      addVolume(v.path);
    }
  }

  // --- setup steps, in kit-spec §3.5's safe order.
  std::vector<SetupStep>& steps = plan.steps;
  auto ca = caSteps(in.ca_pem);
  if (!ca.isOk()) return ca.status();
  steps = std::move(*ca);

  if (hasFiles(kit, kit::FileTarget::kHome)) {
    auto tar = filesArchive(kit, kit::FileTarget::kHome);
    if (!tar.isOk()) return tar.status();
    steps.push_back(archiveStep("files/home", "Copy files/home", std::string(kAgentHome), *tar));
  }

  for (const kit::InstallStep& step : kit.setup.install) {
    std::string desc = step.description.empty() ? step.command : step.description;
    steps.push_back(
        execStep("install", desc, {"sh", "-c", step.command}, step.user.empty() ? "0" : step.user));
  }

  if (!kit.setup.files.empty()) {
    docker::TarWriter tar;
    const docker::TarEntryOwner agent{kAgentUid, kAgentUid};
    Status s = tar.addDirectory(std::string(kStageDir).substr(1), 0700, agent);
    for (size_t i = 0; s.isOk() && i < kit.setup.files.size(); ++i) {
      std::string content = replaceAll(kit.setup.files[i].content, "${WORKDIR}", in.workspace);
      s = tar.addFile(std::string(kStageDir).substr(1) + "/" + std::to_string(i), content, 0600,
                      agent);
    }
    if (!s.isOk()) return Status::error("setup.files: " + s.message());
    steps.push_back(archiveStep("setup.files", "Stage setup.files", "/", tar.finish()));
    for (size_t i = 0; i < kit.setup.files.size(); ++i) {
      const kit::SetupFile& f = kit.setup.files[i];
      steps.push_back(execStep("setup.files",
                               f.description.empty() ? "Write " + f.path : f.description,
                               {"sh", "-c", std::string(kSetupFileScript), "kitgate-file",
                                std::string(kStageDir) + "/" + std::to_string(i), f.path,
                                f.mode.empty() ? "0644" : f.mode, f.only_if_missing ? "1" : "0"},
                               std::to_string(kAgentUid)));
    }
    steps.push_back(execStep("setup.files", "Remove staged setup.files",
                             {"rm", "-rf", std::string(kStageDir)}, std::to_string(kAgentUid)));
  }

  for (const kit::StartupStep& step : kit.setup.startup) {
    std::string desc = step.description;
    if (desc.empty()) {
      for (const std::string& a : step.command) desc += (desc.empty() ? "" : " ") + a;
    }
    std::vector<std::string> argv = step.command;
    if (step.background) {
      argv = {"sh", "-c", "\"$@\" >>/tmp/kitgate-startup.log 2>&1 &", "kitgate-startup"};
      argv.insert(argv.end(), step.command.begin(), step.command.end());
    }
    SetupStep s = execStep("startup", desc, std::move(argv),
                           step.user.empty() ? std::to_string(kAgentUid) : step.user);
    s.gating = false;
    steps.push_back(std::move(s));
  }

  if (hasFiles(kit, kit::FileTarget::kWorkspace)) {
    auto tar = filesArchive(kit, kit::FileTarget::kWorkspace);
    if (!tar.isOk()) return tar.status();
    steps.push_back(archiveStep("files/workspace", "Copy files/workspace", in.workspace, *tar));
  }

  if (!kit.agent_instructions.filename.empty()) {
    docker::TarWriter tar;
    Status s = tar.addFile(kit.agent_instructions.filename,
                           agentFileContent(kit, in.workspace, in.mixin_contexts), 0644,
                           {kAgentUid, kAgentUid});
    if (s.isOk() && !in.mixin_contexts.empty()) {
      s = tar.addDirectory(std::string(kMixinContextDir), 0755, {kAgentUid, kAgentUid});
    }
    for (size_t i = 0; s.isOk() && i < in.mixin_contexts.size(); ++i) {
      std::string body = in.mixin_contexts[i].second;
      if (!body.empty() && body.back() != '\n') body += '\n';
      s = tar.addFile(std::string(kMixinContextDir) + "/" + in.mixin_contexts[i].first + ".md",
                      body, 0644, {kAgentUid, kAgentUid});
    }
    if (!s.isOk()) return Status::error("agent file: " + s.message());
    steps.push_back(archiveStep("agent-file", "Write " + kit.agent_instructions.filename,
                                parentDir(in.workspace), tar.finish()));
  }

  // OAuth credential files, with the sentinels: the agent believes it is
  // logged in; a login (or refresh) through the proxy keeps the real tokens
  // on the host.
  auto oauth_files = credentialFiles(kit, in.now_ms + kCredentialFileLifetimeMs);
  if (!oauth_files.isOk()) return oauth_files.status();
  for (const CredentialFile& f : *oauth_files) {
    docker::TarWriter tar;
    const docker::TarEntryOwner agent{kAgentUid, kAgentUid};
    Status s = Status::ok();
    // The directories below the agent's home are the agent's.
    const std::string home = std::string(kAgentHome) + "/";
    for (size_t slash = f.path.find('/', home.size());
         s.isOk() && f.path.rfind(home, 0) == 0 && slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      s = tar.addDirectory(f.path.substr(1, slash - 1), 0700, agent);
    }
    if (s.isOk()) s = tar.addFile(f.path.substr(1), f.content, 0600, agent);
    if (!s.isOk()) return Status::error("credential file " + f.path + ": " + s.message());
    steps.push_back(archiveStep("oauth", "Write " + f.path + " (" + f.service + ", sentinels only)",
                                "/", tar.finish()));
  }

  steps.push_back(execStep("start", "Start the agent",
                           {"sh", "-c", ": > \"$1\"", "kitgate-start", std::string(kStartMarker)},
                           std::to_string(kAgentUid)));

  for (const kit::Port& p : kit.ports) {
    if (p.protocol == "udp") {
      plan.warnings.push_back("port " + std::to_string(p.container) +
                              "/udp is not published (kitgate publishes tcp ports)");
    } else if (std::find(plan.ports.begin(), plan.ports.end(), p.container) == plan.ports.end()) {
      plan.ports.push_back(p.container);
    }
  }

  plan.registration = Registration{in.name, {in.subnet}, in.token, kit.allow, kit.deny};
  plan.routes = planRoutes(kit);
  plan.oauth = planOAuth(kit);
  for (std::string& w : oauthWarnings(kit)) plan.warnings.push_back(std::move(w));
  return plan;
}

}  // namespace kitgate::sandbox
