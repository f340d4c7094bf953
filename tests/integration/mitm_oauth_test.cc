// Proxy-managed OAuth through the real kitgate-proxy: a sandbox logs in at a
// stand-in OAuth provider (HTTPS, test CA) and keeps using it; the real
// tokens stay on the host (the proxy's tokens file), the sandbox only ever
// sees the kit's sentinels. Every response the test client receives (head
// and body), the proxy's logs and /metrics are scanned for every real token
// the provider issued.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
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
  // response is kept for the scan.
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
    received_.push_back(r->head + r->body);
    return *r;
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
