#include "orchestrator/cli/plan_view.h"

#include <ostream>

#include "orchestrator/cli/kit_view.h"

namespace kitgate::cli {

namespace {

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : std::string(sep)) + p;
  return out;
}

// argv for a person: words with spaces or quotes in single quotes.
std::string shellWords(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    if (!a.empty() && a.find_first_of(" \t\n'\"$&|;<>()*?`\\") == std::string::npos) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

// kitgate's own helper scripts are named by their $0 label (kitgate-ca, …).
std::string describeArgv(const std::vector<std::string>& argv) {
  if (argv.size() >= 4 && argv[0] == "sh" && argv[1] == "-c" && argv[3].rfind("kitgate-", 0) == 0) {
    return shellWords(std::vector<std::string>(argv.begin() + 3, argv.end()));
  }
  return shellWords(argv);
}

std::string indentContinuation(const std::string& text, std::string_view indent) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

}  // namespace

sandbox::PlanInput dryRunInput(const DryRunRequest& request) {
  const sandbox::CreateRequest& r = request.create;
  sandbox::PlanInput in;
  in.kit = r.kit;
  in.name = r.name;
  in.workspace = r.workspace;
  in.agent = r.agent;
  in.kit_ref = r.kit_ref;
  in.now_ms = secrets::unixMillisNow();
  in.subnet = std::string(kDryRunSubnet);
  in.gateway = std::string(kDryRunGateway);
  in.token = std::string(kDryRunToken);
  // Every sandbox that may reach a host trusts its interception CA from creation on.
  if (!in.kit.allow.empty() || !sandbox::planRoutes(in.kit).empty()) {
    in.ca_pem = "<the sandbox's interception CA>\n";
  }
  in.agent_args = r.agent_args;
  in.interactive = r.interactive;
  in.persistent_home = r.persistent_home;
  in.mixin_contexts = r.mixin_contexts;
  in.runtime = r.runtime;
  in.allow_host_root = r.allow_host_root;
  return in;
}

StatusOr<std::string> renderDryRun(const DryRunRequest& r) {
  const sandbox::PlanInput in = dryRunInput(r);
  auto planned = sandbox::planSandbox(in);
  if (!planned.isOk()) return planned.status();
  const sandbox::SandboxPlan& plan = *planned;
  const kit::Composition& c = r.composition;
  const docker::ContainerSpec& ct = plan.container;

  std::string o = "Plan for sandbox " + plan.name + " (dry run: nothing was created)\n\n";
  std::string kits = c.base + " (" + c.refs.front() + ")";
  if (!c.extends_chain.empty()) kits += " extends " + join(c.extends_chain, " extends ");
  for (size_t i = 0; i < c.mixins.size(); ++i)
    kits += " + " + c.mixins[i] + " (" + c.refs[i + 1] + ")";
  o += "  kits        " + kits + "\n";
  o += "  image       " + ct.image + "\n";
  o += "  network     " + ct.network + " (internal; its only way out is kitgate-proxy at " +
       std::string(kDryRunGateway) + ":" + std::to_string(sandbox::kProxyPort) + ")\n";
  o += "  container   " + ct.name + " as uid " + ct.user + " in " + ct.working_dir + "\n";
  o += "  agent       " + shellWords(plan.agent_argv) + "\n";
  for (const docker::Mount& m : ct.mounts) {
    std::string kind = m.type == docker::MountType::kBind     ? "bind"
                       : m.type == docker::MountType::kVolume ? "volume"
                                                              : "tmpfs";
    o += "  mount       " + kind + " " + (m.source.empty() ? "" : m.source + " -> ") + m.target +
         (m.read_only ? " (ro)" : "") + "\n";
  }
  o += "  runtime     " +
       (ct.runtime.empty() ? std::string("runc (the daemon's default)") : ct.runtime) + "\n";
  if (ct.privileged) {
    o += ct.runtime == sandbox::kRuntimeGvisor
             ? "  privileged  requested by a kit (root inside gVisor's kernel, not on the host)\n"
             : "  privileged  requested by a kit, allowed by --allow-host-root: root on the host\n";
  }

  o += "\nEnvironment\n";
  for (const std::string& e : ct.env) o += "  " + e + "\n";

  o += "\nNetwork policy (deny wins; anything else is denied)\n";
  if (plan.registration.allow.empty() && plan.registration.deny.empty()) o += "  (no rules)\n";
  for (const std::string& a : plan.registration.allow) o += "  allow  " + a + "\n";
  for (const std::string& d : plan.registration.deny) o += "  deny   " + d + "\n";

  o += "\nIntercepted hosts (TLS-intercepted to inject a credential)\n";
  if (plan.routes.empty() && plan.oauth.empty())
    o += "  (none: every connection is a plain tunnel)\n";
  for (const sandbox::CredentialRoute& route : plan.routes) {
    kit::Inject inject{"", route.header, route.format, route.username};
    o += "  " + join(route.domains, ", ") + "  " + route.service + ": " + describeInject(inject) +
         "\n";
  }

  for (const secrets::OAuthRoute& oauth : plan.oauth) {
    o += "  " + oauth.token_host + "  " + oauth.service + ": OAuth token endpoint " +
         oauth.token_path +
         (oauth.passthrough ? " (passthrough: the real tokens reach the sandbox)\n"
                            : " (real tokens kept on the host, the sandbox gets sentinels)\n");
    if (oauth.passthrough) continue;
    for (const std::string& h : oauth.resource_hosts) {
      o += "  " + h + "  " + oauth.service + ": OAuth bearer (" + oauth.access_sentinel +
           " -> the real access token)\n";
    }
  }

  if (!r.run_steps.empty()) {
    o += "\nWhat kitgate run does, in order (Ctrl-C between any two undoes them all)\n";
    for (size_t i = 0; i < r.run_steps.size(); ++i)
      o += "  " + std::to_string(i + 1) + ". " + r.run_steps[i] + "\n";
  }

  o += "\nSteps in the container, in order\n";
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const sandbox::SetupStep& s = plan.steps[i];
    std::string head = "  " + std::to_string(i + 1) + ". [" + s.stage + "] " + s.description;
    if (!s.gating) head += " (not gating)";
    o += indentContinuation(head, "       ") + "\n";
    if (s.kind == sandbox::StepKind::kArchive) {
      o += "       unpack an archive into " + s.dir + "\n";
    } else {
      o += "       as " + s.user + ": " + indentContinuation(describeArgv(s.argv), "         ") +
           "\n";
    }
  }
  if (!plan.warnings.empty()) {
    o += "\nWarnings\n";
    for (const std::string& w : plan.warnings) o += "  " + w + "\n";
  }
  return o;
}

int printDryRun(const DryRunRequest& request, Io& io) {
  auto text = renderDryRun(request);
  if (!text.isOk()) {
    io.err << "kitgate run: error: " << text.status().message() << "\n";
    return kExitFailed;
  }
  io.out << *text;
  return kExitOk;
}

}  // namespace kitgate::cli
