// Policy: the effective network policy of one sandbox, i.e. several RuleSets
// (global, then the sandbox's own) evaluated as one. Pure functions, no I/O.
//
// Immutable after construction; any thread. It keeps its RuleSets alive, so
// Decision::rule stays valid as long as the Policy does.
//
// evaluate(host, port), kit-spec §4.3:
//  * deny beats allow, across all layers (a deny in either beats an allow in
//    either) within one identifier type;
//  * host names are decided by name rules (exact, *.x, **.x, globs, **);
//    an allowed name's resolved addresses are still refused by CIDR denies
//    (deny beats allow on addresses too: stricter than sbx's first-decisive
//    rule, as smokescreen does), and a name deny is never undone by a CIDR
//    allow;
//  * a name no name rule matches is kDeny with kDefaultDenyReason, or
//    kCheckAddress when some layer has IP/CIDR allow rules (the resolved
//    address then decides: call checkAddress);
//  * IP literal hosts are matched by IP/CIDR rules and `**`.
//  * host services (isHostServiceName: `localhost`, `host.docker.internal`)
//    are the host's loopback ports: a deny rule matching either name (`**`
//    included) refuses, and only an allow rule naming one of them exactly
//    with that port (`localhost:11434`, `host.docker.internal:11434`) allows
//    — never `**`, a wildcard or a portless rule. The decision has
//    host_service set.
// decideAddresses(host_decision, addresses, port, self) after DNS: the
// final verdict, from checkAddress on each address (below).
// checkAddress(ip, port, host_decision, self) after DNS (and for IP literal
// hosts, with the literal): the proxy's own listening endpoints (`self`) are
// always refused (for a host service: any port the proxy listens on, on
// any address, and anything but loopback); addresses that are not public (loopback, private,
// link-local incl. 169.254.169.254, CGNAT, …) are refused unless an IP/CIDR
// allow rule explicitly contains them (and no IP/CIDR deny does); a name
// allow or `**` never unlocks them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/policy/address_class.h"
#include "proxy/policy/decision.h"
#include "proxy/policy/host.h"
#include "proxy/policy/rule_set.h"

namespace kitgate::policy {

// The final decision for a host name *and* its resolved addresses.
struct AddressDecision {
  // kAllow or kDeny, never kCheckAddress. An allowed kCheckAddress host takes
  // the rule of the first allowed address; a denial caused by the addresses
  // has no rule (the reason names the address and what refused it).
  Decision decision;
  std::vector<IpAddress> allowed;  // in resolver order; empty when denied
  // The first refused address ("" when none was refused).
  std::string refused_address;
};

class Policy {
 public:
  Policy() = default;  // no rules: denies everything
  explicit Policy(std::vector<std::shared_ptr<const RuleSet>> layers);

  Decision evaluate(const Host& host, uint16_t port) const;
  Decision checkAddress(const IpAddress& address, uint16_t port, const Decision& host_decision,
                        const SelfAddresses& self) const;
  // checkAddress for every resolved address, folded into the final verdict
  // (denied when none is allowed; an empty list is a denial). A
  // `host_decision` that is already kDeny stays denied whatever the addresses.
  AddressDecision decideAddresses(const Decision& host_decision,
                                  const std::vector<IpAddress>& addresses, uint16_t port,
                                  const SelfAddresses& self) const;

  // A DNS question carries no port: the ports a name is not denied on (allowed,
  // or left to its addresses by IP/CIDR allows); empty = denied on every
  // port. Ports tried: each port an allow rule names, and one no rule names
  // (standing for every port only portless rules decide).
  std::vector<uint16_t> allowedPorts(const Host& host) const;

  const std::vector<std::shared_ptr<const RuleSet>>& layers() const { return layers_; }

 private:
  const Rule* matchName(RuleAction action, std::string_view name, uint16_t port) const;
  const Rule* matchAddress(RuleAction action, const IpAddress& ip, uint16_t port) const;
  const Rule* matchAnyHost(RuleAction action, uint16_t port) const;

  Decision evaluateHostService(uint16_t port) const;

  std::vector<std::shared_ptr<const RuleSet>> layers_;
  bool has_address_allows_ = false;
  // Allow rules that name a host service with a port (layer order).
  std::vector<const Rule*> host_service_allows_;
};

}  // namespace kitgate::policy
