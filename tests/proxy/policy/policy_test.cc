// Layering (global + sandbox), hostname-first evaluation and the address
// check after DNS.
#include "proxy/policy/policy.h"

#include <gtest/gtest.h>

#include "tests/proxy/policy/policy_test_util.h"

namespace kitgate::policy {
namespace {

using testing::host;
using testing::ip;
using testing::rules;

TEST(Policy, EmptyPolicyDeniesWithDefaultReason) {
  Policy p;
  Decision d = p.evaluate(host("example.com"), 443);
  EXPECT_TRUE(d.denied());
  EXPECT_EQ(d.reason, "no matching allow rule - blocked by default deny policy");
}

TEST(Policy, DenyInEitherLayerBeatsAllowInEither) {
  Policy global_denies({rules({}, {"blocked.example"}), rules({"blocked.example", "ok.example"})});
  EXPECT_TRUE(global_denies.evaluate(host("blocked.example"), 443).denied());
  EXPECT_TRUE(global_denies.evaluate(host("ok.example"), 443).allowed());
  Policy sandbox_denies({rules({"**"}), rules({}, {"blocked.example"})});
  EXPECT_TRUE(sandbox_denies.evaluate(host("blocked.example"), 443).denied());
  EXPECT_TRUE(sandbox_denies.evaluate(host("other.example"), 443).allowed());
}

TEST(Policy, HostnameDenyIsNotUndoneByCidrAllow) {
  Policy p({rules({"93.184.0.0/16"}, {"example.com"})});
  Decision d = p.evaluate(host("example.com"), 443);
  ASSERT_TRUE(d.denied());
  Decision after = p.checkAddress(ip("93.184.216.34"), 443, d, SelfAddresses());
  EXPECT_TRUE(after.denied());
  EXPECT_EQ(after.rule, "example.com");
}

TEST(Policy, AllowedHostnameIsRecheckedAgainstCidrDenyOfPublicAddress) {
  Policy p({rules({"example.com"}, {"93.184.0.0/16"})});
  Decision d = p.evaluate(host("example.com"), 443);
  ASSERT_TRUE(d.allowed());
  const Decision a = p.checkAddress(ip("93.184.216.34"), 443, d, SelfAddresses());
  EXPECT_TRUE(a.denied());
  EXPECT_EQ(a.rule, "93.184.0.0/16");
  EXPECT_TRUE(p.checkAddress(ip("93.185.0.1"), 443, d, SelfAddresses()).allowed());
}

TEST(Policy, UnmatchedNameIsDecidedByResolvedAddressWhenCidrAllowsExist) {
  Policy p({rules({"93.184.0.0/16:443"}, {"93.184.216.0/24"})});
  Decision d = p.evaluate(host("unknown.example"), 443);
  ASSERT_EQ(d.verdict, Decision::Verdict::kCheckAddress);
  EXPECT_TRUE(p.checkAddress(ip("93.184.1.1"), 443, d, SelfAddresses()).allowed());
  EXPECT_TRUE(p.checkAddress(ip("93.184.1.1"), 80, d, SelfAddresses()).denied());
  EXPECT_TRUE(p.checkAddress(ip("93.184.216.34"), 443, d, SelfAddresses()).denied());
  Decision other = p.checkAddress(ip("8.8.8.8"), 443, d, SelfAddresses());
  EXPECT_TRUE(other.denied());
  EXPECT_EQ(other.reason, kDefaultDenyReason);
}

struct AddressCase {
  const char* address;
  const char* reason;  // expected reason for a hostname-allowed request
};

class AddressCheckRefuses : public ::testing::TestWithParam<AddressCase> {};

TEST_P(AddressCheckRefuses, NonPublicAddressOfAllowedName) {
  Policy p({rules({"**", "metadata.example"})});
  Decision d = p.evaluate(host("metadata.example"), 80);
  ASSERT_TRUE(d.allowed());
  Decision after = p.checkAddress(ip(GetParam().address), 80, d, SelfAddresses());
  EXPECT_TRUE(after.denied()) << GetParam().address;
  EXPECT_EQ(after.reason, GetParam().reason);
  EXPECT_TRUE(after.rule.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, AddressCheckRefuses,
    ::testing::Values(
        AddressCase{"169.254.169.254",
                    "resolved address 169.254.169.254 is link-local (blocked by default)"},
        AddressCase{"127.0.0.1", "resolved address 127.0.0.1 is loopback (blocked by default)"},
        AddressCase{"10.0.0.1", "resolved address 10.0.0.1 is private (blocked by default)"},
        AddressCase{"100.64.0.1",
                    "resolved address 100.64.0.1 is carrier-grade NAT (blocked by default)"},
        AddressCase{"0.0.0.0", "resolved address 0.0.0.0 is unspecified (blocked by default)"},
        AddressCase{"::ffff:10.0.0.1",
                    "resolved address ::ffff:10.0.0.1 is private (blocked by default)"},
        AddressCase{"64:ff9b::7f00:1",
                    "resolved address 64:ff9b::7f00:1 is loopback (blocked by default)"},
        AddressCase{"2002:7f00:1::",
                    "resolved address 2002:7f00:1:: is loopback (blocked by default)"},
        AddressCase{"fe80::1", "resolved address fe80::1 is link-local (blocked by default)"},
        AddressCase{"fd00:ec2::254",
                    "resolved address fd00:ec2::254 is private (blocked by default)"},
        AddressCase{"ff02::1", "resolved address ff02::1 is multicast (blocked by default)"},
        AddressCase{"::1", "resolved address ::1 is loopback (blocked by default)"}));

TEST(Policy, ExplicitCidrAllowUnlocksPrivateAddress) {
  Policy p({rules({"db.internal:5432", "10.20.0.0/16:5432"})});
  Decision d = p.evaluate(host("db.internal"), 5432);
  ASSERT_TRUE(d.allowed());
  Decision ok = p.checkAddress(ip("10.20.1.2"), 5432, d, SelfAddresses());
  EXPECT_TRUE(ok.allowed());
  EXPECT_EQ(ok.rule, "10.20.0.0/16:5432");
  EXPECT_TRUE(p.checkAddress(ip("10.21.1.2"), 5432, d, SelfAddresses()).denied());
  EXPECT_TRUE(p.checkAddress(ip("::ffff:10.20.1.2"), 5432, d, SelfAddresses()).allowed());
}

TEST(Policy, CidrAllowInGlobalLayerUnlocksForSandbox) {
  Policy p({rules({"10.20.0.0/16"}), rules({"db.internal"})});
  Decision d = p.evaluate(host("db.internal"), 5432);
  ASSERT_TRUE(d.allowed());
  EXPECT_TRUE(p.checkAddress(ip("10.20.1.2"), 5432, d, SelfAddresses()).allowed());
}

TEST(Policy, CidrDenyWinsOverCidrAllowForPrivateAddress) {
  Policy p({rules({"db.internal", "10.0.0.0/8"}, {"10.0.0.5"})});
  Decision d = p.evaluate(host("db.internal"), 5432);
  EXPECT_TRUE(p.checkAddress(ip("10.0.0.5"), 5432, d, SelfAddresses()).denied());
}

TEST(Policy, IpLiteralHostAllowedByStarStarStillNeedsAddressUnlock) {
  Policy p({rules({"**"})});
  Host literal = host("0x7f.1");
  Decision d = p.evaluate(literal, 22);
  ASSERT_TRUE(d.allowed());
  EXPECT_TRUE(p.checkAddress(literal.ip, 22, d, SelfAddresses()).denied());
  Host pub = host("8.8.8.8");
  EXPECT_TRUE(p.checkAddress(pub.ip, 443, p.evaluate(pub, 443), SelfAddresses()).allowed());
}

TEST(Policy, OwnListenerIsRefusedEvenWhenPublicOrExplicitlyAllowed) {
  SelfAddresses self;
  self.add(ip("93.184.216.34"), 3128);
  self.add(ip("127.0.0.1"), 3128);
  Policy p({rules({"**", "127.0.0.1", "93.184.216.34"})});
  Decision d = p.evaluate(host("proxy.example"), 3128);
  Decision after = p.checkAddress(ip("93.184.216.34"), 3128, d, self);
  EXPECT_TRUE(after.denied());
  EXPECT_EQ(after.reason,
            "resolved address 93.184.216.34:3128 is the proxy's own listener (never allowed)");
  EXPECT_TRUE(p.checkAddress(ip("127.0.0.1"), 3128, d, self).denied());
  EXPECT_TRUE(p.checkAddress(ip("::ffff:127.0.0.1"), 3128, d, self).denied());
  // Other ports of the same addresses follow the normal rules.
  EXPECT_TRUE(p.checkAddress(ip("93.184.216.34"), 443, d, self).allowed());
  EXPECT_TRUE(p.checkAddress(ip("127.0.0.1"), 8080, d, self).allowed());
}

TEST(Policy, CheckAddressKeepsHostDeny) {
  Policy p({rules({}, {"x.example"})});
  Decision d = p.evaluate(host("x.example"), 1);
  EXPECT_EQ(p.checkAddress(ip("8.8.8.8"), 1, d, SelfAddresses()).rule, "x.example");
}

// A DNS question has no port: a name is answerable when some port allows it.
TEST(Policy, AllowedPortsAreThePortsSomeRuleAllowsTheNameOn) {
  using Ports = std::vector<uint16_t>;
  Policy p({rules({"github.com:22", "*.npmjs.org", "api.example:443", "**.cdn.example:8443"},
                  {"bad.npmjs.org", "api.example:443"})});
  EXPECT_EQ(p.allowedPorts(host("github.com")), Ports{22});
  EXPECT_EQ(p.allowedPorts(host("a.b.cdn.example")), Ports{8443});
  EXPECT_EQ(p.allowedPorts(host("registry.npmjs.org")).size(), 4u) << "portless: every port";
  EXPECT_TRUE(p.allowedPorts(host("bad.npmjs.org")).empty()) << "a portless deny: every port";
  EXPECT_TRUE(p.allowedPorts(host("api.example")).empty()) << "denied where it is allowed";
  EXPECT_TRUE(p.allowedPorts(host("elsewhere.example")).empty());
  EXPECT_TRUE(Policy().allowedPorts(host("github.com")).empty());
  // A port-specific deny leaves the other ports.
  Policy q({rules({"**"}, {"*.example:25"})});
  Ports mail = q.allowedPorts(host("mail.example"));
  ASSERT_FALSE(mail.empty());
  EXPECT_EQ(std::count(mail.begin(), mail.end(), 25), 0);
  // With IP/CIDR allows, an unmatched name is left to its addresses.
  Policy cidr({rules({"203.0.113.0/24"})});
  EXPECT_FALSE(cidr.allowedPorts(host("anything.example")).empty());
}

// Host services (kit-spec §4.1): host.docker.internal is normalised to
// localhost; only a rule naming either exactly, with the port, allows.
struct HostServiceCase {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  bool allowed;  // host port 11434, asked as either name
};

class HostService : public ::testing::TestWithParam<HostServiceCase> {};

TEST_P(HostService, OnlyAnExplicitPortRuleInEitherSpellingAllows) {
  const HostServiceCase& c = GetParam();
  Policy p({rules(c.allow, c.deny)});
  for (const char* name : {"localhost", "host.docker.internal", "HOST.docker.internal."}) {
    SCOPED_TRACE(name);
    Decision d = p.evaluate(host(name), 11434);
    EXPECT_TRUE(d.host_service);
    EXPECT_EQ(d.allowed(), c.allowed) << d.reason;
    // The address check lets the host's loopback through (that is the
    // point) and nothing else.
    if (d.allowed()) {
      EXPECT_TRUE(p.checkAddress(ip("127.0.0.1"), 11434, d, SelfAddresses()).allowed());
      EXPECT_TRUE(p.checkAddress(ip("::1"), 11434, d, SelfAddresses()).allowed());
      EXPECT_TRUE(p.checkAddress(ip("10.0.0.1"), 11434, d, SelfAddresses()).denied());
      EXPECT_TRUE(p.checkAddress(ip("93.184.216.34"), 11434, d, SelfAddresses()).denied());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, HostService,
    ::testing::Values(HostServiceCase{{"localhost:11434"}, {}, true},
                      HostServiceCase{{"host.docker.internal:11434"}, {}, true},
                      HostServiceCase{{"LOCALHOST.:11434"}, {}, true},
                      HostServiceCase{{"localhost:8080"}, {}, false},  // another port
                      HostServiceCase{{"localhost"}, {}, false},       // no port
                      HostServiceCase{{"localhost:*"}, {}, false},     // every port
                      HostServiceCase{{"**"}, {}, false},              // never `**`
                      HostServiceCase{{"**:11434"}, {}, false},
                      HostServiceCase{{"*.docker.internal:11434"}, {}, false},  // no wildcard
                      HostServiceCase{{"**.internal:11434"}, {}, false},
                      HostServiceCase{{"127.0.0.1:11434"}, {}, false},  // addresses are not names
                      HostServiceCase{{"127.0.0.0/8"}, {}, false}, HostServiceCase{{}, {}, false},
                      // Deny beats allow, in either spelling, `**` included.
                      HostServiceCase{{"localhost:11434"}, {"host.docker.internal"}, false},
                      HostServiceCase{{"host.docker.internal:11434"}, {"localhost:11434"}, false},
                      HostServiceCase{{"localhost:11434"}, {"**"}, false},
                      HostServiceCase{{"localhost:11434"}, {"localhost:80"}, true}));

TEST(Policy, AHostServiceRuleInAnyLayerAllowsAndNamesItself) {
  Policy p({rules({"github.com"}), rules({"host.docker.internal:11434"})});
  Decision d = p.evaluate(host("localhost"), 11434);
  ASSERT_TRUE(d.allowed());
  EXPECT_EQ(d.rule, "host.docker.internal:11434");
  Decision refused = p.evaluate(host("host.docker.internal"), 22);
  EXPECT_NE(refused.reason.find("localhost:22"), std::string::npos) << refused.reason;
}

TEST(Policy, AHostServiceNeverReachesTheProxysOwnPorts) {
  // The proxy's ports on any address (a gateway, a wildcard's loopback):
  // refused on loopback even where the proxy listens elsewhere.
  SelfAddresses self;
  self.add(ip("172.30.0.1"), 3128);
  self.addLoopback(9090);
  Policy p({rules({"localhost:3128", "localhost:9090", "localhost:8080"})});
  for (uint16_t port : {3128, 9090}) {
    SCOPED_TRACE(port);
    Decision d = p.evaluate(host("localhost"), port);
    ASSERT_TRUE(d.allowed());
    Decision a = p.checkAddress(ip("127.0.0.1"), port, d, self);
    EXPECT_TRUE(a.denied());
    EXPECT_NE(a.reason.find("proxy's own ports"), std::string::npos) << a.reason;
    EXPECT_TRUE(p.decideAddresses(d, {ip("127.0.0.1"), ip("::1")}, port, self).decision.denied());
  }
  Decision d = p.evaluate(host("localhost"), 8080);
  EXPECT_TRUE(p.decideAddresses(d, {ip("127.0.0.1"), ip("::1")}, 8080, self).decision.allowed());
}

TEST(Policy, OtherLoopbackNamesStayBehindTheAddressCheck) {
  // Only the two host-service names are normalised: a name that merely
  // resolves to loopback is refused by the address check, `**` or not.
  Policy p({rules({"**", "api.localhost:8080"})});
  for (const char* name : {"api.localhost", "localhost.example.com", "gateway.docker.internal"}) {
    SCOPED_TRACE(name);
    Decision d = p.evaluate(host(name), 8080);
    EXPECT_FALSE(d.host_service);
    EXPECT_TRUE(p.checkAddress(ip("127.0.0.1"), 8080, d, SelfAddresses()).denied());
  }
}

}  // namespace
}  // namespace kitgate::policy
