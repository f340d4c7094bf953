// Publishing a sandbox's kit `ports` on the host loopback.
//
// Docker does not publish ports of containers on internal networks, and the
// sandbox network is internal (its only way out is the proxy). So kitgate
// runs a small forwarder per sandbox on the host: it listens on
// 127.0.0.1:<ephemeral> for each container port and relays each connection
// to <container ip>:<port> on the sandbox network (the host reaches it
// through the bridge; HostFirewall admits the replies). Nothing from the
// sandbox can use it to get out: it only accepts on the host's loopback.
//
// PortForwarder is the seam (tests record calls); the real one runs the
// forwarder as a detached process (`kitgate __forward`, runForwarder()),
// one per sandbox, its state in <run dir>/<name>.ports. One thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "orchestrator/state/state.h"
#include "proxy/common/status.h"

namespace kitgate::sandbox {

struct PublishedPort {
  int container = 0;
  std::string host;  // "127.0.0.1:41234"
  bool operator==(const PublishedPort&) const = default;
};

class PortForwarder {
 public:
  virtual ~PortForwarder() = default;
  // Starts forwarding 127.0.0.1:<ephemeral> -> target_ip:<port> for each
  // port (replacing a forwarder the sandbox had); returns the bindings.
  virtual StatusOr<std::vector<PublishedPort>> start(const std::string& name,
                                                     const std::string& target_ip,
                                                     const std::vector<int>& ports) = 0;
  // Stops the sandbox's forwarder; idempotent.
  virtual Status stop(const std::string& name) = 0;
};

// The real one: spawns `self_binary __forward …` (kitgate's own binary).
std::unique_ptr<PortForwarder> makeProcessPortForwarder(state::Paths paths,
                                                        std::string self_binary);

// `kitgate __forward PORTS_FILE TARGET_IP PORT...`: binds, writes PORTS_FILE
// ("<container port> <host addr>" lines, then "pid <pid>"), relays until
// SIGTERM. Returns the process exit code.
int runForwarder(const std::vector<std::string>& args);

}  // namespace kitgate::sandbox
