// A sandbox whose credential hosts include a middle-label wildcard
// (`bedrock-runtime.*.amazonaws.com`) gets a CA name-constrained to the fixed
// suffix: the openssl CLI, independent of our code, accepts leaves below it
// and rejects every other name signed by the same key.
#include "proxy/mitm/authority.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <variant>

#include "proxy/tls/ca.h"
#include "tests/proxy/tls/tls_test_util.h"

namespace kitgate::mitm {
namespace {

using tls::testing::TempDir;

// Whether the openssl CLI accepts a leaf for `host`, minted by `minter`, as
// a server certificate under the CA file `ca_file`.
bool opensslAccepts(TempDir& dir, const tls::LeafMinter& minter, const std::string& ca_file,
                    const std::string& host, std::string* out) {
  auto leaf = minter.mint(host, std::chrono::system_clock::now());
  if (!leaf.isOk()) {
    *out = leaf.status().message();
    return false;
  }
  EXPECT_TRUE(
      tls::writeFileAtomically(dir.file("leaf.pem"), *tls::certificateToPem(leaf->cert.get()), 0644)
          .isOk());
  int status = -1;
  *out = tls::testing::run(
      "openssl verify -purpose sslserver -CAfile " + ca_file + " " + dir.file("leaf.pem"), &status);
  return status == 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

policy::Rule rule(const std::string& text) {
  auto parsed = policy::parseRule(text);
  EXPECT_TRUE(std::holds_alternative<policy::Rule>(parsed)) << text;
  return std::get<policy::Rule>(parsed);
}

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
  auto made = loadOrCreateAuthority(
      dir.file("ca"), "crush", {{}, {"bedrock-runtime.*.amazonaws.com", "api.openai.com"}}, {});
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
    std::string out;
    EXPECT_EQ(opensslAccepts(dir, *made->minter, made->cert_path, c.host, &out), c.inside)
        << c.host << ": " << out;
  }

  // The same patterns again reuse the stored CA (its constraints match).
  auto again = loadOrCreateAuthority(
      dir.file("ca"), "crush", {{}, {"bedrock-runtime.*.amazonaws.com", "api.openai.com"}}, {});
  ASSERT_TRUE(again.isOk()) << again.status().message();
  EXPECT_FALSE(again->created);
}

TEST(Authority, LeafCacheMintsOnlyInsideTheSuffix) {
  TempDir dir;
  auto made =
      loadOrCreateAuthority(dir.file("ca"), "crush", {{}, {"bedrock-runtime.*.amazonaws.com"}}, {});
  ASSERT_TRUE(made.isOk()) << made.status().message();
  tls::LeafCache cache(made->minter);
  EXPECT_TRUE(cache.get("bedrock-runtime.eu-west-1.amazonaws.com").isOk());
  EXPECT_FALSE(cache.get("bedrock-runtime.eu-west-1.amazonaws.com.evil.io").isOk());
  EXPECT_FALSE(cache.get("example.com").isOk());
}

TEST(AllowedConstraintPattern, EachRuleKindMapsToWhatX509CanExpress) {
  const struct {
    const char* rule;
    std::optional<std::string> pattern;
  } cases[] = {
      {"api.example.com", "api.example.com"},
      {"api.example.com:443", "api.example.com"},
      {"*.example.com", "*.example.com"},
      {"**.example.com:443", "**.example.com"},
      {"api?.example.com", "**.example.com"},
      {"bedrock-*.eu.amazonaws.com", "**.eu.amazonaws.com"},
      {"192.0.2.7", "192.0.2.7"},
      {"[2001:db8::1]:443", "2001:db8::1"},
      {"**", std::nullopt},
      {"10.0.0.0/8", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(allowedConstraintPattern(rule(c.rule)), c.pattern) << c.rule;
  }
}

// Every sandbox trusts its CA from creation on: the CA covers the hosts the
// sandbox may reach, so a secret bound later to one of them is intercepted
// with a leaf the CA the sandbox already trusts signs — and the CA still
// cannot sign anything outside.
TEST(Authority, CaCoversAllowedHostsSoASecretSetLaterNeedsNoNewCa) {
  TempDir dir;
  const std::vector<std::string> allowed = {"ampcode.com", "**.npmjs.org", "192.0.2.7"};
  auto made = loadOrCreateAuthority(dir.file("ca"), "amp", {allowed, {}}, {});
  ASSERT_TRUE(made.isOk()) << made.status().message();
  ASSERT_TRUE(made->created);
  ASSERT_NE(made->minter, nullptr);
  const std::string trusted = slurp(made->cert_path);

  // `kitgate secret set-custom --host ampcode.com` after run: same CA.
  for (const auto& bound : std::vector<std::vector<std::string>>{
           {"ampcode.com"}, {"registry.npmjs.org", "*.npmjs.org"}, {"192.0.2.7"}}) {
    auto later = loadOrCreateAuthority(dir.file("ca"), "amp", {allowed, bound}, {});
    ASSERT_TRUE(later.isOk()) << later.status().message();
    EXPECT_FALSE(later->created);
    EXPECT_TRUE(later->outside.empty()) << bound[0];
    EXPECT_EQ(slurp(later->cert_path), trusted);
  }
  std::string out;
  for (const char* host : {"ampcode.com", "registry.npmjs.org", "a.b.npmjs.org"}) {
    EXPECT_TRUE(opensslAccepts(dir, *made->minter, made->cert_path, host, &out)) << host << out;
  }
  for (const char* host : {"npmjs.org", "evil.com", "ampcode.com.evil.com", "example.org"}) {
    EXPECT_FALSE(opensslAccepts(dir, *made->minter, made->cert_path, host, &out)) << host;
  }
}

// A host allowed after the CA was made, then given a secret: the stored CA
// (what the running sandbox trusts) is kept and the host is reported, so the
// proxy and the CLI can say a restart is needed; removing the CA files (what
// a restart of the stopped sandbox does) makes one that covers it.
TEST(Authority, HostOutsideTheStoredCaIsReportedAndTheCaIsKept) {
  TempDir dir;
  auto made = loadOrCreateAuthority(dir.file("ca"), "amp", {{"ampcode.com"}, {}}, {});
  ASSERT_TRUE(made.isOk()) << made.status().message();
  const std::string trusted = slurp(made->cert_path);

  auto later = loadOrCreateAuthority(dir.file("ca"), "amp",
                                     {{"ampcode.com", "api.github.com"},
                                      {"ampcode.com", "api.github.com", "*.githubusercontent.com"}},
                                     {});
  ASSERT_TRUE(later.isOk()) << later.status().message();
  EXPECT_FALSE(later->created);
  EXPECT_EQ(later->outside,
            (std::vector<std::string>{"api.github.com", "*.githubusercontent.com"}));
  EXPECT_EQ(slurp(later->cert_path), trusted);
  // The same list, for the CLI's restart warning.
  EXPECT_EQ(slurp(dir.file("ca/amp.outside")), "api.github.com\n*.githubusercontent.com\n");
  tls::LeafCache cache(later->minter);
  EXPECT_TRUE(cache.get("ampcode.com").isOk());
  EXPECT_FALSE(cache.get("api.github.com").isOk());

  ASSERT_EQ(std::remove(made->cert_path.c_str()), 0);
  auto renewed = loadOrCreateAuthority(dir.file("ca"), "amp",
                                       {{"ampcode.com", "api.github.com"}, {"api.github.com"}}, {});
  ASSERT_TRUE(renewed.isOk()) << renewed.status().message();
  EXPECT_TRUE(renewed->created);
  EXPECT_TRUE(renewed->outside.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.file("ca/amp.outside")));
  std::string out;
  EXPECT_TRUE(opensslAccepts(dir, *renewed->minter, renewed->cert_path, "api.github.com", &out))
      << out;
}

TEST(Authority, ASandboxThatMayReachNothingGetsNoCa) {
  TempDir dir;
  auto none = loadOrCreateAuthority(dir.file("ca"), "locked", {{}, {}}, {});
  ASSERT_TRUE(none.isOk()) << none.status().message();
  EXPECT_EQ(none->minter, nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir.file("ca/locked.crt")));
}

}  // namespace
}  // namespace kitgate::mitm
