#include "orchestrator/sandbox/manager.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include "orchestrator/sandbox/oauth_plan.h"
#include "orchestrator/sandbox/registration.h"
#include "orchestrator/sandbox/route_secrets.h"
#include "orchestrator/sandbox/tty_relay.h"
#include "orchestrator/sandbox/workspace_guard.h"

namespace kitgate::sandbox {

namespace {

constexpr size_t kFailureOutputTail = 4000;
constexpr int kLaunchLogLines = 20;

// Prints "  uid:home" for user agent and "sudo=yes|no"; runs with plain sh.
constexpr std::string_view kBaseImageScript =
    "while IFS=: read -r n x u g c h s; do\n"
    "  if [ \"$n\" = agent ]; then echo \"agent=$u:$h\"; fi\n"
    "done < /etc/passwd\n"
    "if command -v sudo >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi\n";

class StateProxyControl final : public ProxyControl {
 public:
  StateProxyControl(state::Paths paths, std::string binary)
      : paths_(std::move(paths)), binary_(std::move(binary)) {}
  Status ensureRunning() override {
    if (binary_.empty()) {
      return Status::error(
          "cannot find kitgate-proxy: set KITGATE_PROXY=/path/to/kitgate-proxy or put it on PATH");
    }
    return state::ensureProxy(paths_, binary_, &repairs_);
  }
  Status checkServes(const std::string& listen, const std::string& name,
                     const std::string& token) override {
    return state::probeSandbox(listen, name, token);
  }
  std::vector<std::string> takeRepairs() override { return std::exchange(repairs_, {}); }
  Status reload() override { return state::reloadProxy(paths_); }
  Status addListen(const std::string& addr) override { return state::addProxyListen(paths_, addr); }
  Status removeListen(const std::string& addr) override {
    return state::removeProxyListen(paths_, addr);
  }
  Status addDnsListen(const std::string& addr) override {
    return state::addProxyDnsListen(paths_, addr);
  }
  Status removeDnsListen(const std::string& addr) override {
    return state::removeProxyDnsListen(paths_, addr);
  }
  StatusOr<int> transparentPort() override {
    const state::ProxyStatus s = state::proxyStatus(paths_);
    for (const std::string& l : s.transparent) {
      const size_t colon = l.rfind(':');
      if (l.rfind("0.0.0.0:", 0) == 0 && colon != std::string::npos) {
        const int port = std::atoi(l.c_str() + colon + 1);
        if (port > 0) return port;
      }
    }
    return Status::error("the running kitgate-proxy (pid " + std::to_string(s.pid) +
                         ") has no transparent listener on 0.0.0.0 (it was started with an older "
                         "configuration, and transparent_listen is fixed at start); stop it "
                         "(kill " +
                         std::to_string(s.pid) + ") and run again");
  }

 private:
  state::Paths paths_;
  std::string binary_;
  std::vector<std::string> repairs_;
};

void say(const std::function<void(std::string_view)>& fn, std::string_view text) {
  if (fn) fn(text);
}

std::string nowIso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string tail(std::string_view text, size_t n) {
  return std::string(text.size() > n ? text.substr(text.size() - n) : text);
}

// The proxy's DNS listener of the network whose gateway is `gateway`.
std::string dnsListen(const std::string& gateway) {
  return gateway + ":" + std::to_string(kDnsPort);
}

std::vector<state::Route> toStateRoutes(const std::vector<CredentialRoute>& routes) {
  std::vector<state::Route> out;
  for (const CredentialRoute& r : routes) {
    out.push_back(state::Route{r.service, r.domains, r.header, r.format, r.username});
  }
  return out;
}

// Which secret each injecting route of `sandbox` will use (route_secrets.h):
// named, never the value. A route with none is a warning: its requests go out
// without the credential.
void sayRouteSecrets(const state::Paths& paths, const std::string& sandbox,
                     const std::vector<CredentialRoute>& routes, const Progress& progress) {
  auto notes = routeSecretNotes(paths, sandbox, routes);
  if (!notes.isOk()) return;  // the reload has already refused what is wrong there
  for (const RouteSecretNote& n : *notes) {
    if (n.secret.empty()) {
      say(progress.warning, n.text());
    } else {
      std::string line = n.text();
      line[0] = 'C';
      say(progress.step, line);
    }
  }
}

}  // namespace

std::unique_ptr<ProxyControl> makeProxyControl(state::Paths paths, std::string proxy_binary) {
  return std::make_unique<StateProxyControl>(std::move(paths), std::move(proxy_binary));
}

SandboxManager::SandboxManager(docker::DockerClient& docker, ProxyControl& proxy,
                               HostFirewall& firewall, state::Paths paths, PortForwarder* ports)
    : docker_(docker),
      ports_(ports),
      proxy_(proxy),
      firewall_(firewall),
      paths_(std::move(paths)),
      local_registry_(makeLocalRegistry(paths_)) {}

Step SandboxManager::portsStep(RunRecord& record, const Progress& progress) {
  return {"ports", "",
          [this, &record, &progress] {
            record.published.clear();
            if (record.ports.empty()) return Status::ok();
            if (ports_ == nullptr) {
              say(progress.warning, "the kit's ports are not published (no port forwarder)");
              return Status::ok();
            }
            auto info = docker_.inspectContainer(record.container_id);
            if (!info.isOk()) return info.status();
            std::string ip;
            if (info->has_value()) {
              auto it = (*info)->network_ips.find(record.network);
              if (it != (*info)->network_ips.end()) ip = it->second;
            }
            if (ip.empty())
              return Status::error("the container has no address on " + record.network);
            auto published = ports_->start(record.name, ip, record.ports);
            if (!published.isOk()) return published.status();
            record.published = *published;
            for (const PublishedPort& p : record.published) {
              say(progress.step, "Port " + std::to_string(p.container) + " published on " + p.host);
            }
            return Status::ok();
          },
          [this, &record] {
            return ports_ != nullptr && !record.ports.empty() ? ports_->stop(record.name)
                                                              : Status::ok();
          }};
}

Status SandboxManager::ensureProxy(const Progress& progress) {
  Status s = proxy_.ensureRunning();
  for (const std::string& r : proxy_.takeRepairs()) {
    say(progress.warning, paths_.proxyConfig() + ": kitgate put back " + r);
  }
  return s;
}

Status SandboxManager::ensureImage(const std::string& image, const Progress& progress) {
  auto info = docker_.inspectImage(image);
  if (!info.isOk()) return info.status();
  if (info->has_value()) return Status::ok();
  say(progress.step, "Pulling image " + image);
  Status s = docker_.pullImage(image, progress.pull ? progress.pull : docker::PullProgressFn{});
  if (!s.isOk()) {
    return Status::error("image " + image + " is not available locally and could not be pulled (" +
                         s.message() +
                         "); build or load it (docker build / docker load), then retry");
  }
  return Status::ok();
}

Status SandboxManager::checkBaseImage(const std::string& container_id, const Progress& progress) {
  docker::ExecSpec spec;
  spec.cmd = {"sh", "-c", std::string(kBaseImageScript)};
  spec.user = "0";
  auto r = docker_.exec(container_id, spec);
  if (!r.isOk()) {
    return Status::error("the image has no usable `sh` (" + r.status().message() +
                         "); kitgate needs a POSIX sh in the sandbox image");
  }
  if (r->exit_code != 0) {
    return Status::error("the image has no usable `sh` (exit " + std::to_string(r->exit_code) +
                         ": " + tail(r->stderr_text, 300) + ")");
  }
  const std::string& out = r->stdout_text;
  size_t at = out.find("agent=");
  if (at == std::string::npos) {
    return Status::error(
        "the image has no user `agent`; kitgate needs user agent (uid 1000, home " +
        std::string(kAgentHome) + ")");
  }
  std::string line = out.substr(at + 6, out.find('\n', at) - at - 6);
  std::string uid = line.substr(0, line.find(':'));
  std::string home = line.substr(line.find(':') + 1);
  if (uid != std::to_string(kAgentUid)) {
    return Status::error("user `agent` in the image has uid " + uid + "; kitgate needs uid 1000");
  }
  if (home != kAgentHome) {
    return Status::error("user `agent` in the image has home " + home + "; kitgate needs " +
                         std::string(kAgentHome));
  }
  if (out.find("sudo=no") != std::string::npos) {
    say(progress.warning, "the image has no sudo; the agent cannot install packages as root");
  }
  return Status::ok();
}

// What one create() has made so far; the steps read and fill it.
struct SandboxManager::CreateContext {
  const CreateRequest& req;
  CreateFailure& fail;
  RunRecord record;
  docker::NetworkInfo net;
  PlanInput in;
  SandboxPlan plan;
  std::vector<SetupStep> setup;  // what runs in the container before the agent
};

std::vector<Step> SandboxManager::registrationSteps(CreateContext& c, const Progress& progress) {
  std::vector<Step> steps;
  const CreateRequest& req = c.req;
  steps.push_back({"state directory", "", [this] { return state::ensureDirs(paths_); }, {}});
  steps.push_back(
      {"proxy", "Starting the proxy", [this, &progress] { return ensureProxy(progress); }, {}});

  const docker::NetworkSpec net_spec = planNetwork(req.name);
  steps.push_back({"network", "Creating network " + net_spec.name,
                   [this, &c, net_spec] {
                     auto net = docker_.createNetwork(net_spec);
                     if (!net.isOk()) return net.status();
                     c.net = *net;
                     c.record.network = net->name;
                     c.record.subnet = net->subnet;
                     if (net->gateway.empty() || net->subnet.empty()) {
                       (void)docker_.removeNetwork(net->id);
                       return Status::error("Docker reported no gateway/subnet for " + net->name);
                     }
                     c.record.proxy_listen = net->gateway + ":" + std::to_string(kProxyPort);
                     return Status::ok();
                   },
                   [this, &c] { return docker_.removeNetwork(c.net.id); }});

  // The host rules: the proxy is the sandbox's only way out (host_firewall.h).
  steps.push_back({"host firewall", "",
                   [this, &c] {
                     auto transparent = proxy_.transparentPort();
                     if (!transparent.isOk()) return transparent.status();
                     return firewall_.isolate(FirewallSpec{c.req.name, c.net.subnet, c.net.gateway,
                                                           bridgeName(c.net.id), kProxyPort,
                                                           *transparent, kDnsPort});
                   },
                   [this, &c] { return firewall_.release(c.req.name); }});

  // The proxy listens on the network's gateway.
  steps.push_back({"proxy listen", "",
                   [this, &c, &progress] {
                     say(progress.step, "Proxy listening on " + c.record.proxy_listen);
                     return proxy_.addListen(c.record.proxy_listen);
                   },
                   [this, &c] { return proxy_.removeListen(c.record.proxy_listen); }});
  // And answers its DNS there (the host rules send port 53 to it).
  steps.push_back({"proxy dns", "",
                   [this, &c] { return proxy_.addDnsListen(dnsListen(c.net.gateway)); },
                   [this, &c] { return proxy_.removeDnsListen(dnsListen(c.net.gateway)); }});

  // Registration + routes, then reload (mints the CA when credentials are bound).
  steps.push_back({"registration", "",
                   [this, &c] {
                     auto placeholders = registry().placeholders(c.req.name);
                     if (!placeholders.isOk()) return placeholders.status();
                     c.in.placeholders = std::move(*placeholders);
                     c.in.subnet = c.net.subnet;
                     c.in.gateway = c.net.gateway;
                     return registry().write(c.req.name, c.net.subnet, c.in.token, c.req.kit.allow,
                                             c.req.kit.deny, toStateRoutes(planRoutes(c.req.kit)),
                                             planOAuth(c.req.kit));
                   },
                   // With the CA the reload makes for every sandbox (proxy/mitm/authority.h).
                   [this, &c] {
                     Status s = registry().remove(c.req.name);
                     Status ca = registry().removeCa(c.req.name);
                     return s.isOk() ? ca : s;
                   }});
  steps.push_back({"proxy reload", "Registering sandbox " + req.name + " with the proxy",
                   [this, &c, &progress] {
                     Status r = proxy_.reload();
                     if (!r.isOk()) return r;
                     c.in.ca_pem = registry().caCert(c.req.name);
                     if (registry().local()) {
                       sayRouteSecrets(paths_, c.req.name, planRoutes(c.req.kit), progress);
                     }
                     return r;
                   },
                   // After the registration is gone, so the proxy forgets it.
                   [this] { return proxy_.reload(); }});
  steps.push_back(
      {"proxy check",
       "",
       [this, &c] { return proxy_.checkServes(c.record.proxy_listen, c.req.name, c.in.token); },
       {}});
  steps.push_back({"plan",
                   "",
                   [&c, &progress] {
                     auto plan = planSandbox(c.in);
                     if (!plan.isOk()) return plan.status();
                     c.plan = std::move(*plan);
                     c.record.restart = restartSteps(c.plan);
                     c.record.ports = c.plan.ports;
                     for (const std::string& w : c.plan.warnings) say(progress.warning, w);
                     return Status::ok();
                   },
                   {}});
  return steps;
}

std::vector<Step> SandboxManager::setupStepList(CreateContext& c,
                                                const std::vector<SetupStep>& setup,
                                                const Progress& progress) {
  std::vector<Step> steps;
  for (const SetupStep& step : setup) {
    const std::string label = step.stage + ": " + step.description;
    steps.push_back(
        {label,
         label,
         [this, &c, &step, &progress, label] { return runSetupStep(c, step, label, progress); },
         {}});
  }
  return steps;
}

std::vector<Step> SandboxManager::containerSteps(CreateContext& c, const Progress& progress) {
  std::vector<Step> steps;
  const SandboxPlan& plan = c.plan;
  c.setup.assign(plan.steps.begin(), plan.steps.end() - (plan.steps.empty() ? 0 : 1));
  steps.push_back({"image",
                   "",
                   [this, &plan, &progress] { return ensureImage(plan.container.image, progress); },
                   {}});
  for (const VolumePlan& v : plan.volumes) {
    steps.push_back({"volume " + v.spec.name, "",
                     [this, &c, &v] {
                       auto vol = docker_.createVolume(v.spec);
                       if (!vol.isOk()) return vol.status();
                       c.record.volumes.push_back(vol->name);
                       return Status::ok();
                     },
                     [this, &v] { return docker_.removeVolume(v.spec.name, true); }});
  }
  steps.push_back({"container",
                   "Creating container " + plan.container.name + " from " + plan.container.image,
                   [this, &c, &plan] {
                     auto id = docker_.createContainer(plan.container);
                     if (!id.isOk()) return id.status();
                     c.record.container_id = *id;
                     c.record.container = plan.container.name;
                     return Status::ok();
                   },
                   [this, &c] { return docker_.removeContainer(c.record.container_id, true); }});
  steps.push_back({"container start",
                   "",
                   [this, &c] { return docker_.startContainer(c.record.container_id); },
                   {}});
  steps.push_back(portsStep(c.record, progress));
  steps.push_back(
      {"base image check",
       "",
       [this, &c, &progress] { return checkBaseImage(c.record.container_id, progress); },
       {}});
  // Setup steps (all but the last, which starts the agent: start()).
  std::vector<Step> setup = setupStepList(c, c.setup, progress);
  steps.insert(steps.end(), std::make_move_iterator(setup.begin()),
               std::make_move_iterator(setup.end()));
  steps.push_back(
      {"run record", "", [this, &c] { return saveRunRecord(paths_.runDir(), c.record); }, {}});
  return steps;
}

Status SandboxManager::runSetupStep(CreateContext& c, const SetupStep& step,
                                    const std::string& label, const Progress& progress) {
  const std::string& id = c.record.container_id;
  if (step.kind == StepKind::kArchive) return docker_.putArchive(id, step.dir, step.tar);
  docker::ExecSpec spec;
  spec.cmd = step.argv;
  spec.user = step.user;
  spec.working_dir = step.working_dir;
  spec.max_captured_bytes = kFailureOutputTail;
  auto r = docker_.execStreaming(
      id, spec, [&](docker::OutputStream, std::string_view data) { say(progress.output, data); });
  if (!r.isOk()) {
    if (!step.gating) {
      say(progress.warning, label + ": " + r.status().message());
      return Status::ok();
    }
    return r.status();
  }
  if (r->exit_code != 0) {
    if (!step.gating) {
      say(progress.warning, label + ": exited with " + std::to_string(r->exit_code));
      return Status::ok();
    }
    c.fail.exit_code = r->exit_code;
    c.fail.output = tail(r->stdout_text + r->stderr_text, kFailureOutputTail);
    return Status::error("exited with " + std::to_string(r->exit_code));
  }
  return Status::ok();
}

Status SandboxManager::checkCreate(const CreateRequest& req) {
  if (!state::validSandboxName(req.name)) {
    return Status::error("invalid sandbox name \"" + req.name +
                         "\": use 1-63 of a-z 0-9 - _ . starting with a letter or digit");
  }
  if (Status w = checkWorkspace(req.workspace, paths_.root, protectedPaths()); !w.isOk()) return w;
  if (!registry().local()) {
    // The state that holds the secrets is the daemon's: out of reach as well.
    auto root = registry().stateRoot();
    if (!root.isOk()) return root.status();
    if (Status w = checkWorkspace(req.workspace, *root, protectedPaths()); !w.isOk()) return w;
  }
  if (loadRunRecord(paths_.runDir(), req.name).isOk()) {
    return Status::error("a sandbox named \"" + req.name +
                         "\" already exists; remove it first (kitgate rm " + req.name +
                         ") or pick another --name");
  }
  return Status::ok();
}

namespace {

// What the plan needs from the request; the steps fill in network, token, placeholders and CA.
PlanInput planInputFor(const CreateRequest& req) {
  PlanInput in;
  in.kit = req.kit;
  in.name = req.name;
  in.workspace = req.workspace;
  in.agent = req.agent;
  in.kit_ref = req.kit_ref;
  in.agent_args = req.agent_args;
  in.interactive = req.interactive;
  in.persistent_home = req.persistent_home;
  in.mixin_contexts = req.mixin_contexts;
  in.runtime = req.runtime;
  in.allow_host_root = req.allow_host_root;
  in.ssh_agent_socket = req.ssh_agent_socket;
  in.now_ms = secrets::unixMillisNow();
  return in;
}

}  // namespace

StatusOr<RunRecord> SandboxManager::create(const CreateRequest& req, const Progress& progress,
                                           CreateFailure* failure) {
  CreateFailure scratch;
  if (Status s = checkCreate(req); !s.isOk()) return s;

  CreateContext c{req, failure ? *failure : scratch, {}, {}, {}, {}, {}};
  c.record.name = req.name;
  c.record.agent = req.agent;
  c.record.kit = req.kit_ref;
  c.record.image = req.kit.sandbox ? req.kit.sandbox->image : "";
  c.record.workspace = req.workspace;
  c.record.created = nowIso8601();
  c.in = planInputFor(req);
  c.in.token = req.token.empty() ? state::newPlaceholder("kgt{rand}{rand}") : req.token;

  StepRunner runner(progress, &c.fail);
  // The container steps depend on the plan the first list produces.
  const std::vector<Step> first = registrationSteps(c, progress);
  if (Status s = runner.run(first); !s.isOk()) return s;
  const std::vector<Step> second = containerSteps(c, progress);
  if (Status s = runner.run(second); !s.isOk()) return s;
  runner.commit();
  return c.record;
}

StatusOr<std::vector<std::string>> SandboxManager::plannedSteps(const CreateRequest& req) {
  if (Status s = checkCreate(req); !s.isOk()) return s;
  CreateFailure unused;
  CreateContext c{req, unused, {}, {}, {}, {}, {}};
  c.in = planInputFor(req);
  // Stand-ins for what Docker and the proxy would say; labels only.
  c.in.subnet = "192.0.2.0/24";
  c.in.gateway = "192.0.2.1";
  c.in.token = "kgtPLANNEDplanned0000";
  c.in.ca_pem = planRoutes(req.kit).empty() ? "" : "planned";
  const Progress quiet;
  std::vector<std::string> labels = stepLabels(registrationSteps(c, quiet));
  auto plan = planSandbox(c.in);
  if (!plan.isOk()) return plan.status();
  c.plan = std::move(*plan);
  for (std::string& l : stepLabels(containerSteps(c, quiet))) labels.push_back(std::move(l));
  return labels;
}

Status SandboxManager::start(const RunRecord& record) {
  docker::ExecSpec spec;
  spec.cmd = {"sh", "-c", ": > \"$1\"", "kitgate-start", std::string(kStartMarker)};
  spec.user = std::to_string(kAgentUid);
  auto r = docker_.exec(record.container_id, spec);
  if (!r.isOk()) return Status::error("start the agent: " + r.status().message());
  if (r->exit_code != 0) {
    return Status::error("start the agent: exited with " + std::to_string(r->exit_code) + ": " +
                         tail(r->stderr_text, 300));
  }
  return Status::ok();
}

StatusOr<RunRecord> SandboxManager::liveRecord(const std::string& name) {
  return loadRunRecord(paths_.runDir(), name);
}

Status SandboxManager::remove(const std::string& name, bool keep_volumes,
                              const Progress& progress) {
  std::vector<std::string> problems;
  auto check = [&](const std::string& what, const Status& s) {
    if (!s.isOk()) problems.push_back(what + ": " + s.message());
  };
  auto rec = liveRecord(name);
  RunRecord record;
  if (rec.isOk()) {
    record = *rec;
  } else {
    // Half-created or unknown: remove by the names run would have used.
    record.name = name;
    record.container = containerName(name);
    record.network = networkName(name);
  }
  const std::string container =
      record.container_id.empty() ? record.container : record.container_id;
  if (ports_ != nullptr) check("port forwarder", ports_->stop(name));
  say(progress.step, "Removing container " + record.container);
  check("container", docker_.removeContainer(container, true));
  std::string gateway = record.proxy_listen.substr(0, record.proxy_listen.rfind(':'));
  if (auto net = docker_.inspectNetwork(record.network); net.isOk() && net->has_value()) {
    gateway = (*net)->gateway;
  }
  check("host firewall", firewall_.release(name));
  if (!gateway.empty()) {
    check("proxy dns " + dnsListen(gateway), proxy_.removeDnsListen(dnsListen(gateway)));
  }
  say(progress.step, "Removing network " + record.network);
  check("network", docker_.removeNetwork(record.network));
  if (!keep_volumes) {
    std::vector<std::string> volumes = record.volumes;
    auto labelled = docker_.listVolumes({std::string(kSandboxLabel) + "=" + name});
    if (labelled.isOk()) {
      for (const auto& v : *labelled) volumes.push_back(v.name);
    }
    for (const std::string& v : volumes) check("volume " + v, docker_.removeVolume(v, true));
  }
  check("registration", registry().remove(name));  // and its OAuth state
  auto scoped = registry().removeScopedSecrets(name);
  if (!scoped.isOk()) {
    check("secrets", scoped.status());
  } else if (*scoped) {
    say(progress.step, "Removing secrets scoped to " + name);
  }
  // Half-created (no record): the listen entry run adds for this network.
  if (record.proxy_listen.empty() && !gateway.empty()) {
    record.proxy_listen = gateway + ":" + std::to_string(kProxyPort);
  }
  if (!record.proxy_listen.empty()) {
    check("proxy listen " + record.proxy_listen, proxy_.removeListen(record.proxy_listen));
  } else {
    check("proxy reload", proxy_.reload());
  }
  // The sandbox's interception CA (the proxy no longer serves it).
  check("CA files", registry().removeCa(name));
  check("run record", removeRunRecord(paths_.runDir(), name));
  if (problems.empty()) return Status::ok();
  std::string msg = "removing " + name + ":";
  for (const std::string& p : problems) msg += "\n  " + p;
  return Status::error(msg);
}

Status SandboxManager::stop(const std::string& name, std::chrono::seconds grace) {
  auto rec = liveRecord(name);
  if (!rec.isOk()) return rec.status();
  if (ports_ != nullptr && !rec->ports.empty()) {
    if (Status s = ports_->stop(name); !s.isOk()) return s;
    rec->published.clear();  // nothing listens for it while stopped
    if (Status s = saveRunRecord(paths_.runDir(), *rec); !s.isOk()) return s;
  }
  return docker_.stopContainer(rec->container_id, grace);
}

bool SandboxManager::exists(const std::string& name) const {
  return loadRunRecord(paths_.runDir(), name).isOk();
}

StatusOr<RunRecord> SandboxManager::restart(const std::string& name, const Progress& progress) {
  auto rec = liveRecord(name);
  if (!rec.isOk()) return rec.status();
  auto info = docker_.inspectContainer(rec->container_id);
  if (!info.isOk()) return info.status();
  if (!info->has_value()) {
    return Status::error("the container of sandbox " + name + " (" + rec->container +
                         ") is gone; remove the sandbox (kitgate rm " + name +
                         ") and run it again");
  }
  if ((*info)->state.running) return Status::error("sandbox " + name + " is already running");

  const CreateRequest none;
  CreateFailure fail;
  CreateContext c{none, fail, *rec, {}, {}, {}, {}};
  StepRunner runner(progress, nullptr);
  const std::vector<Step> first = {
      {"proxy", "Starting the proxy", [this, &progress] { return ensureProxy(progress); }, {}},
      // The registration is intact. Nothing runs with the old CA: the reload
      // makes a new one for the sandbox's current policy and credentials
      // (proxy/mitm/authority.h), so hosts allowed since it was made are
      // intercepted too.
      {"ca renew", "", [this, &name] { return registry().removeCa(name); }, {}},
      {"proxy reload", "", [this] { return proxy_.reload(); }, {}},
      {"proxy check",
       "",
       [this, &name, &c] {
         auto token = registry().token(name);
         if (!token.isOk()) return token.status();
         return proxy_.checkServes(c.record.proxy_listen, name, *token);
       },
       {}},
      {"container start", "Starting container " + rec->container,
       [this, &c] { return docker_.startContainer(c.record.container_id); },
       [this, &c] {
         return docker_.stopContainer(c.record.container_id, std::chrono::seconds(10));
       }},
  };
  if (Status s = runner.run(first); !s.isOk()) return s;
  const std::vector<Step> published = {portsStep(c.record, progress)};
  if (Status s = runner.run(published); !s.isOk()) return s;
  // The CA the proxy holds now (it may have been renewed while stopped).
  auto ca = caSteps(registry().caCert(name));
  if (!ca.isOk()) return ca.status();
  c.setup = std::move(*ca);
  c.setup.insert(c.setup.end(), rec->restart.begin(), rec->restart.end());
  const std::vector<Step> second = setupStepList(c, c.setup, progress);
  if (Status s = runner.run(second); !s.isOk()) return s;
  if (Status s = saveRunRecord(paths_.runDir(), c.record); !s.isOk()) return s;
  runner.commit();
  return c.record;
}

StatusOr<AgentLaunch> SandboxManager::waitForAgent(const RunRecord& record) {
  // The entrypoint consumes the start marker just before it execs the agent
  // and leaves it when the agent command is missing (the container then
  // exits, which ends this exec too). Bounded: 600 x 50 ms.
  docker::ExecSpec spec;
  spec.cmd = {"sh", "-c",
              "i=0; while [ -e \"$1\" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
              "[ ! -e \"$1\" ]",
              "kitgate-wait", std::string(kStartMarker)};
  spec.user = std::to_string(kAgentUid);
  auto waited = docker_.exec(record.container_id, spec);
  auto info = docker_.inspectContainer(record.container_id);
  if (!info.isOk()) return info.status();
  if (!info->has_value()) return Status::error("the container " + record.container + " is gone");
  AgentLaunch launch;
  const bool ended = !waited.isOk() || waited->exit_code > 1;
  if ((*info)->state.running && !ended) {
    launch.running = true;  // consumed (up), or still waiting after the bound
    return launch;
  }
  auto code = docker_.waitContainer(record.container_id);  // it is exiting
  if (!code.isOk()) return code.status();
  launch.exit_code = *code;
  auto logs = docker_.containerLogs(record.container_id, kLaunchLogLines);
  if (logs.isOk()) launch.last_output = *logs;
  return launch;
}

StatusOr<std::vector<SandboxStatus>> SandboxManager::list() {
  std::vector<SandboxStatus> out;
  for (const std::string& name : listRunRecords(paths_.runDir())) {
    auto rec = liveRecord(name);
    if (!rec.isOk()) continue;
    SandboxStatus st{*rec, "missing"};
    auto info = docker_.inspectContainer(rec->container_id);
    if (!info.isOk()) return info.status();
    if (info->has_value()) st.state = (*info)->state.status;
    out.push_back(std::move(st));
  }
  return out;
}

StatusOr<int> SandboxManager::exec(const std::string& name, const std::vector<std::string>& argv,
                                   const docker::OutputFn& on_output) {
  ExecRequest request;
  request.argv = argv;
  return exec(name, request, on_output);
}

namespace {

// `request` as the agent, in the workspace unless it names a directory.
docker::ExecSpec agentExec(const RunRecord& record, const ExecRequest& request) {
  docker::ExecSpec spec;
  spec.cmd = request.argv;
  spec.env = request.env;
  spec.user = std::to_string(kAgentUid);
  spec.working_dir = request.working_dir.empty() ? record.workspace : request.working_dir;
  return spec;
}

}  // namespace

StatusOr<int> SandboxManager::exec(const std::string& name, const ExecRequest& request,
                                   const docker::OutputFn& on_output) {
  auto rec = liveRecord(name);
  if (!rec.isOk()) return rec.status();
  docker::ExecSpec spec = agentExec(*rec, request);
  spec.max_captured_bytes = 1024;  // enough to tell "not found" from "not executable"
  auto r = docker_.execStreaming(rec->container_id, spec, on_output);
  if (!r.isOk()) return r.status();
  return execExitCode(*r);
}

StatusOr<int> SandboxManager::execInteractive(const std::string& name, const ExecRequest& request,
                                              int in_fd, int out_fd) {
  auto rec = liveRecord(name);
  if (!rec.isOk()) return rec.status();
  docker::ExecSpec spec = agentExec(*rec, request);
  // The API this daemon speaks (1.41) cannot size the TTY at creation and a
  // resize right after the start races the command, so the command starts
  // from a shell that sets the caller's size first (later changes go
  // through resizeExec).
  winsize ws{};
  if (::isatty(in_fd) != 0 && ::ioctl(in_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
      ws.ws_col > 0) {
    std::vector<std::string> cmd = {
        "sh",
        "-c",
        "stty rows \"$1\" cols \"$2\" 2>/dev/null; shift 2; exec \"$@\"",
        "kitgate-exec",
        std::to_string(ws.ws_row),
        std::to_string(ws.ws_col)};
    cmd.insert(cmd.end(), spec.cmd.begin(), spec.cmd.end());
    spec.cmd = std::move(cmd);
  }
  spec.tty = true;
  spec.attach_stdin = true;
  auto session = docker_.execAttach(rec->container_id, spec);
  if (!session.isOk()) return session.status();
  const std::string id = session->id;
  Status relay =
      relayTerminal([this, &id](int rows, int cols) { (void)docker_.resizeExec(id, rows, cols); },
                    std::move(session->stream), in_fd, out_fd);
  if (!relay.isOk()) return relay;
  auto code = docker_.execExitCode(id);
  if (!code.isOk()) return code.status();
  return *code;
}

int execExitCode(const docker::ExecResult& result) {
  // Docker reports a failed exec start as 126 whatever the cause; docker's
  // CLI tells a missing command (127) from one it cannot execute (126).
  if (result.exit_code != kExecNotExecutable) return result.exit_code;
  const std::string text = result.stdout_text + result.stderr_text;
  for (const char* missing : {"executable file not found", "no such file or directory"}) {
    if (text.find(missing) != std::string::npos) return kExecNotFound;
  }
  return result.exit_code;
}

}  // namespace kitgate::sandbox
