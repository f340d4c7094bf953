#include "orchestrator/sandbox/manager.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace kitgate::sandbox {

namespace {

constexpr size_t kFailureOutputTail = 4000;

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
    return state::ensureProxy(paths_, binary_);
  }
  Status reload() override { return state::reloadProxy(paths_); }
  Status addListen(const std::string& addr) override { return state::addProxyListen(paths_, addr); }
  Status removeListen(const std::string& addr) override {
    return state::removeProxyListen(paths_, addr);
  }

 private:
  state::Paths paths_;
  std::string binary_;
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

std::string readFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(std::string_view text, size_t n) {
  return std::string(text.size() > n ? text.substr(text.size() - n) : text);
}

std::vector<state::Route> toStateRoutes(const std::vector<CredentialRoute>& routes) {
  std::vector<state::Route> out;
  for (const CredentialRoute& r : routes) {
    out.push_back(state::Route{r.service, r.domains, r.header, r.format, r.username});
  }
  return out;
}

// Undo actions for a create() in progress, run in reverse on failure.
class Rollback {
 public:
  explicit Rollback(const Progress& progress) : progress_(progress) {}
  ~Rollback() {
    if (!armed_) return;
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      Status s = it->second();
      if (!s.isOk()) say(progress_.warning, "cleanup: " + it->first + ": " + s.message());
    }
  }
  void add(std::string what, std::function<Status()> fn) {
    undo_.emplace_back(std::move(what), std::move(fn));
  }
  void disarm() { armed_ = false; }

 private:
  const Progress& progress_;
  std::vector<std::pair<std::string, std::function<Status()>>> undo_;
  bool armed_ = true;
};

}  // namespace

std::unique_ptr<ProxyControl> makeProxyControl(state::Paths paths, std::string proxy_binary) {
  return std::make_unique<StateProxyControl>(std::move(paths), std::move(proxy_binary));
}

SandboxManager::SandboxManager(docker::DockerClient& docker, ProxyControl& proxy,
                               HostFirewall& firewall, state::Paths paths)
    : docker_(docker), proxy_(proxy), firewall_(firewall), paths_(std::move(paths)) {}

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

StatusOr<RunRecord> SandboxManager::create(const CreateRequest& req, const Progress& progress,
                                           CreateFailure* failure) {
  CreateFailure scratch;
  CreateFailure& fail = failure ? *failure : scratch;
  auto failAt = [&](std::string step, const Status& s) {
    fail.step = step;
    return Status::error(step + ": " + s.message());
  };

  if (!state::validSandboxName(req.name)) {
    return Status::error("invalid sandbox name \"" + req.name +
                         "\": use 1-63 of a-z 0-9 - _ . starting with a letter or digit");
  }
  if (loadRunRecord(paths_.runDir(), req.name).isOk()) {
    return Status::error("a sandbox named \"" + req.name +
                         "\" already exists; remove it first (kitgate rm " + req.name +
                         ") or pick another --name");
  }
  if (Status s = state::ensureDirs(paths_); !s.isOk()) return failAt("state directory", s);

  Rollback rollback(progress);
  RunRecord record;
  record.name = req.name;
  record.agent = req.agent;
  record.kit = req.kit_ref;
  record.image = req.kit.sandbox ? req.kit.sandbox->image : "";
  record.workspace = req.workspace;
  record.created = nowIso8601();

  say(progress.step, "Starting the proxy");
  if (Status s = proxy_.ensureRunning(); !s.isOk()) return failAt("proxy", s);

  // Network.
  docker::NetworkSpec net_spec = planNetwork(req.name);
  say(progress.step, "Creating network " + net_spec.name);
  auto net = docker_.createNetwork(net_spec);
  if (!net.isOk()) return failAt("network", net.status());
  rollback.add("network " + net->name, [this, id = net->id] { return docker_.removeNetwork(id); });
  record.network = net->name;
  record.subnet = net->subnet;
  if (net->gateway.empty() || net->subnet.empty()) {
    return failAt("network", Status::error("Docker reported no gateway/subnet for " + net->name));
  }

  // The host answers the sandbox only on the proxy port.
  if (Status f = firewall_.isolate(req.name, net->subnet, net->gateway, kProxyPort); !f.isOk()) {
    return failAt("host firewall", f);
  }
  rollback.add("host firewall", [this, name = req.name, subnet = net->subnet, gw = net->gateway] {
    return firewall_.release(name, subnet, gw, kProxyPort);
  });

  // The proxy listens on the network's gateway.
  record.proxy_listen = net->gateway + ":" + std::to_string(kProxyPort);
  say(progress.step, "Proxy listening on " + record.proxy_listen);
  if (Status s = proxy_.addListen(record.proxy_listen); !s.isOk()) {
    return failAt("proxy listen " + record.proxy_listen, s);
  }
  rollback.add("proxy listen " + record.proxy_listen,
               [this, addr = record.proxy_listen] { return proxy_.removeListen(addr); });

  // Registration + routes, then reload (mints the CA when credentials are bound).
  PlanInput in;
  in.kit = req.kit;
  in.name = req.name;
  in.workspace = req.workspace;
  in.agent = req.agent;
  in.kit_ref = req.kit_ref;
  in.subnet = net->subnet;
  in.gateway = net->gateway;
  in.token = req.token.empty() ? state::newPlaceholder("kgt{rand}{rand}") : req.token;
  in.agent_args = req.agent_args;
  in.interactive = req.interactive;
  in.persistent_home = req.persistent_home;
  in.mixin_contexts = req.mixin_contexts;
  auto secrets = state::loadSecrets(paths_);
  if (!secrets.isOk()) return failAt("secrets", secrets.status());
  in.placeholders = state::placeholdersFor(*secrets, req.name);

  std::vector<CredentialRoute> routes = planRoutes(req.kit);
  rollback.add("registration",
               [this, name = req.name] { return state::removeSandbox(paths_, name); });
  Status s = state::writeSandbox(
      paths_,
      state::SandboxRecord{req.name, {net->subnet}, in.token, req.kit.allow, req.kit.deny, 0});
  if (s.isOk()) s = state::writeRoutes(paths_, req.name, toStateRoutes(routes));
  if (!s.isOk()) return failAt("registration", s);
  rollback.add("proxy reload", [this] { return proxy_.reload(); });  // runs after the removal
  say(progress.step, "Registering sandbox " + req.name + " with the proxy");
  if (Status r = proxy_.reload(); !r.isOk()) return failAt("proxy reload", r);
  in.ca_pem = readFileOrEmpty(paths_.caCert(req.name));

  auto plan = planSandbox(in);
  if (!plan.isOk()) return failAt("plan", plan.status());
  for (const std::string& w : plan->warnings) say(progress.warning, w);

  // Image, volumes, container.
  if (Status i = ensureImage(plan->container.image, progress); !i.isOk()) return failAt("image", i);
  for (const VolumePlan& v : plan->volumes) {
    auto vol = docker_.createVolume(v.spec);
    if (!vol.isOk()) return failAt("volume " + v.spec.name, vol.status());
    rollback.add("volume " + vol->name,
                 [this, n = vol->name] { return docker_.removeVolume(n, true); });
    record.volumes.push_back(vol->name);
  }
  say(progress.step,
      "Creating container " + plan->container.name + " from " + plan->container.image);
  auto id = docker_.createContainer(plan->container);
  if (!id.isOk()) return failAt("container", id.status());
  rollback.add("container " + plan->container.name,
               [this, cid = *id] { return docker_.removeContainer(cid, true); });
  record.container_id = *id;
  record.container = plan->container.name;
  if (Status st = docker_.startContainer(*id); !st.isOk()) return failAt("container start", st);

  if (Status b = checkBaseImage(*id, progress); !b.isOk()) return failAt("base image check", b);

  // Setup steps (all but the last, which starts the agent: start()).
  for (size_t i = 0; i + 1 < plan->steps.size(); ++i) {
    const SetupStep& step = plan->steps[i];
    const std::string label = step.stage + ": " + step.description;
    if (progress.cancelled && progress.cancelled()) {
      return failAt(label, Status::error("interrupted before this step"));
    }
    say(progress.step, label);
    if (step.kind == StepKind::kArchive) {
      if (Status a = docker_.putArchive(*id, step.dir, step.tar); !a.isOk())
        return failAt(label, a);
      continue;
    }
    docker::ExecSpec spec;
    spec.cmd = step.argv;
    spec.user = step.user;
    spec.working_dir = step.working_dir;
    spec.max_captured_bytes = kFailureOutputTail;
    auto r = docker_.execStreaming(*id, spec, [&](docker::OutputStream, std::string_view data) {
      say(progress.output, data);
    });
    if (!r.isOk()) {
      if (!step.gating) {
        say(progress.warning, label + ": " + r.status().message());
        continue;
      }
      return failAt(label, r.status());
    }
    if (r->exit_code != 0) {
      if (!step.gating) {
        say(progress.warning, label + ": exited with " + std::to_string(r->exit_code));
        continue;
      }
      fail.exit_code = r->exit_code;
      fail.output = tail(r->stdout_text + r->stderr_text, kFailureOutputTail);
      return failAt(label, Status::error("exited with " + std::to_string(r->exit_code)));
    }
  }

  if (Status w = saveRunRecord(paths_.runDir(), record); !w.isOk()) return failAt("run record", w);
  rollback.disarm();
  return record;
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
  say(progress.step, "Removing container " + record.container);
  check("container", docker_.removeContainer(container, true));
  std::string subnet = record.subnet;
  std::string gateway = record.proxy_listen.substr(0, record.proxy_listen.rfind(':'));
  if (auto net = docker_.inspectNetwork(record.network); net.isOk() && net->has_value()) {
    subnet = (*net)->subnet;
    gateway = (*net)->gateway;
  }
  if (!subnet.empty() && !gateway.empty()) {
    check("host firewall", firewall_.release(name, subnet, gateway, kProxyPort));
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
  check("registration", state::removeSandbox(paths_, name));
  auto secrets = state::loadSecrets(paths_);
  if (secrets.isOk()) {
    const std::string scope = state::sandboxScope(name);
    state::Secrets kept;
    for (const auto& s : secrets->services) {
      if (s.scope != scope) kept.services.push_back(s);
    }
    for (const auto& c : secrets->custom) {
      if (c.scope != scope) kept.custom.push_back(c);
    }
    if (kept.services.size() != secrets->services.size() ||
        kept.custom.size() != secrets->custom.size()) {
      say(progress.step, "Removing secrets scoped to " + name);
      check("secrets", state::saveSecrets(paths_, kept));
    }
  } else {
    check("secrets", secrets.status());
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
  const std::string crt = paths_.caCert(name);
  const std::string key = crt.substr(0, crt.size() - 4) + ".key";
  for (const std::string& f : {crt, key}) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) {
      check("CA file " + f, Status::error(std::strerror(errno)));
    }
  }
  check("run record", removeRunRecord(paths_.runDir(), name));
  if (problems.empty()) return Status::ok();
  std::string msg = "removing " + name + ":";
  for (const std::string& p : problems) msg += "\n  " + p;
  return Status::error(msg);
}

Status SandboxManager::stop(const std::string& name) {
  auto rec = liveRecord(name);
  if (!rec.isOk()) return rec.status();
  return docker_.stopContainer(rec->container_id, std::chrono::seconds(10));
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
  auto rec = liveRecord(name);
  if (!rec.isOk()) return rec.status();
  docker::ExecSpec spec;
  spec.cmd = argv;
  spec.user = std::to_string(kAgentUid);
  spec.working_dir = rec->workspace;
  spec.max_captured_bytes = 0;
  auto r = docker_.execStreaming(rec->container_id, spec, on_output);
  if (!r.isOk()) return r.status();
  return r->exit_code;
}

}  // namespace kitgate::sandbox
