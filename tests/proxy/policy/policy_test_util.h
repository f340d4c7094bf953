// Small builders shared by the policy suites: a compiled rule set from rule
// text (a compile error fails the calling test), a normalised host, an address.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/policy/host.h"
#include "proxy/policy/ip_address.h"
#include "proxy/policy/rule_set.h"

namespace kitgate::policy::testing {

inline std::shared_ptr<const RuleSet> rules(const std::vector<std::string>& allow,
                                            const std::vector<std::string>& deny = {}) {
  auto set = RuleSet::compileText(allow, deny);
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return set.isOk() ? *set : nullptr;
}

inline Host host(const char* text) { return *normalizeHost(text); }
inline IpAddress ip(const char* text) { return *IpAddress::parse(text); }

}  // namespace kitgate::policy::testing
