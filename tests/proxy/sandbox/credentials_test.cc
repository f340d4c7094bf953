#include "proxy/sandbox/credentials.h"

#include <gtest/gtest.h>

namespace kitgate::sandbox {
namespace {

TEST(ParseProxyAuthorization, Basic) {
  // base64("dev1:s3cr3t-token-0123456789")
  auto c = parseProxyAuthorization("Basic ZGV2MTpzM2NyM3QtdG9rZW4tMDEyMzQ1Njc4OQ==");
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->sandbox.has_value());
  EXPECT_EQ(*c->sandbox, "dev1");
  EXPECT_EQ(c->token, "s3cr3t-token-0123456789");
}

TEST(ParseProxyAuthorization, SchemeIsCaseInsensitive) {
  auto c = parseProxyAuthorization("bAsIc ZGV2MTpzM2NyM3QtdG9rZW4tMDEyMzQ1Njc4OQ");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->token, "s3cr3t-token-0123456789");
}

TEST(ParseProxyAuthorization, Bearer) {
  auto c = parseProxyAuthorization("Bearer  abcdefghijklmnop ");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->sandbox.has_value());
  EXPECT_EQ(c->token, "abcdefghijklmnop");
}

class ParseProxyAuthorizationRefuses : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseProxyAuthorizationRefuses, Malformed) {
  EXPECT_FALSE(parseProxyAuthorization(GetParam()).has_value()) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Table, ParseProxyAuthorizationRefuses,
                         ::testing::Values("", "Basic", "Basic ", "Bearer", "Bearer ", "Digest abc",
                                           "Basic !!!!", "Basic ZGV2MQ==" /* no colon */,
                                           "Basic OnRva2Vu" /* empty user */, "Bearer a b",
                                           "Basicx ZGV2MTp4"));

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(constantTimeEquals("", ""));
}

}  // namespace
}  // namespace kitgate::sandbox
