// Upstream failures through the real proxy: refused (502), connect timeout
// (504), a non-HTTP upstream (502). Everything stays on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

// A TCP socket bound to 127.0.0.1 on a free port.
StatusOr<UniqueFd> bindLoopback(sockaddr_in* addr) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(addr), sizeof *addr) != 0) return Status::error("bind failed");
  socklen_t len = sizeof *addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(addr), &len);
  return fd;
}

// A loopback port that refuses connections: bound (so nobody else takes it)
// but not listening.
struct ClosedPort {
  UniqueFd fd;
  uint16_t port = 0;
};

StatusOr<ClosedPort> closedPort() {
  sockaddr_in a{};
  auto fd = bindLoopback(&a);
  if (!fd) return fd.status();
  return ClosedPort{std::move(fd.value()), ntohs(a.sin_port)};
}

// A loopback listener whose accept queue is full: further SYNs are dropped,
// so a connect to it hangs until the connector gives up.
struct FullBacklog {
  UniqueFd listener;
  std::vector<UniqueFd> fillers;
  uint16_t port = 0;
};

StatusOr<FullBacklog> fullBacklog() {
  FullBacklog b;
  sockaddr_in a{};
  auto fd = bindLoopback(&a);
  if (!fd) return fd.status();
  b.listener = std::move(fd.value());
  if (::listen(b.listener.get(), 0) != 0) return Status::error("listen failed");
  b.port = ntohs(a.sin_port);
  // Connect until one attempt does not complete within 200 ms: the queue is
  // full from then on (bounded: a handful of attempts).
  for (int i = 0; i < 16; ++i) {
    UniqueFd filler(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ::connect(filler.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    pollfd p{filler.get(), POLLOUT, 0};
    int r = ::poll(&p, 1, 200);
    b.fillers.push_back(std::move(filler));
    if (r == 0) return b;
  }
  return Status::error("the accept queue never filled up");
}

ProxyOptions allowLoopback() {
  ProxyOptions o;
  o.allow = {"origin.test", "127.0.0.1/32"};
  o.dns_hosts = {{"origin.test", "127.0.0.1"}};
  return o;
}

TEST(Upstream, RefusedConnectionAnswered502) {
  ASSERT_OK_AND_ASSIGN(auto closed, closedPort());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(allowLoopback()));
  const std::string target = "origin.test:" + std::to_string(closed.port);
  for (bool connect : {true, false}) {
    SCOPED_TRACE(connect ? "CONNECT" : "GET");
    std::string req = connect ? "CONNECT " + target + " HTTP/1.1\r\n\r\n"
                              : "GET http://" + target + "/ HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
    ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), req));
    EXPECT_EQ(r.status, 502);
    EXPECT_NE(r.body.find("refused"), std::string::npos) << r.body;
    auto line = proxy->waitForLog(logLine("origin.test", 502, connect ? "connect" : "http"));
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ((*line)["address"], "127.0.0.1");
  }
  EXPECT_EQ(proxy->metric("kitgate_upstream_errors_total{kind=\"connect\"}"), 2.0);
}

TEST(Upstream, ConnectTimeoutAnswered504) {
  ASSERT_OK_AND_ASSIGN(auto full, fullBacklog());
  ProxyOptions o = allowLoopback();
  o.limits = {{"connect_timeout_ms", 300}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "CONNECT origin.test:" + std::to_string(full.port) +
                                                              " HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("timed out"), std::string::npos) << r.body;
  EXPECT_TRUE(proxy->waitForLog(logLine("origin.test", 504, "connect")).has_value());
  EXPECT_EQ(proxy->metric("kitgate_limit_hits_total{limit=\"connect_timeout\"}"), 1.0);
}

TEST(Upstream, NonHttpUpstreamAnswered502) {
  // An echo server answers a request with the request: not a response.
  ASSERT_OK_AND_ASSIGN(auto echo, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(allowLoopback()));
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), absoluteGet(*echo, "/small")));
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("invalid response"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace kitgate::testing
