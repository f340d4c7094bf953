#include "proxy/policy/address_class.h"

#include <gtest/gtest.h>

namespace kitgate::policy {
namespace {

struct ClassCase {
  const char* address;
  AddressClass expected;
};

class Classify : public ::testing::TestWithParam<ClassCase> {};

TEST_P(Classify, Address) {
  auto ip = IpAddress::parse(GetParam().address);
  ASSERT_TRUE(ip.has_value()) << GetParam().address;
  EXPECT_EQ(toString(classify(*ip)), toString(GetParam().expected)) << GetParam().address;
}

INSTANTIATE_TEST_SUITE_P(
    Table, Classify,
    ::testing::Values(
        ClassCase{"8.8.8.8", AddressClass::kPublic}, ClassCase{"1.1.1.1", AddressClass::kPublic},
        ClassCase{"0.0.0.0", AddressClass::kUnspecified},
        ClassCase{"0.1.2.3", AddressClass::kUnspecified},
        ClassCase{"127.0.0.1", AddressClass::kLoopback},
        ClassCase{"127.255.0.9", AddressClass::kLoopback},
        ClassCase{"10.0.0.1", AddressClass::kPrivate},
        ClassCase{"172.16.0.1", AddressClass::kPrivate},
        ClassCase{"172.31.255.254", AddressClass::kPrivate},
        ClassCase{"172.32.0.1", AddressClass::kPublic},
        ClassCase{"192.168.1.1", AddressClass::kPrivate},
        ClassCase{"100.64.0.1", AddressClass::kCgnat},
        ClassCase{"100.127.255.255", AddressClass::kCgnat},
        ClassCase{"100.128.0.1", AddressClass::kPublic},
        ClassCase{"169.254.169.254", AddressClass::kLinkLocal},
        ClassCase{"169.254.1.1", AddressClass::kLinkLocal},
        ClassCase{"224.0.0.1", AddressClass::kMulticast},
        ClassCase{"239.255.255.250", AddressClass::kMulticast},
        ClassCase{"255.255.255.255", AddressClass::kBroadcast},
        ClassCase{"240.0.0.1", AddressClass::kReserved},
        ClassCase{"198.18.0.1", AddressClass::kReserved},
        ClassCase{"192.0.0.8", AddressClass::kReserved},
        ClassCase{"192.0.2.1", AddressClass::kDocumentation},
        ClassCase{"198.51.100.1", AddressClass::kDocumentation},
        ClassCase{"203.0.113.1", AddressClass::kDocumentation},
        ClassCase{"::", AddressClass::kUnspecified}, ClassCase{"::1", AddressClass::kLoopback},
        ClassCase{"::ffff:10.0.0.1", AddressClass::kPrivate},
        ClassCase{"::ffff:169.254.169.254", AddressClass::kLinkLocal},
        ClassCase{"::ffff:8.8.8.8", AddressClass::kPublic},
        ClassCase{"::ffff:0:127.0.0.1", AddressClass::kLoopback},
        ClassCase{"::127.0.0.1", AddressClass::kLoopback},
        ClassCase{"64:ff9b::7f00:1", AddressClass::kLoopback},
        ClassCase{"64:ff9b::a9fe:a9fe", AddressClass::kLinkLocal},
        ClassCase{"64:ff9b::808:808", AddressClass::kPublic},
        ClassCase{"64:ff9b:1::a", AddressClass::kIpv4Embedded},
        ClassCase{"2002:7f00:1::", AddressClass::kLoopback},
        ClassCase{"2002:a9fe:a9fe::1", AddressClass::kLinkLocal},
        ClassCase{"2001:0:4136:e378:8000:63bf:3fff:fdd2", AddressClass::kIpv4Embedded},
        ClassCase{"fe80::1", AddressClass::kLinkLocal},
        ClassCase{"febf::1", AddressClass::kLinkLocal},
        ClassCase{"fec0::1", AddressClass::kReserved}, ClassCase{"fc00::1", AddressClass::kPrivate},
        ClassCase{"fd00:ec2::254", AddressClass::kPrivate},
        ClassCase{"ff02::1", AddressClass::kMulticast},
        ClassCase{"ff00::", AddressClass::kMulticast},
        ClassCase{"2001:db8::1", AddressClass::kDocumentation},
        ClassCase{"3fff::1", AddressClass::kDocumentation},
        ClassCase{"2001:2::1", AddressClass::kReserved},
        ClassCase{"100::1", AddressClass::kReserved}, ClassCase{"4000::1", AddressClass::kReserved},
        ClassCase{"2606:4700::1111", AddressClass::kPublic},
        ClassCase{"2001:4860:4860::8888", AddressClass::kPublic}));

TEST(SelfAddresses, ClassifiesOwnEndpointsAsSelf) {
  SelfAddresses self;
  self.add(*IpAddress::parse("203.0.114.10"), 3128);
  self.add(*IpAddress::parse("203.0.114.20"));  // every port
  EXPECT_EQ(classify(*IpAddress::parse("203.0.114.10"), 3128, self), AddressClass::kSelf);
  EXPECT_EQ(classify(*IpAddress::parse("::ffff:203.0.114.10"), 3128, self), AddressClass::kSelf);
  EXPECT_EQ(classify(*IpAddress::parse("203.0.114.10"), 443, self), AddressClass::kPublic);
  EXPECT_EQ(classify(*IpAddress::parse("203.0.114.20"), 443, self), AddressClass::kSelf);
  EXPECT_EQ(classify(*IpAddress::parse("203.0.114.11"), 3128, self), AddressClass::kPublic);
}

// A wildcard listener answers on every locally delivered address: the whole
// loopback range and its IPv6 forms, not only 127.0.0.1.
TEST(SelfAddresses, AWildcardListenerIsSelfOnEveryLoopbackAddress) {
  auto self = SelfAddresses::fromInterfaces(3128);
  ASSERT_TRUE(self.isOk()) << self.status().message();
  SelfAddresses merged;
  merged.merge(*self);
  for (const SelfAddresses* s : {&*self, &merged}) {
    for (const char* a :
         {"127.0.0.1", "127.0.0.2", "127.1.2.3", "::1", "::ffff:127.0.0.2", "64:ff9b::7f00:3"}) {
      SCOPED_TRACE(a);
      EXPECT_TRUE(s->contains(*IpAddress::parse(a), 3128));
      EXPECT_FALSE(s->contains(*IpAddress::parse(a), 80)) << "another port is not the proxy";
    }
    EXPECT_FALSE(s->contains(*IpAddress::parse("93.184.216.34"), 3128));
  }
}

TEST(SelfAddresses, MergeAddsTheOtherSetsEndpoints) {
  SelfAddresses a;
  a.add(*IpAddress::parse("127.0.0.1"), 3128);
  SelfAddresses b;
  b.add(*IpAddress::parse("127.0.0.1"), 9090);
  b.add(*IpAddress::parse("::1"), 3128);
  a.merge(b);
  EXPECT_TRUE(a.contains(*IpAddress::parse("127.0.0.1"), 3128));
  EXPECT_TRUE(a.contains(*IpAddress::parse("127.0.0.1"), 9090));
  EXPECT_TRUE(a.contains(*IpAddress::parse("::1"), 3128));
  EXPECT_FALSE(a.contains(*IpAddress::parse("::1"), 9090));
}

TEST(SelfAddresses, FromInterfacesIncludesLoopbackOnThatPort) {
  auto self = SelfAddresses::fromInterfaces(3128);
  ASSERT_TRUE(self.isOk()) << self.status().message();
  EXPECT_TRUE(self->contains(*IpAddress::parse("127.0.0.1"), 3128));
  EXPECT_FALSE(self->contains(*IpAddress::parse("127.0.0.1"), 8080));
}

}  // namespace
}  // namespace kitgate::policy
