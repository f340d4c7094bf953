// Per-sandbox interception authorities: each sandbox that has credential
// routes gets its own CA (ECDSA P-256) whose X.509 Name Constraints permit
// only that sandbox's intercepted host patterns, stored in the state
// directory as <ca_dir>/<sandbox>.crt (0644, what the sandbox trusts) and
// <ca_dir>/<sandbox>.key (0600, never leaves the host).
//
// A pattern with a middle `*` label (`bedrock-runtime.*.amazonaws.com`, which
// X.509 cannot express) constrains the CA to its fixed suffix: every name
// strictly below `amazonaws.com`. The leaf cache still mints only for hosts
// the proxy intercepts, i.e. hosts that match the pattern itself.
//
// loadOrCreate() reuses the stored CA when its constraints still equal the
// ones the patterns require; otherwise (first registration, or the set of
// intercepted hosts changed) it creates and stores a new CA. Called on the
// reload path only (file I/O); the returned minter is immutable and shared
// by every worker's LeafCache.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/tls/leaf_cache.h"

namespace kitgate::mitm {

struct AuthorityResult {
  std::shared_ptr<const tls::LeafMinter> minter;
  std::string cert_path;
  bool created = false;  // a new CA was written (sandboxes must trust it)
};

// The pattern the CA's name constraints are derived from: `a.*.x.com` ->
// `**.x.com`; any other pattern unchanged.
std::string constraintPattern(std::string_view pattern);

StatusOr<AuthorityResult> loadOrCreateAuthority(const std::string& ca_dir, const std::string& sandbox,
                                                const std::vector<std::string>& host_patterns,
                                                const tls::LeafOptions& leaf_options);

}  // namespace kitgate::mitm
