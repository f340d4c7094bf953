// `kitgate secret ls | rm` and proxy-managed OAuth logins: the real binary
// over a state directory holding a sandbox's OAuth routes and the tokens the
// proxy stored; no output may carry a token value.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "proxy/secrets/oauth.h"
#include "tests/orchestrator/cli/state_cli_test_util.h"

namespace kitgate::cli::testing {
namespace {

constexpr const char* kAccess = "REAL-oauth-access-5b7d9f";
constexpr const char* kRefresh = "REAL-oauth-refresh-8c6e4a";

class OAuthSecretCli : public StateCliTest {
 protected:
  void SetUp() override {
    StateCliTest::SetUp();
    registerSecret(kAccess);
    registerSecret(kRefresh);
    secrets::OAuthRoute r;
    r.service = "anthropic";
    r.token_host = "platform.claude.com";
    r.token_path = "/v1/oauth/token";
    r.resource_hosts = {"api.anthropic.com"};
    r.access_sentinel = "sk-ant-oat01-proxy-managed";
    r.refresh_sentinel = "sk-ant-ort01-proxy-managed";
    std::filesystem::create_directories(paths_.root + "/oauth");
    std::ofstream(secrets::oauthRoutesPath(paths_.root, "dev1")) << secrets::renderOAuthRoutes({r});
  }
  void login() {
    secrets::OAuthTokens t;
    t.access_token = kAccess;
    t.refresh_token = kRefresh;
    t.expires_at_ms = 4102444800000;  // 2100-01-01
    ASSERT_TRUE(secrets::writeOAuthTokens(paths_.root, "dev1", {{"anthropic", t}}).isOk());
  }
};

TEST_F(OAuthSecretCli, LsShowsEachLoginWithStateAndExpiryButNoValue) {
  CliRun r = kitgate({"secret", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sandbox:dev1  oauth  anthropic"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not logged in"), std::string::npos) << r.out;

  login();
  r = kitgate({"secret", "ls", "--sandbox", "dev1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["oauth"].size(), 1u) << r.out;
  EXPECT_EQ(j["oauth"][0]["name"], "anthropic");
  EXPECT_EQ(j["oauth"][0]["secret"], "(stored)");
  EXPECT_EQ(j["oauth"][0]["state"], "ok");
  EXPECT_EQ(j["oauth"][0]["expires"].get<std::string>().substr(0, 4), "2100");
  r = kitgate({"secret", "ls", "-g", "--json"});  // another scope: not listed
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["oauth"].empty()) << r.out;
}

TEST_F(OAuthSecretCli, RmForgetsTheStoredLoginOfThatSandboxOnly) {
  login();
  CliRun r = kitgate({"secret", "rm", "anthropic", "-g", "-f"});
  EXPECT_NE(r.exit_code, 0) << "a global rm must not touch a sandbox's login";
  ASSERT_TRUE(std::filesystem::exists(secrets::oauthTokensPath(paths_.root, "dev1")));
  r = kitgate({"secret", "rm", "anthropic", "--sandbox", "dev1", "-f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(secrets::oauthTokensPath(paths_.root, "dev1")));
  r = kitgate({"secret", "ls"});
  EXPECT_NE(r.out.find("not logged in"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kitgate::cli::testing
