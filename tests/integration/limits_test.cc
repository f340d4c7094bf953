// Limits of the real proxy: slowloris (408), oversize heads and too many
// headers (431), max_connections (503), idle keep-alive close.
#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

// Trickles a head one byte at a time, each byte only after the proxy stayed
// silent for 100 ms, until it answers (bounded: 20 s). Returns the bytes sent.
size_t trickle(RawClient& c, const std::string& head) {
  size_t sent = 0;
  const auto started = Clock::now();
  while (sent < head.size() && Clock::now() - started < 20s) {
    if (!c.send(head.substr(sent, 1)).isOk()) break;
    ++sent;
    if (c.readableWithin(100ms)) break;
  }
  return sent;
}

TEST(Limits, SlowHeadAnswered408AndClosed) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.limits = {{"head_timeout_ms", 500}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  const std::string head =
      absoluteGet(*origin, "/small", "X-Padding: " + std::string(200, 'p') + "\r\n");
  const size_t sent = trickle(c, head);
  ASSERT_LT(sent, head.size()) << "the proxy waited for the whole trickled head";
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.header("Connection"), "close");
  ASSERT_OK_AND_ASSIGN(std::string rest, c.readUntilClose());
  EXPECT_EQ(rest, "");
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
  EXPECT_TRUE(proxy->waitForLog([](const nlohmann::json& j) { return j.value("status", 0) == 408; })
                  .has_value());
  EXPECT_EQ(proxy->metric("kitgate_limit_hits_total{limit=\"head_timeout\"}"), 1.0);
}

// After a keep-alive exchange the connection idles on the (long) idle
// timeout; once the next head's first byte arrives, the head timeout rules
// again — a dripped second head cannot hold the connection for the idle time.
TEST(Limits, SlowSecondHeadOnAKeepAliveConnectionAnswered408) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.limits = {{"head_timeout_ms", 500}, {"idle_timeout_ms", 300000}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto first, c.readResponse());
  ASSERT_EQ(first.status, 200);
  const std::string head =
      absoluteGet(*origin, "/small", "X-Padding: " + std::string(200, 'p') + "\r\n");
  const size_t sent = trickle(c, head);
  ASSERT_LT(sent, head.size()) << "the proxy waited for the whole trickled second head";
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(origin->requestsServed(), 1u);
}

// max_connection_duration: a busy tunnel and an idle keep-alive connection
// are both closed once it is reached (activity does not extend it).
TEST(Limits, MaxConnectionDurationClosesTunnelsAndKeepAliveConnections) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions o = reachOrigin();
  o.limits = {{"max_connection_duration_ms", 400}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*echo)));
  ASSERT_TRUE(t.established());
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  ASSERT_EQ(r.status, 200);
  // Keep the tunnel busy until the proxy ends it (bounded).
  bool closed = false;
  for (int i = 0; i < 400 && !closed; ++i) {  // at most ~20 s: 50 ms per round
    if (!t.client.send("ping").isOk() || !t.client.readExactly(4, 2s).isOk()) {
      closed = true;
    } else if (t.client.readableWithin(50ms)) {  // nothing is due: readable = closed
      closed = !t.client.readExactly(1, 1s).isOk();
    }
  }
  EXPECT_TRUE(closed) << "the tunnel outlived max_connection_duration";
  ASSERT_OK_AND_ASSIGN(std::string rest, c.readUntilClose());
  EXPECT_EQ(rest, "");
  EXPECT_TRUE(proxy
                  ->waitForLog([](const nlohmann::json& j) {
                    return j.value("reason", "").find("max_connection_duration") !=
                           std::string::npos;
                  })
                  .has_value());
}

// Out of file descriptors: the proxy pauses accepting instead of spinning on
// a listener that stays readable, and serves again once descriptors free up.
TEST(Limits, OutOfDescriptorsPausesAcceptingInsteadOfSpinning) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizer runtimes need descriptors of their own (UBSan's vptr check
  // probes memory through a pipe and reports every virtual call as invalid
  // once none is left): descriptor exhaustion is tested in the plain build.
  GTEST_SKIP() << "descriptor exhaustion is not testable under the sanitizer runtimes";
#endif
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto warm, requestOnce(proxy->port(), absoluteGet(*origin, "/small")));
  ASSERT_EQ(warm.status, 200);
  // Leave the proxy a few descriptors above what it has open now.
  const size_t open_fds = countOpenFds(proxy->pid());
  ASSERT_GT(open_fds, 0u);
  rlimit original{};
  ASSERT_EQ(::prlimit(proxy->pid(), RLIMIT_NOFILE, nullptr, &original), 0) << std::strerror(errno);
  const rlimit lim{open_fds + 4, original.rlim_max};  // the soft limit only
  ASSERT_EQ(::prlimit(proxy->pid(), RLIMIT_NOFILE, &lim, nullptr), 0) << std::strerror(errno);
  std::vector<RawClient> clients;
  for (int i = 0; i < 40; ++i) {
    auto c = RawClient::connect(proxy->port());
    ASSERT_TRUE(c.isOk());
    clients.push_back(std::move(*c));
  }
  // One second with the backlog non-empty and no descriptor to accept into.
  const double cpu_before = processCpuSeconds(proxy->pid());
  clients.back().readableWithin(1000ms);  // nothing arrives: a bounded wait
  const double cpu = processCpuSeconds(proxy->pid()) - cpu_before;
  RecordProperty("proxy_cpu_seconds_in_1s", std::to_string(cpu));
  EXPECT_LT(cpu, 0.5) << "the workers spun on EMFILE";
  clients.clear();
  ASSERT_EQ(::prlimit(proxy->pid(), RLIMIT_NOFILE, &original, nullptr), 0) << std::strerror(errno);
  ASSERT_TRUE(waitUntil(
      [&] {
        auto r = requestOnce(proxy->port(), absoluteGet(*origin, "/small"));
        return r.isOk() && r->status == 200;
      },
      10s))
      << "the proxy did not accept again; its stderr:\n"
      << proxy->stderrText();
}

TEST(Limits, ConnectionThatSendsNothingGets408) {
  ProxyOptions o = reachOrigin();
  o.limits = {{"head_timeout_ms", 300}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 408);
}

TEST(Limits, OversizeHeadAnswered431) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.limits = {{"max_head_bytes", 4096}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  // A complete head over the limit, and one that never ends.
  for (bool complete : {true, false}) {
    SCOPED_TRACE(complete ? "complete head" : "unterminated head");
    std::string req = absoluteGet(*origin, "/small", "X-Big: " + std::string(5000, 'b') + "\r\n");
    if (!complete) req.resize(req.size() - 2);
    ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), req));
    EXPECT_EQ(r.status, 431);
  }
  // Just under the limit is fine.
  ASSERT_OK_AND_ASSIGN(
      auto ok,
      requestOnce(proxy->port(),
                  absoluteGet(*origin, "/small", "X-Big: " + std::string(3000, 'b') + "\r\n")));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(origin->requestsServed(), 1u);
}

TEST(Limits, TooManyHeadersAnswered431) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.limits = {{"max_headers", 10}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  std::string many;
  for (int i = 0; i < 20; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), absoluteGet(*origin, "/small", many)));
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
}

TEST(Limits, MaxConnectionsAnswered503ThenRecovers) {
  ASSERT_OK_AND_ASSIGN(auto origin,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions o = reachOrigin();
  o.limits = {{"max_connections", 2}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  // Two established tunnels are certainly counted.
  ASSERT_OK_AND_ASSIGN(auto t1, openTunnel(proxy->port(), originAuthority(*origin)));
  ASSERT_OK_AND_ASSIGN(auto t2, openTunnel(proxy->port(), originAuthority(*origin)));
  ASSERT_TRUE(t1.established() && t2.established());
  ASSERT_OK_AND_ASSIGN(auto third, openTunnel(proxy->port(), originAuthority(*origin)));
  EXPECT_EQ(third.response.status, 503);
  EXPECT_NE(third.response.body.find("max_connections"), std::string::npos) << third.response.body;
  // Close one tunnel: a new connection is accepted again once the proxy has
  // noticed (bounded wait, new attempt each time). A refused attempt must not
  // keep holding a slot after its client has gone.
  t1.client.shutdownWrite();
  ASSERT_OK(t1.client.readUntilClose().status());
  bool recovered = waitUntil(
      [&] {
        auto t = openTunnel(proxy->port(), originAuthority(*origin));
        return t.isOk() && t->established();
      },
      5s);
  EXPECT_TRUE(recovered);
  EXPECT_GE(proxy->metric("kitgate_limit_hits_total{limit=\"max_connections\"}").value_or(0), 1.0);
}

// Connects from `source` and waits until the proxy has accepted the
// connection (the two workers accept in no particular order; budgets are
// taken in accept order).
StatusOr<RawClient> connectAccepted(ProxyProcess& proxy, const std::string& source) {
  const double before = proxy.metric("kitgate_connections_accepted_total").value_or(0);
  auto c = RawClient::connectFrom(source, proxy.port());
  if (!c.isOk()) return c;
  if (!waitUntil(
          [&] { return proxy.metric("kitgate_connections_accepted_total").value_or(0) > before; },
          5s))
    return Status::error("the proxy did not accept the connection");
  return c;
}

// Idle sockets that never send a request (not identified yet) come out of
// their own budget, per source address: one client holding dozens of them
// neither takes the identified clients' slots nor the other addresses'.
TEST(Limits, UnidentifiedSocketsFromOneAddressCannotStarveTheOthers) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.limits = {{"max_connections", 4}, {"max_unidentified_per_source", 8}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  std::vector<RawClient> idle;
  int refused = 0;
  for (int i = 0; i < 30; ++i) {
    ASSERT_OK_AND_ASSIGN(auto c, connectAccepted(*proxy, "127.0.0.2"));
    if (i >= 8) {  // beyond the per-address budget: answered at once, closed
      ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
      EXPECT_EQ(r.status, 503);
      EXPECT_NE(r.body.find("from this address"), std::string::npos) << r.body;
      ++refused;
      continue;
    }
    idle.push_back(std::move(c));
  }
  EXPECT_EQ(refused, 22);
  // Everybody else is served, from another address and from the same one
  // once it sends a request.
  for (const char* from : {"127.0.0.1", "127.0.0.3"}) {
    ASSERT_OK_AND_ASSIGN(auto c, RawClient::connectFrom(from, proxy->port()));
    ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    EXPECT_EQ(r.status, 200) << from;
  }
  ASSERT_OK(idle[0].send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r, idle[0].readResponse());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(proxy->metric("kitgate_limit_hits_total{limit=\"max_unidentified_per_source\"}"), 22.0);
  EXPECT_EQ(proxy->metric("kitgate_limit_hits_total{limit=\"max_connections\"}").value_or(0), 0.0);
}

TEST(Limits, UnidentifiedConnectionsInTotalHaveABudgetApartFromIdentifiedOnes) {
  ASSERT_OK_AND_ASSIGN(auto origin,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions o = reachOrigin();
  o.limits = {{"max_connections", 4}, {"max_unidentified", 6}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto tunnel, openTunnel(proxy->port(), originAuthority(*origin)));
  ASSERT_TRUE(tunnel.established());
  std::vector<RawClient> idle;
  for (int i = 0; i < 6; ++i) {
    ASSERT_OK_AND_ASSIGN(auto c, connectAccepted(*proxy, "127.0.0." + std::to_string(10 + i)));
    idle.push_back(std::move(c));
  }
  // The 7th unidentified connection, from yet another address, is refused ...
  ASSERT_OK_AND_ASSIGN(auto seventh, RawClient::connectFrom("127.0.0.20", proxy->port()));
  ASSERT_OK_AND_ASSIGN(auto r, seventh.readResponse());
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("not sent a request yet"), std::string::npos) << r.body;
  // ... while the identified tunnel keeps relaying.
  ASSERT_OK(tunnel.client.send("ping"));
  ASSERT_OK_AND_ASSIGN(auto echoed, tunnel.client.readExactly(4));
  EXPECT_EQ(echoed, "ping");
  EXPECT_EQ(proxy->metric("kitgate_limit_hits_total{limit=\"max_unidentified\"}"), 1.0);
}

// Overload actions on all open connections against max_connections +
// max_unidentified: idle keep-alive connections are shed first, then the
// listeners stop accepting (connections wait in the backlog, no 503) until
// the level is lower again.
TEST(Limits, OverloadShedsIdleKeepAliveConnectionsThenStopsAccepting) {
  ASSERT_OK_AND_ASSIGN(auto origin,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto web, OriginServer::start());
  ProxyOptions o = reachOrigin();
  // Capacity 20: shed idle from 8 open connections, stop accepting at 15.
  o.limits = {{"max_connections", 10},
              {"max_unidentified", 10},
              {"overload_shed_idle_percent", 40},
              {"overload_stop_accepting_percent", 75}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  std::vector<RawClient> keep_alive;
  for (int i = 0; i < 8; ++i) {
    ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
    ASSERT_OK(c.send(absoluteGet(*web, "/small")));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    ASSERT_EQ(r.status, 200);
    keep_alive.push_back(std::move(c));
  }
  {
    // The next connection finds 8 of 20 open: the idle ones are closed.
    ASSERT_OK_AND_ASSIGN(auto ninth, RawClient::connect(proxy->port()));
    for (size_t i = 0; i < keep_alive.size(); ++i)
      EXPECT_TRUE(keep_alive[i].readUntilClose().isOk()) << i;
    EXPECT_GE(proxy->metric("kitgate_overload_actions_total{action=\"shed_idle\"}").value_or(0),
              7.0);
    ASSERT_OK(ninth.send(absoluteGet(*web, "/small")));
    ASSERT_OK_AND_ASSIGN(auto ninth_r, ninth.readResponse());
    EXPECT_EQ(ninth_r.status, 200);
  }
  keep_alive.clear();

  // Busy connections are never shed: fill to 15 with tunnels and idle
  // unidentified sockets, then a new client waits instead of being refused.
  std::vector<Tunnel> tunnels;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*origin)));
    ASSERT_TRUE(t.established()) << i;
    tunnels.push_back(std::move(t));
  }
  std::vector<RawClient> silent;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(auto c, connectAccepted(*proxy, "127.0.0.3"));
    silent.push_back(std::move(c));
  }
  ASSERT_OK_AND_ASSIGN(auto waiting, RawClient::connect(proxy->port()));
  ASSERT_OK(waiting.send(absoluteGet(*web, "/small")));
  ASSERT_TRUE(waitUntil(
      [&] {
        return proxy->metric("kitgate_overload_actions_total{action=\"stop_accepting\"}")
                   .value_or(0) >= 1;
      },
      5s));
  for (Tunnel& t : tunnels) {  // every tunnel still relays
    ASSERT_OK(t.client.send("x"));
    ASSERT_OK_AND_ASSIGN(auto back, t.client.readExactly(1));
    EXPECT_EQ(back, "x");
  }
  // The level falls: accepting resumes, the waiting client is served.
  tunnels.pop_back();
  silent.clear();
  ASSERT_OK_AND_ASSIGN(auto r, waiting.readResponse(10s));
  EXPECT_EQ(r.status, 200);
}

TEST(Limits, IdleKeepAliveConnectionClosed) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o = reachOrigin();
  o.limits = {{"idle_timeout_ms", 300}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  ASSERT_OK(c.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  EXPECT_EQ(r.status, 200);
  ASSERT_OK_AND_ASSIGN(std::string rest, c.readUntilClose(10s));
  EXPECT_EQ(rest, "");
}

}  // namespace
}  // namespace kitgate::testing
