// The HTTP/2 relay in memory: a sandbox's HTTP/2 client and an origin's
// HTTP/2 server on either side of an H2Relay running the real stream
// pipeline (policy decision of the CONNECT, Host/SNI check, credential
// injection, response scrub, policy log) — no sockets, no TLS.
#include "proxy/server/h2_relay.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/sandbox/registry.h"
#include "proxy/secrets/oauth_refresher.h"
#include "proxy/secrets/store.h"
#include "proxy/stream/oauth_wait.h"
#include "tests/support/fake_clock.h"
#include "tests/support/h2_recorder.h"
#include "tests/support/subprocess.h"

namespace kitgate::server {
namespace {

namespace fs = std::filesystem;
using testing::Buffer;
using testing::Recorder;

constexpr const char* kKey = "sk-REAL-h2-0123456789";
constexpr const char* kHost = "api.h2.test";

// Every upstream of these tests is the relay's one HTTP/2 connection.
class NoConnector final : public upstream::Connector {
 public:
  std::unique_ptr<upstream::Attempt> connect(upstream::ConnectRequest, Callback) override {
    ADD_FAILURE() << "an HTTP/2 stream asked for a new upstream connection";
    return nullptr;
  }
};

struct Line {
  std::string id, method, host, reason, error;
  bool allowed;
  int status;
  uint64_t up, down;
};

class H2RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = kitgate::testing::TempDir::create("h2-relay-test");
    ASSERT_TRUE(dir.isOk());
    dir_.emplace(std::move(*dir));
    const fs::path root = dir_->path();
    auto reg = sandbox::singleTenantRegistry(
        {sandbox::RuleSource{"test.yaml", {{std::string(kHost) + ":443", 1, 1}}, {}}});
    ASSERT_TRUE(reg.isOk()) << reg.status().message();
    registry_ = *reg;
    fs::create_directories(root / "credentials");
    std::ofstream(root / "secrets.yaml")
        << "services:\n  - {service: h2, scope: global, value: \"" << kKey << "\"}\n";
    fs::permissions(root / "secrets.yaml", fs::perms(0600));
    std::ofstream(root / "credentials/default.yaml")
        << "routes:\n  - {service: h2, domains: [" << kHost
        << "], header: Authorization, format: \"Bearer %s\"}\n";
    auto store = secrets::loadStore(root.string());
    ASSERT_TRUE(store.isOk()) << store.status().message();
    store_ = *store;
    sandbox_ = registry_->identify(policy::IpAddress{}, std::nullopt);
    ASSERT_NE(sandbox_, nullptr);

    env_.metrics = &metrics_;
    env_.connector = &connector_;
    env_.clock = &clock_;
    env_.tls_configured = true;
    env_.secrets = store_.get();

    auto host = policy::normalizeHost(kHost, policy::Ipv6Brackets::kOptional);
    ASSERT_TRUE(host.isOk());
    ic_.host = *host;
    ic_.port = 443;
    ic_.sni = kHost;
    ic_.decision = sandbox_->policy().evaluate(ic_.host, 443);
    ic_.creds = store_->forSandbox("default");
    ASSERT_NE(ic_.creds, nullptr);
    ic_.plan = ic_.creds->planFor(ic_.host);
    ASSERT_NE(ic_.plan, nullptr);
    makeRelay(http2::Limits{});
  }

  void makeRelay(const http2::Limits& limits) {
    H2Relay::Context c;
    c.env = &env_;
    c.ic = &ic_;
    c.sandbox = sandbox_;
    c.client = "192.0.2.1:5555";
    c.next_id = [this] { return "id" + std::to_string(++ids_); };
    c.log = [this](const admin::PolicyRecord& r) {
      lines_.push_back({std::string(r.id), std::string(r.method), std::string(r.host),
                        std::string(r.reason), std::string(r.error), r.allowed, r.status,
                        r.bytes_up, r.bytes_down});
      std::string all = std::string(r.reason) + std::string(r.error) + std::string(r.host);
      EXPECT_EQ(all.find(kKey), std::string::npos) << "a secret in the policy log";
    };
    c.limits = limits;
    c.resume = [this] { ++resumes_; };
    auto relay = H2Relay::create(std::move(c));
    ASSERT_TRUE(relay.isOk()) << relay.status().message();
    relay_ = std::move(relay.value());
    auto sandbox = http2::Session::create(http2::Session::Role::kClient, limits, sandbox_rec_);
    auto origin = http2::Session::create(http2::Session::Role::kServer, limits, origin_rec_);
    ASSERT_TRUE(sandbox.isOk() && origin.isOk());
    sandbox_h2_ = std::move(sandbox.value());
    origin_h2_ = std::move(origin.value());
    sandbox_rec_.session = sandbox_h2_.get();
    origin_rec_.session = origin_h2_.get();
  }

  // Moves frames sandbox <-> relay <-> origin until nobody has more (bounded).
  void pump() {
    Buffer s2r, r2s, r2o, o2r;
    for (int i = 0; i < 10000; ++i) {
      ASSERT_TRUE(sandbox_h2_->flush(s2r.b, 1 << 20).isOk());
      ASSERT_TRUE(origin_h2_->flush(o2r.b, 1 << 20).isOk());
      if (evbuffer_get_length(s2r.b) > 0) client_status_ = relay_->onClientBytes(s2r.b);
      if (evbuffer_get_length(o2r.b) > 0) upstream_status_ = relay_->onUpstreamBytes(o2r.b);
      ASSERT_TRUE(relay_->flush(r2s.b, r2o.b, 1 << 20).isOk());
      if (evbuffer_get_length(r2s.b) == 0 && evbuffer_get_length(r2o.b) == 0 &&
          !sandbox_h2_->wantsWrite() && !origin_h2_->wantsWrite()) {
        return;
      }
      ASSERT_TRUE(sandbox_h2_->dispatch(r2s.b).isOk());
      ASSERT_TRUE(origin_h2_->dispatch(r2o.b).isOk());
    }
    ADD_FAILURE() << "the relay never went quiet";
  }

  static http::Request request(std::string authority_host = kHost, std::string path = "/v1/x") {
    http::Request r;
    r.method = "POST";
    r.scheme = "https";
    r.host = std::move(authority_host);
    r.path = std::move(path);
    r.headers = {{"content-type", "application/grpc"}, {"te", "trailers"}};
    return r;
  }

  int32_t open(const http::Request& r, bool end_stream) {
    auto id = sandbox_h2_->submitRequest(r, end_stream);
    EXPECT_TRUE(id.isOk());
    return id.isOk() ? id.value() : -1;
  }

  // The origin answers its stream `id`: head, body, trailers.
  void answer(int32_t id, int status, std::vector<http::Header> headers, std::string body,
              std::vector<http::Header> trailers) {
    http::ResponseHead head;
    head.status = status;
    head.headers = std::move(headers);
    ASSERT_TRUE(origin_h2_->submitResponse(id, head, false).isOk());
    Buffer b;
    evbuffer_add(b.b, body.data(), body.size());
    origin_h2_->sendData(id, b.b, trailers.empty());
    if (!trailers.empty()) origin_h2_->sendTrailers(id, std::move(trailers));
  }

  std::optional<kitgate::testing::TempDir> dir_;
  std::shared_ptr<const sandbox::Registry> registry_;
  std::shared_ptr<const secrets::Store> store_;
  const sandbox::Sandbox* sandbox_ = nullptr;
  admin::WorkerMetrics metrics_;
  NoConnector connector_;
  kitgate::testing::FakeClock clock_;
  stream::StreamEnv env_;
  stream::InterceptContext ic_;
  int ids_ = 0;
  int resumes_ = 0;
  std::vector<Line> lines_;
  std::unique_ptr<H2Relay> relay_;
  Recorder sandbox_rec_, origin_rec_;
  std::unique_ptr<http2::Session> sandbox_h2_, origin_h2_;
  Status client_status_ = Status::ok();
  Status upstream_status_ = Status::ok();
};

TEST_F(H2RelayTest, CredentialInjectedOnDecodedHeadersResponseScrubbedTrailersIntact) {
  const int32_t sid = open(request(), false);
  Buffer body;
  evbuffer_add(body.b, "grpc-frame", 10);
  sandbox_h2_->sendData(sid, body.b, true);
  pump();
  ASSERT_EQ(origin_rec_.heads.size(), 1u);
  const auto& [oid, got] = *origin_rec_.heads.begin();
  ASSERT_EQ(got.size(), 1u);
  const http::Request& at_origin = got[0].head.request;
  EXPECT_EQ(at_origin.host, kHost);
  EXPECT_EQ(at_origin.path, "/v1/x");
  const http::Header* auth = http::findHeader(at_origin.headers, "authorization");
  ASSERT_NE(auth, nullptr);
  EXPECT_EQ(auth->value, std::string("Bearer ") + kKey);
  EXPECT_NE(http::findHeader(at_origin.headers, "te"), nullptr) << "gRPC needs te: trailers";
  EXPECT_EQ(origin_rec_.bodies[oid], "grpc-frame");

  answer(oid, 200,
         {{"content-type", "application/grpc"}, {"x-echo", std::string("Bearer ") + kKey}},
         "reply-frame", {{"grpc-status", "0"}, {"grpc-message", "ok"}});
  pump();
  const auto& heads = sandbox_rec_.heads[sid];
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(heads[0].head.response.status, 200);
  for (const http::Header& h : heads[0].head.response.headers) {
    EXPECT_EQ(h.value.find(kKey), std::string::npos) << h.name << " carries the injected key";
  }
  EXPECT_EQ(sandbox_rec_.bodies[sid], "reply-frame");
  const std::vector<http::Header> trailers = {{"grpc-status", "0"}, {"grpc-message", "ok"}};
  EXPECT_EQ(heads[1].head.trailers, trailers);
  EXPECT_EQ(sandbox_rec_.closed[sid], http2::ErrorCode::kNoError);
  ASSERT_EQ(lines_.size(), 1u) << "one policy line per stream";
  EXPECT_TRUE(lines_[0].allowed);
  EXPECT_EQ(lines_[0].status, 200);
  EXPECT_EQ(lines_[0].method, "POST");
  EXPECT_EQ(lines_[0].up, 10u);
  EXPECT_EQ(lines_[0].down, 11u);
  EXPECT_EQ(relay_->activeStreams(), 0u);
}

TEST_F(H2RelayTest, EchoedSecretInAResponseBodyBecomesTheSentinelAndTheLengthIsDropped) {
  const int32_t sid = open(request(), true);
  pump();
  ASSERT_EQ(origin_rec_.heads.size(), 1u);
  const int32_t oid = origin_rec_.heads.begin()->first;
  const http::Request& at_origin = origin_rec_.heads.begin()->second[0].head.request;
  const http::Header* encoding = http::findHeader(at_origin.headers, "accept-encoding");
  ASSERT_NE(encoding, nullptr);
  EXPECT_EQ(encoding->value, "identity");
  const std::string echoed = std::string("{\"authorization\": \"Bearer ") + kKey + "\"}";
  answer(oid, 200,
         {{"content-type", "application/json"}, {"content-length", std::to_string(echoed.size())}},
         echoed, {});
  pump();
  const auto& heads = sandbox_rec_.heads[sid];
  ASSERT_FALSE(heads.empty());
  EXPECT_EQ(http::findHeader(heads[0].head.response.headers, "content-length"), nullptr);
  EXPECT_EQ(sandbox_rec_.bodies[sid], "{\"authorization\": \"Bearer proxy-managed\"}");
  EXPECT_EQ(sandbox_rec_.closed[sid], http2::ErrorCode::kNoError);
}

TEST_F(H2RelayTest, AuthorityOtherThanTheConnectHostIs421OnThatStreamOnly) {
  const int32_t bad = open(request("evil.test"), true);
  const int32_t good = open(request(), true);
  pump();
  ASSERT_EQ(sandbox_rec_.heads[bad].size(), 1u);
  EXPECT_EQ(sandbox_rec_.heads[bad][0].head.response.status, 421);
  EXPECT_EQ(origin_rec_.requestCount(), 1u) << "the misdirected stream never reached the origin";
  ASSERT_EQ(origin_rec_.heads.size(), 1u);
  answer(origin_rec_.heads.begin()->first, 204, {}, "", {});
  pump();
  ASSERT_EQ(sandbox_rec_.heads[good].size(), 1u);
  EXPECT_EQ(sandbox_rec_.heads[good][0].head.response.status, 204);
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_FALSE(lines_[0].allowed);
  EXPECT_EQ(lines_[0].status, 421);
  EXPECT_TRUE(lines_[1].allowed);
  EXPECT_TRUE(sandbox_h2_->wantsRead()) << "the connection goes on";
}

TEST_F(H2RelayTest, HundredConcurrentStreamsShareOneUpstreamConnection) {
  std::vector<int32_t> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(open(request(kHost, "/s" + std::to_string(i)), true));
  pump();
  EXPECT_EQ(origin_rec_.requestCount(), 100u);
  for (const auto& [oid, got] : origin_rec_.heads) {
    answer(oid, 200, {}, got[0].head.request.path, {});
  }
  pump();
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(sandbox_rec_.bodies[ids[i]], "/s" + std::to_string(i));
  }
  EXPECT_EQ(lines_.size(), 100u);
  EXPECT_EQ(relay_->activeStreams(), 0u);
}

// Flow control gives every DATA byte back to the connection it arrived on,
// whichever leg finished first: a connection must carry many times its
// window. (Response bytes of an upstream stream that had already ended were
// once never given back: 1 MiB of short responses, and the connection
// stalled for good.)
TEST_F(H2RelayTest, ShortResponsesOnOneConnectionNeverExhaustItsWindow) {
  http2::Limits limits;
  limits.stream_window = 16 * 1024;
  limits.connection_window = 64 * 1024;
  makeRelay(limits);
  const std::string body(1000, 'r');
  size_t done = 0;
  for (int round = 0; round < 30; ++round) {  // 300 KB of responses: 4.7 windows
    std::vector<int32_t> ids;
    for (int i = 0; i < 10; ++i) ids.push_back(open(request(kHost, "/r"), true));
    pump();
    for (auto& [oid, got] : origin_rec_.heads) {
      if (!origin_rec_.ended.count(oid) || origin_rec_.closed.count(oid)) continue;
      if (origin_rec_.sent.count(oid)) continue;  // answered in an earlier round
      answer(oid, 200, {}, body, {});
    }
    pump();
    for (int32_t id : ids) done += sandbox_rec_.bodies[id] == body ? 1 : 0;
    ASSERT_EQ(done, static_cast<size_t>(10 * (round + 1))) << "stalled in round " << round;
  }
  EXPECT_EQ(relay_->activeStreams(), 0u);
}

// The same for request bodies: bytes the sandbox sent on streams that end
// before they reached the origin (the sandbox resets them while the origin
// does not read) are given back, so later uploads still flow.
TEST_F(H2RelayTest, UploadsCutShortNeverExhaustTheSandboxConnectionWindow) {
  http2::Limits limits;
  limits.stream_window = 16 * 1024;
  limits.connection_window = 64 * 1024;
  makeRelay(limits);
  Buffer chunk;
  for (int round = 0; round < 12; ++round) {  // 12 x 32 KiB sent, at most 16 KiB of each read
    const int32_t sid = open(request(kHost, "/up"), false);
    origin_rec_.hold[2 * round + 1] = true;  // the relay's upstream streams are 1, 3, 5, ...
    const std::string data(32 * 1024, 'u');
    evbuffer_add(chunk.b, data.data(), data.size());
    sandbox_h2_->sendData(sid, chunk.b, false);
    pump();
    sandbox_h2_->resetStream(sid, http2::ErrorCode::kCancel);
    pump();
    // The origin gives back what it held of the cancelled stream, as a
    // server does: only the relay's side of the accounting is under test.
    origin_h2_->consume(2 * round + 1, origin_rec_.bodies[2 * round + 1].size());
  }
  const int32_t last = open(request(kHost, "/last"), false);
  const std::string tail(8 * 1024, 't');
  evbuffer_add(chunk.b, tail.data(), tail.size());
  sandbox_h2_->sendData(last, chunk.b, true);
  pump();
  int32_t last_at_origin = -1;
  for (const auto& [oid, got] : origin_rec_.heads) {
    if (got[0].head.request.path == "/last") last_at_origin = oid;
  }
  ASSERT_GE(last_at_origin, 0);
  EXPECT_EQ(origin_rec_.bodies[last_at_origin].size(), tail.size())
      << "the upload never got through";
  EXPECT_TRUE(origin_rec_.ended[last_at_origin]);
}

TEST_F(H2RelayTest, SlowSandboxReaderStallsItsStreamOnlyAndTheRestWaitsAtTheOrigin) {
  http2::Limits limits;
  limits.stream_window = 64 * 1024;
  makeRelay(limits);
  const int32_t slow = open(request(kHost, "/slow"), true);
  const int32_t fast = open(request(kHost, "/fast"), true);
  sandbox_rec_.hold[slow] = true;
  pump();
  ASSERT_EQ(origin_rec_.heads.size(), 2u);
  constexpr size_t kBody = 1024 * 1024;
  int32_t slow_at_origin = -1;
  for (const auto& [oid, got] : origin_rec_.heads) {
    if (got[0].head.request.path == "/slow") slow_at_origin = oid;
    answer(oid, 200, {}, std::string(kBody, 'z'), {});
  }
  pump();
  EXPECT_EQ(sandbox_rec_.bodies[fast].size(), kBody);
  EXPECT_EQ(sandbox_rec_.bodies[slow].size(), limits.stream_window);
  // At most one window in the sandbox's leg and one in the upstream's: the
  // rest never left the origin.
  EXPECT_GE(origin_h2_->queuedBody(slow_at_origin), kBody - 2 * limits.stream_window);
  sandbox_rec_.hold[slow] = false;
  sandbox_h2_->consume(slow, limits.stream_window);
  pump();
  EXPECT_EQ(sandbox_rec_.bodies[slow].size(), kBody);
}

TEST_F(H2RelayTest, SandboxResetCancelsTheUpstreamStreamAndLogsOnce) {
  const int32_t sid = open(request(), false);
  pump();
  ASSERT_EQ(origin_rec_.heads.size(), 1u);
  const int32_t oid = origin_rec_.heads.begin()->first;
  sandbox_h2_->resetStream(sid, http2::ErrorCode::kCancel);
  pump();
  ASSERT_TRUE(origin_rec_.closed.count(oid));
  EXPECT_EQ(origin_rec_.closed[oid], http2::ErrorCode::kCancel);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].error, "stream-reset");
  EXPECT_EQ(relay_->activeStreams(), 0u);
}

TEST_F(H2RelayTest, UpstreamGoneResetsStreamsAndTellsTheSandboxToReconnect) {
  const int32_t sid = open(request(), true);
  pump();
  relay_->upstreamClosed();
  pump();
  ASSERT_TRUE(sandbox_rec_.closed.count(sid));
  EXPECT_NE(sandbox_rec_.closed[sid], http2::ErrorCode::kNoError);
  EXPECT_FALSE(sandbox_h2_->submitRequest(request(), true).isOk()) << "GOAWAY reached the sandbox";
}

// ---------------------------------------------------------------- OAuth

constexpr const char* kAccessSentinel = "sk-ant-oat01-proxy-managed";

// The host is an OAuth resource host (proxy-managed tokens) whose stored
// access token has expired; the proxy's refresher (with a stand-in token
// endpoint) replaces it. No other credential on the host.
class H2RelayOAuthTest : public H2RelayTest {
 protected:
  void SetUp() override {
    H2RelayTest::SetUp();
    const fs::path root = dir_->path();
    std::ofstream(root / "credentials/default.yaml") << "routes: []\n";
    secrets::OAuthRoute route;
    route.service = "anthropic";
    route.token_host = "auth.h2.test";
    route.token_path = "/v1/oauth/token";
    route.resource_hosts = {kHost};
    route.access_sentinel = kAccessSentinel;
    route.refresh_sentinel = "sk-ant-ort01-proxy-managed";
    fs::create_directories(root / "oauth");
    std::ofstream(secrets::oauthRoutesPath(root.string(), "default"))
        << secrets::renderOAuthRoutes({route});
    secrets::OAuthTokens dead;
    dead.access_token = "REAL-at-0";
    dead.refresh_token = "REAL-rt-0";
    dead.updated_at_ms = secrets::unixMillisNow() - 3'600'000;
    dead.expires_at_ms = secrets::unixMillisNow() - 1000;  // expired a second ago
    ASSERT_TRUE(secrets::writeOAuthTokens(root.string(), "default", {{"anthropic", dead}}).isOk());
    vault_ = std::make_shared<secrets::OAuthVault>(root.string());
    auto store = secrets::loadStore(root.string(), vault_.get());
    ASSERT_TRUE(store.isOk()) << store.status().message();
    store_ = *store;
    env_.secrets = store_.get();
    ic_.creds = store_->forSandbox("default");
    ASSERT_NE(ic_.creds, nullptr);
    ic_.plan = ic_.creds->planFor(ic_.host);
    ASSERT_NE(ic_.plan, nullptr);
    ASSERT_EQ(ic_.plan->oauth_resources.size(), 1u);
    slot_ = ic_.plan->oauth_resources[0].slot;
    base_ = event_base_new();
    waits_ = std::make_unique<stream::OAuthWaits>(base_);
    env_.oauth_waits = waits_.get();
    makeRelay(http2::Limits{});
  }

  void TearDown() override {
    relay_.reset();
    waits_.reset();
    if (base_ != nullptr) event_base_free(base_);
  }

  // One refresh by the proxy's refresher: the token endpoint answers with
  // REAL-at-1, and the worker's parked streams are woken as in the proxy.
  void refresh() {
    secrets::OAuthRefresher::Hooks h;
    h.vault = [this] { return vault_; };
    h.post = [this](const secrets::TokenRequest&) -> StatusOr<secrets::TokenAnswer> {
      ++posts_;
      return secrets::TokenAnswer{
          200, R"({"access_token":"REAL-at-1","refresh_token":"REAL-rt-1","expires_in":3600})"};
    };
    h.done = [this](const std::shared_ptr<secrets::OAuthSlot>& slot,
                    secrets::OAuthRefresher::Result) { waits_->wake(slot.get()); };
    secrets::OAuthRefresher refresher(std::move(h));
    refresher.runOnce();
  }

  static http::Request withSentinel(std::string path) {
    http::Request r = request(kHost, std::move(path));
    r.headers.push_back({"authorization", std::string("Bearer ") + kAccessSentinel});
    return r;
  }

  std::string authorizationAtOrigin(int32_t oid) {
    const http::Header* h =
        http::findHeader(origin_rec_.heads[oid].at(0).head.request.headers, "authorization");
    return h == nullptr ? "" : h->value;
  }

  std::shared_ptr<secrets::OAuthVault> vault_;
  std::shared_ptr<secrets::OAuthSlot> slot_;
  event_base* base_ = nullptr;
  std::unique_ptr<stream::OAuthWaits> waits_;
  int posts_ = 0;
};

TEST_F(H2RelayOAuthTest, StreamsWithAnExpiredTokenWaitForOneRefreshWhileOthersFlow) {
  constexpr int kStreams = 20;
  std::vector<int32_t> parked;
  for (int i = 0; i < kStreams; ++i) {
    // Half of them send their body (and trailers) while they wait.
    parked.push_back(open(withSentinel("/p" + std::to_string(i)), i % 2 == 0));
  }
  const int32_t other = open(request(kHost, "/other"), true);  // no OAuth token: not held
  pump();
  EXPECT_TRUE(slot_->refreshWanted()) << "the expired token did not ask for a refresh";
  EXPECT_EQ(waits_->parked(), static_cast<size_t>(kStreams));
  ASSERT_EQ(origin_rec_.requestCount(), 1u) << "a stream went out with the expired token";
  // The stream without a token is answered meanwhile.
  answer(origin_rec_.heads.begin()->first, 200, {}, "flowing", {});
  for (int i = 1; i < kStreams; i += 2) {
    Buffer b;
    const std::string body = "body-of-" + std::to_string(i);
    evbuffer_add(b.b, body.data(), body.size());
    sandbox_h2_->sendData(parked[i], b.b, false);
    sandbox_h2_->sendTrailers(parked[i], {{"x-trailer", std::to_string(i)}});
  }
  pump();
  EXPECT_EQ(sandbox_rec_.bodies[other], "flowing");
  ASSERT_EQ(origin_rec_.requestCount(), 1u);

  refresh();
  EXPECT_EQ(posts_, 1) << "one refresh for every waiting stream";
  EXPECT_EQ(waits_->parked(), 0u);
  EXPECT_GE(resumes_, 1) << "the connection was not told to send the streams";
  pump();
  ASSERT_EQ(origin_rec_.requestCount(), static_cast<size_t>(kStreams + 1));
  for (const auto& [oid, got] : origin_rec_.heads) {
    const std::string& path = got[0].head.request.path;
    if (path == "/other") continue;
    EXPECT_EQ(authorizationAtOrigin(oid), "Bearer REAL-at-1") << path;
    const int i = std::stoi(path.substr(2));
    EXPECT_TRUE(origin_rec_.ended[oid]) << path;
    if (i % 2 == 1) {
      EXPECT_EQ(origin_rec_.bodies[oid], "body-of-" + std::to_string(i));
      ASSERT_GE(got.size(), 2u) << path << ": trailers lost";
      EXPECT_EQ(got.back().head.trailers.at(0).value, std::to_string(i));
    } else {
      EXPECT_EQ(origin_rec_.bodies[oid], "");
    }
    answer(oid, 200, {}, "ok", {});
  }
  pump();
  for (int32_t id : parked) EXPECT_EQ(sandbox_rec_.bodies[id], "ok") << id;
  EXPECT_EQ(relay_->activeStreams(), 0u);
  EXPECT_EQ(metrics_.oauth_waits[admin::idx(admin::OAuthWait::kRefreshEnded)].get(),
            static_cast<uint64_t>(kStreams));
}

// A waiting stream's body is held, not given back to the sandbox's window:
// when the sandbox resets it, the wait ends, nothing reaches the origin, and
// the window comes back (a connection window's worth of later uploads flows).
TEST_F(H2RelayOAuthTest, AWaitingStreamResetByTheSandboxIsDroppedAndItsWindowGivenBack) {
  http2::Limits limits;
  limits.stream_window = 16 * 1024;
  limits.connection_window = 32 * 1024;
  makeRelay(limits);
  const int32_t a = open(withSentinel("/a"), false);
  const int32_t b = open(withSentinel("/b"), false);
  Buffer chunk;
  for (int32_t id : {a, b}) {
    const std::string data(16 * 1024, 'w');
    evbuffer_add(chunk.b, data.data(), data.size());
    sandbox_h2_->sendData(id, chunk.b, false);
  }
  pump();
  ASSERT_EQ(waits_->parked(), 2u);
  sandbox_h2_->resetStream(a, http2::ErrorCode::kCancel);
  sandbox_h2_->resetStream(b, http2::ErrorCode::kCancel);
  pump();
  EXPECT_EQ(waits_->parked(), 0u) << "a reset stream still waits";
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].error, "stream-reset");
  EXPECT_EQ(relay_->activeStreams(), 0u);
  refresh();
  pump();
  EXPECT_EQ(origin_rec_.requestCount(), 0u) << "a reset stream was forwarded";
  // Another upload of the whole connection window gets through.
  const int32_t c = open(request(kHost, "/after"), false);
  const std::string tail(24 * 1024, 't');
  evbuffer_add(chunk.b, tail.data(), tail.size());
  sandbox_h2_->sendData(c, chunk.b, true);
  pump();
  ASSERT_EQ(origin_rec_.requestCount(), 1u);
  EXPECT_EQ(origin_rec_.bodies.begin()->second.size(), tail.size())
      << "the reset streams' held bytes were never given back";
}

TEST_F(H2RelayOAuthTest, TheConnectionClosingDropsItsWaitingStreams) {
  for (int i = 0; i < 3; ++i) open(withSentinel("/c" + std::to_string(i)), i == 0);
  pump();
  ASSERT_EQ(waits_->parked(), 3u);
  relay_.reset();  // the connection closed
  EXPECT_EQ(waits_->parked(), 0u);
  refresh();  // wakes nobody (and touches nothing freed: ASan)
  EXPECT_EQ(posts_, 1);
  EXPECT_EQ(resumes_, 0);
}

TEST_F(H2RelayOAuthTest, TheUpstreamClosingEndsWaitingStreamsAtOnce) {
  const int32_t sid = open(withSentinel("/u"), true);
  pump();
  ASSERT_EQ(waits_->parked(), 1u);
  relay_->upstreamClosed();
  pump();
  EXPECT_EQ(waits_->parked(), 0u);
  ASSERT_FALSE(sandbox_rec_.heads[sid].empty());
  EXPECT_EQ(sandbox_rec_.heads[sid][0].head.response.status, 502);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(origin_rec_.requestCount(), 0u);
}

}  // namespace
}  // namespace kitgate::server
