// The CLI side of the privileged-request socket: a user in the docker group
// (not root) asks the root kitgate daemon for what needs root (protocol.h).
//
// DaemonFirewall and DaemonProxyControl are the via-daemon implementations
// of the executor's seams (sandbox::HostFirewall, sandbox::ProxyControl
// and sandbox::RegistrationStore) and of the state commands' (stateops::StateService); the manager
// drives them exactly as the local ones, so whatever rules host_firewall.* generates, the daemon
// applies the same (it runs the local implementation). The firewall sends only the sandbox name;
// the daemon reads subnet and gateway from the sandbox's Docker network itself.
//
// Errors name the fix: no daemon (start the unit, or sudo), no access to
// the socket (the docker group), or the daemon's own refusal.
// Threads: one call at a time per object; blocking I/O.
#pragma once

#include <memory>
#include <string>

#include "orchestrator/privd/protocol.h"
#include "orchestrator/sandbox/host_firewall.h"
#include "orchestrator/sandbox/manager.h"
#include "orchestrator/sandbox/registration.h"
#include "orchestrator/stateops/service.h"
#include "proxy/common/status.h"

namespace kitgate::privd {

inline constexpr const char* kDefaultSocket = "/run/kitgate/daemon.sock";
// $KITGATE_DAEMON_SOCKET, else kDefaultSocket.
std::string defaultSocketPath();

// One request, one response. A refusal comes back as a Response with !ok.
StatusOr<Response> call(const std::string& socket_path, const Request& request);
// The same, with a refusal turned into an error Status.
StatusOr<Response> callOk(const std::string& socket_path, const Request& request);

std::unique_ptr<sandbox::HostFirewall> makeDaemonFirewall(std::string socket_path);
std::unique_ptr<sandbox::ProxyControl> makeDaemonProxyControl(std::string socket_path);
std::unique_ptr<sandbox::RegistrationStore> makeDaemonRegistry(std::string socket_path);
// `kitgate secret` / `kitgate policy` through the daemon (secret-*, policy-*
// verbs). A refusal is returned as the daemon worded it (the same text the
// command prints when it runs locally).
std::unique_ptr<stateops::StateService> makeDaemonStateService(std::string socket_path);

}  // namespace kitgate::privd
