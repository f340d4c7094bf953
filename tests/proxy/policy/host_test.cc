#include "proxy/policy/host.h"

#include <gtest/gtest.h>

namespace kitgate::policy {
namespace {

struct HostCase {
  const char* input;
  Host::Kind kind;
  const char* canonical;
};

class NormalizeHostAccepts : public ::testing::TestWithParam<HostCase> {};

TEST_P(NormalizeHostAccepts, ToCanonicalForm) {
  const HostCase& c = GetParam();
  auto h = normalizeHost(c.input);
  ASSERT_TRUE(h.isOk()) << c.input << ": " << h.status().message();
  EXPECT_EQ(h->kind, c.kind) << c.input;
  EXPECT_EQ(h->text, c.canonical) << c.input;
}

INSTANTIATE_TEST_SUITE_P(
    Table, NormalizeHostAccepts,
    ::testing::Values(HostCase{"example.com", Host::Kind::kName, "example.com"},
                      HostCase{"API.Example.COM", Host::Kind::kName, "api.example.com"},
                      HostCase{"api.example.com.", Host::Kind::kName, "api.example.com"},
                      HostCase{"xn--bcher-kva.example", Host::Kind::kName, "xn--bcher-kva.example"},
                      HostCase{"_dmarc.example.com", Host::Kind::kName, "_dmarc.example.com"},
                      HostCase{"localhost", Host::Kind::kName, "localhost"},
                      HostCase{"1a.example.com", Host::Kind::kName, "1a.example.com"},
                      HostCase{"example.1a", Host::Kind::kName, "example.1a"},
                      // Every inet_aton / WHATWG numeric IPv4 form.
                      HostCase{"127.0.0.1", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"2130706433", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"0x7f000001", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"0x7f.1", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"0X7F.1", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"017.0.0.1", Host::Kind::kIpv4, "15.0.0.1"},
                      HostCase{"0177.0.0.1", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"127.1", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"127.0.1", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"169.254.43518", Host::Kind::kIpv4, "169.254.169.254"},
                      HostCase{"0xa9.0xfe.0xa9.0xfe", Host::Kind::kIpv4, "169.254.169.254"},
                      HostCase{"127.0.0.1.", Host::Kind::kIpv4, "127.0.0.1"},
                      HostCase{"0", Host::Kind::kIpv4, "0.0.0.0"},
                      HostCase{"4294967295", Host::Kind::kIpv4, "255.255.255.255"},
                      // IPv6 literals, canonical RFC 5952 text.
                      HostCase{"[::1]", Host::Kind::kIpv6, "::1"},
                      HostCase{"[2001:DB8:0:0:0:0:0:1]", Host::Kind::kIpv6, "2001:db8::1"},
                      HostCase{"[::ffff:127.0.0.1]", Host::Kind::kIpv6, "::ffff:127.0.0.1"},
                      HostCase{"[::ffff:7f00:1]", Host::Kind::kIpv6, "::ffff:127.0.0.1"},
                      HostCase{"[64:ff9b::7f00:1]", Host::Kind::kIpv6, "64:ff9b::7f00:1"}));

class NormalizeHostRefuses : public ::testing::TestWithParam<const char*> {};

TEST_P(NormalizeHostRefuses, WithAnError) {
  auto h = normalizeHost(GetParam());
  EXPECT_FALSE(h.isOk()) << GetParam() << " -> " << (h.isOk() ? h->text : "");
  if (!h.isOk()) {
    EXPECT_FALSE(h.status().message().empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Table, NormalizeHostRefuses,
                         ::testing::Values("", ".", "..", "a..b", ".example.com", "example.com..",
                                           "exa mple.com", "bücher.example", "\xd0\xb0pple.com",
                                           "exam/ple.com", "a@b.com", "-lead.example.com",
                                           "trail-.example.com", "::1", "[::1", "[]",
                                           "[fe80::1%eth0]", "[1.2.3.4]", "256.0.0.1", "1.2.3.4.5",
                                           "0x100000000", "4294967296", "08.0.0.1", "127.0.0.1.2",
                                           "1.256.0.0", "example.com:443"));

TEST(NormalizeHost, RefusesLabelLongerThan63) {
  EXPECT_TRUE(normalizeHost(std::string(63, 'a') + ".com").isOk());
  EXPECT_FALSE(normalizeHost(std::string(64, 'a') + ".com").isOk());
}

TEST(NormalizeHost, RefusesNameLongerThan253) {
  std::string name;
  while (name.size() < 250) name += "abcdefghi.";
  name += "com";  // 253 characters
  ASSERT_EQ(name.size(), 253u);
  EXPECT_TRUE(normalizeHost(name).isOk());
  EXPECT_FALSE(normalizeHost("a" + name).isOk());
}

TEST(NormalizeHost, BareIpv6OnlyWhenCallerAllowsIt) {
  EXPECT_FALSE(normalizeHost("2001:db8::1").isOk());
  auto h = normalizeHost("2001:db8::1", Ipv6Brackets::kOptional);
  ASSERT_TRUE(h.isOk());
  EXPECT_EQ(h->kind, Host::Kind::kIpv6);
  EXPECT_EQ(h->authority(), "[2001:db8::1]");
}

TEST(NormalizeHost, IpLiteralCarriesAddress) {
  auto h = normalizeHost("0x7f.1");
  ASSERT_TRUE(h.isOk());
  EXPECT_EQ(h->ip, IpAddress::v4(0x7f000001));
}

}  // namespace
}  // namespace kitgate::policy
