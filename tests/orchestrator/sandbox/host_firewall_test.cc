// The host rules of a sandbox (host_firewall.h): the rule set itself, one
// test per rule class, and the real iptables/ip6tables applying and removing
// it in a private network namespace (one process per test; root needed for
// that part, skipped otherwise).
#include "orchestrator/sandbox/host_firewall.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace kitgate::sandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

FirewallSpec spec(const std::string& name = "amp") {
  return FirewallSpec{name, "172.30.0.0/16", "172.30.0.1", "br-0123456789ab", 3128, 40001, 3153};
}

std::string joined(const FirewallRule& r) {
  std::string out;
  for (const std::string& w : r.match) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The rules of one family/table/chain, top first, as text.
std::vector<std::string> chain(const std::vector<FirewallRule>& rules, IpFamily f,
                               const std::string& table, const std::string& name) {
  std::vector<std::string> out;
  for (const FirewallRule& r : rules) {
    if (r.family == f && r.table == table && r.chain == name) out.push_back(joined(r));
  }
  return out;
}

// Index of the first rule containing every word of `words`; -1 when none.
long find(const std::vector<std::string>& rules, const std::vector<std::string>& words) {
  for (size_t i = 0; i < rules.size(); ++i) {
    bool all = true;
    for (const std::string& w : words)
      all = all && (" " + rules[i] + " ").find(" " + w + " ") != std::string::npos;
    if (all) return static_cast<long>(i);
  }
  return -1;
}

TEST(SandboxRules, EveryTcpConnectionButTheProxyPortGoesToTheTransparentListener) {
  auto nat = chain(sandboxRules(spec()), IpFamily::kV4, "nat", "PREROUTING");
  const long keep =
      find(nat, {"-s 172.30.0.0/16", "-d 172.30.0.1", "-p tcp", "--dport 3128", "-j RETURN"});
  const long capture = find(nat, {"-s 172.30.0.0/16", "-p tcp", "-j REDIRECT", "--to-ports 40001"});
  ASSERT_GE(keep, 0);
  ASSERT_GE(capture, 0);
  EXPECT_LT(keep, capture);  // the forward proxy is not captured
  EXPECT_THAT(nat[static_cast<size_t>(capture)], Not(HasSubstr("--dport")));  // every port
  EXPECT_THAT(nat[static_cast<size_t>(capture)], Not(HasSubstr("-d ")));      // every address
}

TEST(SandboxRules, DnsGoesToTheProxysDnsListener) {
  auto nat = chain(sandboxRules(spec()), IpFamily::kV4, "nat", "PREROUTING");
  const long udp = find(nat, {"-p udp", "--dport 53", "-j REDIRECT", "--to-ports 3153"});
  const long tcp = find(nat, {"-d 172.30.0.1", "-p tcp", "--dport 53", "--to-ports 3153"});
  const long capture = find(nat, {"-p tcp", "--to-ports 40001"});
  ASSERT_GE(udp, 0);
  ASSERT_GE(tcp, 0);
  EXPECT_THAT(nat[static_cast<size_t>(udp)],
              Not(HasSubstr("-d ")));  // any resolver: kitgate answers
  EXPECT_LT(tcp, capture);
}

TEST(SandboxRules, HostAcceptsOnlyTheProxyAndWhatTheRedirectsSentThenDrops) {
  auto input = chain(sandboxRules(spec()), IpFamily::kV4, "filter", "INPUT");
  ASSERT_FALSE(input.empty());
  EXPECT_EQ(input.back(), "-s 172.30.0.0/16 -m comment --comment kitgate:amp -j DROP");
  EXPECT_GE(find(input, {"-d 172.30.0.1", "-p tcp", "--dport 3128", "-j ACCEPT"}), 0);
  // The transparent and DNS ports only through a REDIRECT (dialled directly: dropped).
  for (const auto& [proto, port] : std::vector<std::pair<std::string, std::string>>{
           {"tcp", "40001"}, {"udp", "3153"}, {"tcp", "3153"}}) {
    const long i = find(input, {"-p " + proto, "--dport " + port});
    ASSERT_GE(i, 0) << proto << " " << port;
    EXPECT_THAT(input[static_cast<size_t>(i)], HasSubstr("--ctstate DNAT")) << proto << " " << port;
  }
  // Nothing else is accepted from the subnet except lo and replies to the host's own connections.
  for (const std::string& r : input) {
    if (r.find("-j ACCEPT") == std::string::npos) continue;
    EXPECT_TRUE(r.find("--dport") != std::string::npos || r.find("-i lo") != std::string::npos ||
                r.find("--ctstate ESTABLISHED") != std::string::npos)
        << r;
  }
}

TEST(SandboxRules, NothingIsForwardedOnIpv4) {
  auto forward = chain(sandboxRules(spec()), IpFamily::kV4, "filter", "FORWARD");
  EXPECT_THAT(forward,
              ::testing::ElementsAre("-s 172.30.0.0/16 -m comment --comment kitgate:amp -j DROP"));
}

TEST(SandboxRules, Ipv6FromTheBridgeIsDroppedBothToTheHostAndOnwards) {
  const auto rules = sandboxRules(spec());
  for (const char* name : {"INPUT", "FORWARD"}) {
    EXPECT_THAT(
        chain(rules, IpFamily::kV6, "filter", name),
        ::testing::ElementsAre("-i br-0123456789ab -m comment --comment kitgate:amp -j DROP"))
        << name;
  }
  EXPECT_TRUE(chain(rules, IpFamily::kV6, "nat", "PREROUTING").empty());
}

TEST(SandboxRules, EveryRuleCarriesTheSandboxTag) {
  for (const FirewallRule& r : sandboxRules(spec("amp-2"))) {
    EXPECT_THAT(joined(r), HasSubstr("-m comment --comment kitgate:amp-2 -j")) << joined(r);
  }
}

TEST(SandboxRules, BridgeNameIsDockersForTheNetworkId) {
  EXPECT_EQ(bridgeName("c0265531b6c9fc4ba0968687c04a66a3cf3af4d4bd8c3ffce8f19790cfd964f7"),
            "br-c0265531b6c9");
}

// ---- the real iptables, in a network namespace of its own

class IptablesFirewallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (a network namespace and iptables)";
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    auto tmp = kitgate::testing::TempDir::create("firewall");
    ASSERT_TRUE(tmp.isOk()) << tmp.status().message();
    tmp_.emplace(std::move(*tmp));
  }
  // What iptables-save / ip6tables-save print for this namespace.
  std::string save(const std::string& tool) {
    auto r = kitgate::testing::runProgram({"/usr/sbin/" + tool}, tmp_->path() + "/" + tool,
                                          std::chrono::seconds(30));
    EXPECT_TRUE(r.isOk() && r->status.exited && r->status.code == 0)
        << tool << ": " << (r.isOk() ? r->err : r.status().message());
    return r.isOk() ? r->out : "";
  }
  std::optional<kitgate::testing::TempDir> tmp_;
};

TEST_F(IptablesFirewallTest, IsolateAddsBothFamiliesAndReleaseLeavesNoRule) {
  auto fw = makeIptablesFirewall();
  ASSERT_TRUE(fw->isolate(spec()).isOk());
  const std::string v4 = save("iptables-save"), v6 = save("ip6tables-save");
  EXPECT_THAT(v4, HasSubstr("--to-ports 40001"));
  EXPECT_THAT(v4, HasSubstr("--ctstate DNAT"));
  EXPECT_THAT(v6, HasSubstr("-i br-0123456789ab"));

  // Applying again replaces, never duplicates.
  ASSERT_TRUE(fw->isolate(spec()).isOk());
  const std::string again = save("iptables-save");
  size_t n = 0;
  for (size_t at = again.find("kitgate:amp\""); at != std::string::npos;
       at = again.find("kitgate:amp\"", at + 1))
    ++n;
  EXPECT_EQ(n, 12u);  // the IPv4 rules of sandboxRules(), once each

  ASSERT_TRUE(fw->release("amp").isOk());
  EXPECT_THAT(save("iptables-save"), Not(HasSubstr("kitgate:")));
  EXPECT_THAT(save("ip6tables-save"), Not(HasSubstr("kitgate:")));
  EXPECT_TRUE(fw->release("amp").isOk());  // idempotent
}

TEST_F(IptablesFirewallTest, ReleaseRemovesOnlyThatSandboxWhateverPortsItWasMadeWith) {
  auto fw = makeIptablesFirewall();
  FirewallSpec other = spec("amp-2");
  other.subnet = "172.31.0.0/16";
  other.gateway = "172.31.0.1";
  other.bridge = "br-ba9876543210";
  ASSERT_TRUE(fw->isolate(spec()).isOk());
  ASSERT_TRUE(fw->isolate(other).isOk());
  ASSERT_TRUE(fw->release("amp").isOk());  // by tag: no ports or addresses needed
  const std::string v4 = save("iptables-save");
  EXPECT_THAT(v4, Not(HasSubstr("kitgate:amp\"")));
  EXPECT_THAT(v4, HasSubstr("kitgate:amp-2\""));
  EXPECT_THAT(save("ip6tables-save"), HasSubstr("kitgate:amp-2\""));
}

}  // namespace
}  // namespace kitgate::sandbox
