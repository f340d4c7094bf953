// `kitgate k8s render --kit REF [--kit MIXIN…] AGENT --gateway-ip IP`: loads
// and composes the kits as `run` does (run_kits.h), plans the sandbox with the
// gateway as its proxy, writes its state files with the state writers into a
// scratch directory (so they are byte for byte what the gateway reads), and
// has kitgate-proxy --validate load that directory as the gateway will — which
// also mints the sandbox's interception CA there, with the name constraints
// the gateway checks (the CLI itself links no TLS library besides libcurl's).
// Prints the objects (k8s_render.h). Nothing is applied; the scratch
// directory is removed.
#include "orchestrator/cli/k8s_command.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>

#include "orchestrator/cli/k8s_render.h"
#include "orchestrator/cli/kit_settings.h"
#include "orchestrator/cli/run_kits.h"
#include "orchestrator/cli/state_cli.h"
#include "orchestrator/state/state.h"
#include "proxy/policy/ip_address.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "k8s";

constexpr std::string_view kUsage =
    "Usage: kitgate k8s render --kit REF [--kit MIXIN…] AGENT --gateway-ip IP\n"
    "                          [--name NAME] [--namespace NS] [--gateway-namespace NS]\n\n"
    "Prints, like `helm template`, the Kubernetes objects of one sandbox behind the\n"
    "kitgate gateway (deploy/kubernetes/gateway): the agent Deployment, its Secret\n"
    "(proxy URL with the token, placeholders), its ConfigMap (the sandbox CA),\n"
    "its NetworkPolicy (egress only to the gateway pods' port 3128: no DNS, no\n"
    "metadata service, no internet) and the gateway's Secret for this sandbox\n"
    "(registration, credential routes, CA key). Nothing is applied.\n\n"
    "  --kit REF             the sandbox kit, then mixins (as for `kitgate run`)\n"
    "  --gateway-ip IP       the gateway Service's cluster IP; the agent reaches\n"
    "                        http://NAME:TOKEN@kitgate-gateway:3128 through hostAliases\n"
    "  --name NAME           sandbox name (default: AGENT)\n"
    "  --namespace NS        the agent's namespace (default: default)\n"
    "  --gateway-namespace NS  the gateway's namespace (default: kitgate)\n\n"
    "Examples:\n"
    "  kitgate k8s render --kit ./amp/ amp --gateway-ip 10.96.0.50 > amp.yaml\n"
    "  kitgate k8s render --kit ./claude/ --kit ./glab/ claude --gateway-ip \\\n"
    "      \"$(kubectl -n kitgate get svc kitgate-gateway -o jsonpath='{.spec.clusterIP}')\"\n";

struct RenderArgs {
  std::vector<std::string> kits;
  std::string agent, name, ns = "default", gateway_ns = "kitgate", gateway_ip;
};

std::string readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A scratch state directory, removed on scope exit.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/kitgate-k8s.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// `kitgate-proxy --validate --state-dir DIR`: loads DIR as the gateway will
// (and mints the CAs its credential routes need); its complaint on failure.
Status validateState(const std::string& dir) {
  const std::string proxy = state::findProxyBinary();
  if (proxy.empty()) {
    return Status::error("kitgate-proxy not found (set KITGATE_PROXY); it mints the sandbox CA");
  }
  const std::string out_path = dir + "/validate.out";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const char* argv[] = {proxy.c_str(), "--validate", "--state-dir", dir.c_str(), nullptr};
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, proxy.c_str(), &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::error("cannot run " + proxy + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
  return Status::error("kitgate-proxy refuses the sandbox's state: " + readText(out_path));
}

// The gateway's view of the sandbox: its state files and CA, written by the
// same code that writes them for the host proxy.
Status gatewayState(const sandbox::SandboxPlan& plan, const std::string& token,
                    K8sRenderInput* in) {
  ScratchDir dir;
  if (dir.path.empty()) return Status::error("cannot create a scratch directory");
  const state::Paths paths{dir.path};
  if (Status s = state::ensureDirs(paths); !s) return s;
  state::SandboxRecord record;
  record.name = plan.name;
  record.token = token;  // identified by token alone: pod addresses change
  record.allow = plan.registration.allow;
  record.deny = plan.registration.deny;
  if (Status s = state::writeSandbox(paths, record); !s) return s;
  in->sandbox_yaml = readText(paths.sandboxFile(plan.name));
  if (!plan.routes.empty()) {
    std::vector<state::Route> routes;
    for (const sandbox::CredentialRoute& r : plan.routes) {
      routes.push_back(state::Route{r.service, r.domains, r.header, r.format, r.username});
    }
    if (Status s = state::writeRoutes(paths, plan.name, routes); !s) return s;
    in->credentials_yaml = readText(paths.credentialsFile(plan.name));
    // The gateway intercepts a route once kitgate-secrets binds it a value:
    // a stand-in value per service (never printed) gives the CA the name
    // constraints the gateway will require then.
    state::Secrets stand_in;
    std::set<std::string> services;
    for (const sandbox::CredentialRoute& r : plan.routes) {
      if (!services.insert(r.service).second) continue;
      stand_in.services.push_back(
          {r.service, state::sandboxScope(plan.name), "kitgate-k8s-render"});
    }
    if (Status s = state::saveSecrets(paths, stand_in); !s) return s;
  }
  if (Status s = validateState(paths.root); !s) return s;
  in->ca_pem = readText(paths.caCert(plan.name));
  in->ca_key_pem = readText(paths.root + "/ca/" + plan.name + ".key");
  if (in->ca_pem.empty() != in->ca_key_pem.empty())
    return Status::error("the sandbox CA is incomplete");
  return Status::ok();
}

int render(const RenderArgs& a, Io& io) {
  int rc = kExitFailed;
  // The kits load as `run` loads them: source policy, registry logins,
  // kit.requireSignature.
  kit::LoadOptions options;
  if (std::string e = applyKitSettings(&options); !e.empty()) {
    io.err << "kitgate k8s render: " << e << "\n";
    return kExitFailed;
  }
  auto kits = loadRunKits(a.kits, a.agent, options, io, true, &rc);
  if (!kits) return rc;
  const std::string name = a.name.empty() ? kits->agent : a.name;
  const std::string token = state::newPlaceholder("kgt_{rand}{rand}");

  sandbox::PlanInput pin;
  pin.kit = kits->composition.kit;
  pin.name = name;
  pin.workspace = "/workspace";
  pin.agent = kits->agent;
  pin.kit_ref = kits->kit_ref;
  pin.subnet = a.gateway_ip + "/32";  // unused: the gateway identifies by token
  pin.gateway = std::string(kGatewayName);
  pin.token = token;
  if (!sandbox::planRoutes(pin.kit).empty()) pin.ca_pem = "<sandbox CA>\n";
  for (const kit::MixinContext& m : kits->composition.mixin_contexts) {
    pin.mixin_contexts.emplace_back(m.kit, m.content);
  }
  auto plan = sandbox::planSandbox(pin);
  if (!plan) {
    io.err << "kitgate k8s render: " << plan.status().message() << "\n";
    return kExitFailed;
  }
  K8sRenderInput in;
  in.plan = *plan;
  in.agent_namespace = a.ns;
  in.gateway_namespace = a.gateway_ns;
  in.token = token;
  in.gateway_ip = a.gateway_ip;
  if (Status s = gatewayState(*plan, token, &in); !s) {
    io.err << "kitgate k8s render: " << s.message() << "\n";
    return kExitFailed;
  }
  for (const std::string& w : plan->warnings)
    io.err << "kitgate k8s render: warning: " << w << "\n";
  auto out = renderK8s(in);
  if (!out) {
    io.err << "kitgate k8s render: " << out.status().message() << "\n";
    return kExitFailed;
  }
  io.out << *out;
  return kExitOk;
}

// A Kubernetes namespace name (RFC 1123 label).
bool validNamespace(const std::string& ns) {
  if (ns.empty() || ns.size() > 63 || ns.front() == '-' || ns.back() == '-') return false;
  for (char c : ns) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace

int runK8sCommand(const Args& args, Io& io) {
  if (args.empty()) return usageError(io, kCmd, kUsage, "missing command (render)");
  if (isHelpFlag(args[0])) {
    io.out << kUsage;
    return kExitOk;
  }
  if (args[0] != "render") return usageError(io, kCmd, kUsage, "unknown command " + args[0]);
  RenderArgs a;
  std::vector<std::string> positional;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (isHelpFlag(arg)) {
      io.out << kUsage;
      return kExitOk;
    }
    std::string* value = arg == "--name"                ? &a.name
                         : arg == "--namespace"         ? &a.ns
                         : arg == "--gateway-namespace" ? &a.gateway_ns
                         : arg == "--gateway-ip"        ? &a.gateway_ip
                                                        : nullptr;
    if (arg == "--kit" || value != nullptr) {
      if (i + 1 >= args.size()) return usageError(io, kCmd, kUsage, arg + " needs a value");
      if (arg == "--kit") {
        a.kits.push_back(args[++i]);
      } else {
        *value = args[++i];
      }
    } else if (arg.rfind("--", 0) == 0) {
      return usageError(io, kCmd, kUsage, "unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (a.kits.empty()) return usageError(io, kCmd, kUsage, "--kit is required");
  if (positional.size() != 1) return usageError(io, kCmd, kUsage, "expected one AGENT");
  a.agent = positional.front();
  if (a.gateway_ip.empty()) return usageError(io, kCmd, kUsage, "--gateway-ip is required");
  if (!policy::IpAddress::parse(a.gateway_ip)) {
    return usageError(io, kCmd, kUsage,
                      "--gateway-ip: \"" + a.gateway_ip + "\" is not an IP address");
  }
  if (!a.name.empty() && !state::validSandboxName(a.name)) {
    return usageError(io, kCmd, kUsage, "--name: invalid sandbox name \"" + a.name + "\"");
  }
  for (const std::string* ns : {&a.ns, &a.gateway_ns}) {
    if (!validNamespace(*ns))
      return usageError(io, kCmd, kUsage, "invalid namespace \"" + *ns + "\"");
  }
  return render(a, io);
}

}  // namespace kitgate::cli
