// Decision: the outcome of a policy evaluation, plus the 403 body text, and
// the interception directive (whether the connection's TLS is terminated to
// rewrite requests) — smokescreen's Decision with its MITM directive.
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

// Whether an allowed CONNECT is intercepted, and why (or why not). Computed
// once per CONNECT by decideInterception(); the data path only executes it.
struct Interception {
  bool intercept = false;
  std::string reason;  // "intercepted: …" / "not intercepted: …"; never a secret
};

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

  // Only ever set on an allowed CONNECT decision (decideInterception).
  Interception interception;

  // The host's loopback (a host service: `localhost` / `host.docker.internal`,
  // Policy::evaluate): decided by explicit `localhost:PORT` rules only, and
  // reached on 127.0.0.1 / ::1 (the address check then refuses only the
  // proxy's own ports).
  bool host_service = false;

  bool allowed() const { return verdict == Verdict::kAllow; }
  bool denied() const { return verdict == Verdict::kDeny; }
};

// What the proxy knows, at decision time, about whether it could intercept
// a CONNECT: plain facts so that the rule lives in one pure function.
struct InterceptFacts {
  bool tls_configured = false;     // client and upstream TLS contexts built
  bool credentials_bound = false;  // something is bound for this sandbox
  bool host_has_plan = false;      // ... and for this host (planFor != null)
  bool sandbox_has_ca = false;     // the sandbox's interception CA is loaded
  std::string plan;                // InterceptPlan::toString(): names only
};

// The interception directive for an allowed CONNECT: intercept exactly when
// TLS is configured, something is bound for the host and the sandbox has a
// CA; otherwise the reason names the first missing piece. A denied or
// undecided verdict is never intercepted.
Interception decideInterception(const Decision& decision, const InterceptFacts& facts);

// "allow" / "deny" / "check-address" for log lines.
std::string_view toString(Decision::Verdict v);

// The 403 body agents know (kit-spec §4.7):
//   Blocked by network policy: domain <host>:<port>
//     detail: <reason>
// IPv6 hosts are bracketed; control characters are replaced by '?'.
std::string blockedBody(std::string_view host, uint16_t port, std::string_view reason);

}  // namespace kitgate::policy
