// Decision: the outcome of a policy evaluation, plus the 403 body text.
//
// Plain value, any thread. `rule` points into the RuleSet that decided (owned
// by the Policy / registry snapshot): keep the snapshot alive while using it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kitgate::policy {

inline constexpr std::string_view kDefaultDenyReason =
    "no matching allow rule - blocked by default deny policy";

struct Decision {
  enum class Verdict {
    kAllow,
    kDeny,
    // Host names only: no hostname rule matched, but the policy has IP/CIDR
    // allow rules, so the resolved address decides (Policy::checkAddress).
    // Treat as "not yet allowed": resolve, then call checkAddress.
    kCheckAddress,
  };

  Verdict verdict = Verdict::kDeny;
  std::string_view rule;  // text of the deciding rule; empty for defaults
  std::string reason;     // human-readable, safe for logs and the 403 body

  bool allowed() const { return verdict == Verdict::kAllow; }
  bool denied() const { return verdict == Verdict::kDeny; }
};

// "allow" / "deny" / "check-address" for log lines.
std::string_view toString(Decision::Verdict v);

// The 403 body agents know (kit-spec §4.7):
//   Blocked by network policy: domain <host>:<port>
//     detail: <reason>
// IPv6 hosts are bracketed; control characters are replaced by '?'.
std::string blockedBody(std::string_view host, uint16_t port, std::string_view reason);

}  // namespace kitgate::policy
