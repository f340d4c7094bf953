// CONNECT tunnels through the real proxy: byte-exact round trips, half-close,
// 100 MiB in both directions at once, and curl -p.
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/curl.h"

namespace kitgate::testing {
namespace {

TEST(Tunnel, EchoRoundTripThroughConnect) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*origin)));
  ASSERT_TRUE(t.established()) << t.response.head << t.response.body;

  ASSERT_OK(t.client.send("hello, tunnel"));
  ASSERT_OK_AND_ASSIGN(std::string echoed, t.client.readExactly(13));
  EXPECT_EQ(echoed, "hello, tunnel");
  // Half-close travels through: the origin sees EOF, closes its side, and we
  // read EOF with nothing extra.
  t.client.shutdownWrite();
  ASSERT_OK_AND_ASSIGN(std::string rest, t.client.readUntilClose());
  EXPECT_EQ(rest, "");

  auto line = proxy->waitForLog(logLine("origin.test", 200, "connect"));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "allowed");
  EXPECT_EQ((*line)["proxy"], "forward-bypass");
  EXPECT_EQ((*line)["method"], "CONNECT");
  EXPECT_EQ((*line)["port"], origin->port());
  EXPECT_EQ((*line)["address"], "127.0.0.1");
  EXPECT_EQ((*line)["bytes_up"], 13);
  EXPECT_EQ((*line)["bytes_down"], 13);
  EXPECT_EQ((*line)["sandbox"], "default");
  EXPECT_EQ((*line)["rule"], "origin.test");
  EXPECT_TRUE((*line)["time"].is_string());
  EXPECT_GE((*line)["duration_ms"].get<double>(), 0.0);
}

TEST(Tunnel, BytesSentWithTheConnectHeadAreRelayed) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  const std::string auth = originAuthority(*origin);
  // The client does not wait for the 200 (TLS clients with early data do this).
  ASSERT_OK(c.send("CONNECT " + auth + " HTTP/1.1\r\nHost: " + auth + "\r\n\r\nearly-bytes"));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse(10s, /*head_request=*/true));
  ASSERT_EQ(r.status, 200);
  ASSERT_OK_AND_ASSIGN(std::string echoed, c.readExactly(11));
  EXPECT_EQ(echoed, "early-bytes");
  c.shutdownWrite();
  ASSERT_OK_AND_ASSIGN(std::string rest, c.readUntilClose());
  EXPECT_EQ(rest, "");
  // The early bytes count as tunnelled payload in both directions.
  auto line = proxy->waitForLog(logLine("origin.test", 200, "connect"));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["bytes_up"], 11);
  EXPECT_EQ((*line)["bytes_down"], 11);
}

// Sends `total` pattern bytes from a second thread while this thread reads the
// echo, checking every byte; both directions are busy at once.
TEST(Tunnel, HundredMiBEchoedBothDirectionsIntact) {
  constexpr uint64_t kTotal = 100ull << 20;
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*origin)));
  ASSERT_TRUE(t.established());

  Status send_status;
  std::thread writer([&] {
    constexpr size_t kPiece = 1 << 20;
    for (uint64_t off = 0; off < kTotal && send_status.isOk(); off += kPiece) {
      send_status = t.client.send(patternBytes(off, kPiece));
    }
    t.client.shutdownWrite();
  });
  const auto deadline = Clock::now() + 90s;
  uint64_t got = 0;
  uint64_t first_mismatch = UINT64_MAX;
  while (got < kTotal && Clock::now() < deadline) {
    auto piece = t.client.readSome(1 << 20, 30s);
    if (!piece.isOk() || piece->empty()) break;
    for (size_t i = 0; i < piece->size() && first_mismatch == UINT64_MAX; ++i) {
      if ((*piece)[i] != patternByte(got + i)) first_mismatch = got + i;
    }
    got += piece->size();
  }
  writer.join();
  ASSERT_TRUE(send_status.isOk()) << send_status.message();
  EXPECT_EQ(got, kTotal);
  EXPECT_EQ(first_mismatch, UINT64_MAX) << "first corrupted byte at offset " << first_mismatch;
  ASSERT_OK_AND_ASSIGN(std::string rest, t.client.readUntilClose(30s));
  EXPECT_EQ(rest, "");

  auto line = proxy->waitForLog(logLine("origin.test", 200, "connect"));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["bytes_up"], kTotal);
  EXPECT_EQ((*line)["bytes_down"], kTotal);
}

TEST(Tunnel, CurlThroughConnectFetchesFromOrigin) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto r, runCurl({"-p", "-x", proxy->url(), "http://" + originAuthority(*origin) + "/small"},
                                       proxy->dir()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_code, 200);
  EXPECT_EQ(r.body, patternBytes(0, kSmallBodySize));
  EXPECT_TRUE(proxy->waitForLog(logLine("origin.test", 200, "connect")).has_value());
}

}  // namespace
}  // namespace kitgate::testing
