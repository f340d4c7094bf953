// HostFirewall: the host rules that make the proxy a sandbox's only way out.
//
// Docker's internal networks do not forward, but the host owns the network's
// gateway address, so without rules any host service bound to 0.0.0.0 (or to
// the gateway) is reachable from the sandbox, and every connection that
// ignores the proxy variables simply fails. sandboxRules() is the rule set of
// one sandbox network (a pure function, table-tested):
//
//   nat PREROUTING (IPv4, from the sandbox subnet)
//     tcp to <gateway>:<proxy port>          RETURN   (the forward proxy, as is)
//     udp to any :53, tcp to <gateway>:53    REDIRECT to the proxy's DNS port
//     every other tcp                        REDIRECT to the transparent port
//   filter INPUT (IPv4, from the sandbox subnet)
//     arriving on lo (the host itself on the gateway address), answers on
//     connections the host opened (ESTABLISHED: the port forwarder), tcp to
//     <gateway>:<proxy port>, and the transparent/DNS ports only when a
//     REDIRECT above sent them there (conntrack DNAT: dialled directly, they
//     are dropped)                           ACCEPT
//     everything else (UDP, ICMP, every other host port: admin, metrics …)
//                                            DROP
//   filter FORWARD (IPv4)                    DROP  (nothing is routed on,
//                                            whatever Docker's own rules say)
//   filter INPUT and FORWARD (IPv6, arriving on the sandbox's bridge)
//                                            DROP  (the networks are IPv4-only;
//                                            link-local IPv6 would otherwise
//                                            reach host services on [::])
//
// Every rule carries the comment "kitgate:<name>". apply() inserts a rule set
// (after removing whatever the sandbox had), remove() deletes every rule with
// the sandbox's comment, whatever ports it was made with. Both idempotent.
//
// The real one runs `iptables -w …` / `ip6tables -w …` (posix_spawn, no
// shell; needs root, as Docker does). One thread at a time; the caller owns it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::sandbox {

// One sandbox network, as the rules need it.
struct FirewallSpec {
  std::string name;          // sandbox name (the comment tag)
  std::string subnet;        // IPv4 CIDR of its network
  std::string gateway;       // the host's address on it
  std::string bridge;        // the host interface of the network ("br-<id12>")
  int proxy_port = 0;        // forward proxy on the gateway
  int transparent_port = 0;  // the proxy's transparent listener (any local address)
  int dns_port = 0;          // the proxy's DNS listener on the gateway
};

enum class IpFamily { kV4, kV6 };

struct FirewallRule {
  IpFamily family = IpFamily::kV4;
  std::string table;               // "nat", "filter"
  std::string chain;               // "PREROUTING", "INPUT", "FORWARD"
  std::vector<std::string> match;  // everything after the chain, "-j TARGET …" included

  bool operator==(const FirewallRule&) const = default;
};

// The comment every rule of sandbox `name` carries.
std::string firewallTag(const std::string& name);

// The rules of one sandbox, in the order each chain must hold them (top first).
std::vector<FirewallRule> sandboxRules(const FirewallSpec& spec);

// Docker's host interface for a bridge network with this id.
std::string bridgeName(const std::string& network_id);

class HostFirewall {
 public:
  virtual ~HostFirewall() = default;
  // Replaces sandbox spec.name's rules with sandboxRules(spec).
  virtual Status isolate(const FirewallSpec& spec) = 0;
  // Deletes every rule tagged for sandbox `name` (IPv4 and IPv6).
  virtual Status release(const std::string& name) = 0;
};

// iptables at $KITGATE_IPTABLES, else the first of /usr/sbin/iptables,
// /sbin/iptables, /usr/bin/iptables; ip6tables likewise ($KITGATE_IP6TABLES).
// Without ip6tables the IPv6 rules are skipped only when the host has no IPv6.
std::unique_ptr<HostFirewall> makeIptablesFirewall();

}  // namespace kitgate::sandbox
