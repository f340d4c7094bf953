#include "proxy/secrets/oauth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "proxy/http/message.h"
#include "proxy/policy/host.h"
#include "proxy/secrets/rewrite.h"
#include "proxy/secrets/store.h"
#include "tests/support/subprocess.h"

namespace kitgate::secrets {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kAccessSentinel = "sk-ant-oat01-proxy-managed";
constexpr const char* kRefreshSentinel = "sk-ant-ort01-proxy-managed";
constexpr const char* kRealAccess = "REAL-access-4f1e2d3c";
constexpr const char* kRealRefresh = "REAL-refresh-9a8b7c6d";

OAuthRoute claudeRoute() {
  OAuthRoute r;
  r.service = "anthropic";
  r.token_host = "platform.claude.test";
  r.token_path = "/v1/oauth/token";
  r.resource_hosts = {"api.anthropic.test"};
  r.access_sentinel = kAccessSentinel;
  r.refresh_sentinel = kRefreshSentinel;
  return r;
}

std::string tokenResponse(const std::string& access, const std::string& refresh,
                          int expires_in = 3600) {
  json j = {{"token_type", "Bearer"},
            {"access_token", access},
            {"expires_in", expires_in},
            {"scope", "user:inference user:profile"},
            {"account", {{"uuid", "abc"}}}};
  if (!refresh.empty()) j["refresh_token"] = refresh;
  return j.dump();
}

TEST(OAuthRoutes, RenderedRoutesParseBackEqual) {
  OAuthRoute passthrough = claudeRoute();
  passthrough.service = "workos";
  passthrough.passthrough = true;
  passthrough.access_sentinel.clear();
  passthrough.refresh_sentinel.clear();
  passthrough.access_field = "at";
  const std::vector<OAuthRoute> routes{claudeRoute(), passthrough};
  auto back = parseOAuthRoutes(renderOAuthRoutes(routes), "x.json");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(*back, routes);
}

TEST(OAuthRoutes, EveryProblemIsReportedAtOnce) {
  auto r = parseOAuthRoutes(
      R"({"credentials": [{"service": "a", "token_endpoint": {"host": "h", "path": "nope"},
          "sentinels": {"access_token": "short", "refresh_token": "longenough"}},
         {"token_endpoint": {"path": "/t"}, "passthrough": true}]})",
      "oauth/dev1.json");
  ASSERT_FALSE(r.isOk());
  const std::string m = r.status().message();
  EXPECT_NE(m.find("oauth/dev1.json: error: credentials[0]: token_endpoint.path must start with /"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("credentials[0]: sentinels."), std::string::npos) << m;
  EXPECT_NE(m.find("credentials[1]: service is required"), std::string::npos) << m;
  EXPECT_NE(m.find("credentials[1]: token_endpoint.host is required"), std::string::npos) << m;
  EXPECT_FALSE(parseOAuthRoutes("[1,2]", "f").isOk());
  EXPECT_FALSE(parseOAuthRoutes("{not json", "f").isOk());
}

TEST(OAuthExchange, TokensAreTakenAndTheSandboxGetsSentinels) {
  auto ex =
      exchangeTokenResponse(claudeRoute(), tokenResponse(kRealAccess, kRealRefresh), 1000, nullptr);
  ASSERT_TRUE(ex.isOk()) << ex.status().message();
  EXPECT_EQ(ex->tokens.access_token, kRealAccess);
  EXPECT_EQ(ex->tokens.refresh_token, kRealRefresh);
  EXPECT_EQ(ex->tokens.expires_at_ms, 1000 + 3600 * 1000);
  EXPECT_EQ(ex->tokens.scope, "user:inference user:profile");
  EXPECT_EQ(ex->for_sandbox.find("REAL-"), std::string::npos) << ex->for_sandbox;
  json j = json::parse(ex->for_sandbox);
  EXPECT_EQ(j["access_token"], kAccessSentinel);
  EXPECT_EQ(j["refresh_token"], kRefreshSentinel);
  EXPECT_EQ(j["expires_in"], 3600);  // every other field unchanged
  EXPECT_EQ(j["account"]["uuid"], "abc");
}

TEST(OAuthExchange, CustomResponseFieldsAreHonoured) {
  OAuthRoute r = claudeRoute();
  r.access_field = "at";
  r.refresh_field = "rt";
  r.expires_in_field = "ttl";
  r.scope_field = "scopes";
  const std::string body = json{
      {"at", kRealAccess},
      {"rt", kRealRefresh},
      {"ttl", "60"},
      {"scopes", {"a", "b"}},
      {"access_token",
       "unrelated"}}.dump();
  auto ex = exchangeTokenResponse(r, body, 0, nullptr);
  ASSERT_TRUE(ex.isOk());
  EXPECT_EQ(ex->tokens.access_token, kRealAccess);
  EXPECT_EQ(ex->tokens.expires_at_ms, 60'000);
  EXPECT_EQ(ex->tokens.scope, "a b");
  json j = json::parse(ex->for_sandbox);
  EXPECT_EQ(j["at"], kAccessSentinel);
  EXPECT_EQ(j["rt"], kRefreshSentinel);
}

TEST(OAuthExchange, AnAnswerWithoutARefreshTokenKeepsThePreviousOne) {
  OAuthTokens previous;
  previous.refresh_token = kRealRefresh;
  auto ex = exchangeTokenResponse(claudeRoute(), tokenResponse("REAL-access-2", ""), 0, &previous);
  ASSERT_TRUE(ex.isOk());
  EXPECT_EQ(ex->tokens.refresh_token, kRealRefresh);
  EXPECT_FALSE(json::parse(ex->for_sandbox).contains("refresh_token"));
}

TEST(OAuthExchange, WhatIsNotATokenResponseIsRefusedWithoutValues) {
  for (const std::string& body : {std::string("not json"), std::string("[\"REAL-x\"]"),
                                  std::string(R"({"error":"invalid_grant"})")}) {
    auto ex = exchangeTokenResponse(claudeRoute(), body, 0, nullptr);
    ASSERT_FALSE(ex.isOk()) << body;
    EXPECT_EQ(ex.status().message().find("REAL-"), std::string::npos);
  }
}

TEST(OAuthRefreshBody, SentinelBecomesTheRealTokenInJsonAndForms) {
  auto apply = [](std::string_view body, bool form, std::string_view real) {
    ScrubMatcher m(refreshSubstitution(kRefreshSentinel, real, form));
    std::string out;
    return m.replaceAll(body, &out) ? out : std::string(body);
  };
  EXPECT_EQ(apply(R"({"grant_type":"refresh_token","refresh_token":"sk-ant-ort01-proxy-managed"})",
                  false, "R/eal+1"),
            R"({"grant_type":"refresh_token","refresh_token":"R/eal+1"})");
  EXPECT_EQ(
      apply("grant_type=refresh_token&refresh_token=sk-ant-ort01-proxy-managed", true, "R/eal+1"),
      "grant_type=refresh_token&refresh_token=R%2Feal%2B1");
  EXPECT_EQ(apply("grant_type=authorization_code&code=abc", true, "x"),
            "grant_type=authorization_code&code=abc");
  // A sentinel with reserved characters is also found percent-encoded in a form.
  ScrubMatcher m(refreshSubstitution("rt proxy/managed", "REAL", true));
  std::string out;
  ASSERT_TRUE(m.replaceAll("refresh_token=rt%20proxy%2Fmanaged", &out));
  EXPECT_EQ(out, "refresh_token=REAL");
}

TEST(OAuthTokenRequest, ClientFieldsAreReadFromFormsAndJson) {
  // Forms: percent- and '+'-decoded, anywhere in the body, first match.
  EXPECT_EQ(tokenRequestField("grant_type=authorization_code&client_id=9d1c%2Dab+c&code=x", true,
                              "client_id"),
            "9d1c-ab c");
  EXPECT_EQ(tokenRequestField("client_id=first&client_id=second", true, "client_id"), "first");
  EXPECT_EQ(tokenRequestField("client%5Fid=enc", true, "client_id"), "enc");
  EXPECT_EQ(tokenRequestField("client_id=", true, "client_id"), "");
  EXPECT_EQ(tokenRequestField("client_id=%zz%4", true, "client_id"), "%zz%4");  // kept as sent
  EXPECT_EQ(tokenRequestField("xclient_id=a&client_idx=b", true, "client_id"), std::nullopt);
  EXPECT_EQ(tokenRequestField("", true, "client_id"), std::nullopt);
  // JSON: a top-level string only.
  EXPECT_EQ(tokenRequestField(R"({"client_id":"abc","client_secret":"s"})", false, "client_secret"),
            "s");
  EXPECT_EQ(tokenRequestField(R"({"client_id":42})", false, "client_id"), std::nullopt);
  EXPECT_EQ(tokenRequestField(R"({"x":{"client_id":"nested"}})", false, "client_id"), std::nullopt);
  EXPECT_EQ(tokenRequestField(R"(["client_id"])", false, "client_id"), std::nullopt);
  EXPECT_EQ(tokenRequestField("client_id=abc", false, "client_id"), std::nullopt);  // not JSON
}

TEST(OAuthExchange, ARefreshAnswerKeepsTheClientOfThePreviousTokens) {
  OAuthTokens previous;
  previous.refresh_token = kRealRefresh;
  previous.client_id = "client-1";
  previous.client_secret = "REAL-client-secret";
  auto ex = exchangeTokenResponse(claudeRoute(), tokenResponse("REAL-access-2", "REAL-rt-2"), 0,
                                  &previous);
  ASSERT_TRUE(ex.isOk());
  EXPECT_EQ(ex->tokens.client_id, "client-1");
  EXPECT_EQ(ex->tokens.client_secret, "REAL-client-secret");
  EXPECT_EQ(ex->for_sandbox.find("client"), std::string::npos);
}

class OAuthStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::create("oauth");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    dir_.emplace(std::move(dir).value());
  }
  std::string root() const { return dir_->path(); }
  void writeRoutes(const std::string& sandbox, const std::vector<OAuthRoute>& routes) {
    fs::create_directories(root() + "/oauth");
    std::ofstream(oauthRoutesPath(root(), sandbox)) << renderOAuthRoutes(routes);
  }
  std::optional<testing::TempDir> dir_;
};

TEST_F(OAuthStateTest, TokensFileIsPrivateAndRoundTrips) {
  OAuthTokens t;
  t.access_token = kRealAccess;
  t.refresh_token = kRealRefresh;
  t.expires_at_ms = 42;
  t.scope = "s";
  ASSERT_TRUE(writeOAuthTokens(root(), "dev1", {{"anthropic", t}}).isOk());
  struct stat st {};
  ASSERT_EQ(::stat(oauthTokensPath(root(), "dev1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = readOAuthTokens(root(), "dev1");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->at("anthropic"), t);

  ::chmod(oauthTokensPath(root(), "dev1").c_str(), 0644);
  auto refused = readOAuthTokens(root(), "dev1");
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("REAL-"), std::string::npos);

  // With the client the login named; and a file written before client_id
  // existed still loads (no client).
  t.client_id = "client-1";
  t.client_secret = "REAL-client-secret";
  ASSERT_TRUE(writeOAuthTokens(root(), "dev1", {{"anthropic", t}}).isOk());
  back = readOAuthTokens(root(), "dev1");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->at("anthropic"), t);
  {
    std::ofstream(oauthTokensPath(root(), "dev1"), std::ios::trunc)
        << R"({"anthropic": {"access_token": "REAL-a", "refresh_token": "REAL-r",
               "expires_at_ms": 42, "scope": "s", "state": "ok", "error": "",
               "updated_at_ms": 7, "token_port": 443}})";
  }
  back = readOAuthTokens(root(), "dev1");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->at("anthropic").refresh_token, "REAL-r");
  EXPECT_EQ(back->at("anthropic").client_id, "");
  EXPECT_EQ(back->at("anthropic").client_secret, "");

  ASSERT_TRUE(writeOAuthTokens(root(), "dev1", {}).isOk());  // empty: removed
  EXPECT_FALSE(fs::exists(oauthTokensPath(root(), "dev1")));
  auto absent = readOAuthTokens(root(), "dev1");
  ASSERT_TRUE(absent.isOk());
  EXPECT_TRUE(absent->empty());
}

http::Request requestTo(const std::string& host, std::vector<http::Header> headers) {
  http::Request r;
  r.method = "GET";
  r.host = host;
  r.path = "/v1/messages";
  r.headers = std::move(headers);
  return r;
}

TEST_F(OAuthStateTest, StoreInterceptsTokenAndResourceHostsAndSwapsTheStoredToken) {
  writeRoutes("dev1", {claudeRoute()});
  OAuthVault vault(root());
  auto store = loadStore(root(), &vault);
  ASSERT_TRUE(store.isOk()) << store.status().message();
  const SandboxCredentials* creds = (*store)->forSandbox("dev1");
  ASSERT_NE(creds, nullptr);
  auto token_plan = creds->planFor(*policy::normalizeHost("platform.claude.test"));
  ASSERT_NE(token_plan, nullptr);
  ASSERT_EQ(token_plan->oauth_endpoints.size(), 1u);
  auto resource_plan = creds->planFor(*policy::normalizeHost("api.anthropic.test"));
  ASSERT_NE(resource_plan, nullptr);
  EXPECT_EQ(creds->planFor(*policy::normalizeHost("other.test")), nullptr);
  EXPECT_EQ((*store)->forSandbox("dev2"), nullptr);  // another sandbox: nothing

  // No login yet: the sentinel goes out as it is.
  auto req = requestTo("api.anthropic.test",
                       {{"Authorization", std::string("Bearer ") + kAccessSentinel}});
  ASSERT_TRUE(rewriteRequest(*resource_plan, req).isOk());
  EXPECT_EQ(req.headers[0].value, std::string("Bearer ") + kAccessSentinel);

  // Tokens stored: swapped in every header, at once (no reload needed).
  OAuthTokens t;
  t.access_token = kRealAccess;
  t.refresh_token = kRealRefresh;
  ASSERT_TRUE(resource_plan->oauth_resources[0].slot->store(t).isOk());
  EXPECT_TRUE(vault.takeChanged());
  EXPECT_FALSE(vault.takeChanged());
  req =
      requestTo("api.anthropic.test", {{"Authorization", std::string("Bearer ") + kAccessSentinel},
                                       {"X-Other", std::string("k=") + kAccessSentinel}});
  ASSERT_TRUE(rewriteRequest(*resource_plan, req).isOk());
  EXPECT_EQ(req.headers[0].value, std::string("Bearer ") + kRealAccess);
  EXPECT_EQ(req.headers[1].value, std::string("k=") + kRealAccess);

  // Until the next snapshot, this one's live scrub already knows them.
  auto live = creds->liveOAuthScrub();
  ASSERT_NE(live, nullptr);
  std::string echoed;
  ASSERT_TRUE(live->replaceAll(std::string("{\"t\":\"") + kRealAccess + "\"}", &echoed));
  EXPECT_EQ(echoed, std::string("{\"t\":\"") + kAccessSentinel + "\"}");

  // The next snapshot scrubs the real tokens back to their sentinels.
  auto next = loadStore(root(), &vault);
  ASSERT_TRUE(next.isOk());
  EXPECT_EQ((*next)->forSandbox("dev1")->liveOAuthScrub(), nullptr);  // built with them
  std::string out;
  ASSERT_TRUE((*next)->forSandbox("dev1")->scrubMatcher().replaceAll(
      std::string("echo ") + kRealAccess + " " + kRealRefresh, &out));
  EXPECT_EQ(out, std::string("echo ") + kAccessSentinel + " " + kRefreshSentinel);

  // Revoked (the tokens file removed, as `kitgate secret rm` does): the next
  // reload empties the slot, and the live plan stops swapping.
  fs::remove(oauthTokensPath(root(), "dev1"));
  ASSERT_TRUE(loadStore(root(), &vault).isOk());
  req = requestTo("api.anthropic.test",
                  {{"Authorization", std::string("Bearer ") + kAccessSentinel}});
  ASSERT_TRUE(rewriteRequest(*resource_plan, req).isOk());
  EXPECT_EQ(req.headers[0].value, std::string("Bearer ") + kAccessSentinel);
}

TEST_F(OAuthStateTest, PassthroughInterceptsTheTokenHostOnlyAndScrubsNothing) {
  OAuthRoute r = claudeRoute();
  r.passthrough = true;
  writeRoutes("dev1", {r});
  OAuthVault vault(root());
  OAuthTokens t;
  t.access_token = kRealAccess;
  t.refresh_token = kRealRefresh;
  ASSERT_TRUE(vault.slot("dev1", "anthropic")->store(t).isOk());
  auto store = loadStore(root(), &vault);
  ASSERT_TRUE(store.isOk());
  const SandboxCredentials* creds = (*store)->forSandbox("dev1");
  ASSERT_NE(creds, nullptr);
  EXPECT_NE(creds->planFor(*policy::normalizeHost("platform.claude.test")), nullptr);
  EXPECT_EQ(creds->planFor(*policy::normalizeHost("api.anthropic.test")), nullptr);
  EXPECT_TRUE(creds->scrubMatcher().empty());
}

TEST_F(OAuthStateTest, ABadRoutesFileFailsTheLoadNamingIt) {
  fs::create_directories(root() + "/oauth");
  std::ofstream(root() + "/oauth/dev1.json") << "{\"credentials\": [{}]}";
  std::ofstream(root() + "/oauth/.dev2.json.tmp") << "garbage";  // ignored
  OAuthVault vault(root());
  auto store = loadStore(root(), &vault);
  ASSERT_FALSE(store.isOk());
  EXPECT_NE(store.status().message().find("oauth/dev1.json: error: credentials[0]"),
            std::string::npos)
      << store.status().message();
}

}  // namespace
}  // namespace kitgate::secrets
