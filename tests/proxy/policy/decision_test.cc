#include "proxy/policy/decision.h"

#include <gtest/gtest.h>

namespace kitgate::policy {
namespace {

TEST(BlockedBody, MatchesTheTextAgentsKnow) {
  EXPECT_EQ(blockedBody("example.com", 443, kDefaultDenyReason),
            "Blocked by network policy: domain example.com:443\n"
            "  detail: no matching allow rule - blocked by default deny policy\n");
}

TEST(BlockedBody, BracketsIpv6) {
  EXPECT_EQ(blockedBody("2001:db8::1", 443, "r"),
            "Blocked by network policy: domain [2001:db8::1]:443\n  detail: r\n");
  EXPECT_EQ(blockedBody("[::1]", 80, "r"),
            "Blocked by network policy: domain [::1]:80\n  detail: r\n");
}

TEST(BlockedBody, ReplacesControlCharacters) {
  EXPECT_EQ(blockedBody("a\r\nb", 1, "x\ny"),
            "Blocked by network policy: domain a??b:1\n  detail: x?y\n");
}

TEST(Verdict, Names) {
  EXPECT_EQ(toString(Decision::Verdict::kAllow), "allow");
  EXPECT_EQ(toString(Decision::Verdict::kDeny), "deny");
  EXPECT_EQ(toString(Decision::Verdict::kCheckAddress), "check-address");
}

}  // namespace
}  // namespace kitgate::policy
