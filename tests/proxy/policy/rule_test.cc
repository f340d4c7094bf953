#include "proxy/policy/rule.h"

#include <gtest/gtest.h>

namespace kitgate::policy {
namespace {

struct AcceptCase {
  const char* text;
  Rule::Kind kind;
  const char* pattern;  // host part after normalisation ("" for ** and CIDRs)
  int port;             // -1 = every port
};

class ParseRuleAccepts : public ::testing::TestWithParam<AcceptCase> {};

TEST_P(ParseRuleAccepts, Form) {
  const AcceptCase& c = GetParam();
  ParsedRule parsed = parseRule(c.text);
  ASSERT_TRUE(std::holds_alternative<Rule>(parsed))
      << c.text << ": " << std::get<RuleError>(parsed).message;
  const Rule& r = std::get<Rule>(parsed);
  EXPECT_EQ(r.kind, c.kind) << c.text;
  EXPECT_EQ(r.text, c.text);
  if (c.kind != Rule::Kind::kCidr) {
    EXPECT_EQ(r.pattern, c.pattern) << c.text;
  }
  if (c.port < 0) {
    EXPECT_FALSE(r.port.has_value()) << c.text;
  } else {
    ASSERT_TRUE(r.port.has_value()) << c.text;
    EXPECT_EQ(*r.port, c.port) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseRuleAccepts,
    ::testing::Values(
        AcceptCase{"example.com", Rule::Kind::kExact, "example.com", -1},
        AcceptCase{"Example.COM.", Rule::Kind::kExact, "example.com", -1},
        AcceptCase{"example.com:443", Rule::Kind::kExact, "example.com", 443},
        AcceptCase{"example.com:*", Rule::Kind::kExact, "example.com", -1},
        AcceptCase{"*.example.com", Rule::Kind::kSingleWildcard, "example.com", -1},
        AcceptCase{"*.example.com:443", Rule::Kind::kSingleWildcard, "example.com", 443},
        AcceptCase{"**.example.com", Rule::Kind::kMultiWildcard, "example.com", -1},
        AcceptCase{"**.band.ai:443", Rule::Kind::kMultiWildcard, "band.ai", 443},
        AcceptCase{"**", Rule::Kind::kAnyHost, "", -1},
        AcceptCase{"**:443", Rule::Kind::kAnyHost, "", 443},
        AcceptCase{"api?.example.com", Rule::Kind::kGlob, "api?.example.com", -1},
        AcceptCase{"api[12].example.com", Rule::Kind::kGlob, "api[12].example.com", -1},
        AcceptCase{"api[!1].example.com:443", Rule::Kind::kGlob, "api[!1].example.com", 443},
        AcceptCase{"api[a-c].example.com", Rule::Kind::kGlob, "api[a-c].example.com", -1},
        AcceptCase{"api-*.example.com", Rule::Kind::kGlob, "api-*.example.com", -1},
        AcceptCase{"*.api?.example.com", Rule::Kind::kGlob, "*.api?.example.com", -1},
        // a middle `*` label (Docker's crush kit): exactly one label there
        AcceptCase{"bedrock-runtime.*.amazonaws.com", Rule::Kind::kGlob,
                   "bedrock-runtime.*.amazonaws.com", -1},
        AcceptCase{"API.*.Example.com:443", Rule::Kind::kGlob, "api.*.example.com", 443},
        AcceptCase{"a.*.*.example.com", Rule::Kind::kGlob, "a.*.*.example.com", -1},
        AcceptCase{"*.eu.*.example.com", Rule::Kind::kGlob, "*.eu.*.example.com", -1},
        AcceptCase{"localhost:8080", Rule::Kind::kExact, "localhost", 8080},
        AcceptCase{"10.1.2.3", Rule::Kind::kCidr, "", -1},
        AcceptCase{"10.1.2.3:22", Rule::Kind::kCidr, "", 22},
        AcceptCase{"10.0.0.0/8", Rule::Kind::kCidr, "", -1},
        AcceptCase{"10.0.0.0/8:5432", Rule::Kind::kCidr, "", 5432},
        AcceptCase{"[2001:db8::1]", Rule::Kind::kCidr, "", -1},
        AcceptCase{"[2001:db8::1]:443", Rule::Kind::kCidr, "", 443},
        AcceptCase{"2001:db8::1/128", Rule::Kind::kCidr, "", -1},
        AcceptCase{"2001:db8::/32", Rule::Kind::kCidr, "", -1},
        AcceptCase{"[2001:db8::/32]:443", Rule::Kind::kCidr, "", 443},
        AcceptCase{"example.com:65535", Rule::Kind::kExact, "example.com", 65535}));

TEST(ParseRule, CidrKeepsNetworkAndPrefix) {
  auto parsed = parseRule("2001:db8::/32");
  ASSERT_TRUE(std::holds_alternative<Rule>(parsed));
  EXPECT_EQ(std::get<Rule>(parsed).network.toString(), "2001:db8::");
  EXPECT_EQ(std::get<Rule>(parsed).prefix_len, 32);
  auto literal = parseRule("10.1.2.3");
  ASSERT_TRUE(std::holds_alternative<Rule>(literal));
  EXPECT_EQ(std::get<Rule>(literal).prefix_len, 32);
}

struct RefuseCase {
  const char* text;
  size_t column;
  const char* message_part;
};

class ParseRuleRefuses : public ::testing::TestWithParam<RefuseCase> {};

TEST_P(ParseRuleRefuses, WithColumnAndMessage) {
  const RefuseCase& c = GetParam();
  ParsedRule parsed = parseRule(c.text);
  ASSERT_TRUE(std::holds_alternative<RuleError>(parsed)) << c.text;
  const RuleError& e = std::get<RuleError>(parsed);
  EXPECT_EQ(e.column, c.column) << c.text << ": " << e.message;
  EXPECT_NE(e.message.find(c.message_part), std::string::npos) << c.text << ": " << e.message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseRuleRefuses,
    ::testing::Values(
        RefuseCase{"", 1, "empty"}, RefuseCase{"*", 1, "bare '*'"},
        RefuseCase{"*:443", 1, "bare '*'"}, RefuseCase{"example.com:80-443", 15, "port ranges"},
        RefuseCase{"example.com:", 13, "missing port"}, RefuseCase{"example.com:0", 13, "port 0"},
        RefuseCase{"example.com:65536", 13, "out of range"},
        RefuseCase{"example.com:https", 13, "invalid port"}, RefuseCase{"example.*", 9, "last"},
        RefuseCase{"api.*", 5, "last"}, RefuseCase{"a.**.b", 3, "first"},
        RefuseCase{"bedrock.**.amazonaws.com", 9, "first"},
        RefuseCase{"a**b.example.com", 2, "'**'"}, RefuseCase{"2001:db8::1", 1, "brackets"},
        RefuseCase{"2001:db8::1:443", 1, "brackets"}, RefuseCase{"[2001:db8::1", 1, "unterminated"},
        RefuseCase{"[2001:db8::1]443", 14, "':port'"},
        RefuseCase{"[2001:db8::zz]", 2, "invalid IPv6"},
        RefuseCase{"exa mple.com", 4, "whitespace"}, RefuseCase{"a..example.com", 3, "empty label"},
        RefuseCase{"ex_ample!.com", 9, "invalid character"},
        RefuseCase{"b\xc3\xbc"
                   "cher.example",
                   2, "non-ASCII"},
        RefuseCase{"api[12.example.com", 4, "unterminated"},
        RefuseCase{"api[].example.com", 4, "empty"}, RefuseCase{"api[c-a].example.com", 6, "range"},
        RefuseCase{"api].example.com", 4, "without"},
        RefuseCase{"10.0.0.1/8", 1, "did you mean 10.0.0.0/8"},
        RefuseCase{"10.0.0.0/33", 10, "prefix length"},
        RefuseCase{"10.0.0.0/x", 10, "prefix length"}, RefuseCase{"*.10.0.0.1", 1, "CIDR"},
        RefuseCase{":443", 1, "missing host"}, RefuseCase{"-bad.example.com", 1, "'-'"}));

}  // namespace
}  // namespace kitgate::policy
