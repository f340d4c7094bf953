// `kitgate secret set | set-custom | ls | rm` as a user runs them: the real
// binary, a temporary state directory, and every output scanned for the
// secret values used.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "orchestrator/state/state.h"
#include "proxy/policy/host.h"
#include "proxy/secrets/store.h"
#include "tests/orchestrator/cli/state_cli_test_util.h"

namespace kitgate::cli::testing {
namespace {

constexpr const char* kAmpKey = "sk-amp-0123456789-REAL-KEY-abcdef";
constexpr const char* kAnthropicKey = "sk-ant-api03-9876543210-REAL";

class SecretCli : public StateCliTest {
 protected:
  void SetUp() override {
    StateCliTest::SetUp();
    registerSecret(kAmpKey);
    registerSecret(kAnthropicKey);
  }
};

TEST_F(SecretCli, SetCustomPrintsThePlaceholderTheProxySubstitutes) {
  CliRun r = kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                      "--placeholder", "sgamp-{rand}", "--value", kAmpKey});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("AMP_API_KEY=(sgamp-[A-Za-z0-9]{16})\n")))
      << r.out;
  const std::string placeholder = m[1];

  struct stat st {};
  ASSERT_EQ(::stat(paths_.secretsFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(paths_.root.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto store = secrets::loadStore(paths_.root);
  ASSERT_TRUE(store.isOk()) << store.status().message();
  const secrets::SandboxCredentials* creds = (*store)->forSandbox("amp");
  ASSERT_NE(creds, nullptr);
  auto plan = creds->planFor(*policy::normalizeHost("ampcode.com"));
  ASSERT_NE(plan, nullptr);
  ASSERT_EQ(plan->substitutions.size(), 1u);
  EXPECT_EQ(plan->substitutions[0].placeholder, placeholder);
  EXPECT_EQ(plan->substitutions[0].value, kAmpKey);
  EXPECT_EQ(state::placeholdersFor(stored(), "amp"),
            (std::vector<std::pair<std::string, std::string>>{{"AMP_API_KEY", placeholder}}));
}

TEST_F(SecretCli, DefaultPlaceholderIsKitgateCsPlus16) {
  CliRun r = kitgate(
      {"secret", "set-custom", "--host", "*.example.com,api.other.org", "--env", "TOKEN"}, kAmpKey);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("TOKEN=kitgate-cs-[A-Za-z0-9]{16}\n"))) << r.out;
  auto s = stored();
  ASSERT_EQ(s.custom.size(), 1u);
  EXPECT_EQ(s.custom[0].hosts, (std::vector<std::string>{"*.example.com", "api.other.org"}));
  EXPECT_EQ(s.custom[0].value, kAmpKey);  // read from stdin
}

TEST_F(SecretCli, SetReadsTheValueFromStdinWithoutTheNewline) {
  CliRun r = kitgate({"secret", "set", "anthropic"}, std::string(kAnthropicKey) + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kitgate({"secret", "set", "anthropic", "--sandbox", "dev1", "-t", kAmpKey});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("note: no sandbox named dev1 exists yet"), std::string::npos) << r.err;
  auto s = stored();
  ASSERT_EQ(s.services.size(), 2u);
  EXPECT_EQ(s.services[0].scope, "global");
  EXPECT_EQ(s.services[0].value, kAnthropicKey);
  EXPECT_EQ(s.services[1].scope, "sandbox:dev1");
  // Setting again replaces, never duplicates.
  ASSERT_EQ(kitgate({"secret", "set", "anthropic"}, kAnthropicKey).exit_code, 0);
  EXPECT_EQ(stored().services.size(), 2u);
}

TEST_F(SecretCli, LsMasksEveryValue) {
  ASSERT_EQ(kitgate({"secret", "set", "anthropic"}, kAnthropicKey).exit_code, 0);
  ASSERT_EQ(kitgate({"secret", "set-custom", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                     "--value", kAmpKey})
                .exit_code,
            0);
  CliRun r = kitgate({"secret", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("SCOPE"), std::string::npos);
  EXPECT_NE(r.out.find("SECRET"), std::string::npos);
  EXPECT_NE(r.out.find("anthropic"), std::string::npos);
  EXPECT_NE(r.out.find("sk-ant************...REAL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("AMP_API_KEY"), std::string::npos);

  r = kitgate({"secret", "ls", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["secrets"].size(), 1u);
  EXPECT_EQ(j["secrets"][0]["name"], "anthropic");
  EXPECT_EQ(j["secrets"][0]["secret"], "sk-ant************...REAL");
  ASSERT_EQ(j["custom_secrets"].size(), 1u);
  EXPECT_EQ(j["custom_secrets"][0]["targets"][0], "ampcode.com");

  r = kitgate({"secret", "ls", "--sandbox", "dev1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["secrets"].empty());
}

TEST_F(SecretCli, RmWithoutTerminalNeedsForce) {
  ASSERT_EQ(kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                     "--value", kAmpKey})
                .exit_code,
            0);
  CliRun r = kitgate({"secret", "rm", "-g", "--host", "ampcode.com"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("stdin is not a terminal; use --force to skip confirmation"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(stored().custom.size(), 1u);

  r = kitgate({"secret", "rm", "-g", "--host", "ampcode.com", "-f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(stored().custom.empty());

  r = kitgate({"secret", "rm", "-g", "--host", "ampcode.com", "-f"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no secret found for host \"ampcode.com\" in scope \"global\""),
            std::string::npos)
      << r.err;
  r = kitgate({"secret", "rm", "anthropic", "--sandbox", "dev1", "-f"});
  EXPECT_NE(r.err.find("no secret found for service \"anthropic\" in scope \"sandbox:dev1\""),
            std::string::npos);
}

TEST_F(SecretCli, RmByHostKeepsTheOtherHostsAndByPlaceholderRemovesTheEntry) {
  CliRun r = kitgate({"secret", "set-custom", "--host", "a.example.com", "--host", "b.example.com",
                      "--env", "K", "--placeholder", "ph-{rand}", "--value", kAmpKey});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(kitgate({"secret", "rm", "--host", "A.Example.com.", "-f"}).exit_code,
            0);  // canonicalised
  auto s = stored();
  ASSERT_EQ(s.custom.size(), 1u);
  EXPECT_EQ(s.custom[0].hosts, std::vector<std::string>{"b.example.com"});
  r = kitgate({"secret", "rm", "--placeholder", s.custom[0].placeholder, "-f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(stored().custom.empty());
}

TEST_F(SecretCli, BadHostPatternsAreRefusedWithTheirColumnAndNothingIsSaved) {
  CliRun r = kitgate({"secret", "set-custom", "--host", "api?.x.com", "--host", "**", "--host",
                      "x.com:443", "--env", "K", "--value", kAmpKey});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--host api?.x.com: column 1: glob patterns cannot be intercepted"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--host **"), std::string::npos);
  EXPECT_NE(r.err.find("--host x.com:443: column 6"), std::string::npos) << r.err;
  EXPECT_TRUE(stored().custom.empty());
}

TEST_F(SecretCli, BadValuesAndUsageErrorsNeverEchoTheValue) {
  const std::string two_lines = std::string(kAmpKey) + "\nsecond-line";
  registerSecret("second-line");
  CliRun r = kitgate({"secret", "set", "amp"}, two_lines);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("control character"), std::string::npos) << r.err;
  r = kitgate({"secret", "set", "amp", "-t", std::string(" ") + kAmpKey});
  EXPECT_EQ(r.exit_code, 1);
  r = kitgate({"secret", "set", "amp", "extra", "-t", kAmpKey});
  EXPECT_EQ(r.exit_code, 2);
  r = kitgate({"secret", "set-custom", "--host", "x.com", "--env", "1BAD", "--value", kAmpKey});
  EXPECT_EQ(r.exit_code, 2);
  r = kitgate({"secret", "set-custom", "--host", "x.com", "--env", "K", "--placeholder", "short",
               "--value", kAmpKey});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(stored().services.empty());
  EXPECT_TRUE(stored().custom.empty());
}

TEST_F(SecretCli, ConcurrentSetsAllSurvive) {
  // Eight kitgate processes at once, each adding its own service: the state
  // lock serialises their read-modify-write, so none is lost.
  std::vector<kitgate::testing::Subprocess> runs;
  for (int i = 0; i < 8; ++i) {
    auto p = kitgate::testing::Subprocess::spawn(
        {binary_, "secret", "set", "svc" + std::to_string(i), "-t", kAmpKey},
        dir_->path() + "/set" + std::to_string(i), false, {"KITGATE_STATE_DIR=" + paths_.root});
    ASSERT_TRUE(p.isOk()) << p.status().message();
    runs.push_back(std::move(p.value()));
  }
  for (auto& p : runs) {
    auto status = p.wait(std::chrono::seconds(60));
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->code, 0) << p.stderrText();
    EXPECT_EQ(p.stdoutText().find(kAmpKey), std::string::npos);
  }
  EXPECT_EQ(stored().services.size(), 8u);
}

TEST_F(SecretCli, HelpHasExamples) {
  for (const char* sub : {"set", "set-custom", "ls", "rm"}) {
    CliRun r = kitgate({"secret", sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Examples:"), std::string::npos) << sub;
  }
  EXPECT_EQ(kitgate({"secret"}).exit_code, 2);
  EXPECT_EQ(kitgate({"secret", "frobnicate"}).exit_code, 2);
}

}  // namespace
}  // namespace kitgate::cli::testing
