// Credential host patterns: the hosts a route or a custom secret is bound to
// (FORMAT.md "Host patterns"). The policy rule grammar (proxy/policy/rule.h)
// restricted to what an interception CA can be name-constrained to: an exact
// name, `*.x` (one label), `**.x` (any depth), whole `*` labels in the middle
// (`bedrock-runtime.*.amazonaws.com`: exactly one label there; the CA is then
// constrained to the fixed suffix after the last `*`) or an IP literal; `**`,
// bare `*`, other globs, CIDR ranges and ports are refused.
//
// Pure function, any thread. Used by the store loader and by
// `kitgate secret set-custom --host` to validate and canonicalise.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "proxy/policy/rule.h"

namespace kitgate::secrets {

struct HostPattern {
  // Kind kExact, kSingleWildcard, kMultiWildcard, kGlob (whole `*` labels
  // only), or kCidr with a full-length prefix (an IP literal).
  policy::Rule rule;
  // "api.x.com", "*.x.com", "**.x.com", "api.*.x.com", "192.0.2.1", "2001:db8::1"
  std::string canonical;
};

// The pattern, or the policy-style error (1-based column inside `text`).
std::variant<HostPattern, policy::RuleError> parseHostPattern(std::string_view text);

}  // namespace kitgate::secrets
