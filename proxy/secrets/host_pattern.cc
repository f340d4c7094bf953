#include "proxy/secrets/host_pattern.h"

#include <utility>

#include "proxy/policy/host.h"

namespace kitgate::secrets {

using policy::Rule;
using policy::RuleError;

std::variant<HostPattern, RuleError> parseHostPattern(std::string_view text) {
  auto parsed = policy::parseRule(text);
  if (auto* e = std::get_if<RuleError>(&parsed)) return *e;
  Rule rule = std::move(std::get<Rule>(parsed));
  if (auto problem = policy::credentialHostProblem(rule, text)) return *problem;
  HostPattern p;
  switch (rule.kind) {
    case Rule::Kind::kAnyHost:  // refused above
    case Rule::Kind::kGlob:     // whole `*` labels; the CA is constrained to the fixed suffix
      p.canonical = rule.pattern;
      break;
    case Rule::Kind::kCidr:  // a single address (ranges refused above)
      p.canonical = rule.network.toString();
      break;
    case Rule::Kind::kExact: {
      auto host = policy::normalizeHost(rule.pattern);
      if (!host.isOk()) return RuleError{1, host.status().message()};
      if (host->isIp()) {
        return RuleError{1, "an IP address must be written in canonical form: " + host->text};
      }
      p.canonical = rule.pattern;
      break;
    }
    case Rule::Kind::kSingleWildcard: p.canonical = "*." + rule.pattern; break;
    case Rule::Kind::kMultiWildcard: p.canonical = "**." + rule.pattern; break;
  }
  p.rule = std::move(rule);
  return p;
}

}  // namespace kitgate::secrets
