// HostFirewall: keeps a sandbox from reaching the host directly.
//
// Docker's internal networks have no route out, but the host itself owns the
// network's gateway address, so any host service bound to 0.0.0.0 (or to the
// gateway) is reachable from the sandbox without the proxy. isolate() adds
// INPUT rules for the sandbox's subnet: ACCEPT tcp to <gateway>:<proxy
// port>, ACCEPT what arrives on lo (the host itself, e.g. kitgate probing
// the proxy from the gateway address) and answers on connections the host
// opened (conntrack ESTABLISHED: the port forwarder), DROP everything else; release()
// deletes exactly those rules. Both are idempotent. Rules carry the comment
// "kitgate:<name>".
//
// The real one runs `iptables -w …` (posix_spawn, no shell; needs root, as
// Docker does). One thread at a time; the caller owns it.
#pragma once

#include <memory>
#include <string>

#include "proxy/common/status.h"

namespace kitgate::sandbox {

class HostFirewall {
 public:
  virtual ~HostFirewall() = default;
  virtual Status isolate(const std::string& name, const std::string& subnet,
                         const std::string& gateway, int proxy_port) = 0;
  virtual Status release(const std::string& name, const std::string& subnet,
                         const std::string& gateway, int proxy_port) = 0;
};

// iptables at $KITGATE_IPTABLES, else the first of /usr/sbin/iptables,
// /sbin/iptables, /usr/bin/iptables.
std::unique_ptr<HostFirewall> makeIptablesFirewall();

}  // namespace kitgate::sandbox
