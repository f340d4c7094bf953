// CONNECT tunnels through the real proxy: byte-exact round trips, half-close,
// 100 MiB in both directions at once, and curl -p.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/support/curl.h"

namespace kitgate::testing {
namespace {

TEST(Tunnel, EchoRoundTripThroughConnect) {
  ASSERT_OK_AND_ASSIGN(auto origin,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
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
  ASSERT_OK_AND_ASSIGN(auto origin,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
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
  ASSERT_OK_AND_ASSIGN(auto origin,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
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
  ASSERT_OK_AND_ASSIGN(
      auto r, runCurl({"-p", "-x", proxy->url(), "http://" + originAuthority(*origin) + "/small"},
                      proxy->dir()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_code, 200);
  EXPECT_EQ(r.body, patternBytes(0, kSmallBodySize));
  EXPECT_TRUE(proxy->waitForLog(logLine("origin.test", 200, "connect")).has_value());
}

}  // namespace
}  // namespace kitgate::testing

namespace kitgate::testing {
namespace {

// An upstream that accepts (the kernel's backlog does) and never reads: once
// its buffers are full, the client's bytes wait in the proxy. When the client
// then goes away, the proxy stops trying shortly after and gives the tunnel's
// descriptors back — it does not hold them for the whole idle timeout.
TEST(Tunnel, UpstreamThatNeverReadsReleasesTheTunnelSoonAfterTheClientCloses) {
  UniqueFd sink(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sink.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(sink.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(sink.get(), 64), 0);
  ASSERT_EQ(::getsockname(sink.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  ProxyOptions o = reachOrigin();
  o.limits = {{"idle_timeout_ms", 300000}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const size_t fds_before = countOpenFds(proxy->pid());
  constexpr int kTunnels = 10;
  {
    std::vector<Tunnel> tunnels;
    const std::string block(64 * 1024, 'x');
    for (int i = 0; i < kTunnels; ++i) {
      ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), target));
      ASSERT_TRUE(t.established()) << t.response.head;
      // Push until nothing moves any more (bounded: 256 MiB).
      const int fd = t.client.fd();
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      for (size_t sent = 0; sent < (256u << 20);) {
        ssize_t n = ::send(fd, block.data(), block.size(), MSG_NOSIGNAL);
        if (n > 0) {
          sent += static_cast<size_t>(n);
          continue;
        }
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 300) <= 0) break;  // stalled: every buffer on the way is full
      }
      // The client goes away the way a killed agent's connection does: its
      // kernel resets it (a FIN could not even arrive: our receive window is
      // full).
      linger lg{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      tunnels.push_back(std::move(t));
    }
    EXPECT_GE(countOpenFds(proxy->pid()), fds_before + 2 * kTunnels);
  }  // every client is gone
  EXPECT_TRUE(waitUntil([&] { return countOpenFds(proxy->pid()) <= fds_before + 2; }, 30s))
      << countOpenFds(proxy->pid()) << " descriptors open, " << fds_before << " before the tunnels";
}

}  // namespace
}  // namespace kitgate::testing
