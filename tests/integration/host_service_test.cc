// Host services on the forward proxy (kit-spec §4.1): a sandbox reaches a
// host loopback port as host.docker.internal:PORT (or localhost:PORT, or the
// gateway address) exactly while a rule localhost:PORT or
// host.docker.internal:PORT allows it — never through `**`, never on one of
// the proxy's own ports. The origins listen on 127.0.0.1 only, like a local
// model runner; the "gateway" is 127.0.0.9 (the proxy's DNS listens there),
// so reaching an origin through it shows the connection went to loopback.
// The transparent path is in transparent_test.cc (network namespace, root).
#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

constexpr const char* kGateway = "127.0.0.9";

ProxyOptions hostServices(std::vector<std::string> allow) {
  ProxyOptions o;
  o.allow = std::move(allow);
  o.extra_yaml = std::string("dns_listen: ") + kGateway + ":0\n";
  return o;
}

std::string rulePort(const char* name, uint16_t port) {
  return std::string(name) + ":" + std::to_string(port);
}

// A CONNECT to `target` through the echo origin: the bytes come back.
void expectEchoThrough(uint16_t proxy_port, const std::string& target) {
  SCOPED_TRACE(target);
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_port, target));
  ASSERT_TRUE(t.established()) << t.response.status << " " << t.response.body;
  ASSERT_OK(t.client.send("model?"));
  ASSERT_OK_AND_ASSIGN(std::string back, t.client.readExactly(6));
  EXPECT_EQ(back, "model?");
}

auto hostServiceLine(uint16_t port, const std::string& decision, const std::string& type) {
  return [=](const nlohmann::json& j) {
    return j.value("event", "") != "open" && j.value("host", "") == "localhost" &&
           j.value("port", 0) == port && j.value("decision", "") == decision &&
           j.value("type", "") == type;
  };
}

TEST(HostService, EitherSpellingOfTheRuleOpensThatHostPortToConnectAndForward) {
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ASSERT_OK_AND_ASSIGN(auto http, OriginServer::start());
  for (const char* rule_name : {"localhost", "host.docker.internal"}) {
    SCOPED_TRACE(rule_name);
    ASSERT_OK_AND_ASSIGN(
        auto proxy, ProxyProcess::start(hostServices(
                        {rulePort(rule_name, echo->port()), rulePort(rule_name, http->port())})));
    for (const char* target : {"host.docker.internal", "localhost", kGateway}) {
      expectEchoThrough(proxy->port(), rulePort(target, echo->port()));
    }
    auto line = proxy->waitForLog(hostServiceLine(echo->port(), "allowed", "connect"));
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ((*line)["address"], "127.0.0.1");
    EXPECT_EQ((*line)["rule"], rulePort(rule_name, echo->port()));

    // A full URL: forwarded to the host's loopback, Host naming localhost.
    const std::string auth = rulePort("host.docker.internal", http->port());
    ASSERT_OK_AND_ASSIGN(
        auto r, requestOnce(proxy->port(), "GET http://" + auth +
                                               "/small HTTP/1.1\r\nHost: " + auth + "\r\n\r\n"));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(http->lastRequestHead().find("Host: localhost:" + std::to_string(http->port())),
              std::string::npos)
        << http->lastRequestHead();
    EXPECT_TRUE(proxy->waitForLog(hostServiceLine(http->port(), "allowed", "http")).has_value());
  }
}

TEST(HostService, WithoutItsOwnRuleTheHostPortIsRefusedAndLogged) {
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  // `**`, wildcards, portless and other-port rules never open a host port;
  // an address rule for loopback does not make the name a host service.
  const std::vector<std::vector<std::string>> policies = {
      {"**"},          {"localhost"},
      {"localhost:*"}, {"*.docker.internal:" + std::to_string(echo->port())},
      {"localhost:1"}, {}};
  for (const auto& allow : policies) {
    SCOPED_TRACE(allow.empty() ? "no rule" : allow.front());
    ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(hostServices(allow)));
    for (const char* target : {"host.docker.internal", "localhost", kGateway}) {
      SCOPED_TRACE(target);
      ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), rulePort(target, echo->port())));
      EXPECT_EQ(t.response.status, 403);
    }
    auto line = proxy->waitForLog(hostServiceLine(echo->port(), "blocked", "connect"));
    ASSERT_TRUE(line.has_value());
    if (allow.empty() || allow.front() != "localhost:1") continue;
    EXPECT_NE((*line)["reason"].get<std::string>().find("needs its own rule localhost:" +
                                                        std::to_string(echo->port())),
              std::string::npos)
        << (*line)["reason"];
  }
  EXPECT_EQ(echo->connectionsAccepted(), 0u);
}

TEST(HostService, TheProxysOwnPortsAreNeverAHostService) {
  ProxyOptions o = hostServices({});
  o.extra_yaml += "transparent_listen: 127.0.0.1:0\n";
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const std::string ready = readFile(proxy->dir() + "/ready");
  const size_t at = ready.find(std::string("dns=") + kGateway + ":");
  ASSERT_NE(at, std::string::npos) << ready;
  const auto dns_port = static_cast<uint16_t>(std::stoi(ready.substr(at + 14)));
  const std::vector<uint16_t> own = {proxy->port(), proxy->metricsPort(), proxy->adminPort(),
                                     proxy->transparentPort(), dns_port};
  // Rules naming every one of them, in both spellings.
  ProxyOptions next = o;
  for (uint16_t port : own) {
    ASSERT_NE(port, 0);
    next.allow.push_back(rulePort("localhost", port));
    next.allow.push_back(rulePort("host.docker.internal", port));
  }
  ASSERT_OK(proxy->rewriteConfig(next));
  ASSERT_OK_AND_ASSIGN(auto reload, proxy->reloadViaAdmin());
  ASSERT_EQ(reload.status, 200) << reload.body;
  for (uint16_t port : own) {
    SCOPED_TRACE(port);
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy->port(), rulePort("host.docker.internal", port)));
    EXPECT_EQ(t.response.status, 403) << t.response.body;
    EXPECT_NE(t.response.body.find("proxy's own ports"), std::string::npos) << t.response.body;
  }
}

TEST(HostService, AReloadWithoutTheRuleClosesItsTunnelsAndRefusesNewOnes) {
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", nullptr}));
  ProxyOptions with = hostServices({rulePort("localhost", echo->port())});
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(with));
  ASSERT_OK_AND_ASSIGN(auto t,
                       openTunnel(proxy->port(), rulePort("host.docker.internal", echo->port())));
  ASSERT_TRUE(t.established());
  // An unrelated reload keeps the tunnel (the decision is made again, the
  // same way).
  ProxyOptions unrelated = with;
  unrelated.allow.push_back("example.com");
  ASSERT_OK(proxy->rewriteConfig(unrelated));
  ASSERT_OK_AND_ASSIGN(auto r1, proxy->reloadViaAdmin());
  ASSERT_EQ(r1.status, 200);
  ASSERT_OK(t.client.send("still"));
  ASSERT_OK_AND_ASSIGN(std::string still, t.client.readExactly(5));
  EXPECT_EQ(still, "still");

  ASSERT_OK(proxy->rewriteConfig(hostServices({"**"})));
  ASSERT_OK_AND_ASSIGN(auto r2, proxy->reloadViaAdmin());
  ASSERT_EQ(r2.status, 200);
  auto rest = t.client.readUntilClose();
  EXPECT_TRUE(!rest.isOk() || rest->empty());
  ASSERT_OK_AND_ASSIGN(auto again,
                       openTunnel(proxy->port(), rulePort("host.docker.internal", echo->port())));
  EXPECT_EQ(again.response.status, 403);
  EXPECT_EQ(echo->connectionsAccepted(), 1u);
}

}  // namespace
}  // namespace kitgate::testing
