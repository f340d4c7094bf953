// Request smuggling and malformed heads: the real proxy answers 400 (and
// closes) for every ambiguous framing, and nothing reaches the origin.
#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

struct SmugglingCase {
  const char* name;
  std::string headers;  // inserted after Host, each ending in CRLF (or not, on purpose)
  std::string body;
};

TEST(Smuggling, AmbiguousRequestsAnswered400AndClosed) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  const std::string nul("X-A: a\0b\r\n", 10);
  const SmugglingCase cases[] = {
      {"CL+TE", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"},
      {"TE+CL", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"},
      {"duplicate CL, different values", "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"},
      {"duplicate CL, same value", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"},
      {"CL list", "Content-Length: 5, 5\r\n", "hello"},
      {"invalid CL", "Content-Length: 5x\r\n", "hello"},
      {"negative CL", "Content-Length: -1\r\n", ""},
      {"signed CL", "Content-Length: +5\r\n", "hello"},
      {"TE chunked, identity", "Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"},
      {"TE identity", "Transfer-Encoding: identity\r\n", ""},
      {"TE chunked twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"},
      {"obs-fold", "X-A: a\r\n  folded\r\n", ""},
      {"obs-fold on TE", "Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"},
      {"bare LF", "X-A: a\nX-B: b\r\n", ""},
      {"NUL in a value", nul, ""},
      {"CR in a value", "X-A: a\rb\r\n", ""},
      {"space before colon", "Content-Length : 5\r\n", "hello"},
      {"no colon", "X-A a\r\n", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_OK_AND_ASSIGN(auto client, RawClient::connect(proxy->port()));
    ASSERT_OK(client.send(absoluteGet(*origin, "/echo-length", c.headers, "POST") + c.body));
    auto r = client.readResponse();
    ASSERT_TRUE(r.isOk()) << r.status().message();
    EXPECT_EQ(r->status, 400) << r->head << r->body;
    EXPECT_EQ(r->header("Connection"), "close");
    ASSERT_OK_AND_ASSIGN(std::string rest, client.readUntilClose());
    EXPECT_EQ(rest, "");
  }
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
  auto line = proxy->waitForLog([](const nlohmann::json& j) { return j.value("status", 0) == 400; });
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "blocked");
}

TEST(Smuggling, BareLfRequestLineAnswered400) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "GET http://" + originAuthority(*origin) +
                                                              "/small HTTP/1.1\nHost: origin.test\n\n"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
}

// A valid request followed by a smuggled one in the same bytes: the second
// is parsed as its own request and judged by policy, never glued to the first.
TEST(Smuggling, PipelinedSecondRequestJudgedOnItsOwn) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.deny = {"blocked.test"};  // refused by name: never resolved
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  std::string smuggled = "GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n\r\n";
  ASSERT_OK(c.send(absoluteGet(*origin, "/echo-length",
                               "Content-Length: " + std::to_string(smuggled.size()) + "\r\n", "POST") +
                   smuggled + absoluteGet(*origin, "/headers") + "GET http://blocked.test/ HTTP/1.1\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(auto r1, c.readResponse());
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body, "length=" + std::to_string(smuggled.size()) + " checksum=" + hex64(fnv1a64(smuggled)) + "\n");
  ASSERT_OK_AND_ASSIGN(auto r2, c.readResponse());
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(r2.body.find("blocked.test"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto r3, c.readResponse());
  EXPECT_EQ(r3.status, 403);
  EXPECT_EQ(origin->requestsServed(), 2u);
}

}  // namespace
}  // namespace kitgate::testing
