#include "proxy/policy/ip_address.h"

#include <gtest/gtest.h>

namespace kitgate::policy {
namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

struct EmbeddedCase {
  const char* v6;
  const char* v4;  // nullptr: none
};

class IpAddressEmbeddedV4 : public ::testing::TestWithParam<EmbeddedCase> {};

TEST_P(IpAddressEmbeddedV4, DecodesTransitionForms) {
  const auto& c = GetParam();
  auto v4 = ip(c.v6).embeddedV4();
  if (c.v4 == nullptr) {
    EXPECT_FALSE(v4.has_value()) << c.v6;
  } else {
    ASSERT_TRUE(v4.has_value()) << c.v6;
    EXPECT_EQ(v4->toString(), c.v4) << c.v6;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, IpAddressEmbeddedV4,
                         ::testing::Values(EmbeddedCase{"::ffff:127.0.0.1", "127.0.0.1"},
                                           EmbeddedCase{"::ffff:7f00:1", "127.0.0.1"},
                                           EmbeddedCase{"::ffff:0:a9fe:a9fe", "169.254.169.254"},
                                           EmbeddedCase{"64:ff9b::7f00:1", "127.0.0.1"},
                                           EmbeddedCase{"2002:7f00:1::", "127.0.0.1"},
                                           EmbeddedCase{"2002:a9fe:a9fe:1::5", "169.254.169.254"},
                                           EmbeddedCase{"::10.0.0.1", "10.0.0.1"},
                                           EmbeddedCase{"::", nullptr},
                                           EmbeddedCase{"::1", nullptr},
                                           EmbeddedCase{"2001:db8::1", nullptr},
                                           EmbeddedCase{"64:ff9b:1::7f00:1", nullptr}));

TEST(IpAddress, ParseIsStrict) {
  EXPECT_FALSE(IpAddress::parse("127.1").has_value());
  EXPECT_FALSE(IpAddress::parse("[::1]").has_value());
  EXPECT_FALSE(IpAddress::parse("fe80::1%lo").has_value());
  EXPECT_FALSE(IpAddress::parse("").has_value());
  EXPECT_TRUE(IpAddress::parse("1.2.3.4").has_value());
}

TEST(IpAddress, MaskedClearsHostBits) {
  EXPECT_EQ(ip("10.1.2.3").masked(8), ip("10.0.0.0"));
  EXPECT_EQ(ip("10.1.2.3").masked(12), ip("10.0.0.0"));
  EXPECT_EQ(ip("172.31.255.255").masked(12), ip("172.16.0.0"));
  EXPECT_EQ(ip("2001:db8:ffff::1").masked(33), ip("2001:db8:8000::"));
  EXPECT_EQ(ip("1.2.3.4").masked(32), ip("1.2.3.4"));
  EXPECT_EQ(ip("1.2.3.4").masked(0), ip("0.0.0.0"));
}

TEST(IpAddress, SockaddrRoundTrip) {
  for (const char* text : {"192.0.2.7", "2001:db8::7"}) {
    sockaddr_storage ss;
    const socklen_t len = ip(text).toSockaddr(8080, &ss);
    auto back = IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->toString(), text);
  }
}

}  // namespace
}  // namespace kitgate::policy
