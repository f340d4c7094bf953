// Proxy-managed OAuth through the real kitgate-proxy: a sandbox logs in at a
// stand-in OAuth provider (HTTPS, test CA) and keeps using it; the real
// tokens stay on the host (the proxy's tokens file), the sandbox only ever
// sees the kit's sentinels. Every response the test client receives (head
// and body), the proxy's logs and /metrics are scanned for every real token
// the provider issued.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "proxy/secrets/oauth.h"
#include "tests/integration/harness.h"
#include "tests/support/https_origin.h"
#include "tests/support/oauth_origin.h"

namespace kitgate::testing {
namespace {

using nlohmann::json;

constexpr const char* kAuthHost = "auth.oauth.test";
constexpr const char* kApiHost = "api.oauth.test";
constexpr const char* kAccessSentinel = "sk-ant-oat01-proxy-managed";
constexpr const char* kRefreshSentinel = "sk-ant-ort01-proxy-managed";

class MitmOAuth : public ::testing::Test {
 protected:
  virtual bool passthrough() const { return false; }

  void SetUp() override {
    auto dir = TempDir::create("oauth");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    work_ = std::make_unique<TempDir>(std::move(dir.value()));
    auto ca = makeTestCa({kAuthHost, kApiHost});
    ASSERT_TRUE(ca.isOk()) << ca.status().message();
    ca_ = std::make_unique<tls::CertificateAuthority>(std::move(ca.value()));
    const std::string ca_file = work_->path() + "/origin-ca.pem";
    auto pem = ca_->certPem();
    ASSERT_TRUE(pem.isOk());
    ASSERT_TRUE(writeFileAtomic(ca_file, *pem).isOk());
    auto origin = OAuthOrigin::start({ca_.get(), {kAuthHost, kApiHost}});
    ASSERT_TRUE(origin.isOk()) << origin.status().message();
    origin_ = std::move(origin.value());

    secrets::OAuthRoute route;
    route.service = "anthropic";
    route.token_host = kAuthHost;
    route.token_path = "/v1/oauth/token";
    route.resource_hosts = {kApiHost};
    route.access_sentinel = kAccessSentinel;
    route.refresh_sentinel = kRefreshSentinel;
    route.passthrough = passthrough();

    ProxyOptions o;
    o.allow = {kAuthHost, kApiHost, "127.0.0.1/32"};
    o.dns_hosts = {{kAuthHost, "127.0.0.1"}, {kApiHost, "127.0.0.1"}};
    o.state_files["oauth/default.json"] = secrets::renderOAuthRoutes({route});
    o.extra_yaml = "tls: {upstream_ca_file: \"" + ca_file + "\"}\n";
    auto proxy = ProxyProcess::start(o);
    ASSERT_TRUE(proxy.isOk()) << proxy.status().message();
    proxy_ = std::move(proxy.value());
    sandbox_ca_ = proxy_->stateDir() + "/ca/default.crt";
    ASSERT_TRUE(waitUntil([&] { return ::access(sandbox_ca_.c_str(), R_OK) == 0; }, 10s));
  }

  void TearDown() override {
    if (!proxy_) return;
    auto metrics = proxy_->metricsText();
    ASSERT_TRUE(metrics.isOk());
    const std::string texts[] = {readFile(proxy_->dir() + "/policy.log"), proxy_->stderrText(),
                                 readFile(proxy_->dir() + "/proxy.stdout"), *metrics};
    for (const std::string& token : origin_->issued()) {
      for (const std::string& t : texts) {
        EXPECT_EQ(t.find(token), std::string::npos) << "a real token in the proxy's output";
      }
      if (passthrough()) continue;
      for (const std::string& r : received_) {
        EXPECT_EQ(r.find(token), std::string::npos) << "a real token reached the sandbox:\n" << r;
      }
    }
  }

  // One request through the proxy as the sandbox sends it; every byte of the
  // response is kept for the scan. Any thread.
  HttpResponse call(const char* host, const std::string& method, const std::string& path,
                    const std::string& headers = "", const std::string& body = "") {
    auto c = HttpsClient::open({proxy_->port(), host, origin_->port(), sandbox_ca_, {}});
    EXPECT_TRUE(c.isOk()) << c.status().message();
    if (!c.isOk()) return {};
    std::string extra = headers;
    if (!body.empty() || method == "POST")
      extra += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    EXPECT_TRUE(c->send(c->request(method, path, extra) + body).isOk());
    auto r = c->readResponse();
    EXPECT_TRUE(r.isOk()) << r.status().message();
    if (!r.isOk()) return {};
    std::lock_guard<std::mutex> lock(received_mu_);
    received_.push_back(r->head + r->body);
    return *r;
  }

  // A resource call with the access sentinel, as the agent makes it.
  HttpResponse resource() {
    return call(kApiHost, "GET", "/v1/me",
                std::string("Authorization: Bearer ") + kAccessSentinel + "\r\n");
  }

  // A login whose access token lives `seconds`; what the provider issues
  // afterwards lives an hour (one proactive refresh, not a stream of them).
  void loginFor(int seconds) {
    origin_->setExpiresIn(seconds);
    ASSERT_EQ(login().status, 200);
    origin_->setExpiresIn(3600);
  }

  // `kitgate secret rm anthropic --sandbox default`: the service leaves the
  // tokens file, then the proxy reloads.
  void removeCredential() {
    ASSERT_TRUE(secrets::updateOAuthTokens(proxy_->stateDir(), "default",
                                           [](std::map<std::string, secrets::OAuthTokens>& t) {
                                             return t.erase("anthropic") > 0;
                                           })
                    .isOk());
    ASSERT_TRUE(proxy_->reloadViaSignal().isOk());
  }

  HttpResponse login() {
    return call(kAuthHost, "POST", "/v1/oauth/token",
                "Content-Type: application/x-www-form-urlencoded\r\n",
                "grant_type=authorization_code&code=abc123&code_verifier=xyz");
  }

  std::map<std::string, secrets::OAuthTokens> stored() {
    auto t = secrets::readOAuthTokens(proxy_->stateDir(), "default");
    EXPECT_TRUE(t.isOk()) << t.status().message();
    return t.isOk() ? *t : std::map<std::string, secrets::OAuthTokens>{};
  }

  std::unique_ptr<TempDir> work_;
  std::unique_ptr<tls::CertificateAuthority> ca_;
  std::unique_ptr<OAuthOrigin> origin_;
  std::unique_ptr<ProxyProcess> proxy_;
  std::string sandbox_ca_;
  std::mutex received_mu_;
  std::vector<std::string> received_;  // every response the sandbox got
};

TEST_F(MitmOAuth, LoginKeepsTheRealTokensOnTheHostAndGivesTheSandboxSentinels) {
  HttpResponse r = login();
  ASSERT_EQ(r.status, 200) << r.head << r.body;
  ASSERT_EQ(origin_->logins(), 1);
  json j = json::parse(r.body);
  EXPECT_EQ(j["access_token"], kAccessSentinel);
  EXPECT_EQ(j["refresh_token"], kRefreshSentinel);
  EXPECT_EQ(j["expires_in"], 3600);
  EXPECT_EQ(j["token_type"], "Bearer");

  auto tokens = stored();
  ASSERT_EQ(tokens.count("anthropic"), 1u);
  EXPECT_EQ(tokens["anthropic"].access_token, origin_->currentAccess());
  EXPECT_EQ(tokens["anthropic"].refresh_token, origin_->currentRefresh());
  EXPECT_GT(tokens["anthropic"].expires_at_ms, secrets::unixMillisNow());
  struct stat st {};
  ASSERT_EQ(::stat(secrets::oauthTokensPath(proxy_->stateDir(), "default").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "the tokens file is readable by others";
}

TEST_F(MitmOAuth, ResourceCallsCarryTheRealTokenAndEchoesComeBackAsTheSentinel) {
  // Before any login the sentinel goes out as it is: the provider refuses it.
  const std::string bearer = std::string("Authorization: Bearer ") + kAccessSentinel + "\r\n";
  EXPECT_EQ(call(kApiHost, "GET", "/v1/me", bearer).status, 401);
  ASSERT_EQ(login().status, 200);
  // At once (the reload that folds the tokens into the scrub set may not
  // have happened yet) and after it.
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = call(kApiHost, "GET", "/v1/me", bearer);
    ASSERT_EQ(r.status, 200) << r.head << r.body;
    EXPECT_EQ(json::parse(r.body)["you_sent"], std::string("Bearer ") + kAccessSentinel);
    EXPECT_EQ(r.header("X-Echo-Authorization").value_or(""),
              std::string("Bearer ") + kAccessSentinel);
    if (i == 0) {
      // The proxy folds the stored tokens into the snapshot with a reload.
      ASSERT_TRUE(waitUntil(
          [&] { return proxy_->metric("kitgate_reloads_total{result=\"ok\"}").value_or(0) >= 1; },
          10s));
    }
  }
  EXPECT_EQ(origin_->authorized(), 2);
}

TEST_F(MitmOAuth, ASandboxRefreshGoesOutWithTheRealRefreshTokenAndRotates) {
  ASSERT_EQ(login().status, 200);
  const std::string first_refresh = origin_->currentRefresh();
  // Form body, then JSON body: the sentinel becomes the stored refresh token.
  HttpResponse r = call(kAuthHost, "POST", "/v1/oauth/token",
                        "Content-Type: application/x-www-form-urlencoded\r\n",
                        std::string("grant_type=refresh_token&refresh_token=") + kRefreshSentinel);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(origin_->refreshes(), 1);
  EXPECT_NE(origin_->tokenRequestBodies().back().find(first_refresh), std::string::npos);
  EXPECT_EQ(json::parse(r.body)["refresh_token"], kRefreshSentinel);
  EXPECT_EQ(stored()["anthropic"].refresh_token, origin_->currentRefresh());  // rotated

  r = call(kAuthHost, "POST", "/v1/oauth/token", "Content-Type: application/json\r\n",
           json{{"grant_type", "refresh_token"}, {"refresh_token", kRefreshSentinel}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(origin_->refreshes(), 2);
  EXPECT_EQ(stored()["anthropic"].access_token, origin_->currentAccess());

  // The rotated access token is the one resource calls now carry.
  r = call(kApiHost, "GET", "/v1/me",
           std::string("Authorization: Bearer ") + kAccessSentinel + "\r\n");
  EXPECT_EQ(r.status, 200);
}

TEST_F(MitmOAuth, AFailedRefreshIsPassedOnAndKeepsTheStoredTokens) {
  ASSERT_EQ(login().status, 200);
  const auto before = stored()["anthropic"];
  origin_->setRefreshFails(true);
  HttpResponse r = call(kAuthHost, "POST", "/v1/oauth/token",
                        "Content-Type: application/x-www-form-urlencoded\r\n",
                        std::string("grant_type=refresh_token&refresh_token=") + kRefreshSentinel);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid_grant"), std::string::npos);
  auto after = stored()["anthropic"];
  EXPECT_EQ(after.access_token, before.access_token);  // kept
  EXPECT_EQ(after.refresh_token, before.refresh_token);
  EXPECT_EQ(after.state, secrets::OAuthTokens::State::kRefreshFailed);
  EXPECT_EQ(after.error, "the token endpoint answered 400");
}

// ---------------------------------------------------------------- the proxy's own refreshes

TEST_F(MitmOAuth, TheProxyRefreshesBeforeExpiryWithoutAnySandboxRequest) {
  loginFor(2);
  const auto login = stored()["anthropic"];
  const std::string first_refresh = origin_->currentRefresh();
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshes() >= 1; }, 10s))
      << "no refresh by the proxy";
  EXPECT_LT(origin_->lastRefreshAtMs(), login.expires_at_ms) << "refreshed only after expiry";
  // It went out with the real refresh token (form-encoded).
  ASSERT_FALSE(origin_->tokenRequestBodies().empty());
  EXPECT_EQ(origin_->tokenRequestBodies().back(),
            "grant_type=refresh_token&refresh_token=" + first_refresh);
  // The rotated tokens are stored, and resource calls carry the new one.
  ASSERT_TRUE(waitUntil(
      [&] { return stored()["anthropic"].refresh_token == origin_->currentRefresh(); }, 10s));
  const auto now = stored()["anthropic"];
  EXPECT_EQ(now.access_token, origin_->currentAccess());
  EXPECT_NE(now.access_token, login.access_token);
  EXPECT_EQ(now.state, secrets::OAuthTokens::State::kOk);
  EXPECT_GT(now.expires_at_ms, secrets::unixMillisNow() + 3000 * 1000);
  // Counted once the new token is published to the workers too (the file
  // is written first).
  ASSERT_TRUE(waitUntil(
      [&] { return proxy_->metric("kitgate_oauth_refresh_total{result=\"ok\"}").value_or(0) == 1; },
      5s));
  HttpResponse r = resource();
  ASSERT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_EQ(origin_->authorized(), 1);
  EXPECT_EQ(origin_->refreshAttempts(), 1);
}

TEST_F(MitmOAuth, FiftyConcurrentRequestsAfterExpiryCauseOneRefreshAndAllCarryTheNewToken) {
  // The refresh the proxy starts half a second before expiry takes 3 s at
  // the provider: the requests that come after expiry meet a dead token
  // while it runs.
  origin_->setRefreshDelay(3000ms);
  loginFor(1);
  const int64_t expires_at = stored()["anthropic"].expires_at_ms;
  ASSERT_TRUE(waitUntil([&] { return secrets::unixMillisNow() > expires_at + 50; }, 5s));
  ASSERT_EQ(origin_->refreshes(), 0) << "answered before the requests came: nothing tested";
  constexpr int kRequests = 50;
  std::vector<int> status(kRequests, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] { status[i] = resource().status; });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(status[i], 200) << "request " << i;
  EXPECT_EQ(origin_->authorized(), kRequests);
  EXPECT_EQ(origin_->unauthorized(), 0) << "a request went out with the dead token";
  EXPECT_EQ(origin_->refreshAttempts(), 1);
  EXPECT_EQ(origin_->refreshes(), 1);
  EXPECT_GE(proxy_->metric("kitgate_oauth_waits_total{outcome=\"refresh_ended\"}").value_or(0), 1);
}

TEST_F(MitmOAuth, A401FromTheResourceHostTriggersOneRefreshAndIsPassedOn) {
  loginFor(3600);
  origin_->setRefreshDelay(500ms);
  origin_->revokeAccess();  // the provider ended the session early
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = resource();
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("invalid_token"), std::string::npos);
  }
  // The tokens file is written before the new token is published to the
  // workers; the refresh is counted after both.
  ASSERT_TRUE(waitUntil(
      [&] {
        return origin_->refreshes() == 1 &&
               stored()["anthropic"].access_token == origin_->currentAccess() &&
               proxy_->metric("kitgate_oauth_refresh_total{result=\"ok\"}").value_or(0) >= 1;
      },
      10s))
      << "no refresh after the 401";
  HttpResponse r = resource();
  EXPECT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_EQ(origin_->refreshAttempts(), 1) << "two 401s for one token: one refresh";
}

struct FailureCase {
  const char* name;
  OAuthOrigin::RefreshAnswer answer;
  const char* error;  // the start of the stored reason
  friend void PrintTo(const FailureCase& c, std::ostream* os) { *os << c.name; }
};

class MitmOAuthRefreshFailure : public MitmOAuth,
                                public ::testing::WithParamInterface<FailureCase> {};

TEST_P(MitmOAuthRefreshFailure, KeepsTheTokensAndMarksThemFailedWithTheReason) {
  loginFor(2);
  const auto before = stored()["anthropic"];
  origin_->setRefreshAnswer(GetParam().answer);
  ASSERT_TRUE(waitUntil(
      [&] { return stored()["anthropic"].state == secrets::OAuthTokens::State::kRefreshFailed; },
      10s));
  const auto after = stored()["anthropic"];
  EXPECT_EQ(after.access_token, before.access_token);  // kept
  EXPECT_EQ(after.refresh_token, before.refresh_token);
  EXPECT_EQ(after.error.rfind(GetParam().error, 0), 0u) << after.error;
  // Counted once the attempt is over (just after the state is stored).
  EXPECT_TRUE(waitUntil(
      [&] {
        return proxy_->metric("kitgate_oauth_refresh_total{result=\"failed\"}").value_or(0) == 1;
      },
      5s));
  // Until it expires the stored access token still serves.
  if (secrets::unixMillisNow() < after.expires_at_ms - 300) {
    EXPECT_EQ(resource().status, 200);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Answers, MitmOAuthRefreshFailure,
    ::testing::Values(FailureCase{"Rejected", OAuthOrigin::RefreshAnswer::kBadRequest,
                                  "the token endpoint answered 400"},
                      FailureCase{"ServerError", OAuthOrigin::RefreshAnswer::kServerError,
                                  "the token endpoint answered 500"},
                      FailureCase{"Dropped", OAuthOrigin::RefreshAnswer::kDrop,
                                  "the token endpoint could not be reached: "},
                      FailureCase{"NotJson", OAuthOrigin::RefreshAnswer::kNotJson,
                                  "the token response is not a JSON object"}),
    [](const ::testing::TestParamInfo<FailureCase>& i) { return std::string(i.param.name); });

TEST_F(MitmOAuth, ARepeatedRefreshFailureIsLoggedOnceAndRetriedWithBackoff) {
  loginFor(2);
  origin_->setRefreshAnswer(OAuthOrigin::RefreshAnswer::kServerError);
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshAttempts() == 1; }, 10s));
  const auto first = std::chrono::steady_clock::now();
  // The retry comes after 2 s, not at once (nor in a loop); the next after 4 s.
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshAttempts() == 2; }, 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - first, 1500ms);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(origin_->refreshAttempts(), 2);
  EXPECT_EQ(proxy_->metric("kitgate_oauth_refresh_total{result=\"failed\"}").value_or(0), 2);
  // One warning for the same reason twice, without a value (TearDown scans).
  const std::string out = proxy_->stderrText() + readFile(proxy_->dir() + "/proxy.stdout");
  size_t warnings = 0;
  for (size_t at = out.find("OAuth refresh failed"); at != std::string::npos;
       at = out.find("OAuth refresh failed", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1u) << out;
}

TEST_F(MitmOAuth, ACredentialRemovedDuringARefreshStaysRemoved) {
  origin_->setRefreshDelay(1200ms);
  loginFor(2);
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshAttempts() == 1; }, 10s));
  removeCredential();  // while the provider is still answering
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshes() == 1; }, 10s));
  std::this_thread::sleep_for(700ms);  // the proxy has the answer; it must drop it
  EXPECT_EQ(stored().count("anthropic"), 0u) << "the refresh brought a removed credential back";
  // The sentinel goes out as it is; nothing refreshes it any more.
  EXPECT_EQ(resource().status, 401);
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(origin_->refreshAttempts(), 1);
  EXPECT_EQ(stored().count("anthropic"), 0u);
}

TEST_F(MitmOAuth, ARemovedCredentialIsNeverRefreshedAgain) {
  // Two-second tokens all along: the proxy refreshes about every second.
  origin_->setExpiresIn(2);
  ASSERT_EQ(login().status, 200);
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshes() >= 1; }, 10s));
  removeCredential();
  const int attempts = origin_->refreshAttempts();
  std::this_thread::sleep_for(2500ms);
  // At most one that had already started before the reload (and was dropped).
  EXPECT_LE(origin_->refreshAttempts(), attempts + 1);
  EXPECT_EQ(stored().count("anthropic"), 0u);
  EXPECT_EQ(resource().status, 401);  // the sentinel as it is: no token, no refresh
}

// Real providers want the client_id on a refresh_token grant, and a kit
// cannot say which: the proxy sends what the sandbox's login sent.
constexpr const char* kClientId = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

TEST_F(MitmOAuth, TheProxysOwnRefreshNamesTheClientAFormLoginNamed) {
  origin_->requireClientId(kClientId);
  origin_->setExpiresIn(2);
  HttpResponse r = call(kAuthHost, "POST", "/v1/oauth/token",
                        "Content-Type: application/x-www-form-urlencoded\r\n",
                        std::string("grant_type=authorization_code&code=abc123&client_id=") +
                            kClientId + "&code_verifier=xyz");
  ASSERT_EQ(r.status, 200) << r.body;
  origin_->setExpiresIn(3600);
  EXPECT_EQ(stored()["anthropic"].client_id, kClientId);
  const std::string first_refresh = origin_->currentRefresh();
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshes() >= 1; }, 10s))
      << "the proxy's refresh was refused: " << stored()["anthropic"].error;
  EXPECT_EQ(origin_->tokenRequestBodies().back(),
            "grant_type=refresh_token&refresh_token=" + first_refresh + "&client_id=" + kClientId);
  ASSERT_TRUE(waitUntil(
      [&] { return stored()["anthropic"].access_token == origin_->currentAccess(); }, 10s));
  EXPECT_EQ(stored()["anthropic"].client_id, kClientId) << "lost with the rotation";
  EXPECT_EQ(stored()["anthropic"].state, secrets::OAuthTokens::State::kOk);
}

TEST_F(MitmOAuth, TheProxysOwnRefreshNamesTheClientAndSecretAJsonLoginNamed) {
  const std::string secret = "cs-REAL-client-secret-5ec7e7";
  origin_->requireClientId(kClientId);
  origin_->setExpiresIn(2);
  HttpResponse r = call(kAuthHost, "POST", "/v1/oauth/token", "Content-Type: application/json\r\n",
                        json{{"grant_type", "authorization_code"},
                             {"code", "abc123"},
                             {"client_id", kClientId},
                             {"client_secret", secret},
                             {"code_verifier", "xyz"}}
                            .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  origin_->setExpiresIn(3600);
  ASSERT_TRUE(waitUntil([&] { return origin_->refreshes() >= 1; }, 10s))
      << "the proxy's refresh was refused: " << stored()["anthropic"].error;
  const std::string sent = origin_->tokenRequestBodies().back();
  EXPECT_NE(sent.find(std::string("&client_id=") + kClientId), std::string::npos) << sent;
  EXPECT_NE(sent.find("&client_secret=" + secret), std::string::npos) << sent;
  EXPECT_EQ(sent.find("scope"), std::string::npos) << "the granted scope is implied (RFC 6749 §6)";
  // The client secret is stored like the tokens, never shown or logged.
  const auto metrics = proxy_->metricsText();
  ASSERT_TRUE(metrics.isOk());
  for (const std::string& t : {readFile(proxy_->dir() + "/policy.log"), proxy_->stderrText(),
                               readFile(proxy_->dir() + "/proxy.stdout"), *metrics}) {
    EXPECT_EQ(t.find(secret), std::string::npos) << "the client secret in the proxy's output";
  }
}

TEST_F(MitmOAuth, ALoginWithoutAClientIdRefreshesWithoutOne) {
  // What a provider that wants one answers: refused, the tokens kept.
  origin_->requireClientId(kClientId);
  loginFor(2);
  EXPECT_EQ(stored()["anthropic"].client_id, "");
  ASSERT_TRUE(waitUntil(
      [&] { return stored()["anthropic"].state == secrets::OAuthTokens::State::kRefreshFailed; },
      10s));
  EXPECT_EQ(stored()["anthropic"].error, "the token endpoint answered 400");
  EXPECT_EQ(origin_->refreshes(), 0);
}

// Framing toward the token endpoint: the whole body, rewritten, with its
// Content-Length — never chunked (CDNs in front of real providers refuse
// chunked token requests) and never both length and chunked.
void expectContentLengthOnly(const OAuthOrigin::Framing& f, size_t bytes) {
  EXPECT_EQ(f.transfer_encoding, "");
  EXPECT_EQ(f.content_length, std::to_string(bytes));
  EXPECT_EQ(f.body_bytes, bytes);
}

TEST_F(MitmOAuth, TokenRequestsReachTheEndpointWithTheirContentLength) {
  const std::string login_body = "grant_type=authorization_code&code=abc123&code_verifier=xyz";
  ASSERT_EQ(login().status, 200);
  // Form refresh, then JSON: the sentinel replaced by the (shorter) real
  // token, the length header counting the bytes that went.
  const std::string form_refresh =
      std::string("grant_type=refresh_token&refresh_token=") + kRefreshSentinel;
  std::string real = origin_->currentRefresh();
  ASSERT_NE(real.size(), std::string(kRefreshSentinel).size());
  ASSERT_EQ(call(kAuthHost, "POST", "/v1/oauth/token",
                 "Content-Type: application/x-www-form-urlencoded\r\n", form_refresh)
                .status,
            200);
  const size_t form_sent = form_refresh.size() - std::string(kRefreshSentinel).size() + real.size();
  real = origin_->currentRefresh();
  const std::string json_refresh =
      json{{"grant_type", "refresh_token"}, {"refresh_token", kRefreshSentinel}}.dump();
  ASSERT_EQ(
      call(kAuthHost, "POST", "/v1/oauth/token", "Content-Type: application/json\r\n", json_refresh)
          .status,
      200);
  const size_t json_sent = json_refresh.size() - std::string(kRefreshSentinel).size() + real.size();
  ASSERT_EQ(origin_->refreshes(), 2);

  const auto framings = origin_->tokenRequestFramings();
  const auto bodies = origin_->tokenRequestBodies();
  ASSERT_EQ(framings.size(), 3u);
  expectContentLengthOnly(framings[0], login_body.size());
  EXPECT_EQ(bodies[0], login_body);  // a login goes as the agent wrote it
  expectContentLengthOnly(framings[1], form_sent);
  expectContentLengthOnly(framings[2], json_sent);
  EXPECT_NE(bodies[2].find(real), std::string::npos);
}

TEST_F(MitmOAuth, AChunkedOrExpectContinueTokenRequestGoesWithContentLength) {
  const std::string form = "Content-Type: application/x-www-form-urlencoded\r\n";
  auto c = HttpsClient::open({proxy_->port(), kAuthHost, origin_->port(), sandbox_ca_, {}});
  ASSERT_TRUE(c.isOk()) << c.status().message();
  // A chunked login, in three chunks.
  ASSERT_TRUE(
      c->send(c->request("POST", "/v1/oauth/token", form + "Transfer-Encoding: chunked\r\n") +
              "f\r\ngrant_type=auth\r\n"
              "11\r\norization_code&co\r\n"
              "1b\r\nde=abc123&code_verifier=xyz\r\n0\r\n\r\n")
          .isOk());
  auto r = c->readResponse();
  ASSERT_TRUE(r.isOk()) << r.status().message();
  received_.push_back(r->head + r->body);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(origin_->logins(), 1);

  // Expect: 100-continue: the proxy answers 100 itself (the head waits for
  // the body upstream), then the refresh goes with its length.
  const std::string body =
      std::string("grant_type=refresh_token&refresh_token=") + kRefreshSentinel;
  const std::string real = origin_->currentRefresh();
  ASSERT_TRUE(c->send(c->request("POST", "/v1/oauth/token",
                                 form + "Expect: 100-continue\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\n"))
                  .isOk());
  auto cont = c->readHead(5s);
  ASSERT_TRUE(cont.isOk()) << cont.status().message();
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c->send(body).isOk());
  r = c->readResponse();
  ASSERT_TRUE(r.isOk()) << r.status().message();
  received_.push_back(r->head + r->body);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(origin_->refreshes(), 1);

  const auto framings = origin_->tokenRequestFramings();
  ASSERT_EQ(framings.size(), 2u);
  expectContentLengthOnly(
      framings[0],
      std::string("grant_type=authorization_code&code=abc123&code_verifier=xyz").size());
  expectContentLengthOnly(framings[1],
                          body.size() - std::string(kRefreshSentinel).size() + real.size());
  EXPECT_EQ(framings[1].expect, "");
}

TEST_F(MitmOAuth, ATokenRequestBodyAboveTheBoundIs413AndNeverSent) {
  const std::string form = "Content-Type: application/x-www-form-urlencoded\r\n";
  const size_t bound = 64 * 1024;
  // Announced by Content-Length: refused on the head, before any body.
  {
    auto c = HttpsClient::open({proxy_->port(), kAuthHost, origin_->port(), sandbox_ca_, {}});
    ASSERT_TRUE(c.isOk()) << c.status().message();
    ASSERT_TRUE(c->send(c->request("POST", "/v1/oauth/token",
                                   form + "Content-Length: " + std::to_string(bound + 1) + "\r\n"))
                    .isOk());
    auto r = c->readResponse();
    ASSERT_TRUE(r.isOk()) << r.status().message();
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(r->body.find("token request body above 65536 bytes"), std::string::npos) << r->body;
  }
  // Chunked: refused once the decoded bytes pass the bound.
  {
    auto c = HttpsClient::open({proxy_->port(), kAuthHost, origin_->port(), sandbox_ca_, {}});
    ASSERT_TRUE(c.isOk()) << c.status().message();
    std::string req =
        c->request("POST", "/v1/oauth/token", form + "Transfer-Encoding: chunked\r\n");
    for (int i = 0; i < 5; ++i) req += "4000\r\n" + std::string(0x4000, 'a') + "\r\n";
    ASSERT_TRUE(c->send(req).isOk());
    auto r = c->readResponse();
    ASSERT_TRUE(r.isOk()) << r.status().message();
    EXPECT_EQ(r->status, 413);
  }
  EXPECT_TRUE(origin_->tokenRequestFramings().empty()) << "an over-bound body reached upstream";
  // At the bound it goes (the provider answers it).
  const std::string at_bound = "grant_type=x&pad=" + std::string(bound - 17, 'p');
  ASSERT_EQ(at_bound.size(), bound);
  EXPECT_EQ(call(kAuthHost, "POST", "/v1/oauth/token", form, at_bound).status, 400);
  const auto framings = origin_->tokenRequestFramings();
  ASSERT_EQ(framings.size(), 1u);
  expectContentLengthOnly(framings[0], bound);
}

class MitmOAuthPassthrough : public MitmOAuth {
 protected:
  bool passthrough() const override { return true; }
};

TEST_F(MitmOAuthPassthrough, TheRealResponseReachesTheSandboxAndIsStoredToo) {
  HttpResponse r = login();
  ASSERT_EQ(r.status, 200);
  json j = json::parse(r.body);
  EXPECT_EQ(j["access_token"], origin_->currentAccess());
  EXPECT_EQ(j["refresh_token"], origin_->currentRefresh());
  EXPECT_EQ(stored()["anthropic"].access_token, origin_->currentAccess());
}

}  // namespace
}  // namespace kitgate::testing
