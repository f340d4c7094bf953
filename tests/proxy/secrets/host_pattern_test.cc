#include "proxy/secrets/host_pattern.h"

#include <gtest/gtest.h>

#include <string>

namespace kitgate::secrets {
namespace {

TEST(HostPattern, CanonicalisesAcceptedForms) {
  const struct {
    const char* text;
    const char* canonical;
  } cases[] = {
      {"ampcode.com", "ampcode.com"},         {"AmpCode.COM.", "ampcode.com"},
      {"*.example.com", "*.example.com"},     {"**.Band.AI", "**.band.ai"},
      {"192.0.2.7", "192.0.2.7"},             {"[2001:DB8::1]", "2001:db8::1"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"}, {"127.1", "127.0.0.1"},
      {"Bedrock-Runtime.*.AmazonAWS.com", "bedrock-runtime.*.amazonaws.com"},
      {"*.eu.*.example.com", "*.eu.*.example.com"},
  };
  for (const auto& c : cases) {
    auto parsed = parseHostPattern(c.text);
    ASSERT_TRUE(std::holds_alternative<HostPattern>(parsed)) << c.text;
    EXPECT_EQ(std::get<HostPattern>(parsed).canonical, c.canonical) << c.text;
  }
}

TEST(HostPattern, RefusesWhatACaCannotBeConstrainedTo) {
  const struct {
    const char* text;
    size_t column;
    const char* message;
  } cases[] = {
      {"**", 1, "would intercept every host"},
      {"api?.example.com", 1, "glob patterns cannot be intercepted"},
      {"api-*.example.com", 1, "glob patterns cannot be intercepted"},
      {"api.*-eu.example.com", 1, "glob patterns cannot be intercepted"},
      {"api.[ab].example.com", 1, "glob patterns cannot be intercepted"},
      {"example.*", 9, "last"},
      {"api.**.example.com", 5, "first"},
      {"10.0.0.0/8", 1, "address ranges cannot be intercepted"},
      {"api.example.com:443", 16, "credential hosts take no port"},
      {"[2001:db8::1]:443", 14, "credential hosts take no port"},
      {"*", 1, ""},
      {"a..b", 0, ""},
  };
  for (const auto& c : cases) {
    auto parsed = parseHostPattern(c.text);
    ASSERT_TRUE(std::holds_alternative<policy::RuleError>(parsed)) << c.text;
    const auto& e = std::get<policy::RuleError>(parsed);
    if (c.column != 0) {
      EXPECT_EQ(e.column, c.column) << c.text;
    }
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.text << ": " << e.message;
  }
}

}  // namespace
}  // namespace kitgate::secrets
