#include "proxy/http/request.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/proxy/http/case_name.h"

namespace kitgate::http {
namespace {

struct RejectCase {
  const char* name;
  std::string head;
  int status;
};

// Prints the case name in gtest failure messages.
void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name; }

ParseStatus parse(std::string_view buf, RequestHead* out, HeadLimits limits = {}) {
  size_t consumed = 0;
  return parseRequestHead(buf, limits, out, &consumed);
}

class RequestRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(RequestRejects, WithStatus) {
  const RejectCase& c = GetParam();
  RequestHead head;
  const ParseStatus s = parse(c.head, &head);
  ASSERT_TRUE(s.isError()) << c.name;
  EXPECT_EQ(s.httpStatus(), c.status) << c.name << ": " << s.reason();
  EXPECT_FALSE(s.reason().empty());
}

const std::string kGet = "GET / HTTP/1.1\r\nHost: a.example\r\n";

INSTANTIATE_TEST_SUITE_P(
    Smuggling, RequestRejects,
    ::testing::Values(
        RejectCase{"cl_and_te", kGet + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                   400},
        RejectCase{"te_and_cl", kGet + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                   400},
        RejectCase{"duplicate_cl_equal", kGet + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
                   400},
        RejectCase{"duplicate_cl_differs",
                   kGet + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
        RejectCase{"cl_list", kGet + "Content-Length: 5, 5\r\n\r\n", 400},
        RejectCase{"cl_plus_sign", kGet + "Content-Length: +5\r\n\r\n", 400},
        RejectCase{"cl_minus_sign", kGet + "Content-Length: -5\r\n\r\n", 400},
        RejectCase{"cl_inner_space", kGet + "Content-Length: 1 0\r\n\r\n", 400},
        RejectCase{"cl_hex", kGet + "Content-Length: 0x10\r\n\r\n", 400},
        RejectCase{"cl_empty", kGet + "Content-Length: \r\n\r\n", 400},
        RejectCase{"cl_overflow", kGet + "Content-Length: 18446744073709551616\r\n\r\n", 400},
        RejectCase{"te_chunked_identity", kGet + "Transfer-Encoding: chunked, identity\r\n\r\n",
                   400},
        RejectCase{"te_identity", kGet + "Transfer-Encoding: identity\r\n\r\n", 400},
        RejectCase{"te_gzip_only", kGet + "Transfer-Encoding: gzip\r\n\r\n", 400},
        RejectCase{"te_chunked_twice", kGet + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400},
        RejectCase{"te_two_lines",
                   kGet + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        RejectCase{"te_empty", kGet + "Transfer-Encoding: \r\n\r\n", 400},
        RejectCase{"te_trailing_comma", kGet + "Transfer-Encoding: chunked,\r\n\r\n", 400},
        RejectCase{"te_parameter", kGet + "Transfer-Encoding: chunked;q=1\r\n\r\n", 400},
        RejectCase{"te_vertical_tab", kGet + "Transfer-Encoding: \x0b" "chunked\r\n\r\n", 400},
        RejectCase{"te_gzip_then_chunked", kGet + "Transfer-Encoding: gzip, chunked\r\n\r\n",
                   501},
        RejectCase{"te_in_http10",
                   "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        RejectCase{"obs_fold", kGet + "X-A: 1\r\n  continued\r\n\r\n", 400},
        RejectCase{"obs_fold_tab", kGet + "X-A: 1\r\n\tcontinued\r\n\r\n", 400},
        RejectCase{"first_field_folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
        RejectCase{"bare_lf_end", "GET / HTTP/1.1\r\nHost: a\n\n", 400},
        RejectCase{"bare_lf_request_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
        RejectCase{"bare_lf_in_field", kGet + "X-A: 1\nX-B: 2\r\n\r\n", 400},
        RejectCase{"bare_lf_final", kGet + "\n", 400},
        RejectCase{"bare_cr_in_value", kGet + "X-A: 1\r2\r\n\r\n", 400},
        RejectCase{"bare_cr_in_request_line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"bare_cr_in_name", kGet + "X\rA: 1\r\n\r\n", 400},
        RejectCase{"nul_in_value", kGet + std::string("X-A: a\0b\r\n\r\n", 12), 400},
        RejectCase{"del_in_value", kGet + "X-A: a\x7f" "b\r\n\r\n", 400},
        RejectCase{"ctl_in_value", kGet + "X-A: a\x01" "b\r\n\r\n", 400},
        RejectCase{"space_before_colon", kGet + "Content-Length : 5\r\n\r\n", 400},
        RejectCase{"tab_before_colon", kGet + "Transfer-Encoding\t: chunked\r\n\r\n", 400},
        RejectCase{"underscore_content_length", kGet + "Content_Length: 5\r\n\r\n", 400},
        RejectCase{"underscore_transfer_encoding",
                   kGet + "transfer_encoding: chunked\r\n\r\n", 400},
        RejectCase{"no_colon", kGet + "X-A 1\r\n\r\n", 400},
        RejectCase{"empty_name", kGet + ": 1\r\n\r\n", 400},
        RejectCase{"invalid_name_char", kGet + "X(A): 1\r\n\r\n", 400},
        RejectCase{"name_with_slash", kGet + "X/A: 1\r\n\r\n", 400},
        RejectCase{"invalid_method_char", "G(ET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"request_line_double_space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"request_line_trailing_space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
        RejectCase{"request_line_leading_space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"request_line_tab", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"request_line_two_parts", "GET /\r\nHost: a\r\n\r\n", 400},
        RejectCase{"request_line_four_parts", "GET / x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"version_lowercase", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"version_garbage", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400},
        RejectCase{"version_2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        RejectCase{"version_1_2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
        RejectCase{"version_0_9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
        RejectCase{"missing_host_origin_11", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400},
        RejectCase{"empty_host_origin_11", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400},
        RejectCase{"two_hosts", kGet + "Host: b.example\r\n\r\n", 400},
        RejectCase{"invalid_host_header", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        RejectCase{"host_header_userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
        RejectCase{"absolute_userinfo", "GET http://user@a.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
                   400},
        RejectCase{"absolute_userinfo_password",
                   "GET http://u:p@a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"absolute_fragment", "GET http://a.example/x#frag HTTP/1.1\r\nHost: a\r\n\r\n",
                   400},
        RejectCase{"origin_fragment", "GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"absolute_https", "GET https://a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"absolute_ftp", "GET ftp://a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"absolute_empty_host", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"absolute_empty_port", "GET http://a.example:/ HTTP/1.1\r\nHost: a\r\n\r\n",
                   400},
        RejectCase{"absolute_port_zero", "GET http://a.example:0/ HTTP/1.1\r\nHost: a\r\n\r\n",
                   400},
        RejectCase{"absolute_host_percent", "GET http://a%2e/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"target_non_ascii", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"target_relative", "GET x/y HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"asterisk_not_options", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"connect_no_port", "CONNECT a.example HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_empty_port", "CONNECT a.example: HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_port_zero", "CONNECT a.example:0 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_port_too_big", "CONNECT a.example:65536 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_port_long", "CONNECT a.example:000443 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_port_sign", "CONNECT a.example:+443 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_origin_form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"connect_absolute_form", "CONNECT http://a.example:443/ HTTP/1.1\r\n\r\n",
                   400},
        RejectCase{"connect_userinfo", "CONNECT u@a.example:443 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_v6_unbracketed", "CONNECT ::1:443 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_v6_no_port", "CONNECT [::1] HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_v6_bad_literal", "CONNECT [::g]:443 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_v6_zone", "CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_v6_unclosed", "CONNECT [::1:443 HTTP/1.1\r\n\r\n", 400},
        RejectCase{"connect_with_body", "CONNECT a:443 HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
                   400},
        RejectCase{"connect_chunked",
                   "CONNECT a:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        RejectCase{"expect_other", kGet + "Expect: something\r\n\r\n", 417},
        RejectCase{"invalid_connection_list", kGet + "Connection: close, a b\r\n\r\n", 400},
        RejectCase{"empty_start_line_after_skip", "\r\n\n", 400}),
    test::CaseName());

INSTANTIATE_TEST_SUITE_P(
    Limits, RequestRejects,
    ::testing::Values(
        RejectCase{"head_over_32k", kGet + "X-Big: " + std::string(33 * 1024, 'a') + "\r\n\r\n",
                   431},
        RejectCase{"unterminated_head_over_32k", kGet + "X-Big: " + std::string(33 * 1024, 'a'),
                   431},
        RejectCase{"101_headers", [] {
                     std::string h = kGet;
                     for (int i = 0; i < 100; ++i) h += "X-" + std::to_string(i) + ": v\r\n";
                     return h + "\r\n";
                   }(),
                   431}),
    test::CaseName());


TEST(ParseRequestHead, AbsoluteFormGet) {
  const std::string buf =
      "GET http://Example.COM:8080/a/b?q=1 HTTP/1.1\r\n"
      "Host: ignored.example\r\n"
      "User-Agent: curl/8.0\r\n"
      "Accept:  */*  \r\n"
      "\r\n"
      "NEXT";
  RequestHead head;
  size_t consumed = 0;
  ASSERT_TRUE(parseRequestHead(buf, {}, &head, &consumed).isComplete());
  EXPECT_EQ(consumed, buf.size() - 4);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.form, RequestHead::TargetForm::kAbsolute);
  EXPECT_EQ(head.scheme, "http");
  EXPECT_EQ(head.host, "Example.COM");  // absolute-form wins over Host, case kept
  EXPECT_EQ(head.port, 8080);
  EXPECT_EQ(head.path, "/a/b?q=1");
  EXPECT_EQ(head.version_minor, 1);
  ASSERT_EQ(head.headers.size(), 3u);
  EXPECT_EQ(head.headers[1], (Header{"User-Agent", "curl/8.0"}));
  EXPECT_EQ(head.headers[2], (Header{"Accept", "*/*"}));  // OWS trimmed
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_FALSE(head.expect_continue);
  EXPECT_FALSE(head.upgrade);
}

struct TargetCase {
  const char* name;
  std::string target;
  std::string host;
  uint16_t port;
  std::string path;
};

class AbsoluteTargets : public ::testing::TestWithParam<TargetCase> {};

TEST_P(AbsoluteTargets, SplitIntoHostPortPath) {
  const TargetCase& c = GetParam();
  RequestHead head;
  const std::string buf = "GET " + c.target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  const ParseStatus s = parse(buf, &head);
  ASSERT_TRUE(s.isComplete()) << s.reason();
  EXPECT_EQ(head.host, c.host);
  EXPECT_EQ(head.port, c.port);
  EXPECT_EQ(head.path, c.path);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, AbsoluteTargets,
    ::testing::Values(TargetCase{"no_path", "http://a.example", "a.example", 80, "/"},
                      TargetCase{"query_only", "http://a.example?x=1", "a.example", 80, "/?x=1"},
                      TargetCase{"upper_scheme", "HTTP://a.example/p", "a.example", 80, "/p"},
                      TargetCase{"explicit_80", "http://a.example:80/", "a.example", 80, "/"},
                      TargetCase{"ipv4", "http://10.0.0.1:81/x", "10.0.0.1", 81, "/x"},
                      TargetCase{"ipv6", "http://[2001:db8::1]:8080/x", "2001:db8::1", 8080,
                                 "/x"},
                      TargetCase{"ipv6_default_port", "http://[::1]/", "::1", 80, "/"}),
    test::CaseName());

TEST(ParseRequestHead, OriginFormTakesHostFromHeader) {
  RequestHead head;
  ASSERT_TRUE(parse("POST /upload?x HTTP/1.1\r\nHost: api.example:8443\r\n"
                    "Content-Length: 12\r\nExpect: 100-continue\r\n\r\n",
                    &head)
                  .isComplete());
  EXPECT_EQ(head.form, RequestHead::TargetForm::kOrigin);
  EXPECT_EQ(head.scheme, "");
  EXPECT_EQ(head.host, "api.example");
  EXPECT_EQ(head.port, 8443);
  EXPECT_EQ(head.path, "/upload?x");
  EXPECT_EQ(head.framing, BodyFraming::kContentLength);
  EXPECT_EQ(head.content_length, 12u);
  EXPECT_TRUE(head.expect_continue);
}

TEST(ParseRequestHead, OriginFormHostWithoutPortLeavesPortZero) {
  RequestHead head;
  ASSERT_TRUE(parse("GET / HTTP/1.1\r\nHost: api.example\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.host, "api.example");
  EXPECT_EQ(head.port, 0);
}

TEST(ParseRequestHead, Http10WithoutHostIsAccepted) {
  RequestHead head;
  ASSERT_TRUE(parse("GET / HTTP/1.0\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.version_minor, 0);
  EXPECT_FALSE(head.keep_alive);
}

TEST(ParseRequestHead, Http10KeepAliveNeedsToken) {
  RequestHead head;
  ASSERT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &head).isComplete());
  EXPECT_TRUE(head.keep_alive);
}

TEST(ParseRequestHead, ConnectionCloseInList) {
  RequestHead head;
  ASSERT_TRUE(parse(kGet + "Connection: foo, , Close\r\n\r\n", &head).isComplete());
  EXPECT_FALSE(head.keep_alive);
}

TEST(ParseRequestHead, ChunkedIsCaseInsensitive) {
  RequestHead head;
  ASSERT_TRUE(parse(kGet + "Transfer-Encoding: Chunked\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.framing, BodyFraming::kChunked);
}

TEST(ParseRequestHead, ContentLengthWithLeadingZeros) {
  RequestHead head;
  ASSERT_TRUE(parse(kGet + "Content-Length: 007\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.content_length, 7u);
}

TEST(ParseRequestHead, ContentLengthMaxUint64) {
  RequestHead head;
  ASSERT_TRUE(parse(kGet + "Content-Length: 18446744073709551615\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.content_length, 18446744073709551615u);
}

TEST(ParseRequestHead, UpgradeNeedsConnectionTokenAndHeader) {
  RequestHead head;
  ASSERT_TRUE(
      parse(kGet + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", &head).isComplete());
  EXPECT_TRUE(head.upgrade);
  ASSERT_TRUE(parse(kGet + "Upgrade: websocket\r\n\r\n", &head).isComplete());
  EXPECT_FALSE(head.upgrade);
}

TEST(ParseRequestHead, OtherUnderscoreNamesAreOrdinaryFields) {
  RequestHead head;
  ASSERT_TRUE(parse(kGet + "X_Content_Length: 5\r\nContent_Type: a\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  EXPECT_EQ(head.headers.size(), 3u);
}

TEST(ParseRequestHead, ValueKeepsObsTextAndInnerTabs) {
  RequestHead head;
  ASSERT_TRUE(parse(kGet + "X-A: caf\xc3\xa9\tx\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.headers[1].value, "caf\xc3\xa9\tx");
}

TEST(ParseRequestHead, SkipsLeadingEmptyLines) {
  RequestHead head;
  size_t consumed = 0;
  const std::string buf = "\r\n\r\n" + kGet + "\r\n";
  ASSERT_TRUE(parseRequestHead(buf, {}, &head, &consumed).isComplete());
  EXPECT_EQ(consumed, buf.size());
  EXPECT_EQ(head.method, "GET");
}

TEST(ParseRequestHead, OptionsAsterisk) {
  RequestHead head;
  ASSERT_TRUE(parse("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", &head).isComplete());
  EXPECT_EQ(head.form, RequestHead::TargetForm::kAsterisk);
  EXPECT_EQ(head.path, "*");
  EXPECT_EQ(head.host, "a.example");
}

TEST(ParseRequestHead, HttpsAbsoluteFormSaysUseConnect) {
  RequestHead head;
  const ParseStatus s = parse("GET https://a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", &head);
  ASSERT_TRUE(s.isError());
  EXPECT_EQ(s.reason(), "use CONNECT for https");
}

TEST(ParseRequestHead, ReasonNeverEchoesHeaderValues) {
  RequestHead head;
  const ParseStatus s = parse(kGet + "Content-Length: secret-token\r\n\r\n", &head);
  ASSERT_TRUE(s.isError());
  EXPECT_EQ(s.reason().find("secret"), std::string_view::npos);
}

struct ConnectCase {
  const char* name;
  std::string target;
  std::string host;
  uint16_t port;
};

class ConnectTargets : public ::testing::TestWithParam<ConnectCase> {};

TEST_P(ConnectTargets, AuthorityForm) {
  const ConnectCase& c = GetParam();
  RequestHead head;
  const std::string buf = "CONNECT " + c.target + " HTTP/1.1\r\nHost: " + c.target + "\r\n\r\n";
  const ParseStatus s = parse(buf, &head);
  ASSERT_TRUE(s.isComplete()) << s.reason();
  EXPECT_EQ(head.form, RequestHead::TargetForm::kAuthority);
  EXPECT_EQ(head.host, c.host);
  EXPECT_EQ(head.port, c.port);
  EXPECT_EQ(head.path, "");
  EXPECT_EQ(head.framing, BodyFraming::kNone);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ConnectTargets,
    ::testing::Values(ConnectCase{"name", "api.example.com:443", "api.example.com", 443},
                      ConnectCase{"port_1", "a:1", "a", 1},
                      ConnectCase{"port_max", "a:65535", "a", 65535},
                      ConnectCase{"ipv4", "127.0.0.1:8443", "127.0.0.1", 8443},
                      ConnectCase{"ipv6", "[2001:db8::1]:443", "2001:db8::1", 443},
                      ConnectCase{"ipv6_loopback", "[::1]:443", "::1", 443},
                      ConnectCase{"ipv6_mapped", "[::ffff:10.0.0.1]:443", "::ffff:10.0.0.1", 443},
                      ConnectCase{"underscore", "my_host.example:443", "my_host.example", 443}),
    test::CaseName());

TEST(ParseRequestHead, ConnectWithZeroContentLengthIsAccepted) {
  RequestHead head;
  ASSERT_TRUE(parse("CONNECT a:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &head).isComplete());
}

TEST(ParseRequestHead, EveryStrictPrefixIsIncomplete) {
  const std::string buf =
      "POST http://a.example/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\n"
      "Connection: keep-alive\r\n\r\n";
  for (size_t n = 0; n < buf.size(); ++n) {
    RequestHead head;
    EXPECT_TRUE(parse(std::string_view(buf).substr(0, n), &head).isIncomplete()) << n;
  }
  RequestHead head;
  size_t consumed = 0;
  ASSERT_TRUE(parseRequestHead(buf + "abc", {}, &head, &consumed).isComplete());
  EXPECT_EQ(consumed, buf.size());
}

TEST(ParseRequestHead, HeadExactlyAtLimitIsAccepted) {
  std::string buf = kGet + "X-Pad: ";
  const size_t target = 1024;
  buf += std::string(target - buf.size() - 4, 'p') + "\r\n\r\n";
  ASSERT_EQ(buf.size(), target);
  RequestHead head;
  EXPECT_TRUE(parse(buf, &head, HeadLimits{.max_head_bytes = target}).isComplete());
  EXPECT_EQ(parse(buf, &head, HeadLimits{.max_head_bytes = target - 1}).httpStatus(), 431);
}

TEST(ParseRequestHead, IncompleteHeadAtLimitIs431) {
  const std::string buf = kGet + "X-Pad: " + std::string(100, 'p');
  RequestHead head;
  EXPECT_TRUE(parse(buf, &head, HeadLimits{.max_head_bytes = buf.size() + 1}).isIncomplete());
  EXPECT_EQ(parse(buf, &head, HeadLimits{.max_head_bytes = buf.size()}).httpStatus(), 431);
}

TEST(ParseRequestHead, HeaderCountLimit) {
  std::string buf = kGet;  // one header
  buf += "X-2: v\r\nX-3: v\r\n\r\n";
  RequestHead head;
  EXPECT_TRUE(parse(buf, &head, HeadLimits{.max_headers = 3}).isComplete());
  EXPECT_EQ(parse(buf, &head, HeadLimits{.max_headers = 2}).httpStatus(), 431);
}

TEST(ParseRequestHead, ReusedHeadDropsOldFields) {
  RequestHead head;
  ASSERT_TRUE(parse("GET http://a/ HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n"
                    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                    &head)
                  .isComplete());
  ASSERT_TRUE(parse("CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n", &head).isComplete());
  ASSERT_EQ(head.headers.size(), 1u);
  EXPECT_EQ(head.headers[0], (Header{"Host", "b:443"}));
  EXPECT_EQ(head.scheme, "");
  EXPECT_EQ(head.path, "");
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  EXPECT_TRUE(head.keep_alive);
}
}  // namespace
}  // namespace kitgate::http
