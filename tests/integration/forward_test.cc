// Plain-HTTP forwarding (absolute-form requests) through the real proxy:
// keep-alive on both sides, streamed bodies in both framings, HEAD/204/304,
// 100-continue, what reaches the origin, and curl -x.
#include "tests/integration/harness.h"
#include "tests/support/curl.h"

namespace kitgate::testing {
namespace {

std::string lowerCopy(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(Forward, KeepAliveRequestsReuseOneUpstreamConnection) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, patternBytes(0, kSmallBodySize));
    EXPECT_NE(lowerCopy(r.header("Connection").value_or("")), "close");
  }
  EXPECT_EQ(origin->requestsServed(), 5u);
  EXPECT_EQ(origin->connectionsAccepted(), 1u);
  // One policy-log line per request, not per connection.
  size_t lines = 0;
  EXPECT_TRUE(waitUntil(
      [&] {
        lines = 0;
        for (const auto& j : proxy->policyLog()) lines += logLine("origin.test", 200, "http")(j) ? 1 : 0;
        return lines == 5;
      },
      10s))
      << lines << " lines";
}

TEST(Forward, PipelinedRequestsAnsweredInOrder) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  ASSERT_OK(c.send(absoluteGet(*origin, "/bytes/10") + absoluteGet(*origin, "/bytes/20") +
                   absoluteGet(*origin, "/bytes/30")));
  for (size_t n : {10u, 20u, 30u}) {
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, patternBytes(0, n));
  }
}

TEST(Forward, LargeContentLengthBodyStreamedIntact) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  constexpr size_t kSize = 8 << 20;
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), absoluteGet(*origin, "/bytes/" + std::to_string(kSize)), 30s));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), std::to_string(kSize));
  EXPECT_EQ(r.body.size(), kSize);
  EXPECT_TRUE(r.body == patternBytes(0, kSize));
  auto line = proxy->waitForLog(logLine("origin.test", 200, "http"));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["proxy"], "forward");
  EXPECT_EQ((*line)["method"], "GET");
  EXPECT_GE((*line)["bytes_down"].get<uint64_t>(), kSize);
}

TEST(Forward, ChunkedResponseRelayedChunked) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  constexpr size_t kSize = 1 << 20;
  ASSERT_OK(c.send(absoluteGet(*origin, "/chunked/" + std::to_string(kSize))));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse(30s));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body.size(), kSize);
  EXPECT_TRUE(r.body == patternBytes(0, kSize));
  // The connection stays usable after the last chunk.
  ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r2, c.readResponse());
  EXPECT_EQ(r2.status, 200);
}

TEST(Forward, ChunkedRequestBodyReachesOriginIntact) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  std::string body = patternBytes(0, 300000);
  std::string req = absoluteGet(*origin, "/echo-length", "Transfer-Encoding: chunked\r\n", "POST");
  // Chunks of odd sizes, with a chunk extension and a trailer.
  size_t off = 0;
  for (size_t size : {1u, 4095u, 65536u, 230368u}) {
    char hdr[32];
    std::snprintf(hdr, sizeof hdr, "%zx%s\r\n", size, size == 1 ? ";ext=1" : "");
    req += hdr + body.substr(off, size) + "\r\n";
    off += size;
  }
  ASSERT_EQ(off, body.size());
  req += "0\r\nX-Trailer: t\r\n\r\n";
  ASSERT_OK(c.send(req));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "length=300000 checksum=" + hex64(fnv1a64(body)) + "\n");
}

TEST(Forward, ContentLengthRequestBodyReachesOriginIntact) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  std::string body = patternBytes(7, 2 << 20);
  std::string req = absoluteGet(*origin, "/echo-length", "Content-Length: " + std::to_string(body.size()) + "\r\n",
                                "POST") + body;
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), req, 30s));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "length=" + std::to_string(body.size()) + " checksum=" + hex64(fnv1a64(body)) + "\n");
}

TEST(Forward, HeadResponseHasLengthButNoBody) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  ASSERT_OK(c.send(absoluteGet(*origin, "/bytes/5000", "", "HEAD")));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse(10s, /*head_request=*/true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "5000");
  // Had the proxy sent a body, it would be read as the next response's head.
  ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r2, c.readResponse());
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(r2.body, patternBytes(0, kSmallBodySize));
}

TEST(Forward, NoContentAndNotModifiedCarryNoBody) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  for (int status : {204, 304}) {
    ASSERT_OK(c.send(absoluteGet(*origin, "/status/" + std::to_string(status))));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    EXPECT_EQ(r.status, status);
    EXPECT_FALSE(r.header("Transfer-Encoding").has_value()) << r.head;
  }
  ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, patternBytes(0, kSmallBodySize));
  EXPECT_EQ(origin->connectionsAccepted(), 1u);
}

TEST(Forward, ExpectContinueInterimRelayedBeforeBody) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  std::string body = patternBytes(0, 1000);
  ASSERT_OK(c.send(absoluteGet(*origin, "/echo-length", "Content-Length: 1000\r\nExpect: 100-continue\r\n", "POST")));
  // The body is held back until the origin's 100 Continue arrives.
  ASSERT_OK_AND_ASSIGN(auto interim, c.readResponse());
  EXPECT_EQ(interim.status, 100);
  ASSERT_OK(c.send(body));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "length=1000 checksum=" + hex64(fnv1a64(body)) + "\n");
}

TEST(Forward, HopByHopAndProxyHeadersNotForwarded) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(
      auto r, requestOnce(proxy->port(),
                          absoluteGet(*origin, "/headers",
                                      "X-Keep: yes\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic "
                                      "c2VjcmV0OnNlY3JldA==\r\nConnection: X-Drop\r\nX-Drop: gone\r\nKeep-Alive: 5\r\n"
                                      "TE: trailers\r\n")));
  ASSERT_EQ(r.status, 200);
  const std::string head = lowerCopy(r.body);
  EXPECT_EQ(head.rfind("get /headers http/1.1\r\n", 0), 0u) << r.body;  // origin-form toward the origin
  EXPECT_NE(head.find("\r\nhost: " + originAuthority(*origin) + "\r\n"), std::string::npos) << r.body;
  EXPECT_NE(head.find("\r\nx-keep: yes\r\n"), std::string::npos) << r.body;
  for (const char* gone : {"proxy-connection", "proxy-authorization", "x-drop", "keep-alive:", "\r\nte:"}) {
    EXPECT_EQ(head.find(gone), std::string::npos) << gone << " reached the origin:\n" << r.body;
  }
}

TEST(Forward, ResponseWithoutLengthEndsAtCloseAndClosesClient) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  ASSERT_OK(c.send(absoluteGet(*origin, "/close")));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "closing body\n");
}

TEST(Forward, CurlForwardsThroughProxy) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  const std::string base = "http://" + originAuthority(*origin);
  ASSERT_OK_AND_ASSIGN(auto r, runCurl({"-x", proxy->url(), base + "/bytes/70000", "-o", proxy->dir() + "/second",
                                        base + "/chunked/70000"},
                                       proxy->dir()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.body, patternBytes(0, 70000));
  EXPECT_EQ(readFile(proxy->dir() + "/second"), patternBytes(0, 70000));
  // curl reused its proxy connection, and the proxy its upstream one.
  EXPECT_EQ(origin->connectionsAccepted(), 1u);
  EXPECT_EQ(origin->requestsServed(), 2u);
}

TEST(Forward, CurlPostWithExpectContinue) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  std::string body = patternBytes(0, 200000);
  ASSERT_OK(writeFileAtomic(proxy->dir() + "/upload", body));
  // curl sends Expect: 100-continue for bodies over 1 MiB or when asked.
  ASSERT_OK_AND_ASSIGN(auto r, runCurl({"-x", proxy->url(), "-H", "Expect: 100-continue", "--data-binary",
                                        "@" + proxy->dir() + "/upload", "http://" + originAuthority(*origin) + "/echo-length"},
                                       proxy->dir()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_code, 200);
  EXPECT_EQ(r.body, "length=200000 checksum=" + hex64(fnv1a64(body)) + "\n");
}

TEST(Forward, OriginFormRequestRefused400) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "GET /small HTTP/1.1\r\nHost: " + originAuthority(*origin) +
                                                              "\r\n\r\n"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("forward proxy"), std::string::npos) << r.body;
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
}

}  // namespace
}  // namespace kitgate::testing
