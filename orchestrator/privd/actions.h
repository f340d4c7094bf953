// PrivilegedActions: what the root kitgate daemon does for an authorized
// request (server.h), with the same code the CLI runs as root: the local
// HostFirewall (host_firewall.*), the local ProxyControl and the state
// directory's registration functions (sandbox/registration.h).
//
// Nothing is taken from the client that the daemon can find out itself: a
// sandbox's subnet and gateway come from its Docker network
// (`kitgate-<name>`, which must carry the label kitgate.sandbox=<name>); a
// listen entry must be the gateway of such a network; file paths are the
// state directory's, from a checked name. The client's subnet/gateway are
// used only to release rules whose network is already gone.
//
// `kitgate secret` / `kitgate policy` requests run the CLI's own state
// operations (orchestrator/stateops) on the daemon's state directory. A
// secret's value is written to secrets.yaml (0600) and never comes back: not
// in a listing (masked), not in an error (any occurrence is blanked out
// before the answer and the daemon's log line are made).
//
// Threads: the server's thread; borrows everything it is given.
#pragma once

#include "orchestrator/docker/docker_client.h"
#include "orchestrator/privd/server.h"
#include "orchestrator/sandbox/host_firewall.h"
#include "orchestrator/sandbox/manager.h"
#include "orchestrator/state/state.h"
#include "orchestrator/stateops/service.h"

namespace kitgate::privd {

class PrivilegedActions final : public Handler {
 public:
  PrivilegedActions(docker::DockerClient& docker, sandbox::HostFirewall& firewall,
                    sandbox::ProxyControl& proxy, state::Paths paths);
  Response handle(const Request& request, const PeerCred& peer) override;

 private:
  StatusOr<Response> dispatch(const Request& request);
  // The sandbox's network; nullopt when it does not exist.
  StatusOr<std::optional<docker::NetworkInfo>> sandboxNetwork(const std::string& name);
  StatusOr<docker::NetworkInfo> requireNetwork(const std::string& name);

  docker::DockerClient& docker_;
  sandbox::HostFirewall& firewall_;
  sandbox::ProxyControl& proxy_;
  state::Paths paths_;
  std::unique_ptr<stateops::StateService> state_;
};

}  // namespace kitgate::privd
