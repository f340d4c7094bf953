// TcpConnector on a real event loop, with a scripted resolver and loopback
// sockets: the final decision covers the name *and* its addresses, the
// allowed addresses are tried in order, and each failure has its outcome.
#include "proxy/upstream/connector.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/policy/rule_set.h"
#include "proxy/sandbox/registry.h"
#include "proxy/upstream/https_post.h"
#include "tests/support/scripted_resolver.h"

namespace kitgate::upstream {
namespace {

using std::chrono::milliseconds;

using testing::ScriptedResolver;

policy::IpAddress ip(const char* text) {
  auto a = policy::IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(policy::IpAddress{});
}

// A loopback listener (accepts by backlog; never read).
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
};

// A loopback port nobody listens on.
uint16_t closedPort() {
  Listener l;
  return l.port;  // closed when l goes
}

class ConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override { base_ = event_base_new(); }
  void TearDown() override { event_base_free(base_); }

  // Policy: names under allowed.test on any port, 127.0.0.0/8 explicitly.
  void usePolicy(std::vector<sandbox::RuleEntry> allow) {
    auto reg =
        sandbox::singleTenantRegistry({sandbox::RuleSource{"test.yaml", std::move(allow), {}}});
    ASSERT_TRUE(reg.isOk()) << reg.status().message();
    registry_ = *reg;
    sandbox_ = registry_->identify(policy::IpAddress{}, std::nullopt);
  }

  ConnectResult run(const std::string& host, uint16_t port,
                    milliseconds timeout = milliseconds(5000),
                    std::optional<policy::IpAddress> original = std::nullopt,
                    bool original_resolved = false) {
    auto h = policy::normalizeHost(host, policy::Ipv6Brackets::kOptional);
    EXPECT_TRUE(h.isOk());
    TcpConnector c(base_, resolver_, metrics_, TcpSettings{&static_hosts_, &self_, timeout});
    ConnectRequest req;
    req.policy = &sandbox_->policy();
    req.host = *h;
    req.port = port;
    req.decision = sandbox_->policy().evaluate(req.host, port);
    req.original = original;
    req.original_resolved = original_resolved;
    std::optional<ConnectResult> out;
    auto attempt = c.connect(req, [&](ConnectResult r) { out = std::move(r); });
    for (int i = 0; i < 1000 && !out; ++i) event_base_loop(base_, EVLOOP_ONCE);
    EXPECT_TRUE(out.has_value()) << "the attempt never finished";
    return out ? std::move(*out) : ConnectResult{};
  }

  event_base* base_ = nullptr;
  ScriptedResolver resolver_;
  tunnel::HostMap static_hosts_;
  policy::SelfAddresses self_;
  admin::WorkerMetrics metrics_;
  std::shared_ptr<const sandbox::Registry> registry_;
  const sandbox::Sandbox* sandbox_ = nullptr;
};

TEST_F(ConnectorTest, ConnectsToTheFirstAllowedAddressThatAccepts) {
  usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
  Listener l;
  resolver_.answers["www.allowed.test"] = {{ip("127.0.0.1")}, {}};
  ConnectResult r = run("www.allowed.test", l.port);
  ASSERT_EQ(r.outcome, Outcome::kConnected) << r.detail;
  EXPECT_TRUE(r.fd.valid());
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_TRUE(r.decision.allowed());
  EXPECT_EQ(metrics_.dns_duration.count(), 1u);
  EXPECT_EQ(metrics_.connect_duration.count(), 1u);
}

TEST_F(ConnectorTest, ARefusedAddressFallsThroughToTheNext) {
  usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
  Listener l;  // on 127.0.0.1 only (INADDR_LOOPBACK)
  static_hosts_["www.allowed.test"] = {ip("127.0.0.2"), ip("127.0.0.1")};
  ConnectResult r = run("www.allowed.test", l.port);
  ASSERT_EQ(r.outcome, Outcome::kConnected) << r.detail;
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_TRUE(resolver_.asked.empty()) << "static names never reach the resolver";
}

TEST_F(ConnectorTest, EveryAddressRefusedIsConnectFailedWithTheLastError) {
  usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
  const uint16_t port = closedPort();
  static_hosts_["www.allowed.test"] = {ip("127.0.0.2"), ip("127.0.0.3")};
  ConnectResult r = run("www.allowed.test", port);
  EXPECT_EQ(r.outcome, Outcome::kConnectFailed);
  EXPECT_FALSE(r.fd.valid());
  EXPECT_EQ(r.address, "127.0.0.3");
  EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
}

TEST_F(ConnectorTest, PrivateAddressesOfAnAllowedNameAreBlocked) {
  usePolicy({{"*.allowed.test", 1, 1}});  // a name rule never unlocks private addresses
  for (const char* addr :
       {"127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.1", "::1", "fd00::1"}) {
    SCOPED_TRACE(addr);
    resolver_.answers["www.allowed.test"] = {{ip(addr)}, {}};
    ConnectResult r = run("www.allowed.test", 443);
    EXPECT_EQ(r.outcome, Outcome::kAddressBlocked);
    EXPECT_TRUE(r.decision.denied());
    EXPECT_EQ(r.address, ip(addr).toString());
    EXPECT_FALSE(r.decision.reason.empty());
  }
}

// Transparent connections: the original address only, and a name must
// resolve to it (the name and the address agree).
TEST_F(ConnectorTest, AnOriginalAddressIsTheOnlyOneConnectedTo) {
  usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
  Listener l;  // on 127.0.0.1
  // The name also has 127.0.0.2 (first, and refusing): never tried.
  static_hosts_["www.allowed.test"] = {ip("127.0.0.2"), ip("127.0.0.1")};
  ConnectResult r = run("www.allowed.test", l.port, milliseconds(5000), ip("127.0.0.1"));
  ASSERT_EQ(r.outcome, Outcome::kConnected) << r.detail;
  EXPECT_EQ(r.address, "127.0.0.1");
  // Pinned to an address of the name that refuses: no fallback to another.
  r = run("www.allowed.test", l.port, milliseconds(5000), ip("127.0.0.2"));
  EXPECT_EQ(r.outcome, Outcome::kConnectFailed);
  EXPECT_EQ(r.address, "127.0.0.2");
}

TEST_F(ConnectorTest, ANameThatDoesNotResolveToTheOriginalAddressIsBlocked) {
  usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
  Listener l;
  for (bool via_resolver : {false, true}) {
    SCOPED_TRACE(via_resolver ? "resolver" : "static name");
    static_hosts_.clear();
    resolver_.answers.clear();
    if (via_resolver) {
      resolver_.answers["www.allowed.test"] = {{ip("127.0.0.3")}, {}};
    } else {
      static_hosts_["www.allowed.test"] = {ip("127.0.0.3")};
    }
    ConnectResult r = run("www.allowed.test", l.port, milliseconds(5000), ip("127.0.0.1"));
    EXPECT_EQ(r.outcome, Outcome::kAddressBlocked);
    EXPECT_FALSE(r.fd.valid());
    EXPECT_TRUE(r.decision.denied());
    EXPECT_EQ(r.address, "127.0.0.1");
    EXPECT_NE(r.decision.reason.find("not an address of www.allowed.test"), std::string::npos)
        << r.decision.reason;
  }
}

TEST_F(ConnectorTest, AnOriginalAddressKnownForTheNameSkipsTheLookupButNotTheAddressCheck) {
  usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
  Listener l;
  ConnectResult r =
      run("www.allowed.test", l.port, milliseconds(5000), ip("127.0.0.1"), /*resolved=*/true);
  ASSERT_EQ(r.outcome, Outcome::kConnected) << r.detail;
  EXPECT_TRUE(resolver_.asked.empty());
  // A private address is still refused to a name rule.
  usePolicy({{"*.allowed.test", 1, 1}});
  r = run("www.allowed.test", l.port, milliseconds(5000), ip("127.0.0.1"), /*resolved=*/true);
  EXPECT_EQ(r.outcome, Outcome::kAddressBlocked);
}

TEST_F(ConnectorTest, TheProxysOwnEndpointIsAlwaysBlocked) {
  usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
  Listener l;
  self_.add(ip("127.0.0.1"), l.port);
  resolver_.answers["www.allowed.test"] = {{ip("127.0.0.1")}, {}};
  ConnectResult r = run("www.allowed.test", l.port);
  EXPECT_EQ(r.outcome, Outcome::kAddressBlocked);
}

TEST_F(ConnectorTest, ResolverFailureAndSilenceAreDnsOutcomes) {
  usePolicy({{"*.allowed.test", 1, 1}});
  resolver_.answers["gone.allowed.test"] = {{}, "NXDOMAIN"};
  ConnectResult r = run("gone.allowed.test", 443);
  EXPECT_EQ(r.outcome, Outcome::kDnsFailure);
  EXPECT_EQ(r.detail, "NXDOMAIN");

  ConnectResult t = run("silent.allowed.test", 443, milliseconds(20));
  EXPECT_EQ(t.outcome, Outcome::kDnsTimeout);
}

TEST_F(ConnectorTest, DestroyingTheAttemptCancelsIt) {
  usePolicy({{"*.allowed.test", 1, 1}});
  TcpConnector c(base_, resolver_, metrics_, TcpSettings{&static_hosts_, &self_, milliseconds(20)});
  ConnectRequest req;
  req.policy = &sandbox_->policy();
  req.host = *policy::normalizeHost("silent.allowed.test", policy::Ipv6Brackets::kOptional);
  req.port = 443;
  req.decision = sandbox_->policy().evaluate(req.host, 443);
  bool called = false;
  auto attempt = c.connect(req, [&](ConnectResult) { called = true; });
  ASSERT_NE(attempt, nullptr);
  attempt.reset();
  for (int i = 0; i < 5; ++i) event_base_loop(base_, EVLOOP_NONBLOCK);
  EXPECT_FALSE(called);
}

// ---------------------------------------------------------------- postHttps

// The proxy's own POST (its OAuth refreshes) resolves with a blocking
// lookup: a resolver that never answers must fail it within its timeout,
// with "DNS timeout", and must not hold up the lookups that come after.
class PostHttpsLookup : public ConnectorTest {
 protected:
  // A lookup stuck until release() (at most 20 s): what a dead DNS server
  // does to getaddrinfo.
  struct Latch {
    std::mutex mu;
    std::condition_variable cv;
    bool released = false;
    bool returned = false;
  };

  void SetUp() override {
    ConnectorTest::SetUp();
    usePolicy({{"*.allowed.test", 1, 1}, {"127.0.0.0/8", 2, 1}});
    auto tls = tls::ClientContext::create();
    ASSERT_TRUE(tls.isOk()) << tls.status().message();
    tls_.emplace(std::move(tls.value()));
    settings_.policy = &sandbox_->policy();
    settings_.tls = &*tls_;
    settings_.timeout = milliseconds(300);
    auto latch = latch_;
    settings_.lookup =
        [latch](const std::string& host) -> StatusOr<std::vector<policy::IpAddress>> {
      if (host == "hang.allowed.test") {
        std::unique_lock<std::mutex> lock(latch->mu);
        latch->cv.wait_for(lock, std::chrono::seconds(20), [&] { return latch->released; });
        latch->returned = true;
        latch->cv.notify_all();
        return Status::error("released");
      }
      if (host == "nxdomain.allowed.test") {
        return Status::error("cannot resolve nxdomain.allowed.test: Name or service not known");
      }
      return std::vector<policy::IpAddress>{ip("127.0.0.1")};
    };
  }

  void TearDown() override {
    {
      std::unique_lock<std::mutex> lock(latch_->mu);
      latch_->released = true;
      latch_->cv.notify_all();
    }
    ConnectorTest::TearDown();
  }

  StatusOr<HttpsAnswer> post(const std::string& host, milliseconds* took) {
    const auto start = std::chrono::steady_clock::now();
    auto r = postHttps({host, closed_port_, "/v1/oauth/token", "text/plain", "x"}, settings_);
    *took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    return r;
  }

  std::shared_ptr<Latch> latch_ = std::make_shared<Latch>();
  std::optional<tls::ClientContext> tls_;
  HttpsPostSettings settings_;
  uint16_t closed_port_ = closedPort();
};

TEST_F(PostHttpsLookup, AResolverThatNeverAnswersIsADnsTimeoutWithinTheBound) {
  milliseconds took{};
  auto r = post("hang.allowed.test", &took);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("DNS timeout"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("hang.allowed.test"), std::string::npos);
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, milliseconds(1500)) << "the lookup held the caller past its timeout";

  // The stuck lookup still runs; the next ones are not held up by it.
  r = post("quick.allowed.test", &took);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message().find("DNS timeout"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos) << r.status().message();
  EXPECT_LT(took, milliseconds(250));
  // A lookup that fails is that failure, at once.
  r = post("nxdomain.allowed.test", &took);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("Name or service not known"), std::string::npos);
  EXPECT_LT(took, milliseconds(250));

  // Released, the helper ends on its own (nothing waits for its answer).
  std::unique_lock<std::mutex> lock(latch_->mu);
  latch_->released = true;
  latch_->cv.notify_all();
  EXPECT_TRUE(latch_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return latch_->returned; }));
}

TEST_F(PostHttpsLookup, StuckLookupsAreBoundedAndFailAtOnceBeyondTheBound) {
  settings_.timeout = milliseconds(50);
  milliseconds took{};
  for (int i = 0; i < kMaxPendingLookups; ++i) {
    auto r = post("hang.allowed.test", &took);
    ASSERT_FALSE(r.isOk());
    ASSERT_NE(r.status().message().find("DNS timeout"), std::string::npos);
  }
  settings_.timeout = milliseconds(2000);
  auto r = post("hang.allowed.test", &took);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("still unanswered"), std::string::npos)
      << r.status().message();
  EXPECT_LT(took, milliseconds(500)) << "a new helper thread per stuck lookup";
  // Once they are answered, lookups run again.
  {
    std::lock_guard<std::mutex> lock(latch_->mu);
    latch_->released = true;
  }
  latch_->cv.notify_all();
  std::this_thread::sleep_for(milliseconds(200));
  r = post("quick.allowed.test", &took);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kitgate::upstream
