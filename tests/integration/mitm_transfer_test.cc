// Moving bytes through an intercepted connection: large bodies both ways with
// bounded proxy memory, failures mid-body on either side, a WebSocket relay,
// and a long keep-alive run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "proxy/common/unique_fd.h"
#include "tests/integration/mitm_fixture.h"

namespace kitgate::testing {
namespace {

using MitmTransfer = MitmWorld;

constexpr uint64_t kGiB = 1ull << 30;
// How much the proxy's peak resident memory may exceed its resident memory
// before a 1 GiB transfer (a bound on buffering, not a timing).
constexpr long kMaxGrowthKib = 64 * 1024;
// patternByte(i) repeats every 251 * 7 bytes.
constexpr size_t kPatternPeriod = 251 * 7;

// A warm-up request so the proxy's steady-state allocations (TLS contexts,
// leaf cache, worker buffers) are in the baseline.
void warmUp(HttpsClient& c) {
  ASSERT_OK(c.send(c.request("GET", "/small")));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  ASSERT_EQ(r.status, 200);
}

TEST_F(MitmTransfer, OneGibDownloadWithBoundedProxyMemory) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  warmUp(c);
  const long before = procStatusKib(proxy_->pid(), "VmRSS");
  ASSERT_GT(before, 0);
  ASSERT_OK(c.send(c.request("GET", "/bytes/" + std::to_string(kGiB))));
  ASSERT_OK_AND_ASSIGN(auto head, c.readHead());
  ASSERT_EQ(head.status, 200);
  uint64_t offset = 0;
  uint64_t misplaced = 0;
  ASSERT_OK_AND_ASSIGN(uint64_t n,
                       c.readBody(
                           head,
                           [&](std::string_view piece) {
                             // First and last byte of every piece sit where the pattern says.
                             if (piece.front() != patternByte(offset) ||
                                 piece.back() != patternByte(offset + piece.size() - 1)) {
                               ++misplaced;
                             }
                             offset += piece.size();
                           },
                           std::chrono::minutes(4)));
  EXPECT_EQ(n, kGiB);
  EXPECT_EQ(misplaced, 0u);
  const long peak = procStatusKib(proxy_->pid(), "VmHWM");
  RecordProperty("proxy_peak_growth_kib", std::to_string(peak - before));
  if (kRssIsMeaningful) {
    EXPECT_LT(peak - before, kMaxGrowthKib)
        << "VmRSS before " << before << " KiB, VmHWM after " << peak << " KiB";
  }
  // The connection is still good for another request.
  warmUp(c);
}

// An upstream that accepts TCP and never answers the TLS handshake: while the
// proxy waits for it (up to the connect timeout) the sandbox's bytes stay in
// the kernel's socket buffers — the proxy reads nothing it cannot forward.
// (Any sandbox could otherwise push the proxy's memory, and every other
// sandbox with it, over the edge.)
TEST_F(MitmTransfer, StalledUpstreamHandshakeBuffersNothingFromTheSandbox) {
  UniqueFd stall(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(stall.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(stall.get(), 8), 0);  // the kernel completes the connect; nobody accepts
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(stall.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  ASSERT_OK_AND_ASSIGN(
      auto c, HttpsClient::open({proxy_->port(), kAmpHost, ntohs(a.sin_port), sandbox_ca_file_}));
  const long before = procStatusKib(proxy_->pid(), "VmRSS");
  // Push up to 128 MiB; stop at the first write that cannot complete (the
  // buffers are full). Kernel buffers on both ends hold ~10 MiB at most.
  const std::string chunk(256 * 1024, 'x');
  uint64_t sent = 0;
  while (sent < 128ull << 20 && c.send(chunk, 300ms).isOk()) sent += chunk.size();
  RecordProperty("bytes_accepted", std::to_string(sent));
  EXPECT_LT(sent, 32ull << 20)
      << "the proxy read the sandbox's bytes while its upstream handshake stalled";
  if (kRssIsMeaningful) {
    EXPECT_LT(procStatusKib(proxy_->pid(), "VmRSS") - before, 16 * 1024);
  }
}

TEST_F(MitmTransfer, OneGibUploadWithBoundedProxyMemory) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  warmUp(c);
  const long before = procStatusKib(proxy_->pid(), "VmRSS");
  ASSERT_GT(before, 0);
  constexpr size_t kBlock = 1 << 20;
  const std::string pattern = patternBytes(0, kBlock + kPatternPeriod);
  ASSERT_OK(c.send(
      c.request("POST", "/echo-length", "Content-Length: " + std::to_string(kGiB) + "\r\n")));
  uint64_t sum = fnv1a64("");
  for (uint64_t off = 0; off < kGiB; off += kBlock) {
    std::string_view block(pattern.data() + off % kPatternPeriod, kBlock);
    sum = fnv1a64(block, sum);
    ASSERT_OK(c.send(block, std::chrono::seconds(60)));
  }
  ASSERT_OK_AND_ASSIGN(auto resp, c.readResponse(std::chrono::seconds(60)));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "length=" + std::to_string(kGiB) + " checksum=" + hex64(sum) + "\n");
  const long peak = procStatusKib(proxy_->pid(), "VmHWM");
  RecordProperty("proxy_peak_growth_kib", std::to_string(peak - before));
  if (kRssIsMeaningful) {
    EXPECT_LT(peak - before, kMaxGrowthKib)
        << "VmRSS before " << before << " KiB, VmHWM after " << peak << " KiB";
  }
}

TEST_F(MitmTransfer, UpstreamResetMidBodyCutsTheClientOff) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  ASSERT_OK(c.send(c.request("GET", "/reset/65536")));
  ASSERT_OK_AND_ASSIGN(auto head, c.readHead());
  ASSERT_EQ(head.status, 200);
  // A bound host's body goes through the secret scrub, which may change its
  // length: it reaches the client chunked, whatever the origin's framing.
  EXPECT_TRUE(head.chunked) << head.head;
  uint64_t got = 0;
  auto body = c.readBody(head, [&](std::string_view piece) { got += piece.size(); });
  // The client must not see a complete response: the body ends early.
  EXPECT_FALSE(body.isOk());
  EXPECT_LE(got, 65536u);
  // The proxy is fine: a new intercepted connection works.
  ASSERT_OK_AND_ASSIGN(auto again, client(kAmpHost, *origin_));
  warmUp(again);
}

TEST_F(MitmTransfer, ClientAbortMidUploadReleasesBothSides) {
  {
    ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
    ASSERT_OK(c.send(c.request("POST", "/echo-length", "Content-Length: 104857600\r\n")));
    ASSERT_OK(c.send(patternBytes(0, 1 << 20)));
    // The origin is receiving the body on its connection ...
    ASSERT_TRUE(waitUntil([&] { return origin_->connectionsOpen() == 1; }, 10s));
    c.conn().resetConnection();  // ... when the sandbox vanishes.
  }
  // The proxy closes the upstream connection and forgets the client.
  EXPECT_TRUE(waitUntil([&] { return origin_->connectionsOpen() == 0; }, 10s));
  EXPECT_TRUE(waitUntil([&] { return proxy_->metric("kitgate_connections_active") == 0.0; }, 10s));
  EXPECT_EQ(origin_->requestsServed(), 0u);
  ASSERT_OK_AND_ASSIGN(auto again, client(kAmpHost, *origin_));
  warmUp(again);
}

TEST_F(MitmTransfer, WebSocketEchoThroughInterception) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  ASSERT_OK(c.send(
      c.request("GET", "/ws",
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")));
  ASSERT_OK_AND_ASSIGN(auto head, c.readHead());
  ASSERT_EQ(head.status, 101) << head.head;
  EXPECT_EQ(head.header("Upgrade").value_or(""), "websocket");
  // The upgrade request carried the injected credential.
  EXPECT_NE(origin_->lastSpecialHead().find(std::string("X-Api-Key: Key ") + kAmpKey),
            std::string::npos);
  // A masked text frame "hello", then a 256 KiB binary frame's worth of
  // bytes: after the 101 the proxy relays bytes both ways, unparsed.
  const std::string frame = std::string("\x81\x85\x37\xfa\x21\x3d", 6) + "\x7f\x9f\x4d\x51\x58";
  const std::string bulk = patternBytes(7, 256 * 1024);
  for (const std::string& msg : {frame, bulk}) {
    ASSERT_OK(c.send(msg));
    std::string echoed;
    while (echoed.size() < msg.size()) {
      ASSERT_OK_AND_ASSIGN(auto piece, c.readSome(msg.size() - echoed.size()));
      echoed += piece;
    }
    EXPECT_EQ(echoed, msg);
  }
}

TEST_F(MitmTransfer, TenThousandKeepAliveRequestsOnOneConnection) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  const std::string request =
      c.request("GET", "/small", std::string("Authorization: Bearer ") + kPlaceholder + "\r\n");
  const std::string body = patternBytes(0, kSmallBodySize);
  constexpr int kRequests = 10'000;
  const auto deadline = Clock::now() + std::chrono::minutes(3);  // a bound, not a measurement
  int ok = 0;
  for (int i = 0; i < kRequests && Clock::now() < deadline; ++i) {
    ASSERT_OK(c.send(request));
    ASSERT_OK_AND_ASSIGN(auto resp, c.readResponse());
    ASSERT_EQ(resp.status, 200) << "request " << i;
    ASSERT_EQ(resp.body, body) << "request " << i;
    ++ok;
  }
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(origin_->requestsServed(), static_cast<size_t>(kRequests));
  // One client connection and one upstream connection carried them all.
  EXPECT_EQ(origin_->connectionsAccepted(), 1u);
  EXPECT_EQ(proxy_->metric("kitgate_connections_accepted_total"), 1.0);
  EXPECT_NE(origin_->lastRequestHead().find(std::string("Bearer ") + kCustomValue),
            std::string::npos);
}

}  // namespace
}  // namespace kitgate::testing
