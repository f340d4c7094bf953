#include "proxy/http/response.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/proxy/http/case_name.h"

namespace kitgate::http {
namespace {

struct FramingCase {
  const char* name;
  const char* method;
  std::string head;
  BodyFraming framing;
  uint64_t content_length;
  bool keep_alive;
};

class ResponseFraming : public ::testing::TestWithParam<FramingCase> {};

TEST_P(ResponseFraming, FollowsRfc9112Section63) {
  const FramingCase& c = GetParam();
  ResponseHead head;
  size_t consumed = 0;
  const ParseStatus s = parseResponseHead(c.head + "BODY", {}, c.method, &head, &consumed);
  ASSERT_TRUE(s.isComplete()) << s.reason();
  EXPECT_EQ(consumed, c.head.size());
  EXPECT_EQ(head.framing, c.framing);
  EXPECT_EQ(head.content_length, c.content_length);
  EXPECT_EQ(head.keep_alive, c.keep_alive);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResponseFraming,
    ::testing::Values(
        FramingCase{"content_length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
                    BodyFraming::kContentLength, 4, true},
        FramingCase{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    BodyFraming::kChunked, 0, true},
        FramingCase{"until_close", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n",
                    BodyFraming::kUntilClose, 0, false},
        FramingCase{"head_with_length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
                    BodyFraming::kNone, 99, true},
        FramingCase{"head_with_chunked", "HEAD",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", BodyFraming::kNone, 0,
                    true},
        FramingCase{"no_content", "DELETE", "HTTP/1.1 204 No Content\r\n\r\n", BodyFraming::kNone,
                    0, true},
        FramingCase{"not_modified", "GET",
                    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", BodyFraming::kNone,
                    10, true},
        FramingCase{"continue", "POST", "HTTP/1.1 100 Continue\r\n\r\n", BodyFraming::kNone, 0,
                    true},
        FramingCase{"early_hints", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
                    BodyFraming::kNone, 0, true},
        FramingCase{"switching_protocols", "GET",
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: upgrade\r\n\r\n",
                    BodyFraming::kTunnel, 0, false},
        FramingCase{"connect_2xx", "CONNECT", "HTTP/1.1 200 Connection established\r\n\r\n",
                    BodyFraming::kTunnel, 0, false},
        FramingCase{"connect_407", "CONNECT",
                    "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\n",
                    BodyFraming::kContentLength, 2, true},
        FramingCase{"connection_close", "GET",
                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
                    BodyFraming::kContentLength, 1, false},
        FramingCase{"http10_default_close", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
                    BodyFraming::kContentLength, 1, false},
        FramingCase{"http10_keep_alive", "GET",
                    "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
                    BodyFraming::kContentLength, 1, true},
        FramingCase{"empty_reason_no_space", "GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
                    BodyFraming::kContentLength, 0, true}),
    test::CaseName());

struct BadCase {
  const char* name;
  std::string head;
};

class ResponseRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(ResponseRejects, As502) {
  ResponseHead head;
  size_t consumed = 0;
  const ParseStatus s = parseResponseHead(GetParam().head, {}, "GET", &head, &consumed);
  ASSERT_TRUE(s.isError()) << GetParam().name;
  EXPECT_EQ(s.httpStatus(), 502);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResponseRejects,
    ::testing::Values(
        BadCase{"cl_and_te",
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"},
        BadCase{"duplicate_cl", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"},
        BadCase{"invalid_cl", "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n"},
        BadCase{"te_gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"},
        BadCase{"te_gzip_chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
        BadCase{"te_in_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
        BadCase{"obs_fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n"},
        BadCase{"bare_lf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"},
        BadCase{"nul_in_value", std::string("HTTP/1.1 200 OK\r\nX-A: \0\r\n\r\n", 27)},
        BadCase{"space_before_colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"},
        BadCase{"underscore_content_length", "HTTP/1.1 200 OK\r\nContent_Length: 0\r\n\r\n"},
        BadCase{"http2", "HTTP/2.0 200 OK\r\n\r\n"},
        BadCase{"lowercase_version", "http/1.1 200 OK\r\n\r\n"},
        BadCase{"two_digit_status", "HTTP/1.1 20 OK\r\n\r\n"},
        BadCase{"four_digit_status", "HTTP/1.1 2000 OK\r\n\r\n"},
        BadCase{"status_099", "HTTP/1.1 099 X\r\n\r\n"},
        BadCase{"status_600", "HTTP/1.1 600 X\r\n\r\n"},
        BadCase{"ctl_in_reason", "HTTP/1.1 200 O\x01K\r\n\r\n"},
        BadCase{"empty_first_line", "\r\nHTTP/1.1 200 OK\r\n\r\n"},
        BadCase{"too_large", "HTTP/1.1 200 OK\r\nX-A: " + std::string(40000, 'a') + "\r\n\r\n"}),
    test::CaseName());

TEST(ParseResponseHead, InterimThenFinal) {
  const std::string buf =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  ResponseHead head;
  size_t consumed = 0;
  ASSERT_TRUE(parseResponseHead(buf, {}, "POST", &head, &consumed).isComplete());
  EXPECT_TRUE(head.isInterim());
  const std::string_view rest = std::string_view(buf).substr(consumed);
  ASSERT_TRUE(parseResponseHead(rest, {}, "POST", &head, &consumed).isComplete());
  EXPECT_FALSE(head.isInterim());
  EXPECT_EQ(head.status, 201);
  EXPECT_EQ(head.reason, "Created");
  EXPECT_EQ(rest.substr(consumed), "ok");
}

TEST(ParseResponseHead, EveryStrictPrefixIsIncomplete) {
  const std::string buf = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\n";
  for (size_t n = 0; n < buf.size(); ++n) {
    ResponseHead head;
    size_t consumed = 0;
    EXPECT_TRUE(parseResponseHead(std::string_view(buf).substr(0, n), {}, "GET", &head, &consumed)
                    .isIncomplete())
        << n;
  }
}

TEST(ParseResponseHead, SwitchingProtocolsIsNotInterim) {
  ResponseHead head;
  head.status = 101;
  EXPECT_FALSE(head.isInterim());
  head.status = 100;
  EXPECT_TRUE(head.isInterim());
}

}  // namespace
}  // namespace kitgate::http
