#include "proxy/secrets/host_pattern.h"

#include <utility>

#include "proxy/policy/host.h"

namespace kitgate::secrets {

using policy::Rule;
using policy::RuleError;

namespace {

size_t portColumn(std::string_view text) {
  const size_t bracket = text.rfind(']');
  const size_t colon = text.find(':', bracket == std::string_view::npos ? 0 : bracket);
  return colon == std::string_view::npos ? 1 : colon + 1;
}

// True when every glob character of `pattern` is a whole `*` label
// (`bedrock-runtime.*.amazonaws.com`, `*.eu.*.example.com`).
bool onlyWholeLabelStars(std::string_view pattern) {
  size_t start = 0;
  while (start <= pattern.size()) {
    size_t dot = pattern.find('.', start);
    if (dot == std::string_view::npos) dot = pattern.size();
    std::string_view label = pattern.substr(start, dot - start);
    if (label != "*" && label.find_first_of("*?[]") != std::string_view::npos) return false;
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::variant<HostPattern, RuleError> parseHostPattern(std::string_view text) {
  auto parsed = policy::parseRule(text);
  if (auto* e = std::get_if<RuleError>(&parsed)) return *e;
  Rule rule = std::move(std::get<Rule>(parsed));
  if (rule.port) return RuleError{portColumn(text), "credential hosts take no port"};
  HostPattern p;
  switch (rule.kind) {
    case Rule::Kind::kAnyHost:
      return RuleError{1, "\"**\" would intercept every host; name the hosts that need the credential"};
    case Rule::Kind::kGlob:
      if (!onlyWholeLabelStars(rule.pattern)) {
        return RuleError{1, "glob patterns cannot be intercepted (no CA name constraint expresses them); "
                            "use an exact host, *.domain, **.domain or a middle '*' label"};
      }
      p.canonical = rule.pattern;  // the CA is constrained to the fixed suffix (mitm/authority.h)
      break;
    case Rule::Kind::kCidr:
      if (rule.prefix_len != rule.network.bitLength()) {
        return RuleError{1, "address ranges cannot be intercepted; list single IP addresses"};
      }
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
