// `kitgate daemon [--socket PATH] [--group NAME]`: serves privileged requests
// (orchestrator/privd/protocol.h) on a root:<group> 0660 unix socket until
// SIGTERM/SIGINT. Runs as root (deploy/systemd/kitgate-daemon.service), with
// the state directory root's (/var/lib/kitgate, or $KITGATE_STATE_DIR).
#include "orchestrator/cli/daemon_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <ostream>

#include "orchestrator/cli/state_cli.h"
#include "orchestrator/docker/engine_client.h"
#include "orchestrator/privd/actions.h"
#include "orchestrator/privd/client.h"
#include "orchestrator/privd/peer.h"
#include "orchestrator/privd/server.h"
#include "orchestrator/sandbox/host_firewall.h"
#include "orchestrator/sandbox/manager.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "daemon";

constexpr std::string_view kUsage =
    "Usage: kitgate daemon [--socket PATH] [--group NAME]\n\n"
    "The root kitgate daemon: lets members of the docker group run kitgate\n"
    "without sudo. It applies and removes sandboxes' host firewall rules, writes\n"
    "and removes the state files that hold secrets (registration, routes, OAuth\n"
    "routes, CA, secrets.yaml of `kitgate secret`, the rules of `kitgate policy`),\n"
    "starts and reloads the proxy — on the request of a kitgate CLI that is not\n"
    "root, after checking the caller (SO_PEERCRED: root, or a member of the\n"
    "group). Requests are narrow and validated; nothing else is offered (it\n"
    "never runs a command: the CLI resolves --command/--ref secrets itself).\n"
    "Runs in the foreground as root (systemd: kitgate-daemon.service).\n\n"
    "Options:\n"
    "  --socket PATH   default $KITGATE_DAEMON_SOCKET, else /run/kitgate/daemon.sock\n"
    "                  (root:<group> 0660)\n"
    "  --group NAME    who may ask besides root (default: docker)\n\n"
    "Examples:\n"
    "  sudo kitgate daemon\n"
    "  sudo systemctl enable --now kitgate-daemon\n";

privd::Server* g_server = nullptr;

extern "C" void onStopSignal(int) {
  if (g_server != nullptr) g_server->stop();
}

}  // namespace

int runDaemonCommand(const Args& args, Io& io) {
  std::string socket = privd::defaultSocketPath();
  std::string group = "docker";
  for (size_t i = 0; i < args.size(); ++i) {
    if (isHelpFlag(args[i])) {
      io.out << kUsage;
      return kExitOk;
    }
    if ((args[i] == "--socket" || args[i] == "--group") && i + 1 < args.size()) {
      (args[i] == "--socket" ? socket : group) = args[i + 1];
      ++i;
    } else {
      return usageError(io, kCmd, kUsage, "unexpected argument " + args[i]);
    }
  }
  if (::geteuid() != 0) {
    return fail(io, kCmd,
                "must run as root: it applies host firewall rules and owns the state directory "
                "(sudo kitgate daemon, or systemctl start kitgate-daemon)");
  }
  const auto gid = privd::groupId(group);
  if (!gid) return fail(io, kCmd, "no group named " + group + " on this host");
  if (const size_t slash = socket.rfind('/'); slash != std::string::npos && slash > 0) {
    ::mkdir(socket.substr(0, slash).c_str(), 0755);  // /run/kitgate; exists under systemd
  }
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto docker = docker::connectDocker();
  if (!docker.isOk()) return fail(io, kCmd, docker.status().message());
  std::unique_ptr<sandbox::HostFirewall> firewall = sandbox::makeIptablesFirewall();
  std::unique_ptr<sandbox::ProxyControl> proxy =
      sandbox::makeProxyControl(*paths, state::findProxyBinary());
  privd::PrivilegedActions actions(**docker, *firewall, *proxy, *paths);

  const gid_t allowed = *gid;
  auto authorize = [allowed, group](const privd::PeerCred& peer) {
    return privd::authorizePeer(peer, allowed, group, privd::systemAccount);
  };
  auto log = [&io](const std::string& line) {
    io.err << "kitgate daemon: " << line << "\n" << std::flush;
  };
  auto server = privd::Server::listen(socket, allowed, authorize, actions, log);
  if (!server.isOk()) return fail(io, kCmd, server.status().message());
  g_server = server->get();
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  io.err << "kitgate daemon: serving " << socket << " (root and group " << group << "), state "
         << paths->root << "\n"
         << std::flush;
  Status st = (*server)->run();
  g_server = nullptr;
  if (!st.isOk()) return fail(io, kCmd, st.message());
  io.err << "kitgate daemon: stopped\n";
  return kExitOk;
}

}  // namespace kitgate::cli
