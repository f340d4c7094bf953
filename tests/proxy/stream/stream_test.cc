// The stream in-process: a fake connection (StreamHost), a fake connector
// and a fake clock drive one Stream through every way a request can go —
// policy deny, every upstream failure, tunnel, forward with keep-alive reuse,
// interception routing and the inner-request checks — and every EndReason's
// reply and log line. No sockets, no event loop.
#include "proxy/stream/stream.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "proxy/mitm/authority.h"
#include "proxy/sandbox/registry.h"
#include "proxy/secrets/store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/subprocess.h"

namespace kitgate::stream {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* kAmpKey = "amp-REAL-0123456789";

// ---------------------------------------------------------------- fakes

struct FakeHost final : StreamHost {
  struct Forwarded {
    bool new_upstream = false;
    http::Request request;
  };
  bool keep_upstream = false;
  std::vector<std::pair<std::string, uint16_t>> keep_asked;
  std::vector<EndResponse> replies;
  // A policy log record with its views copied (the record's views die with the call).
  struct Line {
    std::string sandbox, type, method, host, address, rule, reason, proxy, sni, sni_check;
    uint16_t port = 0;
    bool allowed = false;
    int status = 0;
    uint64_t bytes_up = 0, bytes_down = 0;
    double duration_ms = 0;
  };
  std::vector<Line> logs;
  std::vector<std::string> log_text;  // each line in one string
  int tunnels = 0;
  int intercepts = 0;
  std::vector<Forwarded> forwards;

  bool keepUpstreamFor(const policy::Host& host, uint16_t port) override {
    keep_asked.emplace_back(host.text, port);
    return keep_upstream;
  }
  void tunnel(UniqueFd) override { ++tunnels; }
  void intercept(UniqueFd) override { ++intercepts; }
  void forward(UniqueFd upstream, const http::Request& request) override {
    forwards.push_back({upstream.valid(), request});
  }
  void reply(const EndResponse& response) override { replies.push_back(response); }
  void log(const admin::PolicyRecord& r) override {
    logs.push_back(Line{std::string(r.sandbox), std::string(r.type), std::string(r.method),
                        std::string(r.host), std::string(r.address), std::string(r.rule),
                        std::string(r.reason), std::string(r.proxy), std::string(r.sni),
                        std::string(r.sni_check), r.port, r.allowed, r.status, r.bytes_up,
                        r.bytes_down, r.duration_ms});
    log_text.push_back(
        std::string(r.sandbox) + "|" + std::string(r.type) + "|" + std::string(r.method) + "|" +
        std::string(r.host) + ":" + std::to_string(r.port) + "|" + std::string(r.address) + "|" +
        (r.allowed ? "allow" : "deny") + "|" + std::string(r.rule) + "|" + std::string(r.reason) +
        "|" + std::string(r.proxy) + "|" + std::to_string(r.status));
  }
};

class FakeConnector final : public upstream::Connector {
 public:
  struct Pending {
    upstream::ConnectRequest request;
    Callback done;
    bool* cancelled = nullptr;
  };
  class Handle final : public upstream::Attempt {
   public:
    explicit Handle(bool* cancelled) : cancelled_(cancelled) {}
    ~Handle() override { *cancelled_ = true; }

   private:
    bool* cancelled_;
  };

  std::unique_ptr<upstream::Attempt> connect(upstream::ConnectRequest request,
                                             Callback done) override {
    flags_.push_back(std::make_unique<bool>(false));
    pending_.push_back({std::move(request), std::move(done), flags_.back().get()});
    return std::make_unique<Handle>(flags_.back().get());
  }

  size_t attempts() const { return pending_.size(); }
  const upstream::ConnectRequest& last() const { return pending_.back().request; }
  bool lastCancelled() const { return *pending_.back().cancelled; }

  // Completes the last attempt as the real connector would.
  void finish(upstream::Outcome outcome, std::string address = "192.0.2.10",
              std::string detail = {}) {
    Pending& p = pending_.back();
    ASSERT_FALSE(*p.cancelled) << "the stream cancelled this attempt";
    upstream::ConnectResult r;
    r.outcome = outcome;
    r.address = std::move(address);
    r.detail = std::move(detail);
    r.decision = p.request.decision;
    if (r.decision.verdict == policy::Decision::Verdict::kCheckAddress)
      r.decision.verdict = policy::Decision::Verdict::kAllow;
    if (outcome == upstream::Outcome::kAddressBlocked) {
      r.decision.verdict = policy::Decision::Verdict::kDeny;
      r.decision.rule = {};
      r.decision.reason = "address " + r.address + " is private";
    }
    if (outcome == upstream::Outcome::kConnected) r.fd = UniqueFd(::dup(2));  // any valid fd
    auto done = std::move(p.done);
    done(std::move(r));
  }

 private:
  std::vector<Pending> pending_;
  std::vector<std::unique_ptr<bool>> flags_;
};

http::Request connectTo(std::string host, uint16_t port) {
  http::Request r;
  r.method = "CONNECT";
  r.host = std::move(host);
  r.port = port;
  return r;
}

http::Request get(std::string scheme, std::string host, uint16_t port, std::string path) {
  http::Request r;
  r.method = "GET";
  r.scheme = std::move(scheme);
  r.host = std::move(host);
  r.port = port;
  r.path = std::move(path);
  r.headers = {{"Host", r.host}, {"Accept", "*/*"}};
  return r;
}

// ---------------------------------------------------------------- fixture

// Sandbox "default" may reach *.allowed.test:443, api.allowed.test:80,
// ampcode.com:443 and ssh.only.test:22, never deny.allowed.test; ampcode.com has the amp key
// bound (Authorization: Bearer); the sandbox has its interception CA.
class StreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = testing::TempDir::create("stream-test");
    ASSERT_TRUE(dir.isOk());
    dir_ = new testing::TempDir(std::move(*dir));
    root_ = new fs::path(dir_->path());
    auto reg = sandbox::singleTenantRegistry({sandbox::RuleSource{"test.yaml",
                                                                  {{"*.allowed.test:443", 1, 1},
                                                                   {"api.allowed.test:80", 2, 1},
                                                                   {"ampcode.com:443", 3, 1},
                                                                   {"ssh.only.test:22", 5, 1}},
                                                                  {{"deny.allowed.test", 4, 1}}}});
    ASSERT_TRUE(reg.isOk()) << reg.status().message();
    registry_ = new std::shared_ptr<const sandbox::Registry>(*reg);

    fs::create_directories(*root_ / "credentials");
    std::ofstream(*root_ / "secrets.yaml")
        << "services:\n  - {service: amp, scope: global, value: \"" << kAmpKey << "\"}\n";
    fs::permissions(*root_ / "secrets.yaml", fs::perms(0600));
    std::ofstream(*root_ / "credentials/default.yaml")
        << "routes:\n  - {service: amp, domains: [ampcode.com], header: Authorization, format: "
           "\"Bearer %s\"}\n";
    auto store = secrets::loadStore(root_->string());
    ASSERT_TRUE(store.isOk()) << store.status().message();
    store_ = new std::shared_ptr<const secrets::Store>(*store);

    auto authority = mitm::loadOrCreateAuthority((*root_ / "ca").string(), "default",
                                                 mitm::AuthorityPatterns{{}, {"ampcode.com"}}, {});
    ASSERT_TRUE(authority.isOk()) << authority.status().message();
    minters_ = new std::unordered_map<std::string, std::shared_ptr<const tls::LeafMinter>>{
        {"default", authority->minter}};
  }
  static void TearDownTestSuite() {
    delete registry_;
    delete store_;
    delete minters_;
    delete root_;
    delete dir_;
  }

  void SetUp() override {
    env_.metrics = &metrics_;
    env_.connector = &connector_;
    env_.clock = &clock_;
    env_.tls_configured = true;
    env_.secrets = store_->get();
    env_.minters = minters_;
    sandbox_ = (*registry_)->identify(policy::IpAddress{}, std::nullopt);
    ASSERT_NE(sandbox_, nullptr);
  }

  // One request through the stream: begin + the proxy request.
  void proxyRequest(const http::Request& r, Target t) {
    request_ = r;
    stream_.begin(sandbox_, clock_.now());
    stream_.onProxyRequest(request_, t);
  }

  uint64_t blocked(admin::ReqType t) const {
    return metrics_
        .requests[admin::idx(t)][admin::idx(admin::Verdict::kBlocked)]
                 [admin::idx(admin::ProxyPath::kNone)]
        .get();
  }

  static testing::TempDir* dir_;
  static fs::path* root_;
  static std::shared_ptr<const sandbox::Registry>* registry_;
  static std::shared_ptr<const secrets::Store>* store_;
  static std::unordered_map<std::string, std::shared_ptr<const tls::LeafMinter>>* minters_;

  admin::WorkerMetrics metrics_;
  FakeConnector connector_;
  testing::FakeClock clock_;
  StreamEnv env_;
  FakeHost host_;
  Stream stream_{env_, host_};
  const sandbox::Sandbox* sandbox_ = nullptr;
  http::Request request_;
};

testing::TempDir* StreamTest::dir_ = nullptr;
fs::path* StreamTest::root_ = nullptr;
std::shared_ptr<const sandbox::Registry>* StreamTest::registry_ = nullptr;
std::shared_ptr<const secrets::Store>* StreamTest::store_ = nullptr;
std::unordered_map<std::string, std::shared_ptr<const tls::LeafMinter>>* StreamTest::minters_ =
    nullptr;

// ---------------------------------------------------------------- deny paths

TEST_F(StreamTest, PolicyDenyAnswers403WithoutReachingTheUpstream) {
  for (const auto& [host, port] : std::vector<std::pair<std::string, uint16_t>>{
           {"deny.allowed.test", 443}, {"elsewhere.test", 443}, {"x.allowed.test", 22}}) {
    SCOPED_TRACE(host + ":" + std::to_string(port));
    FakeHost before = host_;
    proxyRequest(connectTo(host, port), Target::kConnect);
    ASSERT_EQ(host_.replies.size(), before.replies.size() + 1);
    EXPECT_EQ(host_.replies.back().status, 403);
    EXPECT_NE(host_.replies.back().body.find("Blocked by network policy: domain " + host + ":" +
                                             std::to_string(port)),
              std::string::npos);
    ASSERT_EQ(host_.logs.size(), before.logs.size() + 1);
    EXPECT_FALSE(host_.logs.back().allowed);
    EXPECT_EQ(host_.tunnels + host_.intercepts, 0);
  }
  EXPECT_EQ(connector_.attempts(), 0u);
  EXPECT_EQ(blocked(admin::ReqType::kConnect), 3u);
  EXPECT_NE(host_.log_text[0].find("|deny|deny.allowed.test|"), std::string::npos)
      << host_.log_text[0];
}

TEST_F(StreamTest, PlainHttpDenyIsCountedAsAnHttpRequest) {
  proxyRequest(get("http", "elsewhere.test", 80, "/"), Target::kAbsolute);
  ASSERT_EQ(host_.replies.size(), 1u);
  EXPECT_EQ(host_.replies[0].status, 403);
  EXPECT_EQ(blocked(admin::ReqType::kHttp), 1u);
  EXPECT_EQ(host_.logs[0].type, "http");
}

TEST_F(StreamTest, OnlyConnectAndFullUrlsAreProxyRequests) {
  proxyRequest(get("", "api.allowed.test", 80, "/"), Target::kOrigin);
  proxyRequest(get("", "", 0, "*"), Target::kOther);
  ASSERT_EQ(host_.replies.size(), 2u);
  for (const auto& r : host_.replies) EXPECT_EQ(r.status, 400);
  EXPECT_EQ(connector_.attempts(), 0u);
}

TEST_F(StreamTest, InvalidHostIsABadRequest) {
  for (const char* bad : {"", "a..b", "exa mple.test", "-bad-.test"}) {
    SCOPED_TRACE(bad);
    size_t n = host_.replies.size();
    proxyRequest(connectTo(bad, 443), Target::kConnect);
    ASSERT_EQ(host_.replies.size(), n + 1);
    EXPECT_EQ(host_.replies.back().status, 400);
  }
  EXPECT_EQ(connector_.attempts(), 0u);
}

// ---------------------------------------------------------------- upstream outcomes

struct OutcomeCase {
  upstream::Outcome outcome;
  int status;
  std::string_view log_contains;
};

class StreamUpstreamOutcome : public StreamTest,
                              public ::testing::WithParamInterface<OutcomeCase> {};

TEST_P(StreamUpstreamOutcome, EachFailureEndsWithItsReplyAndOneLogLine) {
  const OutcomeCase& c = GetParam();
  proxyRequest(connectTo("www.allowed.test", 443), Target::kConnect);
  ASSERT_EQ(connector_.attempts(), 1u);
  EXPECT_EQ(connector_.last().host.text, "www.allowed.test");
  EXPECT_EQ(connector_.last().port, 443);
  EXPECT_TRUE(stream_.waitingForUpstream());
  EXPECT_TRUE(host_.replies.empty());
  EXPECT_TRUE(host_.logs.empty()) << "nothing is logged before the request ends";
  clock_.advance(milliseconds(250));
  connector_.finish(c.outcome, "192.0.2.7", "boom");
  ASSERT_EQ(host_.replies.size(), 1u);
  EXPECT_EQ(host_.replies[0].status, c.status);
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_FALSE(host_.logs[0].allowed);
  EXPECT_EQ(host_.logs[0].address, "192.0.2.7");
  EXPECT_NE(host_.logs[0].reason.find(c.log_contains), std::string::npos) << host_.logs[0].reason;
  EXPECT_DOUBLE_EQ(host_.logs[0].duration_ms, 250.0);
  EXPECT_EQ(host_.tunnels + host_.intercepts, 0);
  EXPECT_FALSE(stream_.waitingForUpstream());
}

INSTANTIATE_TEST_SUITE_P(
    Outcomes, StreamUpstreamOutcome,
    ::testing::Values(OutcomeCase{upstream::Outcome::kDnsFailure, 502, "boom"},
                      OutcomeCase{upstream::Outcome::kDnsTimeout, 504, "DNS"},
                      OutcomeCase{upstream::Outcome::kAddressBlocked, 403, "private"},
                      OutcomeCase{upstream::Outcome::kConnectFailed, 502, "boom"},
                      OutcomeCase{upstream::Outcome::kConnectTimeout, 504, "timed out"}));

TEST_F(StreamTest, AddressBlockedLogsTheAddressDecisionNotTheNameRule) {
  proxyRequest(connectTo("www.allowed.test", 443), Target::kConnect);
  EXPECT_EQ(stream_.decision().rule, "*.allowed.test:443");
  connector_.finish(upstream::Outcome::kAddressBlocked, "10.0.0.1");
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].rule, "") << "the addresses decided";
  EXPECT_EQ(blocked(admin::ReqType::kConnect), 1u);
}

TEST_F(StreamTest, ClosingTheConnectionCancelsTheAttempt) {
  proxyRequest(connectTo("www.allowed.test", 443), Target::kConnect);
  ASSERT_FALSE(connector_.lastCancelled());
  stream_.cancel();
  EXPECT_TRUE(connector_.lastCancelled());
  EXPECT_TRUE(host_.logs.empty());
}

// ---------------------------------------------------------------- tunnel and forward

TEST_F(StreamTest, AllowedConnectTunnelsAndLogsOnceAtTheEnd) {
  proxyRequest(connectTo("WWW.Allowed.Test", 443), Target::kConnect);
  connector_.finish(upstream::Outcome::kConnected);
  EXPECT_EQ(host_.tunnels, 1);
  EXPECT_EQ(host_.intercepts, 0);
  EXPECT_TRUE(host_.logs.empty());
  EXPECT_FALSE(stream_.decision().interception.intercept);
  EXPECT_NE(stream_.decision().interception.reason.find("not intercepted"), std::string::npos);
  clock_.advance(milliseconds(1500));
  stream_.complete(200, 1000, 2000);
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.log_text[0],
            "default|connect|CONNECT|www.allowed.test:443|192.0.2.10|allow|*.allowed.test:443|"
            "allowed by rule \"*.allowed.test:443\"|forward-bypass|200");
  EXPECT_EQ(host_.logs[0].bytes_up, 1000u);
  EXPECT_EQ(host_.logs[0].bytes_down, 2000u);
  EXPECT_DOUBLE_EQ(host_.logs[0].duration_ms, 1500.0);
  EXPECT_EQ(metrics_.bytes_up.get(), 1000u);
  EXPECT_EQ(metrics_.bytes_down.get(), 2000u);
}

TEST_F(StreamTest, ForwardReusesAKeptUpstreamForTheSameHostAndPort) {
  proxyRequest(get("http", "API.allowed.test", 80, "/one"), Target::kAbsolute);
  ASSERT_EQ(connector_.attempts(), 1u);
  connector_.finish(upstream::Outcome::kConnected);
  ASSERT_EQ(host_.forwards.size(), 1u);
  EXPECT_TRUE(host_.forwards[0].new_upstream);
  EXPECT_EQ(host_.forwards[0].request.host, "api.allowed.test");
  EXPECT_EQ(host_.forwards[0].request.scheme, "http");
  EXPECT_EQ(host_.forwards[0].request.path, "/one");
  stream_.complete(200, 10, 20);

  host_.keep_upstream = true;  // the connection kept it alive
  proxyRequest(get("http", "api.allowed.test", 80, "/two"), Target::kAbsolute);
  EXPECT_EQ(connector_.attempts(), 1u) << "no new connect";
  ASSERT_EQ(host_.forwards.size(), 2u);
  EXPECT_FALSE(host_.forwards[1].new_upstream);
  EXPECT_EQ(host_.forwards[1].request.path, "/two");
  ASSERT_EQ(host_.keep_asked.size(), 2u);
  EXPECT_EQ(host_.keep_asked[1], (std::pair<std::string, uint16_t>{"api.allowed.test", 80}));
  stream_.complete(204, 5, 0);
  EXPECT_EQ(host_.logs.size(), 2u);
  EXPECT_EQ(host_.logs[1].status, 204);
}

TEST_F(StreamTest, ConnectNeverAsksToReuseAnUpstream) {
  host_.keep_upstream = true;
  proxyRequest(connectTo("www.allowed.test", 443), Target::kConnect);
  EXPECT_TRUE(host_.keep_asked.empty());
  EXPECT_EQ(connector_.attempts(), 1u);
}

// ---------------------------------------------------------------- interception

TEST_F(StreamTest, ConnectToACredentialHostWithACaIsIntercepted) {
  proxyRequest(connectTo("ampcode.com", 443), Target::kConnect);
  connector_.finish(upstream::Outcome::kConnected);
  EXPECT_EQ(host_.intercepts, 1);
  EXPECT_EQ(host_.tunnels, 0);
  EXPECT_TRUE(stream_.decision().interception.intercept);
  ASSERT_NE(stream_.plan(), nullptr);
  ASSERT_NE(stream_.credentials(), nullptr);
  EXPECT_EQ(stream_.plan()->toString().find(kAmpKey), std::string::npos) << "names only";
}

TEST_F(StreamTest, InterceptionNeedsTlsAndTheSandboxCa) {
  std::unordered_map<std::string, std::shared_ptr<const tls::LeafMinter>> none;
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant);
    env_.tls_configured = variant != 0;
    env_.minters = variant == 0 ? minters_ : &none;
    const int before = host_.tunnels;
    proxyRequest(connectTo("ampcode.com", 443), Target::kConnect);
    connector_.finish(upstream::Outcome::kConnected);
    EXPECT_EQ(host_.tunnels, before + 1) << "falls back to an opaque tunnel";
    EXPECT_FALSE(stream_.decision().interception.intercept);
    EXPECT_NE(stream_.decision().interception.reason.find("not intercepted"), std::string::npos);
  }
  EXPECT_EQ(host_.intercepts, 0);
}

class InnerRequestTest : public StreamTest {
 protected:
  void SetUp() override {
    StreamTest::SetUp();
    proxyRequest(connectTo("ampcode.com", 443), Target::kConnect);
    connector_.finish(upstream::Outcome::kConnected);
    ASSERT_EQ(host_.intercepts, 1);
    stream_.setIntercepted(true);
    ic_.host = stream_.host();
    ic_.port = stream_.port();
    ic_.sni = "ampcode.com";
    ic_.decision = stream_.decision();
    ic_.address = stream_.address();
    ic_.creds = stream_.credentials();
    ic_.plan = stream_.plan();
    host_.keep_upstream = true;
  }
  void inner(const http::Request& r, Target t = Target::kOrigin) {
    request_ = r;
    stream_.begin(sandbox_, clock_.now());
    stream_.onInnerRequest(request_, t, ic_);
  }
  InterceptContext ic_;
};

TEST_F(InnerRequestTest, TheBoundKeyIsInjectedOnlyIntoTheForwardedRequest) {
  http::Request r = get("", "ampcode.com", 0, "/api/threads");
  inner(r);
  ASSERT_EQ(host_.forwards.size(), 1u);
  const http::Request& fwd = host_.forwards[0].request;
  EXPECT_EQ(fwd.scheme, "https");
  const http::Header* auth = http::findHeader(fwd.headers, "Authorization");
  ASSERT_NE(auth, nullptr);
  EXPECT_EQ(auth->value, std::string("Bearer ") + kAmpKey);
  EXPECT_EQ(http::findHeader(request_.headers, "Authorization"), nullptr)
      << "the received request is never edited";
  EXPECT_EQ(metrics_.credential_injections[admin::idx(admin::Injection::kHeader)].get(), 1u);
  EXPECT_EQ(metrics_.credential_injections[admin::idx(admin::Injection::kPlaceholder)].get(), 0u);
  stream_.complete(200, 1, 2);
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].proxy, "forward");
  EXPECT_EQ(host_.logs[0].type, "http");
  for (const auto& line : host_.log_text) EXPECT_EQ(line.find(kAmpKey), std::string::npos);
}

TEST_F(InnerRequestTest, HostOrSniOtherThanTheConnectHostIs421) {
  struct Case {
    std::string host;
    uint16_t port;
    std::string sni;
    std::string_view detail;
  };
  for (const Case& c : std::vector<Case>{{"evil.test", 0, "ampcode.com", "Host header"},
                                         {"ampcode.com", 8443, "ampcode.com", "Host header"},
                                         {"ampcode.com", 0, "evil.test", "TLS SNI"},
                                         {"AMPCODE.com", 443, "", ""}}) {
    SCOPED_TRACE(c.host + " / " + c.sni);
    ic_.sni = c.sni;
    const size_t replies = host_.replies.size();
    const size_t forwards = host_.forwards.size();
    inner(get("", c.host, c.port, "/"));
    if (c.detail.empty()) {
      EXPECT_EQ(host_.forwards.size(), forwards + 1) << "same host (case, default port) is fine";
      continue;
    }
    ASSERT_EQ(host_.replies.size(), replies + 1);
    EXPECT_EQ(host_.replies.back().status, 421);
    EXPECT_NE(host_.replies.back().log.find(c.detail), std::string::npos)
        << host_.replies.back().log;
    EXPECT_EQ(host_.forwards.size(), forwards);
  }
}

TEST_F(InnerRequestTest, OnlyOriginFormInsideTheTunnel) {
  inner(get("http", "ampcode.com", 80, "/"), Target::kAbsolute);
  ASSERT_EQ(host_.replies.size(), 1u);
  EXPECT_EQ(host_.replies[0].status, 400);
  EXPECT_TRUE(host_.forwards.empty());
}

TEST_F(InnerRequestTest, APendingUpstreamTlsFailureAnswersTheNextRequestOnce) {
  ic_.upstream_error = "TLS with upstream ampcode.com failed: certificate verify failed";
  inner(get("", "ampcode.com", 0, "/"));
  ASSERT_EQ(host_.replies.size(), 1u);
  EXPECT_EQ(host_.replies[0].status, 502);
  EXPECT_NE(host_.replies[0].log.find("certificate verify failed"), std::string::npos);
  EXPECT_TRUE(ic_.upstream_error.empty());
}

TEST_F(InnerRequestTest, AClosedUpstreamIsReconnectedWithTheConnectDecision) {
  host_.keep_upstream = false;
  inner(get("", "ampcode.com", 0, "/again"));
  ASSERT_EQ(connector_.attempts(), 2u);
  EXPECT_EQ(connector_.last().host.text, "ampcode.com");
  EXPECT_EQ(connector_.last().port, 443);
  EXPECT_TRUE(connector_.last().decision.interception.intercept);
  connector_.finish(upstream::Outcome::kConnected, "192.0.2.99");
  ASSERT_EQ(host_.forwards.size(), 1u);
  EXPECT_TRUE(host_.forwards[0].new_upstream);
  EXPECT_EQ(ic_.address, "192.0.2.99");
}

TEST_F(InnerRequestTest, ResponseHeadersAreScrubbedOfTheKey) {
  http::ResponseHead resp;
  resp.status = 200;
  resp.headers = {{"X-Echo", std::string("Bearer ") + kAmpKey}, {"Content-Type", "text/plain"}};
  stream_.onResponseHead(resp);
  for (const auto& h : resp.headers) EXPECT_EQ(h.value.find(kAmpKey), std::string::npos) << h.name;
}

// ---------------------------------------------------------------- transparent connections

class TransparentTest : public StreamTest {
 protected:
  void transparent(const char* address, uint16_t port, std::string name = {},
                   TransparentTarget::NameSource source = TransparentTarget::NameSource::kNone,
                   const sandbox::Sandbox* sandbox = nullptr) {
    TransparentTarget t;
    t.address = *policy::IpAddress::parse(address);
    t.port = port;
    t.name = std::move(name);
    t.source = source;
    stream_.begin(sandbox != nullptr ? sandbox : sandbox_, clock_.now());
    stream_.onTransparent(t);
  }
};

TEST_F(TransparentTest, AnAllowedNameGoesToTheOriginalAddressAsATunnelNeverIntercepted) {
  // ampcode.com has a credential bound: a CONNECT to it is intercepted, a
  // transparent connection never is.
  for (const std::string name : {"www.allowed.test", "ampcode.com"}) {
    SCOPED_TRACE(name);
    FakeHost before = host_;
    transparent("203.0.113.7", 443, name, TransparentTarget::NameSource::kSni);
    ASSERT_EQ(connector_.last().host.text, name);
    ASSERT_TRUE(connector_.last().original.has_value());
    EXPECT_EQ(connector_.last().original->toString(), "203.0.113.7");
    EXPECT_FALSE(connector_.last().original_resolved) << "an SNI name must resolve to the address";
    connector_.finish(upstream::Outcome::kConnected, "203.0.113.7");
    EXPECT_EQ(host_.tunnels, before.tunnels + 1);
    EXPECT_EQ(host_.intercepts, 0);
    EXPECT_TRUE(host_.replies.empty());
    stream_.answered();
    stream_.complete(200, 10, 20, false);
    ASSERT_EQ(host_.logs.size(), before.logs.size() + 2);
    for (size_t i = before.logs.size(); i < host_.logs.size(); ++i) {
      EXPECT_EQ(host_.logs[i].type, "transparent");
      EXPECT_EQ(host_.logs[i].proxy, "transparent");
      EXPECT_EQ(host_.logs[i].host, name);
      EXPECT_EQ(host_.logs[i].address, "203.0.113.7");
      EXPECT_TRUE(host_.logs[i].allowed);
    }
  }
}

TEST_F(TransparentTest, ANameFromKitgatesOwnDnsAnswerIsNotResolvedAgain) {
  transparent("203.0.113.7", 443, "www.allowed.test", TransparentTarget::NameSource::kDns);
  ASSERT_EQ(connector_.attempts(), 1u);
  EXPECT_TRUE(connector_.last().original_resolved);
}

TEST_F(TransparentTest, ARefusedConnectionIsLoggedAsTransparentAndCountedBlocked) {
  struct Case {
    const char* address;
    uint16_t port;
    std::string name;
  };
  for (const Case& c : std::vector<Case>{{"203.0.113.7", 443, "deny.allowed.test"},
                                         {"203.0.113.7", 22, "www.allowed.test"},
                                         {"203.0.113.7", 22, ""},
                                         {"2001:db8::7", 443, ""}}) {
    SCOPED_TRACE(std::string(c.address) + " " + c.name);
    FakeHost before = host_;
    const uint64_t blocked_before = blocked(admin::ReqType::kTransparent);
    transparent(c.address, c.port, c.name,
                c.name.empty() ? TransparentTarget::NameSource::kNone
                               : TransparentTarget::NameSource::kSni);
    EXPECT_EQ(connector_.attempts(), 0u) << "no upstream is reached";
    ASSERT_EQ(host_.replies.size(), before.replies.size() + 1);
    EXPECT_TRUE(host_.replies.back().policy_block);
    ASSERT_EQ(host_.logs.size(), before.logs.size() + 1);
    const auto& line = host_.logs.back();
    EXPECT_EQ(line.type, "transparent");
    EXPECT_FALSE(line.allowed);
    EXPECT_EQ(line.port, c.port);
    EXPECT_EQ(line.address, policy::IpAddress::parse(c.address)->toString());
    EXPECT_EQ(line.host, c.name.empty() ? policy::IpAddress::parse(c.address)->toString() : c.name);
    EXPECT_EQ(blocked(admin::ReqType::kTransparent), blocked_before + 1);
  }
  EXPECT_EQ(host_.tunnels, 0);
}

TEST_F(TransparentTest, ANameThatDoesNotResolveToTheAddressIsRefused) {
  transparent("203.0.113.7", 443, "www.allowed.test", TransparentTarget::NameSource::kSni);
  connector_.finish(upstream::Outcome::kAddressBlocked, "203.0.113.7");
  EXPECT_EQ(host_.tunnels, 0);
  ASSERT_EQ(host_.replies.size(), 1u);
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].type, "transparent");
  EXPECT_FALSE(host_.logs[0].allowed);
}

TEST_F(TransparentTest, AnUnrecognisedClientIsRefusedBeforeAnyDecision) {
  TransparentTarget t;
  t.address = *policy::IpAddress::parse("203.0.113.7");
  t.port = 443;
  t.name = "www.allowed.test";
  t.source = TransparentTarget::NameSource::kSni;
  stream_.begin(nullptr, clock_.now());
  stream_.onTransparent(t);
  EXPECT_EQ(connector_.attempts(), 0u);
  ASSERT_EQ(host_.replies.size(), 1u);
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].sandbox, "-");
  EXPECT_EQ(host_.logs[0].type, "transparent");
}

TEST_F(TransparentTest, TheBareAddressDecidesOnlyWhenAnAddressRuleOrDoubleStarAllowsIt) {
  auto reg = sandbox::singleTenantRegistry({sandbox::RuleSource{
      "cidr.yaml", {{"203.0.113.0/24:22", 1, 1}, {"github.com:22", 2, 1}}, {}}});
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const sandbox::Sandbox* cidr = (*reg)->identifyBySource(policy::IpAddress{});
  ASSERT_NE(cidr, nullptr);
  const auto a = *policy::IpAddress::parse("203.0.113.7");
  EXPECT_TRUE(Stream::addressAllowed(*cidr, a, 22));
  EXPECT_FALSE(Stream::addressAllowed(*cidr, a, 443));
  EXPECT_FALSE(Stream::addressAllowed(*cidr, *policy::IpAddress::parse("198.51.100.1"), 22));
  EXPECT_FALSE(Stream::addressAllowed(*sandbox_, a, 443)) << "name rules never allow an address";
  auto all = sandbox::singleTenantRegistry({sandbox::RuleSource{"all.yaml", {{"**", 1, 1}}, {}}});
  ASSERT_TRUE(all.isOk());
  EXPECT_TRUE(Stream::addressAllowed(*(*all)->identifyBySource(policy::IpAddress{}), a, 5432));

  // Allowed by the address rule: connected and tunnelled, counted as transparent.
  transparent("203.0.113.7", 22, {}, TransparentTarget::NameSource::kNone, cidr);
  ASSERT_EQ(connector_.attempts(), 1u);
  EXPECT_TRUE(connector_.last().host.isIp());
  connector_.finish(upstream::Outcome::kConnected, "203.0.113.7");
  EXPECT_EQ(host_.tunnels, 1);
}

// ---------------------------------------------------------------- first flight of a tunnel

// What the sandbox's first bytes in an opaque tunnel said (the peek itself is
// tested in tests/proxy/tls/client_hello_test.cc).
tls::ClientHelloPeek hello(std::string sni) {
  return {tls::ClientHelloPeek::Result::kHello, std::move(sni)};
}
tls::ClientHelloPeek peekOf(tls::ClientHelloPeek::Result r) { return {r, {}}; }

struct FirstFlightCase {
  const char* what;
  tls::ClientHelloPeek peek;
  bool client_eof;
  bool goes_on;
  admin::TunnelSni counted;
  const char* sni_check;
};

class TunnelFirstFlight : public StreamTest,
                          public ::testing::WithParamInterface<FirstFlightCase> {};

// CONNECT www.allowed.test:443 (policy: *.allowed.test:443, ssh.only.test:22,
// deny deny.allowed.test), not intercepted, connected; then the first flight.
TEST_P(TunnelFirstFlight, OnlyANameThePolicyAllowsOnThisPortGoesOn) {
  const FirstFlightCase& c = GetParam();
  proxyRequest(connectTo("www.allowed.test", 443), Target::kConnect);
  connector_.finish(upstream::Outcome::kConnected);
  ASSERT_EQ(host_.tunnels, 1);
  EXPECT_EQ(stream_.onFirstFlight(c.peek, c.client_eof), c.goes_on) << c.what;
  for (size_t i = 0; i < metrics_.tunnel_sni.size(); ++i) {
    EXPECT_EQ(metrics_.tunnel_sni[i].get(), i == admin::idx(c.counted) ? 1u : 0u) << i;
  }
  if (c.goes_on) {
    EXPECT_TRUE(host_.replies.empty());
    stream_.answered();
    stream_.complete(200, 1, 2, false);
    ASSERT_EQ(host_.logs.size(), 2u);
    for (const auto& line : host_.logs) {
      EXPECT_TRUE(line.allowed);
      EXPECT_EQ(line.sni_check, c.sni_check) << "open and close lines say what the check found";
      EXPECT_EQ(line.sni, c.peek.sni);
    }
    return;
  }
  ASSERT_EQ(host_.replies.size(), 1u);
  EXPECT_TRUE(host_.replies[0].policy_block);
  EXPECT_EQ(blocked(admin::ReqType::kConnect), 1u);
  ASSERT_EQ(host_.logs.size(), 1u);
  const auto& line = host_.logs[0];
  EXPECT_FALSE(line.allowed);
  EXPECT_EQ(line.type, "connect");
  EXPECT_EQ(line.host, "www.allowed.test");
  EXPECT_EQ(line.sni_check, "refused");
  EXPECT_EQ(line.sni, c.peek.sni);
  EXPECT_NE(line.reason.find("tunnel to www.allowed.test:443 refused"), std::string::npos)
      << line.reason;
  if (!c.peek.sni.empty()) {
    EXPECT_NE(line.reason.find(c.peek.sni), std::string::npos);
  }
}

using Result = tls::ClientHelloPeek::Result;
INSTANTIATE_TEST_SUITE_P(
    Flights, TunnelFirstFlight,
    ::testing::Values(FirstFlightCase{"same_name", hello("www.allowed.test"), false, true,
                                      admin::TunnelSni::kMatch, "match"},
                      FirstFlightCase{"other_allowed_name", hello("cdn.allowed.test"), false, true,
                                      admin::TunnelSni::kOtherAllowed, "other-allowed"},
                      FirstFlightCase{"name_allowed_on_another_port_only", hello("ssh.only.test"),
                                      false, false, admin::TunnelSni::kRefused, "refused"},
                      FirstFlightCase{"denied_name", hello("deny.allowed.test"), false, false,
                                      admin::TunnelSni::kRefused, "refused"},
                      FirstFlightCase{"unlisted_name", hello("evil.example"), false, false,
                                      admin::TunnelSni::kRefused, "refused"},
                      FirstFlightCase{"ip_literal_name", hello("192.0.2.10"), false, false,
                                      admin::TunnelSni::kRefused, "refused"},
                      FirstFlightCase{"hello_without_name", hello(""), false, true,
                                      admin::TunnelSni::kAbsent, "absent"},
                      FirstFlightCase{"not_tls", peekOf(Result::kNotTls), false, true,
                                      admin::TunnelSni::kNotTls, "not-tls"},
                      FirstFlightCase{"malformed_tls", peekOf(Result::kMalformed), false, false,
                                      admin::TunnelSni::kRefused, "refused"},
                      FirstFlightCase{"hello_cut_short_by_eof", peekOf(Result::kIncomplete), true,
                                      false, admin::TunnelSni::kRefused, "refused"}),
    [](const ::testing::TestParamInfo<FirstFlightCase>& i) { return std::string(i.param.what); });

TEST_F(StreamTest, AnotherNameMustBeAllowedByANameRuleNotJustAnAddressRule) {
  auto reg = sandbox::singleTenantRegistry({sandbox::RuleSource{
      "cidr.yaml", {{"192.0.2.0/24", 1, 1}, {"www.allowed.test", 2, 1}}, {}}});
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const sandbox::Sandbox* cidr = (*reg)->identify(policy::IpAddress{}, std::nullopt);
  ASSERT_NE(cidr, nullptr);
  request_ = connectTo("www.allowed.test", 443);
  stream_.begin(cidr, clock_.now());
  stream_.onProxyRequest(request_, Target::kConnect);
  connector_.finish(upstream::Outcome::kConnected, "192.0.2.10");
  // Any name might resolve into 192.0.2.0/24; the tunnel still may not front one.
  EXPECT_FALSE(stream_.onFirstFlight(hello("fronted.example"), false));
  EXPECT_EQ(metrics_.tunnel_sni[admin::idx(admin::TunnelSni::kRefused)].get(), 1u);
}

TEST_F(StreamTest, ATunnelWhoseServerSpeaksFirstIsNotChecked) {
  proxyRequest(connectTo("www.allowed.test", 443), Target::kConnect);
  connector_.finish(upstream::Outcome::kConnected);
  stream_.onServerFirst();
  EXPECT_EQ(metrics_.tunnel_sni[admin::idx(admin::TunnelSni::kServerFirst)].get(), 1u);
  stream_.answered();
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].sni_check, "server-first");
}

TEST_F(TransparentTest, AHelloMustCarryExactlyTheNameKitgatesDnsGave) {
  // Another name the policy allows is not enough: the address came from the DNS answer.
  for (const auto& [name, goes_on] : std::vector<std::pair<std::string, bool>>{
           {"www.allowed.test", true}, {"cdn.allowed.test", false}, {"evil.example", false}}) {
    SCOPED_TRACE(name);
    FakeHost before = host_;
    transparent("203.0.113.7", 443, "www.allowed.test", TransparentTarget::NameSource::kDns);
    connector_.finish(upstream::Outcome::kConnected, "203.0.113.7");
    EXPECT_EQ(stream_.onFirstFlight(hello(name), false), goes_on);
    EXPECT_EQ(host_.replies.size(), before.replies.size() + (goes_on ? 0 : 1));
    if (!goes_on) {
      EXPECT_EQ(host_.logs.back().type, "transparent");
      EXPECT_EQ(host_.logs.back().sni, name);
      EXPECT_EQ(host_.logs.back().sni_check, "refused");
    }
  }
}

// ---------------------------------------------------------------- every EndReason

class EveryEndReason : public StreamTest, public ::testing::WithParamInterface<int> {};

TEST_P(EveryEndReason, RepliesWithTheTableStatusAndLogsOnce) {
  const auto reason = static_cast<EndReason>(GetParam());
  proxyRequest(connectTo("www.allowed.test", 443), Target::kConnect);
  stream_.end(reason, "detail text", reason == EndReason::kBadRequest ? 431 : 0);
  const EndResponse want = describeEnd(reason, {"www.allowed.test", "www.allowed.test", 443},
                                       "detail text", reason == EndReason::kBadRequest ? 431 : 0);
  ASSERT_EQ(host_.replies.size(), 1u) << toString(reason);
  EXPECT_EQ(host_.replies[0].status, want.status);
  EXPECT_EQ(host_.replies[0].body, want.body);
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_FALSE(host_.logs[0].allowed);
  EXPECT_EQ(host_.logs[0].status, want.status);
  EXPECT_EQ(host_.logs[0].reason, want.log);
  EXPECT_TRUE(connector_.lastCancelled()) << "an ending cancels the pending attempt";
}

INSTANTIATE_TEST_SUITE_P(AllReasons, EveryEndReason,
                         ::testing::Range(0, static_cast<int>(EndReason::kCount)),
                         [](const ::testing::TestParamInfo<int>& i) {
                           std::string n(toString(static_cast<EndReason>(i.param)));
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace kitgate::stream
