// Matching of every §4.2 form through a compiled RuleSet + Policy.
#include "proxy/policy/rule_set.h"

#include <gtest/gtest.h>

#include "proxy/policy/policy.h"

namespace kitgate::policy {
namespace {

Policy policyOf(const std::vector<std::string>& allow, const std::vector<std::string>& deny = {}) {
  auto set = RuleSet::compileText(allow, deny);
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return set.isOk() ? Policy({*set}) : Policy();
}

Host host(const char* text) {
  auto h = normalizeHost(text);
  EXPECT_TRUE(h.isOk()) << text;
  return h.isOk() ? *h : Host{};
}

struct MatchCase {
  const char* rule;
  const char* host;
  uint16_t port;
  bool allowed;
};

class RuleMatches : public ::testing::TestWithParam<MatchCase> {};

TEST_P(RuleMatches, AllowRule) {
  const MatchCase& c = GetParam();
  Policy p = policyOf({c.rule});
  Decision d = p.evaluate(host(c.host), c.port);
  EXPECT_EQ(d.allowed(), c.allowed)
      << c.rule << " vs " << c.host << ":" << c.port << " -> " << d.reason;
  if (c.allowed) {
    EXPECT_EQ(d.rule, c.rule);
  } else {
    EXPECT_EQ(d.reason, kDefaultDenyReason);
    EXPECT_TRUE(d.rule.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, RuleMatches,
    ::testing::Values(
        // exact
        MatchCase{"example.com", "example.com", 443, true},
        MatchCase{"example.com", "EXAMPLE.com.", 80, true},
        MatchCase{"example.com", "api.example.com", 443, false},
        MatchCase{"example.com", "notexample.com", 443, false},
        // *.x: exactly one extra label
        MatchCase{"*.example.com", "api.example.com", 443, true},
        MatchCase{"*.example.com", "example.com", 443, false},
        MatchCase{"*.example.com", "a.b.example.com", 443, false},
        MatchCase{"*.example.com", "apiexample.com", 443, false},
        // **.x: one or more labels, never the apex
        MatchCase{"**.example.com", "api.example.com", 443, true},
        MatchCase{"**.example.com", "a.b.c.example.com", 443, true},
        MatchCase{"**.example.com", "example.com", 443, false},
        MatchCase{"**.example.com", "badexample.com", 443, false},
        // ports
        MatchCase{"example.com:443", "example.com", 443, true},
        MatchCase{"example.com:443", "example.com", 80, false},
        MatchCase{"example.com:*", "example.com", 8443, true},
        MatchCase{"example.com", "example.com", 22, true},
        MatchCase{"*.example.com:443", "api.example.com", 80, false},
        // globs
        MatchCase{"api?.example.com", "api1.example.com", 443, true},
        MatchCase{"api?.example.com", "api.example.com", 443, false},
        MatchCase{"api?.example.com", "api12.example.com", 443, false},
        MatchCase{"api[12].example.com", "api2.example.com", 443, true},
        MatchCase{"api[12].example.com", "api3.example.com", 443, false},
        MatchCase{"api[!1].example.com", "api2.example.com", 443, true},
        MatchCase{"api[!1].example.com", "api1.example.com", 443, false},
        MatchCase{"api[a-c].example.com", "apib.example.com", 443, true},
        MatchCase{"api-*.example.com", "api-eu.example.com", 443, true},
        MatchCase{"api-*.example.com", "api-eu.x.example.com", 443, false},
        MatchCase{"api?.example.com:443", "api1.example.com", 80, false},
        MatchCase{"*.api?.example.com", "x.api1.example.com", 443, true},
        // a middle `*` label: exactly one label at that position
        MatchCase{"bedrock-runtime.*.amazonaws.com", "bedrock-runtime.us-east-1.amazonaws.com", 443,
                  true},
        MatchCase{"bedrock-runtime.*.amazonaws.com", "bedrock-runtime.amazonaws.com", 443, false},
        MatchCase{"bedrock-runtime.*.amazonaws.com", "bedrock-runtime.a.b.amazonaws.com", 443,
                  false},
        MatchCase{"bedrock-runtime.*.amazonaws.com", "x.bedrock-runtime.eu.amazonaws.com", 443,
                  false},
        MatchCase{"bedrock-runtime.*.amazonaws.com", "bedrock.us-east-1.amazonaws.com", 443, false},
        MatchCase{"bedrock-runtime.*.amazonaws.com", "bedrock-runtime.eu.amazonaws.com.evil.io",
                  443, false},
        MatchCase{"api.*.example.com:443", "api.eu.example.com", 80, false},
        MatchCase{"*.eu.*.example.com", "a.eu.b.example.com", 443, true},
        MatchCase{"*.eu.*.example.com", "eu.b.example.com", 443, false},
        // ** = every host (but the host's loopback: policy_test.cc, HostService)
        MatchCase{"**", "anything.example", 443, true}, MatchCase{"**", "intranet", 1, true},
        MatchCase{"**", "8.8.8.8", 53, true}, MatchCase{"**:443", "anything.example", 80, false},
        // IP literals and CIDRs
        MatchCase{"10.0.0.0/8", "10.1.2.3", 5432, true},
        MatchCase{"10.0.0.0/8:5432", "10.1.2.3", 5433, false},
        MatchCase{"10.0.0.0/8", "11.0.0.1", 80, false}, MatchCase{"10.0.0.0/8", "0xa.1", 80, true},
        MatchCase{"127.0.0.1", "2130706433", 80, true},
        MatchCase{"10.0.0.0/8", "[::ffff:10.0.0.9]", 80, true},
        MatchCase{"[2001:db8::1]:443", "[2001:db8::1]", 443, true},
        MatchCase{"[2001:db8::1]:443", "[2001:db8::2]", 443, false},
        MatchCase{"2001:db8::/32", "[2001:db8:1::5]", 80, true},
        MatchCase{"[2001:db8::/32]:443", "[2001:db8:1::5]", 80, false},
        // CIDR rules never match names, name rules never match IP literals
        MatchCase{"example.com", "93.184.216.34", 443, false}));

TEST(RuleSet, CidrRuleDoesNotDecideHostNameBeforeDns) {
  Policy p = policyOf({"10.0.0.0/8"});
  Decision d = p.evaluate(host("db.internal"), 5432);
  EXPECT_EQ(d.verdict, Decision::Verdict::kCheckAddress);
}

TEST(RuleSet, DenyBeatsAllow) {
  Policy p = policyOf({"**.example.com"}, {"evil.example.com"});
  EXPECT_TRUE(p.evaluate(host("good.example.com"), 443).allowed());
  Decision d = p.evaluate(host("evil.example.com"), 443);
  EXPECT_TRUE(d.denied());
  EXPECT_EQ(d.rule, "evil.example.com");
  EXPECT_NE(d.reason.find("evil.example.com"), std::string::npos);
}

TEST(RuleSet, DenyOnOnePortLeavesOthersAllowed) {
  Policy p = policyOf({"example.com"}, {"example.com:22"});
  EXPECT_TRUE(p.evaluate(host("example.com"), 443).allowed());
  EXPECT_TRUE(p.evaluate(host("example.com"), 22).denied());
}

TEST(RuleSet, AllowAllWithDenyList) {
  Policy p = policyOf({"**"}, {"*.tracker.example", "10.0.0.0/8"});
  EXPECT_TRUE(p.evaluate(host("a.tracker.example"), 443).denied());
  EXPECT_TRUE(p.evaluate(host("10.2.3.4"), 443).denied());
  EXPECT_TRUE(p.evaluate(host("ok.example"), 443).allowed());
}

TEST(RuleSet, FirstMatchingRuleOfTheListIsReported) {
  Policy p = policyOf({"api?.example.com", "api[0-9].example.com"});
  EXPECT_EQ(p.evaluate(host("api1.example.com"), 443).rule, "api?.example.com");
}

TEST(RuleSet, CompileTextReportsEveryBadRule) {
  auto set = RuleSet::compileText({"ok.example", "*", "a.**.b"}, {"x:1-2"});
  ASSERT_FALSE(set.isOk());
  const std::string m = set.status().message();
  EXPECT_NE(m.find("allow[1]:1:"), std::string::npos) << m;
  EXPECT_NE(m.find("allow[2]:3:"), std::string::npos) << m;
  EXPECT_NE(m.find("deny[0]:4:"), std::string::npos) << m;
}

TEST(RuleSet, ManyRulesStillMatchExactly) {
  std::vector<std::string> allow;
  for (int i = 0; i < 2000; ++i) {
    allow.push_back("host" + std::to_string(i) + ".example.com");
    allow.push_back("*.w" + std::to_string(i) + ".example.org:443");
    allow.push_back("g" + std::to_string(i) + "-?.example.net");
  }
  Policy p = policyOf(allow);
  EXPECT_TRUE(p.evaluate(host("host1999.example.com"), 1).allowed());
  EXPECT_TRUE(p.evaluate(host("x.w77.example.org"), 443).allowed());
  EXPECT_FALSE(p.evaluate(host("x.w77.example.org"), 80).allowed());
  EXPECT_EQ(p.evaluate(host("g5-a.example.net"), 1).rule, "g5-?.example.net");
  EXPECT_FALSE(p.evaluate(host("g5-ab.example.net"), 1).allowed());
  EXPECT_FALSE(p.evaluate(host("host2000.example.com"), 1).allowed());
}

}  // namespace
}  // namespace kitgate::policy
