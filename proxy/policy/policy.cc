#include "proxy/policy/policy.h"

#include <algorithm>
#include <string>
#include <utility>

namespace kitgate::policy {
namespace {

Decision make(Decision::Verdict v, const Rule* rule, std::string reason) {
  Decision d;
  d.verdict = v;
  if (rule != nullptr) d.rule = rule->text;
  d.reason = std::move(reason);
  return d;
}

Decision allowBy(const Rule* r) {
  return make(Decision::Verdict::kAllow, r, "allowed by rule \"" + r->text + "\"");
}

Decision denyBy(const Rule* r) {
  return make(Decision::Verdict::kDeny, r, "blocked by deny rule \"" + r->text + "\"");
}

Decision defaultDeny() {
  return make(Decision::Verdict::kDeny, nullptr, std::string(kDefaultDenyReason));
}

}  // namespace

Policy::Policy(std::vector<std::shared_ptr<const RuleSet>> layers) : layers_(std::move(layers)) {
  for (const auto& l : layers_) {
    has_address_allows_ = has_address_allows_ || l->hasAddressRules(RuleAction::kAllow);
    for (const Rule& r : l->rules(RuleAction::kAllow)) {
      if (r.kind == Rule::Kind::kExact && r.port && isHostServiceName(r.pattern)) {
        host_service_allows_.push_back(&r);
      }
    }
  }
}

const Rule* Policy::matchName(RuleAction action, std::string_view name, uint16_t port) const {
  for (const auto& l : layers_) {
    if (const Rule* r = l->matchName(action, name, port)) return r;
  }
  return nullptr;
}

const Rule* Policy::matchAddress(RuleAction action, const IpAddress& ip, uint16_t port) const {
  for (const auto& l : layers_) {
    if (const Rule* r = l->matchAddress(action, ip, port)) return r;
  }
  return nullptr;
}

const Rule* Policy::matchAnyHost(RuleAction action, uint16_t port) const {
  for (const auto& l : layers_) {
    if (const Rule* r = l->matchAnyHost(action, port)) return r;
  }
  return nullptr;
}

Decision Policy::evaluate(const Host& host, uint16_t port) const {
  if (host.isIp()) {
    if (const Rule* r = matchAddress(RuleAction::kDeny, host.ip, port)) return denyBy(r);
    if (const Rule* r = matchAnyHost(RuleAction::kDeny, port)) return denyBy(r);
    if (const Rule* r = matchAddress(RuleAction::kAllow, host.ip, port)) return allowBy(r);
    if (const Rule* r = matchAnyHost(RuleAction::kAllow, port)) return allowBy(r);
    return defaultDeny();
  }
  if (isHostServiceName(host.text)) return evaluateHostService(port);
  if (const Rule* r = matchName(RuleAction::kDeny, host.text, port)) return denyBy(r);
  if (const Rule* r = matchName(RuleAction::kAllow, host.text, port)) return allowBy(r);
  if (has_address_allows_) {
    return make(Decision::Verdict::kCheckAddress, nullptr,
                "no host name rule matched; the resolved address decides");
  }
  return defaultDeny();
}

Decision Policy::evaluateHostService(uint16_t port) const {
  Decision d;
  const Rule* deny = matchName(RuleAction::kDeny, kHostServiceName, port);
  if (deny == nullptr) deny = matchName(RuleAction::kDeny, "host.docker.internal", port);
  if (deny != nullptr) {
    d = denyBy(deny);
  } else {
    auto it = std::find_if(host_service_allows_.begin(), host_service_allows_.end(),
                           [port](const Rule* r) { return *r->port == port; });
    if (it != host_service_allows_.end()) {
      d = allowBy(*it);
    } else {
      d = make(Decision::Verdict::kDeny, nullptr,
               "host port " + std::to_string(port) +
                   " is not allowed: a host service needs its own rule localhost:" +
                   std::to_string(port) + " (or host.docker.internal:" + std::to_string(port) +
                   "); ** and wildcards never reach the host");
    }
  }
  d.host_service = true;
  return d;
}

std::vector<uint16_t> Policy::allowedPorts(const Host& host) const {
  std::vector<uint16_t> ports;
  for (const auto& l : layers_) {
    for (const Rule& r : l->rules(RuleAction::kAllow)) {
      if (r.port) ports.push_back(*r.port);
    }
  }
  uint16_t unnamed = 1;  // the first port no rule names: what portless rules decide
  for (bool found = true; found && unnamed < 65535;) {
    found = std::find(ports.begin(), ports.end(), unnamed) != ports.end();
    if (found) ++unnamed;
  }
  ports.push_back(unnamed);
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  std::vector<uint16_t> allowed;
  for (uint16_t p : ports) {
    if (!evaluate(host, p).denied()) allowed.push_back(p);
  }
  return allowed;
}

Decision Policy::checkAddress(const IpAddress& address, uint16_t port,
                              const Decision& host_decision, const SelfAddresses& self) const {
  if (host_decision.verdict == Decision::Verdict::kDeny) return host_decision;
  if (host_decision.host_service) {
    // The host's loopback, allowed by its own rule: not the address class
    // (loopback is the point), only the proxy's own ports, on any address.
    if (self.contains(address, port) || self.hasPort(port)) {
      return make(
          Decision::Verdict::kDeny, nullptr,
          "host port " + std::to_string(port) + " is one of the proxy's own ports (never allowed)");
    }
    if (classify(address) != AddressClass::kLoopback) {
      return make(Decision::Verdict::kDeny, nullptr,
                  "a host service is reached on loopback only, not " + address.toString());
    }
    return host_decision;
  }
  if (self.contains(address, port)) {
    return make(Decision::Verdict::kDeny, nullptr,
                "resolved address " +
                    (address.isV6() ? "[" + address.toString() + "]" : address.toString()) + ":" +
                    std::to_string(port) + " is the proxy's own listener (never allowed)");
  }
  const AddressClass cls = classify(address);
  if (cls != AddressClass::kPublic) {
    if (const Rule* r = matchAddress(RuleAction::kDeny, address, port)) return denyBy(r);
    if (const Rule* r = matchAddress(RuleAction::kAllow, address, port)) return allowBy(r);
    return make(Decision::Verdict::kDeny, nullptr,
                "resolved address " + address.toString() + " is " + std::string(toString(cls)) +
                    " (blocked by default)");
  }
  // Deny beats allow on addresses too: a CIDR deny refuses the address even
  // of a name an allow rule admitted (smokescreen's deny ranges).
  if (const Rule* r = matchAddress(RuleAction::kDeny, address, port)) return denyBy(r);
  if (host_decision.verdict == Decision::Verdict::kAllow) return host_decision;
  if (const Rule* r = matchAddress(RuleAction::kAllow, address, port)) return allowBy(r);
  return defaultDeny();
}

AddressDecision Policy::decideAddresses(const Decision& host_decision,
                                        const std::vector<IpAddress>& addresses, uint16_t port,
                                        const SelfAddresses& self) const {
  AddressDecision out;
  if (host_decision.denied()) {
    out.decision = host_decision;
    return out;
  }
  std::string first_denial;
  std::string_view deciding_rule;
  for (const IpAddress& ip : addresses) {
    Decision d = checkAddress(ip, port, host_decision, self);
    if (d.allowed()) {
      if (out.allowed.empty()) deciding_rule = d.rule;
      out.allowed.push_back(ip);
    } else if (first_denial.empty()) {
      first_denial = std::move(d.reason);
      out.refused_address = ip.toString();
    }
  }
  if (out.allowed.empty()) {
    out.decision = make(
        Decision::Verdict::kDeny, nullptr,
        first_denial.empty() ? std::string("no address to connect to") : std::move(first_denial));
    return out;
  }
  out.decision = host_decision;
  if (out.decision.verdict == Decision::Verdict::kCheckAddress) {
    out.decision.verdict = Decision::Verdict::kAllow;
    out.decision.rule = deciding_rule;
  }
  return out;
}

}  // namespace kitgate::policy
