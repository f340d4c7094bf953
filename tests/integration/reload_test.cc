// Reload of the real proxy (POST /reload and SIGHUP): new and live
// connections get the new policy (a tunnel or sandbox it revokes is closed),
// an invalid state file is refused
// with file:line:column and the old policy stays, and tunnels survive a
// stream of reloads.
#include <signal.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

constexpr const char* kDev1Token = "kgt_dev1_0123456789abcdef";
constexpr const char* kDev2Token = "kgt_dev2_fedcba9876543210";

std::string sandboxFile(const std::string& name, const std::string& token,
                        const std::string& allow_yaml) {
  return "name: " + name + "\nmatch:\n  token: \"" + token + "\"\nallow:\n" + allow_yaml;
}

const char* kAllowOrigin = "  - \"origin.test\"\n  - \"127.0.0.1/32\"\n";

// Multi-tenant with one sandbox, dev1, allowed to reach the origin.
ProxyOptions onlyDev1() {
  ProxyOptions o;
  o.dns_hosts = {{"origin.test", "127.0.0.1"}};
  o.state_files["sandboxes/dev1.yaml"] = sandboxFile("dev1", kDev1Token, kAllowOrigin);
  return o;
}

TEST(Reload, AdminReloadAppliesToLiveKeepAliveConnectionsToo) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto old_conn, RawClient::connect(proxy->port()));
  ASSERT_OK(old_conn.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r0, old_conn.readResponse());
  ASSERT_EQ(r0.status, 200);

  ProxyOptions next = reachOrigin();
  next.deny = {"origin.test"};
  ASSERT_OK(proxy->rewriteConfig(next));
  ASSERT_OK_AND_ASSIGN(auto reload, proxy->reloadViaAdmin());
  EXPECT_EQ(reload.status, 200) << reload.body;
  EXPECT_EQ(proxy->metric("kitgate_reloads_total{result=\"ok\"}"), 1.0);

  ASSERT_OK_AND_ASSIGN(auto r1, requestOnce(proxy->port(), absoluteGet(*origin, "/small")));
  EXPECT_EQ(r1.status, 403);
  EXPECT_NE(r1.body.find("blocked by deny rule \"origin.test\""), std::string::npos) << r1.body;
  // The connection opened before the reload is decided on the new policy too.
  ASSERT_OK(old_conn.send(absoluteGet(*origin, "/small")));
  ASSERT_OK_AND_ASSIGN(auto r2, old_conn.readResponse());
  EXPECT_EQ(r2.status, 403);
  EXPECT_EQ(origin->requestsServed(), 1u);
}

// A tunnel whose host a reload now denies is closed at once and logged.
TEST(Reload, TunnelToAHostNowDeniedIsClosed) {
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*echo)));
  ASSERT_TRUE(t.established());
  ASSERT_OK(t.client.send("before"));
  ASSERT_OK_AND_ASSIGN(std::string back, t.client.readExactly(6));
  ASSERT_EQ(back, "before");
  // An unrelated change keeps it.
  ProxyOptions unrelated = reachOrigin();
  unrelated.deny = {"unrelated.test"};
  ASSERT_OK(proxy->rewriteConfig(unrelated));
  ASSERT_TRUE(proxy->reloadViaAdmin().isOk());
  ASSERT_OK(t.client.send("still"));
  ASSERT_OK_AND_ASSIGN(std::string still, t.client.readExactly(5));
  ASSERT_EQ(still, "still");
  // Denying the host closes it; so does denying the address it is connected to.
  ProxyOptions next = reachOrigin();
  next.deny = {"origin.test"};
  ASSERT_OK(proxy->rewriteConfig(next));
  ASSERT_TRUE(proxy->reloadViaAdmin().isOk());
  ASSERT_OK_AND_ASSIGN(std::string rest, t.client.readUntilClose());
  EXPECT_EQ(rest, "");
  EXPECT_TRUE(proxy
                  ->waitForLog([](const nlohmann::json& j) {
                    return j.value("type", "") == "connect" &&
                           j.value("decision", "") == "blocked" &&
                           j.value("reason", "").find("closed by reload") != std::string::npos;
                  })
                  .has_value());

  ASSERT_OK(proxy->rewriteConfig(reachOrigin()));
  ASSERT_TRUE(proxy->reloadViaAdmin().isOk());
  ASSERT_OK_AND_ASSIGN(auto t2, openTunnel(proxy->port(), originAuthority(*echo)));
  ASSERT_TRUE(t2.established());
  ProxyOptions by_address = reachOrigin();
  by_address.deny = {"127.0.0.1/32"};
  ASSERT_OK(proxy->rewriteConfig(by_address));
  ASSERT_TRUE(proxy->reloadViaAdmin().isOk());
  ASSERT_OK_AND_ASSIGN(std::string rest2, t2.client.readUntilClose());
  EXPECT_EQ(rest2, "");
}

// Removing a sandbox closes its open connections (new ones get 407).
TEST(Reload, RemovedSandboxLosesItsOpenConnections) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(onlyDev1()));
  ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy->port()));
  const std::string auth = proxyBasicAuth("dev1", kDev1Token);
  ASSERT_OK(c.send(absoluteGet(*origin, "/small", auth)));
  ASSERT_OK_AND_ASSIGN(auto r0, c.readResponse());
  ASSERT_EQ(r0.status, 200);
  ASSERT_OK(
      proxy->writeStateFile("sandboxes/dev2.yaml", sandboxFile("dev2", kDev2Token, kAllowOrigin)));
  ASSERT_OK(proxy->removeStateFile("sandboxes/dev1.yaml"));
  ASSERT_OK(proxy->reloadViaSignal());
  ASSERT_OK_AND_ASSIGN(std::string rest, c.readUntilClose());
  EXPECT_EQ(rest, "");
  EXPECT_EQ(origin->requestsServed(), 1u);
}

TEST(Reload, SighupLoadsNewSandbox) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(onlyDev1()));
  const std::string dev2 = proxyBasicAuth("dev2", kDev2Token);
  ASSERT_OK_AND_ASSIGN(auto before,
                       requestOnce(proxy->port(), absoluteGet(*origin, "/small", dev2)));
  EXPECT_EQ(before.status, 407);

  ASSERT_OK(
      proxy->writeStateFile("sandboxes/dev2.yaml", sandboxFile("dev2", kDev2Token, kAllowOrigin)));
  ASSERT_OK(proxy->reloadViaSignal());
  ASSERT_OK_AND_ASSIGN(auto after,
                       requestOnce(proxy->port(), absoluteGet(*origin, "/small", dev2)));
  EXPECT_EQ(after.status, 200);
  auto line = proxy->waitForLog(logLine("origin.test", 200, "http"));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["sandbox"], "dev2");

  // Removing the file and reloading revokes the sandbox.
  ASSERT_OK(proxy->removeStateFile("sandboxes/dev2.yaml"));
  ASSERT_OK(proxy->reloadViaSignal());
  ASSERT_OK_AND_ASSIGN(auto revoked,
                       requestOnce(proxy->port(), absoluteGet(*origin, "/small", dev2)));
  EXPECT_EQ(revoked.status, 407);
}

TEST(Reload, InvalidStateFileRefusedWithLocationOldPolicyStays) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(onlyDev1()));
  // Line 6, column 10 (the stray wildcard): a "**" after the first label
  // is not a rule.
  ASSERT_OK(proxy->writeStateFile(
      "sandboxes/dev2.yaml",
      sandboxFile("dev2", kDev2Token, "  - \"origin.test\"\n  - \"api.**.example.com\"\n")));
  ASSERT_OK_AND_ASSIGN(auto reload, proxy->reloadViaAdmin());
  EXPECT_EQ(reload.status, 500);
  EXPECT_NE(reload.body.find("dev2.yaml:6:10: error"), std::string::npos) << reload.body;
  EXPECT_EQ(reload.body.find(kDev2Token), std::string::npos) << "token leaked into the error";
  EXPECT_EQ(proxy->metric("kitgate_reloads_total{result=\"error\"}"), 1.0);
  // SIGHUP with the same file fails the same way.
  EXPECT_FALSE(proxy->reloadViaSignal().isOk());

  // The old registry is still the active one: dev1 works, dev2 does not exist.
  ASSERT_OK_AND_ASSIGN(
      auto r1, requestOnce(proxy->port(),
                           absoluteGet(*origin, "/small", proxyBasicAuth("dev1", kDev1Token))));
  EXPECT_EQ(r1.status, 200);
  ASSERT_OK_AND_ASSIGN(
      auto r2, requestOnce(proxy->port(),
                           absoluteGet(*origin, "/small", proxyBasicAuth("dev2", kDev2Token))));
  EXPECT_EQ(r2.status, 407);
  EXPECT_TRUE(proxy->running());
}

TEST(Reload, InvalidProxyConfigRefusedOldPolicyStays) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  ProxyOptions bad = reachOrigin();
  bad.allow.push_back("*");  // bare * is refused by the grammar
  ASSERT_OK(proxy->rewriteConfig(bad));
  ASSERT_OK_AND_ASSIGN(auto reload, proxy->reloadViaAdmin());
  EXPECT_EQ(reload.status, 500);
  EXPECT_NE(reload.body.find("proxy.yaml:"), std::string::npos) << reload.body;
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), absoluteGet(*origin, "/small")));
  EXPECT_EQ(r.status, 200);
}

// Tunnels opened before a stream of reloads (admin and SIGHUP, alternating
// between two valid policies) keep working through all of them, and so do
// new tunnels and keep-alive forwarding running at the same time.
TEST(Reload, TunnelsSurviveReloadsUnderLoad) {
  constexpr int kTunnels = 6;
  constexpr int kReloads = 20;
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(reachOrigin()));
  std::vector<Tunnel> tunnels;
  for (int i = 0; i < kTunnels; ++i) {
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), originAuthority(*echo)));
    ASSERT_TRUE(t.established());
    tunnels.push_back(std::move(t));
  }

  // Background load: forward requests, on one keep-alive connection and on
  // fresh ones, until told to stop (bounded by count too).
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::thread load([&] {
    auto keep = RawClient::connect(proxy->port());
    for (int i = 0; i < 5000 && !stop.load(); ++i) {
      StatusOr<HttpResponse> r = Status::error("not sent");
      if (i % 2 == 0 && keep.isOk()) {
        Status st = keep->send(absoluteGet(*origin, "/small"));
        r = st.isOk() ? keep->readResponse() : StatusOr<HttpResponse>(st);
      } else {
        r = requestOnce(proxy->port(), absoluteGet(*origin, "/small"));
      }
      if (r.isOk() && r->status == 200 && r->body.size() == kSmallBodySize) {
        ok.fetch_add(1);
      } else {
        if (failed.fetch_add(1) == 0) first_failure = r.isOk() ? r->head : r.status().message();
      }
    }
  });

  ProxyOptions a = reachOrigin();
  ProxyOptions b = reachOrigin();
  b.deny = {"unrelated.test"};
  for (int i = 0; i < kReloads; ++i) {
    SCOPED_TRACE("reload " + std::to_string(i));
    ASSERT_OK(proxy->rewriteConfig(i % 2 == 0 ? b : a));
    if (i % 2 == 0) {
      ASSERT_OK_AND_ASSIGN(auto r, proxy->reloadViaAdmin());
      ASSERT_EQ(r.status, 200) << r.body;
    } else {
      ASSERT_OK(proxy->reloadViaSignal());
    }
    for (int k = 0; k < kTunnels; ++k) {
      const std::string msg = "reload-" + std::to_string(i) + "-tunnel-" + std::to_string(k);
      ASSERT_OK(tunnels[k].client.send(msg));
      ASSERT_OK_AND_ASSIGN(std::string back, tunnels[k].client.readExactly(msg.size()));
      ASSERT_EQ(back, msg);
    }
    ASSERT_OK_AND_ASSIGN(auto fresh, openTunnel(proxy->port(), originAuthority(*echo)));
    ASSERT_TRUE(fresh.established()) << fresh.response.head;
  }
  stop = true;
  load.join();
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(proxy->metric("kitgate_reloads_total{result=\"ok\"}"), static_cast<double>(kReloads));
  // Every original tunnel still closes cleanly.
  for (auto& t : tunnels) {
    t.client.shutdownWrite();
    ASSERT_OK_AND_ASSIGN(std::string rest, t.client.readUntilClose());
    EXPECT_EQ(rest, "");
  }
}

}  // namespace
}  // namespace kitgate::testing
