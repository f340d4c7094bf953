#include "orchestrator/cli/sandbox_cli.h"

#include <unistd.h>

#include <ostream>

#include "orchestrator/cli/kit_settings.h"
#include "orchestrator/cli/state_cli.h"
#include "orchestrator/docker/engine_client.h"
#include "orchestrator/privd/client.h"

namespace kitgate::cli {

namespace {

DockerFactory& dockerFactory() {
  static DockerFactory factory;
  return factory;
}

FirewallFactory& firewallFactory() {
  static FirewallFactory factory;
  return factory;
}

ProxyControlFactory& proxyFactory() {
  static ProxyControlFactory factory;
  return factory;
}

// Pull progress. On a terminal: one line per layer redrawn in place with a
// bar while it downloads; elsewhere: a line per status change and per 25%.
class PullPrinter {
 public:
  PullPrinter(std::ostream& err, bool tty) : err_(err), tty_(tty) {}
  void operator()(const docker::PullProgress& p) {
    std::string line = p.layer_id.empty() ? p.status : p.layer_id + ": " + p.status;
    const bool sized = p.total_bytes > 0;
    const int pct = sized ? static_cast<int>(100 * p.current_bytes / p.total_bytes) : 0;
    if (sized) {
      if (tty_) {
        constexpr int kWidth = 30;
        const int filled = pct * kWidth / 100;
        line += " [" + std::string(static_cast<size_t>(filled), '=') +
                std::string(static_cast<size_t>(kWidth - filled), ' ') + "] " +
                std::to_string(pct) + "%";
        err_ << "\r\033[K  " << line << std::flush;
        redrawing_ = true;
        return;
      }
      if (pct / 25 == last_pct_ / 25 && p.layer_id == last_layer_) return;
      last_pct_ = pct;
      line += " " + std::to_string(pct) + "%";
    }
    if (redrawing_) err_ << "\r\033[K";
    redrawing_ = false;
    last_layer_ = p.layer_id;
    err_ << "  " << line << "\n" << std::flush;
  }

 private:
  std::ostream& err_;
  bool tty_;
  bool redrawing_ = false;
  std::string last_layer_;
  int last_pct_ = -100;
};

// This kitgate binary (the port forwarder is `kitgate __forward`).
std::string selfBinary() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "kitgate";
}

}  // namespace

void setDockerFactoryForTesting(DockerFactory factory) { dockerFactory() = std::move(factory); }
void setFirewallFactoryForTesting(FirewallFactory factory) {
  firewallFactory() = std::move(factory);
}
void setProxyControlFactoryForTesting(ProxyControlFactory factory) {
  proxyFactory() = std::move(factory);
}

StatusOr<SandboxContext> openSandboxContext() {
  auto paths = openState();
  if (!paths.isOk()) return paths.status();
  SandboxContext ctx;
  ctx.paths = *paths;
  if (dockerFactory()) {
    auto client = dockerFactory()();
    if (!client.isOk()) return client.status();
    ctx.docker = std::move(*client);
  } else {
    auto client = docker::connectDocker();
    if (!client.isOk()) return client.status();
    ctx.docker = std::move(*client);
  }
  ctx.docker->setRegistryAuth(registryAuthForImage);  // private images: the kit logins
  if (usesDaemon()) {
    // The root daemon does what needs root; this user's state directory
    // keeps only the CLI's own records (run/, port forwarders).
    const std::string socket = privd::defaultSocketPath();
    ctx.proxy = proxyFactory() ? proxyFactory()(ctx.paths) : privd::makeDaemonProxyControl(socket);
    ctx.firewall = privd::makeDaemonFirewall(socket);
    ctx.registry = privd::makeDaemonRegistry(socket);
  } else {
    ctx.proxy = proxyFactory() ? proxyFactory()(ctx.paths)
                               : sandbox::makeProxyControl(ctx.paths, state::findProxyBinary());
    ctx.firewall = firewallFactory() ? firewallFactory()() : sandbox::makeIptablesFirewall();
  }
  ctx.ports = sandbox::makeProcessPortForwarder(ctx.paths, selfBinary());
  ctx.manager = std::make_unique<sandbox::SandboxManager>(*ctx.docker, *ctx.proxy, *ctx.firewall,
                                                          ctx.paths, ctx.ports.get());
  if (ctx.registry) ctx.manager->setRegistry(ctx.registry.get());
  return ctx;
}

bool usesDaemon() { return ::geteuid() != 0 && !firewallFactory(); }

StatusOr<std::string> daemonNote() {
  const std::string socket = privd::defaultSocketPath();
  auto hello = privd::callOk(socket, privd::Request{});
  if (!hello.isOk()) return hello.status();
  return "Privileged steps (host firewall, registration, proxy): the kitgate daemon at " + socket +
         " (state " + hello->text + ")";
}

StatusOr<std::vector<std::string>> plannedRunSteps(const sandbox::CreateRequest& req) {
  const state::Paths paths = state::defaultPaths();
  docker::EngineClient offline("", docker::VersionInfo{});  // labels only: never called
  std::unique_ptr<sandbox::ProxyControl> proxy = sandbox::makeProxyControl(paths, "");
  std::unique_ptr<sandbox::HostFirewall> firewall = sandbox::makeIptablesFirewall();
  sandbox::SandboxManager manager(offline, *proxy, *firewall, paths, nullptr);
  return manager.plannedSteps(req);
}

sandbox::Progress progressFor(Io& io) {
  sandbox::Progress p;
  const bool color = io.err_color;
  p.step = [&io, color](std::string_view s) {
    io.err << (color ? "\033[36m→\033[0m " : "→ ") << s << "\n" << std::flush;
  };
  p.output = [&io](std::string_view s) { io.err << s << std::flush; };
  p.warning = [&io, color](std::string_view s) {
    io.err << (color ? "\033[33mWARN:\033[0m " : "WARN: ") << s << "\n" << std::flush;
  };
  auto printer = std::make_shared<PullPrinter>(io.err, color);
  p.pull = [printer](const docker::PullProgress& pp) { (*printer)(pp); };
  return p;
}

}  // namespace kitgate::cli
