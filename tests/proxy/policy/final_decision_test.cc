// The final decisions: decideAddresses folds the address check of every
// resolved address into one verdict (never kCheckAddress), and
// decideInterception gives every allowed CONNECT its interception directive
// with a reason.
#include <gtest/gtest.h>

#include "proxy/policy/decision.h"
#include "proxy/policy/policy.h"
#include "tests/proxy/policy/policy_test_util.h"

namespace kitgate::policy {
namespace {

using testing::host;
using testing::ip;
using testing::rules;
std::vector<IpAddress> ips(std::initializer_list<const char*> texts) {
  std::vector<IpAddress> out;
  for (const char* t : texts) out.push_back(ip(t));
  return out;
}

TEST(DecideAddresses, AllowedNameKeepsOnlyPublicAddressesInResolverOrder) {
  Policy p({rules({"example.com"})});
  const Decision d = p.evaluate(host("example.com"), 443);
  AddressDecision ad = p.decideAddresses(
      d, ips({"10.0.0.1", "93.184.216.34", "127.0.0.1", "2606:2800::1"}), 443, SelfAddresses());
  EXPECT_TRUE(ad.decision.allowed());
  EXPECT_EQ(ad.decision.rule, "example.com");
  EXPECT_EQ(ad.decision.reason, d.reason);
  EXPECT_EQ(ad.allowed, ips({"93.184.216.34", "2606:2800::1"}));
  EXPECT_EQ(ad.refused_address, "10.0.0.1");
}

// Deny beats allow on addresses too (smokescreen applies deny ranges to every
// resolved address): a CIDR deny refuses the addresses of an allowed name,
// public or not — stricter than sbx's first-decisive rule, said in the README.
TEST(DecideAddresses, CidrDenyRulesApplyToTheAddressesOfAnAllowedName) {
  struct Case {
    std::vector<std::string> allow, deny;
    const char* address;
  };
  for (const Case& c : std::vector<Case>{{{"**"}, {"127.0.0.1/32"}, "127.0.0.1"},
                                         {{"**", "127.0.0.0/8"}, {"127.0.0.1/32"}, "127.0.0.1"},
                                         {{"example.com"}, {"93.184.216.0/24"}, "93.184.216.34"},
                                         {{"**"}, {"2606:2800::/32"}, "2606:2800::1"},
                                         {{"example.com"}, {"93.184.216.34:443"}, "93.184.216.34"}}) {
    SCOPED_TRACE(std::string(c.address) + " deny " + c.deny[0]);
    Policy p({rules(c.allow, c.deny)});
    const Decision d = p.evaluate(host("example.com"), 443);
    ASSERT_FALSE(d.denied());
    AddressDecision ad = p.decideAddresses(d, ips({c.address}), 443, SelfAddresses());
    EXPECT_TRUE(ad.decision.denied());
    EXPECT_EQ(ad.refused_address, ip(c.address).toString());
    EXPECT_TRUE(ad.allowed.empty());
  }
  // A deny for another port does not refuse the address.
  Policy p({rules({"example.com"}, {"93.184.216.34:80"})});
  AddressDecision ad =
      p.decideAddresses(p.evaluate(host("example.com"), 443), ips({"93.184.216.34"}), 443, SelfAddresses());
  EXPECT_TRUE(ad.decision.allowed());
}

TEST(DecideAddresses, EveryAddressRefusedIsADenialNamingTheFirstWithoutARule) {
  Policy p({rules({"example.com"})});
  const Decision d = p.evaluate(host("example.com"), 443);
  AddressDecision ad =
      p.decideAddresses(d, ips({"169.254.169.254", "10.0.0.1"}), 443, SelfAddresses());
  EXPECT_TRUE(ad.decision.denied());
  EXPECT_TRUE(ad.decision.rule.empty());
  EXPECT_NE(ad.decision.reason.find("169.254.169.254"), std::string::npos) << ad.decision.reason;
  EXPECT_NE(ad.decision.reason.find("link-local"), std::string::npos) << ad.decision.reason;
  EXPECT_TRUE(ad.allowed.empty());
  EXPECT_EQ(ad.refused_address, "169.254.169.254");
}

TEST(DecideAddresses, CheckAddressBecomesAllowWithTheRuleOfTheFirstAllowedAddress) {
  Policy p({rules({"93.184.0.0/16:443", "8.8.8.0/24"})});
  const Decision d = p.evaluate(host("unknown.example"), 443);
  ASSERT_EQ(d.verdict, Decision::Verdict::kCheckAddress);
  AddressDecision ad =
      p.decideAddresses(d, ips({"1.1.1.1", "8.8.8.8", "93.184.1.1"}), 443, SelfAddresses());
  EXPECT_EQ(ad.decision.verdict, Decision::Verdict::kAllow);
  EXPECT_EQ(ad.decision.rule, "8.8.8.0/24");
  EXPECT_EQ(ad.allowed, ips({"8.8.8.8", "93.184.1.1"}));
  EXPECT_EQ(ad.refused_address, "1.1.1.1");
}

TEST(DecideAddresses, CheckAddressWithNoAllowedAddressIsDenied) {
  Policy p({rules({"93.184.0.0/16"})});
  const Decision d = p.evaluate(host("unknown.example"), 443);
  ASSERT_EQ(d.verdict, Decision::Verdict::kCheckAddress);
  AddressDecision ad = p.decideAddresses(d, ips({"1.1.1.1"}), 443, SelfAddresses());
  EXPECT_TRUE(ad.decision.denied());
  EXPECT_EQ(ad.decision.reason, kDefaultDenyReason);
}

TEST(DecideAddresses, DeniedHostStaysDeniedWhateverTheAddresses) {
  Policy p({rules({"93.184.0.0/16"}, {"example.com"})});
  const Decision d = p.evaluate(host("example.com"), 443);
  ASSERT_TRUE(d.denied());
  AddressDecision ad = p.decideAddresses(d, ips({"93.184.216.34"}), 443, SelfAddresses());
  EXPECT_TRUE(ad.decision.denied());
  EXPECT_EQ(ad.decision.rule, "example.com");
  EXPECT_TRUE(ad.allowed.empty());
}

TEST(DecideAddresses, NoAddressAtAllIsADenial) {
  Policy p({rules({"example.com"})});
  AddressDecision ad =
      p.decideAddresses(p.evaluate(host("example.com"), 443), {}, 443, SelfAddresses());
  EXPECT_TRUE(ad.decision.denied());
  EXPECT_FALSE(ad.decision.reason.empty());
  EXPECT_TRUE(ad.allowed.empty());
}

TEST(DecideAddresses, TheProxysOwnListenerIsNeverAllowed) {
  Policy p({rules({"**", "127.0.0.0/8"})});
  SelfAddresses self;
  self.add(ip("127.0.0.1"), 3128);
  const Decision d = p.evaluate(host("example.com"), 3128);
  AddressDecision ad = p.decideAddresses(d, ips({"127.0.0.1"}), 3128, self);
  EXPECT_TRUE(ad.decision.denied());
  EXPECT_NE(ad.decision.reason.find("own listener"), std::string::npos) << ad.decision.reason;
}

InterceptFacts everything() {
  InterceptFacts f;
  f.tls_configured = true;
  f.credentials_bound = true;
  f.host_has_plan = true;
  f.sandbox_has_ca = true;
  f.plan = "inject Authorization (amp)";
  return f;
}

Decision allowed() {
  Decision d;
  d.verdict = Decision::Verdict::kAllow;
  return d;
}

TEST(DecideInterception, InterceptsWhenEverythingIsThereAndNamesThePlan) {
  Interception i = decideInterception(allowed(), everything());
  EXPECT_TRUE(i.intercept);
  EXPECT_EQ(i.reason, "intercepted: inject Authorization (amp)");
}

struct MissingCase {
  const char* name;
  void (*remove)(InterceptFacts&);
  const char* reason_part;
};

class DecideInterceptionMissing : public ::testing::TestWithParam<MissingCase> {};

TEST_P(DecideInterceptionMissing, TunnelsAndSaysWhy) {
  InterceptFacts f = everything();
  GetParam().remove(f);
  Interception i = decideInterception(allowed(), f);
  EXPECT_FALSE(i.intercept);
  EXPECT_EQ(i.reason.rfind("not intercepted: ", 0), 0u) << i.reason;
  EXPECT_NE(i.reason.find(GetParam().reason_part), std::string::npos) << i.reason;
}

INSTANTIATE_TEST_SUITE_P(
    EachPiece, DecideInterceptionMissing,
    ::testing::Values(
        MissingCase{"NoTls", [](InterceptFacts& f) { f.tls_configured = false; }, "TLS"},
        MissingCase{"NoCredentials", [](InterceptFacts& f) { f.credentials_bound = false; },
                    "for this sandbox"},
        MissingCase{"NoPlanForHost", [](InterceptFacts& f) { f.host_has_plan = false; },
                    "for this host"},
        MissingCase{"NoCa", [](InterceptFacts& f) { f.sandbox_has_ca = false; }, "CA"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(DecideInterception, OnlyAnAllowedVerdictIsIntercepted) {
  for (Decision::Verdict v : {Decision::Verdict::kDeny, Decision::Verdict::kCheckAddress}) {
    Decision d;
    d.verdict = v;
    Interception i = decideInterception(d, everything());
    EXPECT_FALSE(i.intercept) << toString(v);
    EXPECT_NE(i.reason.find("not allowed"), std::string::npos) << i.reason;
  }
}

}  // namespace
}  // namespace kitgate::policy
