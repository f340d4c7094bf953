// The proxy's memory is bounded by its configuration in every state of a
// connection, whatever a sandbox pushes: for each state, one side pushes up
// to kCap bytes while the other side (or the step the proxy waits for)
// stalls, and the proxy must stop taking bytes — the pusher stalls after at
// most kMaxAccepted (the kernel's socket buffers and one splice pipe on the
// way, not the proxy's heap), and the proxy's peak resident memory grows by
// less than kMaxGrowthKib (checked where resident memory means something:
// not under ASan).
//
// States: request head (never ending), connecting (the upstream's backlog is
// full: connect pending), plain forward request body (upstream never reads),
// plain forward response (client never reads), tunnel up (upstream never
// reads), tunnel down (client never reads). The intercepted states (both
// handshakes, inner exchanges, WebSocket) are covered in mitm_transfer_test.cc
// (upstream handshake stalled, 1 GiB each way with a bound).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

constexpr size_t kCap = 1ull << 30;           // 1 GiB offered per state
constexpr size_t kMaxAccepted = 96ull << 20;  // what may sit in buffers on the way
constexpr long kMaxGrowthKib = 32 * 1024;     // the proxy's own share of it

// Writes `fd` full (non-blocking) until nothing moves for 300 ms or `cap`
// bytes went out; returns how many went out.
size_t pushUntilStalled(int fd, size_t cap) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  static const std::string block(256 * 1024, 'm');
  size_t sent = 0;
  while (sent < cap) {
    ssize_t n = ::send(fd, block.data(), std::min(block.size(), cap - sent), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) break;  // the proxy closed: fine
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 300) <= 0) break;
  }
  return sent;
}

// A loopback listener; `backlog_full` fills its accept queue so the next
// connect to it stays pending.
struct Listener {
  UniqueFd fd;
  uint16_t port = 0;
  std::vector<UniqueFd> fillers;
  static Listener open(bool backlog_full) {
    Listener l;
    l.fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(l.fd.get(), backlog_full ? 0 : 16);
    ::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    l.port = ntohs(addr.sin_port);
    for (int i = 0; backlog_full && i < 4; ++i) {
      UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      ::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      l.fillers.push_back(std::move(c));
    }
    return l;
  }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port); }
};

class MemoryBound : public ::testing::Test {
 protected:
  void SetUp() override {
    ProxyOptions o = reachOrigin();
    o.limits = {
        {"connect_timeout_ms", 60000}, {"idle_timeout_ms", 60000}, {"head_timeout_ms", 60000}};
    auto proxy = ProxyProcess::start(o);
    ASSERT_TRUE(proxy.isOk()) << proxy.status().message();
    proxy_ = std::move(proxy.value());
    before_kib_ = procStatusKib(proxy_->pid(), "VmRSS");
  }
  void expectBounded(size_t accepted, const char* state) {
    EXPECT_LT(accepted, kMaxAccepted) << state << ": the proxy kept taking bytes";
    const long growth = procStatusKib(proxy_->pid(), "VmHWM") - before_kib_;
    RecordProperty(std::string("peak_growth_kib_") + state, std::to_string(growth));
    if (kRssIsMeaningful) {
      EXPECT_LT(growth, kMaxGrowthKib) << state;
    }
  }
  std::unique_ptr<ProxyProcess> proxy_;
  long before_kib_ = 0;
};

TEST_F(MemoryBound, RequestHeadThatNeverEnds) {
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy_->port()));
  const std::string start = "GET http://origin.test/ HTTP/1.1\r\nX-Long: ";
  ASSERT_OK(c.send(start));
  expectBounded(pushUntilStalled(c.fd(), kCap), "head");
}

TEST_F(MemoryBound, ConnectPendingWithBytesPipelinedBehindTheConnect) {
  Listener stuck = Listener::open(/*backlog_full=*/true);
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy_->port()));
  ASSERT_OK(c.send("CONNECT " + stuck.authority() + " HTTP/1.1\r\nHost: " + stuck.authority() +
                   "\r\n\r\n"));
  expectBounded(pushUntilStalled(c.fd(), kCap), "connecting");
}

TEST_F(MemoryBound, ForwardRequestBodyToAnUpstreamThatNeverReads) {
  Listener sink = Listener::open(/*backlog_full=*/false);
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy_->port()));
  ASSERT_OK(c.send("POST http://" + sink.authority() + "/upload HTTP/1.1\r\nHost: " +
                   sink.authority() + "\r\nContent-Length: " + std::to_string(kCap) + "\r\n\r\n"));
  expectBounded(pushUntilStalled(c.fd(), kCap), "forward-request-body");
}

TEST_F(MemoryBound, TunnelToAnUpstreamThatNeverReads) {
  Listener sink = Listener::open(/*backlog_full=*/false);
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), sink.authority()));
  ASSERT_TRUE(t.established()) << t.response.head;
  expectBounded(pushUntilStalled(t.client.fd(), kCap), "tunnel-up");
}

// The upstream pushes; the sandbox reads nothing.
class UpstreamPusher {
 public:
  UpstreamPusher() : listener_(Listener::open(false)) {
    thread_ = std::thread([this] {
      UniqueFd fd(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!fd.valid()) return;
      if (http_) {  // answer the forwarded request with a huge body
        char buf[4096];
        ::recv(fd.get(), buf, sizeof buf, 0);
        const std::string head =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kCap) + "\r\n\r\n";
        ::send(fd.get(), head.data(), head.size(), MSG_NOSIGNAL);
      }
      pushed_ = pushUntilStalled(fd.get(), kCap);
      done_ = true;
      while (!stop_) std::this_thread::yield();
    });
  }
  ~UpstreamPusher() {
    stop_ = true;
    ::shutdown(listener_.fd.get(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
  }
  void http() { http_ = true; }
  bool done() const { return done_; }
  size_t pushed() const { return pushed_; }
  std::string authority() const { return listener_.authority(); }

 private:
  Listener listener_;
  std::atomic<bool> http_{false}, done_{false}, stop_{false};
  std::atomic<size_t> pushed_{0};
  std::thread thread_;
};

TEST_F(MemoryBound, TunnelToASandboxThatNeverReads) {
  UpstreamPusher up;
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), up.authority()));
  ASSERT_TRUE(t.established()) << t.response.head;
  ASSERT_TRUE(waitUntil([&] { return up.done(); }, 120s));
  expectBounded(up.pushed(), "tunnel-down");
}

TEST_F(MemoryBound, ForwardResponseToASandboxThatNeverReads) {
  UpstreamPusher up;
  up.http();
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy_->port()));
  ASSERT_OK(c.send("GET http://" + up.authority() + "/big HTTP/1.1\r\nHost: " + up.authority() +
                   "\r\n\r\n"));
  ASSERT_TRUE(waitUntil([&] { return up.done(); }, 120s));
  expectBounded(up.pushed(), "forward-response");
}

}  // namespace
}  // namespace kitgate::testing
