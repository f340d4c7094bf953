#include "proxy/secrets/mask.h"

#include <gtest/gtest.h>

#include <string>

namespace kitgate::secrets {
namespace {

struct Case {
  std::string secret;
  std::string masked;
};

TEST(MaskSecret, FollowsSecretLsRules) {
  const Case cases[] = {
      {"", ""},
      {"abc", "***"},
      {"abcdef", "******"},                                   // <= 6: all hidden
      {"abcdefg", "abcdef*"},                                 // 7..19: first 6
      {"abcdefghijklmnopqrs", "abcdef*************"},         // 19
      {"abcdefghijklmnopqrst", "abcdef**********qrst"},       // 20: first 6 + last 4
      {"abcdefghijklmnopqrstuvwxy", "abcdef***************vwxy"},  // 25: fits
      {"sk-ant-api03-0123456789abcdefghijklmnop", "sk-ant************...mnop"},  // capped at 25
  };
  for (const Case& c : cases) {
    const std::string got = maskSecret(c.secret);
    EXPECT_EQ(got, c.masked) << c.secret;
    EXPECT_LE(got.size(), 25u);
  }
}

TEST(MaskSecret, CountsUtf8CharactersAndHidesControls) {
  EXPECT_EQ(maskSecret("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), "****");  // 4 characters, 8 bytes
  EXPECT_EQ(maskSecret("ab\ncdefgh"), "ab?cde***");
}

TEST(MaskSecret, NeverShowsTheHiddenMiddle) {
  const std::string secret = "prefix-THE-HIDDEN-MIDDLE-PART-suffx";
  const std::string masked = maskSecret(secret);
  EXPECT_EQ(masked.find("HIDDEN"), std::string::npos);
  EXPECT_EQ(masked.substr(0, 6), "prefix");
  EXPECT_EQ(masked.substr(masked.size() - 4), "uffx");
}

}  // namespace
}  // namespace kitgate::secrets
