// The transparent path through the real kitgate-proxy binary.
//
// Each test runs in its own network namespace (one process per test, see
// kitgate_add_test): loopback up, a "public" address (93.184.216.34) added to
// lo so origins look like the internet to the address check, and a nat rule
// that sends every TCP connection from the sandbox's address (127.0.0.2) to
// the proxy's transparent listener — what the host rules of `kitgate run` do
// for a sandbox network. The proxy's own upstream connections leave from
// other addresses and are not redirected. Nothing leaves the namespace.
//
// Needs root (unshare, iptables); skipped otherwise.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/dns_wire.h"
#include "tests/support/origin_server.h"
#include "tests/support/proxy_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/subprocess.h"
#include "tests/support/tls_hello.h"

namespace kitgate::testing {
namespace {

constexpr const char* kPublic = "93.184.216.34";   // on lo, inside the test's namespace only
constexpr const char* kSandbox = "127.0.0.2";      // the sandbox's source address
constexpr const char* kStranger = "127.0.0.3";     // redirected too, but no sandbox has it
constexpr const char* kSandboxV6 = "fd00::2";      // the sandbox's IPv6 source
constexpr const char* kPublicV6 = "2001:4860::7";  // an IPv6 "internet" origin, on lo
constexpr const char* kBanner = "SSH-2.0-kitgate-origin\r\n";
constexpr const char* kGateway = "10.88.0.1";  // the sandbox network's gateway (DNS there)

// Runs a setup command (ip, iptables); its output goes to a scratch directory.
Status run(const std::vector<std::string>& argv) {
  static auto* scratch = new TempDir(std::move(TempDir::create("transparent-setup").value()));
  auto r = runProgram(argv, scratch->path() + "/cmd", std::chrono::seconds(20));
  if (!r) return r.status();
  if (r->timed_out || !r->status.exited || r->status.code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    return Status::error(cmd + "failed: " + r->err + r->out);
  }
  return Status::ok();
}

class TransparentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (a network namespace and iptables)";
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    ASSERT_TRUE(run({"ip", "link", "set", "lo", "up"}).isOk());
    Status st = run({"ip", "addr", "add", std::string(kPublic) + "/32", "dev", "lo"});
    ASSERT_TRUE(st.isOk()) << st.message();
    st = run({"ip", "addr", "add", std::string(kGateway) + "/32", "dev", "lo"});
    ASSERT_TRUE(st.isOk()) << st.message();

    OriginServer::Options banner;
    banner.mode = OriginServer::Mode::kEcho;
    banner.bind_address = kPublic;
    banner.banner = kBanner;  // an SSH-like origin: it speaks first, then echoes
    auto ssh = OriginServer::start(banner);
    ASSERT_TRUE(ssh.isOk()) << ssh.status().message();
    ssh_ = std::move(*ssh);
    OriginServer::Options echo;
    echo.mode = OriginServer::Mode::kEcho;
    echo.bind_address = kPublic;
    auto e = OriginServer::start(echo);
    ASSERT_TRUE(e.isOk()) << e.status().message();
    echo_ = std::move(*e);
    auto closed = OriginServer::start(echo);  // a port no rule allows
    ASSERT_TRUE(closed.isOk());
    denied_ = std::move(*closed);
    // Host services: on the host's loopback only, like a local model runner.
    OriginServer::Options on_host = banner;
    on_host.bind_address = "127.0.0.1";
    auto h = OriginServer::start(on_host);
    ASSERT_TRUE(h.isOk()) << h.status().message();
    host_ = std::move(*h);
    auto hd = OriginServer::start(on_host);
    ASSERT_TRUE(hd.isOk());
    host_denied_ = std::move(*hd);

    ProxyOptions o;
    o.dns_hosts = {{"tls.allowed.test", kPublic},
                   {"ssh.allowed.test", kPublic},
                   {"elsewhere.allowed.test", "93.184.216.99"}};
    o.state_files["sandboxes/sb.yaml"] = sandboxFile(/*host_rule=*/true);
    o.extra_yaml = "transparent_listen: [127.0.0.1:0, \"[::1]:0\"]\ndns_listen: [127.0.0.1:0, " +
                   std::string(kGateway) + ":0]\n";
    auto p = ProxyProcess::start(o);
    ASSERT_TRUE(p.isOk()) << p.status().message();
    proxy_ = std::move(*p);
    auto kv = readFile(proxy_->dir() + "/ready");
    const size_t v4 = kv.find("transparent=127.0.0.1:");
    const size_t v6 = kv.find("transparent=[::1]:");
    ASSERT_TRUE(v4 != std::string::npos && v6 != std::string::npos) << kv;
    transparent_v4_ = static_cast<uint16_t>(std::stoi(kv.substr(v4 + 22)));
    transparent_v6_ = static_cast<uint16_t>(std::stoi(kv.substr(v6 + 18)));
    const size_t at = kv.find("dns=127.0.0.1:");
    ASSERT_NE(at, std::string::npos) << kv;
    dns_port_ = static_cast<uint16_t>(std::stoi(kv.substr(at + 14)));
    for (const char* source : {kSandbox, kStranger}) {
      st = run({"iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", source, "-j",
                "REDIRECT", "--to-ports", std::to_string(transparent_v4_)});
      ASSERT_TRUE(st.isOk()) << st.message();
    }
  }

  // The sandbox's rules; `host_rule`: host.docker.internal:<host_ port>.
  std::string sandboxFile(bool host_rule) const {
    return "name: sb\n"
           "match: {sources: [\"" +
           std::string(kSandbox) + "\", \"" + kSandboxV6 +
           "\"]}\n"
           "allow:\n"
           "  - \"2001:4860::/32\"\n"
           "  - \"" +
           std::string(kPublic) + "/32:" + std::to_string(ssh_->port()) +
           "\"\n"
           "  - \"*.allowed.test:" +
           std::to_string(echo_->port()) +
           "\"\n"
           "  - \"ssh.allowed.test:" +
           std::to_string(ssh_->port()) + "\"\n" +
           (host_rule ? "  - \"host.docker.internal:" + std::to_string(host_->port()) + "\"\n"
                      : std::string()) +
           "deny: [\"bad.allowed.test\"]\n";
  }

  // Connects from `source` to kPublic:port as a proxy-ignoring client would.
  RawClient dial(uint16_t port, const char* source = kSandbox) {
    auto c = RawClient::connectFrom(source, port, kPublic);
    EXPECT_TRUE(c.isOk()) << c.status().message();
    return std::move(c.value());
  }

  std::optional<nlohmann::json> transparentLine(const std::string& host, uint16_t port,
                                                const std::string& decision) {
    return proxy_->waitForLog([&](const nlohmann::json& j) {
      return j.value("type", "") == "transparent" && j.value("host", "") == host &&
             j.value("port", 0) == port && j.value("decision", "") == decision &&
             j.value("event", "close") == "close";
    });
  }

  // One A question to the proxy's DNS from the sandbox's address; the
  // answer's rcode and first address ("" when none).
  std::pair<int, std::string> resolveA(const std::string& name) {
    auto r = dnsExchange(kSandbox, "127.0.0.1", dns_port_, dnsQuery(name, kDnsA));
    if (!r) return {-1, ""};
    return {r->rcode, r->addresses.empty() ? "" : r->addresses.front()};
  }

  // A ClientHello for `name` to the echo origin comes back byte for byte:
  // the connection was spliced to the address dialled.
  void expectSplicedHello(const std::string& name) {
    RawClient c = dial(echo_->port());
    const std::string hello = clientHelloFor(name);
    ASSERT_TRUE(c.send(hello).isOk());
    auto back = c.readExactly(hello.size());
    ASSERT_TRUE(back.isOk()) << back.status().message();
    EXPECT_EQ(*back, hello);
  }

  uint16_t dns_port_ = 0;
  uint16_t transparent_v4_ = 0;
  uint16_t transparent_v6_ = 0;
  std::unique_ptr<OriginServer> ssh_, echo_, denied_, host_, host_denied_;
  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_F(TransparentTest, RawTcpToAnAllowedAddressIsSplicedToItWithoutProxyVariables) {
  RawClient c = dial(ssh_->port());
  // The origin speaks first: an address rule decides at once, nothing waits
  // for the client.
  auto banner = c.readExactly(std::string(kBanner).size());
  ASSERT_TRUE(banner.isOk()) << banner.status().message();
  EXPECT_EQ(*banner, kBanner);
  ASSERT_TRUE(c.send("ping over ssh-ish\n").isOk());
  auto echo = c.readExactly(18);
  ASSERT_TRUE(echo.isOk()) << echo.status().message();
  EXPECT_EQ(*echo, "ping over ssh-ish\n");
  c.shutdownWrite();
  auto rest = c.readUntilClose();
  ASSERT_TRUE(rest.isOk());
  auto line = transparentLine(kPublic, ssh_->port(), "allowed");
  ASSERT_TRUE(line.has_value()) << "no transparent close line";
  EXPECT_EQ((*line)["sandbox"], "sb");
  EXPECT_EQ((*line)["proxy"], "transparent");
  EXPECT_EQ((*line)["address"], kPublic);
  EXPECT_EQ((*line)["bytes_up"], 18);
  EXPECT_EQ((*line)["bytes_down"], std::string(kBanner).size() + 18);
  EXPECT_GE(proxy_
                ->metric("kitgate_requests_total{type=\"transparent\",decision=\"allowed\",mode="
                         "\"transparent\"}")
                .value_or(0),
            1.0);
}

TEST_F(TransparentTest, AConnectionNoRuleAllowsIsResetAndLogged) {
  RawClient c = dial(denied_->port());
  ASSERT_TRUE(c.send("hello?\n").isOk());  // not TLS: the bare address decides
  auto got = c.readUntilClose();
  EXPECT_TRUE(!got.isOk() || got->empty()) << "nothing may come back";
  auto line = transparentLine(kPublic, denied_->port(), "blocked");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["sandbox"], "sb");
  EXPECT_EQ(denied_->connectionsAccepted(), 0u) << "a refused connection never reaches the origin";
}

TEST_F(TransparentTest, TheClientHelloNameDecidesAndMustResolveToTheOriginalAddress) {
  // Allowed name, resolving to the address dialled: spliced as is (the echo
  // origin returns the hello byte for byte).
  {
    expectSplicedHello("tls.allowed.test");
    auto line = proxy_->waitForLog([&](const nlohmann::json& j) {
      return j.value("type", "") == "transparent" && j.value("host", "") == "tls.allowed.test";
    });
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ((*line)["decision"], "allowed");
    EXPECT_EQ((*line)["address"], kPublic);
  }
  // An allowed name of another address (domain fronting), and a denied name:
  // reset, logged, the origin never sees them.
  const size_t accepted = echo_->connectionsAccepted();
  for (const std::string name : {"elsewhere.allowed.test", "bad.allowed.test"}) {
    SCOPED_TRACE(name);
    RawClient c = dial(echo_->port());
    ASSERT_TRUE(c.send(clientHelloFor(name)).isOk());
    auto got = c.readUntilClose();
    EXPECT_TRUE(!got.isOk() || got->empty());
    auto line = transparentLine(name, echo_->port(), "blocked");
    ASSERT_TRUE(line.has_value());
  }
  auto fronted = transparentLine("elsewhere.allowed.test", echo_->port(), "blocked");
  EXPECT_NE((*fronted)["reason"].get<std::string>().find("not an address of"), std::string::npos)
      << (*fronted)["reason"];
  EXPECT_EQ(echo_->connectionsAccepted(), accepted);
}

TEST_F(TransparentTest, ANameTheSandboxResolvedThroughKitgateDecidesItsConnections) {
  // Plain TCP (no ClientHello) to an address no address rule allows: the
  // name kitgate's DNS answered for it decides.
  auto [rcode, address] = resolveA("tls.allowed.test");
  ASSERT_EQ(rcode, 0);
  ASSERT_EQ(address, kPublic);
  RawClient c = dial(echo_->port());
  ASSERT_TRUE(c.send("plain bytes\n").isOk());
  auto back = c.readExactly(12);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(*back, "plain bytes\n");
  auto line = proxy_->waitForLog([&](const nlohmann::json& j) {
    return j.value("type", "") == "transparent" && j.value("host", "") == "tls.allowed.test";
  });
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "allowed");
  // A denied name is NXDOMAIN and logged.
  auto [denied_rcode, none] = resolveA("bad.allowed.test");
  EXPECT_EQ(denied_rcode, 3);
  EXPECT_EQ(none, "");
  EXPECT_TRUE(proxy_
                  ->waitForLog([](const nlohmann::json& j) {
                    return j.value("type", "") == "dns" &&
                           j.value("host", "") == "bad.allowed.test";
                  })
                  .has_value());
}

TEST_F(TransparentTest, ADnsNamedConnectionWaitsForNeitherSideAndChecksAClientHelloAgainstIt) {
  // Server-first protocol on a DNS-named connection: the banner arrives
  // without the client saying anything.
  ASSERT_EQ(resolveA("ssh.allowed.test").second, kPublic);
  {
    RawClient c = dial(ssh_->port());
    auto banner = c.readExactly(std::string(kBanner).size());
    ASSERT_TRUE(banner.isOk()) << banner.status().message();
    EXPECT_EQ(*banner, kBanner);
  }
  // A ClientHello naming another (allowed) host than the DNS answer: refused.
  ASSERT_EQ(resolveA("tls.allowed.test").second, kPublic);
  const size_t accepted = echo_->connectionsAccepted();
  {
    RawClient c = dial(echo_->port());
    ASSERT_TRUE(c.send(clientHelloFor("other.allowed.test")).isOk());
    auto got = c.readUntilClose();
    EXPECT_TRUE(!got.isOk() || got->empty());
    auto line = proxy_->waitForLog([](const nlohmann::json& j) {
      return j.value("type", "") == "transparent" && j.value("host", "") == "tls.allowed.test" &&
             j.value("decision", "") == "blocked";
    });
    ASSERT_TRUE(line.has_value());
    EXPECT_NE((*line)["reason"].get<std::string>().find("SNI"), std::string::npos)
        << (*line)["reason"];
  }
  // The same name in the ClientHello: spliced.
  expectSplicedHello("tls.allowed.test");
  // The refused one was connected upstream (decided on the DNS name) but
  // never given a byte; the agreeing one was.
  EXPECT_GE(echo_->connectionsAccepted(), accepted + 1);
}

TEST_F(TransparentTest, IPv6ConnectionsKeepTheirOriginalDestinationToo) {
  for (const char* a : {kPublicV6, kSandboxV6}) {
    Status st = run({"ip", "addr", "add", std::string(a) + "/128", "dev", "lo", "nodad"});
    ASSERT_TRUE(st.isOk()) << st.message();
  }
  Status st = run({"ip6tables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", kSandboxV6,
                   "-j", "REDIRECT", "--to-ports", std::to_string(transparent_v6_)});
  ASSERT_TRUE(st.isOk()) << st.message();
  OriginServer::Options echo;
  echo.mode = OriginServer::Mode::kEcho;
  echo.bind_address = kPublicV6;
  auto origin = OriginServer::start(echo);
  ASSERT_TRUE(origin.isOk()) << origin.status().message();

  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 from{};
  from.sin6_family = AF_INET6;
  inet_pton(AF_INET6, kSandboxV6, &from.sin6_addr);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons((*origin)->port());
  inet_pton(AF_INET6, kPublicV6, &to.sin6_addr);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_EQ(::send(fd.get(), "six\n", 4, MSG_NOSIGNAL), 4);
  char buf[4];
  size_t got = 0;
  while (got < 4) {
    ssize_t n = ::recv(fd.get(), buf + got, 4 - got, 0);
    ASSERT_GT(n, 0) << "no echo";
    got += static_cast<size_t>(n);
  }
  EXPECT_EQ(std::string(buf, 4), "six\n");
  fd.reset();
  auto line = transparentLine(kPublicV6, (*origin)->port(), "allowed");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["address"], kPublicV6);
  EXPECT_EQ((*line)["sandbox"], "sb");
}

// Host services: the gateway (what kitgate's DNS answers for
// host.docker.internal) on a port is the host's loopback on that port,
// while (and only while) a rule names it.
TEST_F(TransparentTest, TheGatewayReachesAHostLoopbackPortOnlyWhileItsRuleExists) {
  ASSERT_EQ(resolveA("host.docker.internal").second, "127.0.0.1")
      << "asked on 127.0.0.1: the gateway it was asked on";
  auto c = RawClient::connectFrom(kSandbox, host_->port(), kGateway);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  // Decided at once (the host service speaks first), spliced to loopback.
  auto banner = c->readExactly(std::string(kBanner).size());
  ASSERT_TRUE(banner.isOk()) << banner.status().message();
  EXPECT_EQ(*banner, kBanner);
  ASSERT_TRUE(c->send("ping\n").isOk());
  auto echo = c->readExactly(5);
  ASSERT_TRUE(echo.isOk()) << echo.status().message();
  EXPECT_EQ(*echo, "ping\n");
  auto open = proxy_->waitForLog([&](const nlohmann::json& j) {
    return j.value("type", "") == "transparent" && j.value("host", "") == "localhost" &&
           j.value("decision", "") == "allowed";
  });
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ((*open)["address"], "127.0.0.1");
  EXPECT_EQ((*open)["port"], host_->port());

  // Another host port: no rule names it.
  {
    auto d = RawClient::connectFrom(kSandbox, host_denied_->port(), kGateway);
    ASSERT_TRUE(d.isOk());
    auto got = d->readUntilClose();
    EXPECT_TRUE(!got.isOk() || got->empty());
    ASSERT_TRUE(transparentLine("localhost", host_denied_->port(), "blocked").has_value());
    EXPECT_EQ(host_denied_->connectionsAccepted(), 0u);
  }
  // A ClientHello naming host.docker.internal toward another address is
  // neither sent to the host nor allowed by the host rule.
  {
    RawClient h = dial(host_->port());
    ASSERT_TRUE(h.send(clientHelloFor("host.docker.internal")).isOk());
    auto got = h.readUntilClose();
    EXPECT_TRUE(!got.isOk() || got->empty());
    auto line = proxy_->waitForLog([&](const nlohmann::json& j) {
      return j.value("type", "") == "transparent" && j.value("decision", "") == "blocked" &&
             j.value("reason", "").find("gateway only") != std::string::npos;
    });
    ASSERT_TRUE(line.has_value());
  }
  EXPECT_EQ(host_->connectionsAccepted(), 1u);

  // The rule goes: the open connection is closed, new ones are refused.
  ASSERT_TRUE(proxy_->writeStateFile("sandboxes/sb.yaml", sandboxFile(false)).isOk());
  auto reload = proxy_->reloadViaAdmin();
  ASSERT_TRUE(reload.isOk() && reload->status == 200);
  auto rest = c->readUntilClose();
  EXPECT_TRUE(!rest.isOk() || rest->empty());
  auto again = RawClient::connectFrom(kSandbox, host_->port(), kGateway);
  ASSERT_TRUE(again.isOk());
  auto refused = again->readUntilClose();
  EXPECT_TRUE(!refused.isOk() || refused->empty());
  EXPECT_EQ(host_->connectionsAccepted(), 1u);
}

TEST_F(TransparentTest, AClientNoSandboxHasIsRefused) {
  RawClient c = dial(ssh_->port(), kStranger);
  auto got = c.readUntilClose();
  EXPECT_TRUE(!got.isOk() || got->empty());
  auto line = proxy_->waitForLog([&](const nlohmann::json& j) {
    return j.value("type", "") == "transparent" && j.value("sandbox", "") == "-";
  });
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "blocked");
  EXPECT_EQ(ssh_->connectionsAccepted(), 0u);
}

TEST_F(TransparentTest, ADirectConnectionToTheTransparentPortIsClosed) {
  auto c = RawClient::connect(transparent_v4_);
  ASSERT_TRUE(c.isOk());
  ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").isOk());
  auto got = c->readUntilClose();
  EXPECT_TRUE(!got.isOk() || got->empty());
}

}  // namespace
}  // namespace kitgate::testing
