// Graceful shutdown of the real proxy on SIGTERM: stop accepting, close idle
// connections, let active tunnels finish, force-close at the drain deadline,
// exit 0.
#include <signal.h>

#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

TEST(Shutdown, SigtermLetsActiveTunnelFinishThenExitsZero) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto echo, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions o = reachOrigin();
  o.limits = {{"drain_timeout_ms", 20000}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*echo)));
  ASSERT_TRUE(t.established());
  ASSERT_OK_AND_ASSIGN(auto idle, RawClient::connect(proxy->port()));
  ASSERT_OK(idle.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r, idle.readResponse());
  ASSERT_EQ(r.status, 200);

  ASSERT_OK(proxy->signal(SIGTERM));
  // New connections are refused once the listeners are closed.
  EXPECT_TRUE(waitUntil([&] { return !RawClient::connect(proxy->port()).isOk(); }, 10s));
  ASSERT_OK_AND_ASSIGN(auto ready, proxy->admin("GET", "/readyz"));
  EXPECT_EQ(ready.status, 503);
  // The idle keep-alive connection is closed right away.
  ASSERT_OK_AND_ASSIGN(std::string idle_rest, idle.readUntilClose());
  EXPECT_EQ(idle_rest, "");
  // The tunnel keeps working while the proxy drains.
  ASSERT_OK(t.client.send("still here"));
  ASSERT_OK_AND_ASSIGN(std::string back, t.client.readExactly(10));
  EXPECT_EQ(back, "still here");
  EXPECT_TRUE(proxy->running());
  // When it ends, the proxy exits 0 (well before the 20 s drain deadline).
  t.client.shutdownWrite();
  ASSERT_OK_AND_ASSIGN(std::string rest, t.client.readUntilClose());
  EXPECT_EQ(rest, "");
  auto exit = proxy->waitExit(15s);
  ASSERT_TRUE(exit.has_value()) << "proxy still running after its last tunnel ended";
  EXPECT_TRUE(exit->exited && exit->code == 0) << exit->toString();
  // Its log line was flushed before exit.
  auto lines = proxy->policyLog();
  bool found = false;
  for (const auto& j : lines) found = found || (j.value("type", "") == "connect" && j.value("bytes_up", 0) == 10);
  EXPECT_TRUE(found);
}

TEST(Shutdown, DrainDeadlineClosesRemainingTunnels) {
  ASSERT_OK_AND_ASSIGN(auto echo, OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions o = reachOrigin();
  o.limits = {{"drain_timeout_ms", 300}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*echo)));
  ASSERT_TRUE(t.established());
  ASSERT_OK(proxy->signal(SIGTERM));
  // The proxy closes the tunnel at the deadline (the client never does).
  ASSERT_OK(t.client.readUntilClose(15s).status());
  auto exit = proxy->waitExit(15s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->exited && exit->code == 0) << exit->toString();
}

TEST(Shutdown, SigtermWithNoConnectionsExitsZero) {
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto exit, proxy->stop());
  EXPECT_TRUE(exit.exited && exit.code == 0) << exit.toString();
}

}  // namespace
}  // namespace kitgate::testing
