// A sandbox whose credential hosts include a middle-label wildcard
// (`bedrock-runtime.*.amazonaws.com`) gets a CA name-constrained to the fixed
// suffix: the openssl CLI, independent of our code, accepts leaves below it
// and rejects every other name signed by the same key.
#include "proxy/mitm/authority.h"

#include <gtest/gtest.h>

#include <chrono>

#include "proxy/tls/ca.h"
#include "tests/proxy/tls/tls_test_util.h"

namespace kitgate::mitm {
namespace {

using tls::testing::TempDir;

TEST(ConstraintPattern, MiddleWildcardWidensToTheFixedSuffix) {
  EXPECT_EQ(constraintPattern("bedrock-runtime.*.amazonaws.com"), "**.amazonaws.com");
  EXPECT_EQ(constraintPattern("a.*.b.*.example.com"), "**.example.com");
  EXPECT_EQ(constraintPattern("*.eu.*.example.com"), "**.example.com");
  for (const char* same : {"api.example.com", "*.example.com", "**.example.com", "192.0.2.7"}) {
    EXPECT_EQ(constraintPattern(same), same);
  }
}

TEST(Authority, MiddleWildcardCaIsConstrainedToTheFixedSuffix) {
  TempDir dir;
  auto made = loadOrCreateAuthority(dir.file("ca"), "crush",
                                    {"bedrock-runtime.*.amazonaws.com", "api.openai.com"}, {});
  ASSERT_TRUE(made.isOk()) << made.status().message();
  EXPECT_TRUE(made->created);
  EXPECT_EQ(made->minter->constraints().permitted_dns,
            (std::vector<std::string>{".amazonaws.com", "api.openai.com"}));

  // Proven by the openssl CLI against the CA file the sandbox trusts.
  const struct {
    const char* host;
    bool inside;
  } cases[] = {{"bedrock-runtime.us-east-1.amazonaws.com", true},
               {"api.openai.com", true},
               {"amazonaws.com", false},
               {"evil.com", false},
               {"amazonaws.com.evil.com", false}};
  for (const auto& c : cases) {
    auto leaf = made->minter->mint(c.host, std::chrono::system_clock::now());
    ASSERT_TRUE(leaf.isOk()) << leaf.status().message();
    ASSERT_TRUE(tls::writeFileAtomically(dir.file("leaf.pem"),
                                         *tls::certificateToPem(leaf->cert.get()), 0644)
                    .isOk());
    int status = -1;
    const std::string out = tls::testing::run(
        "openssl verify -purpose sslserver -CAfile " + made->cert_path + " " + dir.file("leaf.pem"),
        &status);
    EXPECT_EQ(status == 0, c.inside) << c.host << ": " << out;
  }

  // The same patterns again reuse the stored CA (its constraints match).
  auto again = loadOrCreateAuthority(dir.file("ca"), "crush",
                                     {"bedrock-runtime.*.amazonaws.com", "api.openai.com"}, {});
  ASSERT_TRUE(again.isOk()) << again.status().message();
  EXPECT_FALSE(again->created);
}

TEST(Authority, LeafCacheMintsOnlyInsideTheSuffix) {
  TempDir dir;
  auto made =
      loadOrCreateAuthority(dir.file("ca"), "crush", {"bedrock-runtime.*.amazonaws.com"}, {});
  ASSERT_TRUE(made.isOk()) << made.status().message();
  tls::LeafCache cache(made->minter);
  EXPECT_TRUE(cache.get("bedrock-runtime.eu-west-1.amazonaws.com").isOk());
  EXPECT_FALSE(cache.get("bedrock-runtime.eu-west-1.amazonaws.com.evil.io").isOk());
  EXPECT_FALSE(cache.get("example.com").isOk());
}

}  // namespace
}  // namespace kitgate::mitm
