#include "proxy/tls/name_constraints.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kitgate::tls {
namespace {

TEST(NormalizeHost, LowercasesAndDropsTrailingDot) {
  EXPECT_EQ(*normalizeHost("API.Example.COM."), "api.example.com");
}

TEST(NormalizeHost, CanonicalisesIpLiterals) {
  EXPECT_EQ(*normalizeHost("[2001:DB8::0:1]"), "2001:db8::1");
  EXPECT_EQ(*normalizeHost("192.0.2.7"), "192.0.2.7");
}

TEST(NormalizeHost, RejectsBadNames) {
  for (const char* bad : {"", "a..b", "exa mple.com", "x.com:443", "-.com\n", "a/b"}) {
    EXPECT_FALSE(normalizeHost(bad).isOk()) << bad;
  }
  EXPECT_FALSE(normalizeHost(std::string(64, 'a') + ".com").isOk());
}

struct MappingCase {
  std::vector<std::string> patterns;
  std::vector<std::string> dns;
  size_t ips;
};

TEST(NameConstraintsFor, MapsKitPatternsToSubtrees) {
  const MappingCase cases[] = {
      {{"api.x.com"}, {"api.x.com"}, 0},
      {{"*.x.com"}, {".x.com"}, 0},
      {{"**.x.com"}, {".x.com"}, 0},
      {{"*.x.com", "**.X.com."}, {".x.com"}, 0},
      {{"x.com", "*.x.com", "a.x.com"}, {"x.com"}, 0},  // x.com already covers both
      {{"*.x.com", "x.com"}, {"x.com"}, 0},
      {{"a.x.com", "*.y.org"}, {".y.org", "a.x.com"}, 0},
      {{"192.0.2.7", "[2001:db8::1]", "192.0.2.7"}, {}, 2},
  };
  for (const MappingCase& c : cases) {
    StatusOr<NameConstraints> nc = nameConstraintsFor(c.patterns);
    ASSERT_TRUE(nc.isOk()) << nc.status().message();
    EXPECT_EQ(nc->permitted_dns, c.dns) << c.patterns.front();
    EXPECT_EQ(nc->permitted_ips.size(), c.ips) << c.patterns.front();
  }
}

TEST(NameConstraintsFor, RefusesWhatX509CannotExpress) {
  for (const char* bad : {"*", "**", "api?.x.com", "api[12].x.com", "bedrock.*.aws.com",
                          "x.com:443", "*.192.0.2.7"}) {
    EXPECT_FALSE(nameConstraintsFor({bad}).isOk()) << bad;
  }
  EXPECT_FALSE(nameConstraintsFor({}).isOk());
}

struct PermitCase {
  const char* host;
  bool permitted;
};

TEST(NameConstraints, PermitsFollowRfc5280DnsSubtrees) {
  const NameConstraints nc = *nameConstraintsFor({"api.x.com", "*.y.org", "192.0.2.7"});
  const PermitCase cases[] = {
      {"api.x.com", true},       {"v2.api.x.com", true},  // exact host also covers below it
      {"x.com", false},          {"evilapi.x.com", false}, {"other.x.com", false},
      {"a.y.org", true},         {"a.b.y.org", true},       // one-label wildcard widens to any depth
      {"y.org", false},          {"xy.org", false},         {"192.0.2.7", true},
      {"192.0.2.8", false},      {"2001:db8::1", false},
  };
  for (const PermitCase& c : cases) EXPECT_EQ(nc.permits(c.host), c.permitted) << c.host;
}

}  // namespace
}  // namespace kitgate::tls
