// `kitgate proxy start | stop | status | reload`: kitgate-proxy as a daemon
// over the state directory (orchestrator/state/state.h does the work).
#include "orchestrator/cli/proxy_command.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"
#include "orchestrator/privd/client.h"
#include "orchestrator/state/state.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "proxy";

constexpr std::string_view kUsage =
    "Usage: kitgate proxy <start|stop|status|reload> [--json]\n\n"
    "kitgate-proxy runs as a daemon over the state directory ($KITGATE_STATE_DIR,\n"
    "else ~/.local/state/kitgate, /var/lib/kitgate for root). 'kitgate run' starts\n"
    "it when needed. Its configuration is <state>/proxy.yaml (written with\n"
    "defaults on first start: listen 127.0.0.1:3128, metrics 127.0.0.1:9090,\n"
    "admin on <state>/admin.sock), its output goes to <state>/proxy.out.\n\n"
    "Commands:\n"
    "  start    start it unless it runs; wait until it listens\n"
    "  stop     stop it (open connections drain first)\n"
    "  status   pid, listen, admin and metrics addresses, or 'not running'\n"
    "           (exit 0 running, 1 not running; --json for scripts)\n"
    "  reload   re-read proxy.yaml and the state files; prints the proxy's\n"
    "           errors (file:line:column) when it refuses them\n\n"
    "The binary: $KITGATE_PROXY, else kitgate-proxy next to kitgate, else PATH.\n\n"
    "Examples:\n"
    "  kitgate proxy start\n"
    "  kitgate proxy status --json\n"
    "  KITGATE_STATE_DIR=/tmp/kg kitgate proxy stop\n";

void printStatus(Io& io, const state::ProxyStatus& s, bool json) {
  if (json) {
    nlohmann::json j = {{"running", s.running}};
    if (s.running) {
      j["pid"] = s.pid;
      j["listen"] = s.listen;
      j["admin"] = s.admin;
      j["metrics"] = s.metrics;
    }
    io.out << j.dump(2) << "\n";
    return;
  }
  if (!s.running) {
    io.out << "kitgate-proxy: not running (start it with 'kitgate proxy start')\n";
    return;
  }
  std::string listen;
  for (const auto& l : s.listen) listen += (listen.empty() ? "" : ", ") + l;
  io.out << "kitgate-proxy: running\n"
         << "  pid:      " << s.pid << "\n"
         << "  listen:   " << listen << "\n"
         << "  admin:    " << (s.admin.empty() ? "off" : s.admin) << "\n"
         << "  metrics:  " << (s.metrics.empty() ? "off" : s.metrics) << "\n";
}

// Not root: the proxy is the root kitgate daemon's (its state directory is
// not readable here): start and reload through it; status says whose it is.
int runProxyViaDaemon(const std::string& sub, Io& io) {
  const std::string socket = privd::defaultSocketPath();
  if (sub == "stop") {
    return fail(io, kCmd,
                "the proxy is the kitgate daemon's (not root): stop it with `sudo systemctl stop "
                "kitgate-proxy` or `sudo kitgate proxy stop`");
  }
  privd::Request r;
  r.verb = sub == "start"    ? privd::Verb::kProxyEnsure
           : sub == "reload" ? privd::Verb::kProxyReload
                             : privd::Verb::kHello;
  auto reply = privd::callOk(socket, r);
  if (!reply.isOk()) return fail(io, kCmd, reply.status().message());
  if (sub == "status") {
    io.out << "kitgate-proxy: the kitgate daemon's at " << socket << " (state " << reply->text
           << "); for its pid and addresses: sudo kitgate proxy status\n";
  } else {
    io.out << "kitgate-proxy " << (sub == "start" ? "running" : "reloaded")
           << " (through the kitgate daemon)\n";
  }
  return kExitOk;
}

}  // namespace

int runProxyCommand(const Args& args, Io& io) {
  if (args.empty()) return usageError(io, kCmd, kUsage, "missing command");
  bool json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (isHelpFlag(args[i])) {
      io.out << kUsage;
      return kExitOk;
    }
    if (i == 0) continue;
    if (args[i] == "--json") {
      json = true;
    } else {
      return usageError(io, kCmd, kUsage, "unexpected argument " + args[i]);
    }
  }
  const std::string& sub = args[0];
  if (sub != "start" && sub != "stop" && sub != "status" && sub != "reload") {
    return usageError(io, kCmd, kUsage, "unknown command \"" + sub + "\"");
  }
  // Not root with a kitgate daemon: its proxy. Without one: a proxy of one's own, as before.
  struct stat sock {};
  if (usesDaemon() && ::stat(privd::defaultSocketPath().c_str(), &sock) == 0 &&
      S_ISSOCK(sock.st_mode)) {
    return runProxyViaDaemon(sub, io);
  }
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());

  if (sub == "status") {
    state::ProxyStatus s = state::proxyStatus(*paths);
    printStatus(io, s, json);
    return s.running ? kExitOk : kExitFailed;
  }
  if (sub == "start") {
    const bool was_running = state::proxyStatus(*paths).running;
    Status st = state::ensureProxy(*paths, state::findProxyBinary());
    if (!st) return fail(io, kCmd, st.message());
    state::ProxyStatus s = state::proxyStatus(*paths);
    if (json) {
      printStatus(io, s, true);
    } else {
      std::string listen;
      for (const auto& l : s.listen) listen += (listen.empty() ? "" : ", ") + l;
      io.out << "kitgate-proxy " << (was_running ? "already running" : "started") << " (pid "
             << s.pid << "), listening on " << listen << "\n";
    }
    return kExitOk;
  }
  if (sub == "stop") {
    const state::ProxyStatus before = state::proxyStatus(*paths);
    Status st = state::stopProxy(*paths);
    if (!st) return fail(io, kCmd, st.message());
    io.out << (before.running ? "kitgate-proxy stopped (pid " + std::to_string(before.pid) + ")"
                              : std::string("kitgate-proxy was not running"))
           << "\n";
    return kExitOk;
  }
  // reload
  if (!state::proxyStatus(*paths).running) {
    return fail(io, kCmd, "kitgate-proxy is not running (start it with 'kitgate proxy start')");
  }
  Status st = state::reloadProxy(*paths);
  if (!st) return fail(io, kCmd, st.message());
  io.out << "kitgate-proxy reloaded\n";
  return kExitOk;
}

}  // namespace kitgate::cli
