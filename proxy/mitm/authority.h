// Per-sandbox interception authorities: every sandbox that may reach some
// host gets its own CA (ECDSA P-256) from its first reload on, stored in the
// state directory as <ca_dir>/<sandbox>.crt (0644, what the sandbox trusts
// from creation on) and <ca_dir>/<sandbox>.key (0600, never leaves the host).
//
// The CA's X.509 Name Constraints cover the host patterns the sandbox was
// *allowed* to reach when the CA was made, plus the hosts it had credentials
// bound for. Interception only ever happens for allowed hosts (policy decides
// first), so a secret set later for any host the sandbox could already reach
// is intercepted by the CA the running sandbox already trusts. Leaves are
// still minted only for hosts with a bound credential (the proxy's plans).
//
// A stored CA is kept for the life of the sandbox, whatever changes: the
// running sandbox trusts exactly that one. Intercepted patterns it cannot
// sign for (a host allowed *after* the CA was made, then given a secret) are
// reported in AuthorityResult::outside and written, one per line, to
// <ca_dir>/<sandbox>.outside (removed when there are none) for the CLI to
// warn about; those hosts work after the sandbox is restarted (the CLI
// removes a stopped sandbox's CA files, so the next reload makes a CA for its
// current policy, which it then trusts).
//
// Allowed rules X.509 cannot express are left out of the constraints rather
// than widening them to everything: `**`, CIDR ranges. A glob or a middle `*`
// label (`bedrock-runtime.*.amazonaws.com`) constrains to its fixed suffix
// (every name strictly below `amazonaws.com`); ports are dropped.
//
// Called on the reload path only (file I/O); the returned minter is
// immutable and shared by every worker's LeafCache.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/policy/rule.h"
#include "proxy/tls/leaf_cache.h"

namespace kitgate::mitm {

struct AuthorityPatterns {
  std::vector<std::string> allowed;      // constraint patterns of the allow rules
  std::vector<std::string> intercepted;  // bound credential host patterns
};

struct AuthorityResult {
  std::shared_ptr<const tls::LeafMinter> minter;
  std::string cert_path;
  bool created = false;  // a new CA was written (sandboxes must trust it)
  // Intercepted patterns the (stored) CA cannot sign for: a sandbox restart
  // is needed before they are intercepted.
  std::vector<std::string> outside;
};

// The pattern the CA's name constraints are derived from: `a.*.x.com` ->
// `**.x.com`; any other pattern unchanged.
std::string constraintPattern(std::string_view pattern);

// The constraint pattern for one allow rule, or nullopt when X.509 cannot
// express it (`**`, a CIDR range) or it names no host: `api.x.com:443` ->
// `api.x.com`, `*.x.com` and `**.x.com` unchanged, `api?.x.com` and
// `a-*.x.com` -> `**.x.com`, `192.0.2.7` -> `192.0.2.7`.
std::optional<std::string> allowedConstraintPattern(const policy::Rule& rule);

// Loads the sandbox's stored CA, or (when there is none) creates one whose
// constraints cover `patterns.allowed` and `patterns.intercepted`. nullptr
// minter (and OK) when both lists are empty: the sandbox may reach nothing.
StatusOr<AuthorityResult> loadOrCreateAuthority(const std::string& ca_dir,
                                                const std::string& sandbox,
                                                const AuthorityPatterns& patterns,
                                                const tls::LeafOptions& leaf_options);

}  // namespace kitgate::mitm
