// `kitgate secret set|set-custom --command/--ref`, `secret refresh` and
// `secret import` as a user runs them: the real binary, real commands whose
// output a file controls, and every output scanned for the values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "orchestrator/state/secret_sources.h"
#include "orchestrator/state/state.h"
#include "tests/orchestrator/cli/state_cli_test_util.h"

namespace kitgate::cli::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kToken1 = "gho_FIRST-token-0123456789abcdef";
constexpr const char* kToken2 = "gho_SECOND-token-9876543210fedcba";

class SecretSourceCli : public StateCliTest {
 protected:
  void SetUp() override {
    StateCliTest::SetUp();
    registerSecret(kToken1);
    registerSecret(kToken2);
    token_file_ = (std::filesystem::path(paths_.root).parent_path() / "token.txt").string();
    command_ = "cat '" + token_file_ + "'";
  }
  void writeToken(const std::string& v) { std::ofstream(token_file_) << v << "\n"; }
  std::string serviceValue(const std::string& name) {
    for (const auto& s : stored().services)
      if (s.service == name) return s.value;
    return "";
  }
  std::string token_file_;
  std::string command_;
};

TEST_F(SecretSourceCli, CommandOutputIsStoredAndLsShowsSourceStateAndExpiryNeverTheValue) {
  writeToken(kToken1);
  CliRun r = kitgate({"secret", "set", "github", "--command", command_, "--refresh", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Stored secret for service github (global) from command '" +
                               command_ + "', refreshed every 1h."));
  EXPECT_EQ(serviceValue("github"), kToken1);

  r = kitgate({"secret", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SOURCE"));
  EXPECT_THAT(r.out, HasSubstr("EXPIRES"));
  EXPECT_THAT(r.out, HasSubstr("command '" + command_ + "'"));
  EXPECT_THAT(r.out, HasSubstr("  1h  "));
  EXPECT_THAT(r.out, HasSubstr("  ok  "));

  r = kitgate({"secret", "ls", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["secrets"].size(), 1u);
  EXPECT_EQ(j["secrets"][0]["source"], "command '" + command_ + "'");
  EXPECT_EQ(j["secrets"][0]["refresh"], "1h");
  EXPECT_EQ(j["secrets"][0]["state"], "ok");
  EXPECT_NE(j["secrets"][0]["expires"], "-");
  // The source record holds the command, never the value.
  std::ifstream in(state::sourcesFile(paths_));
  const std::string record((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(record, HasSubstr("cat '"));
  EXPECT_THAT(record, Not(HasSubstr(kToken1)));
}

TEST_F(SecretSourceCli, RefreshTakesTheNewOutputAndAFailureKeepsTheLastValue) {
  writeToken(kToken1);
  ASSERT_EQ(kitgate({"secret", "set", "github", "--command", command_}).exit_code, 0);
  writeToken(kToken2);
  CliRun r = kitgate({"secret", "refresh"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Refreshed github (global)."));
  EXPECT_EQ(serviceValue("github"), kToken2);
  // Not due yet (55m by default): --due leaves it alone.
  r = kitgate({"secret", "refresh", "--due"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Nothing due."));

  std::filesystem::remove(token_file_);
  r = kitgate({"secret", "refresh", "github"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("github (global): command '" + command_ +
                               "': exited with status 1 (--show-error shows its error output); "
                               "keeping the last value until it expires"));
  EXPECT_EQ(serviceValue("github"), kToken2);
  r = kitgate({"secret", "ls"});
  EXPECT_THAT(r.out, HasSubstr("failing: command"));
  // Named but unknown, or a typo in the scope: a clear error.
  r = kitgate({"secret", "refresh", "gitlab"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no --command/--ref secret gitlab in scope \"global\""));
}

TEST_F(SecretSourceCli, ACommandThatFailsOnSetSavesNothing) {
  const struct {
    std::vector<std::string> args;
    const char* says;
  } cases[] = {
      {{"secret", "set", "github", "--command", "echo nope >&2; exit 3"},
       "cannot resolve the secret: command 'echo nope >&2; exit 3': exited with status 3 "
       "(--show-error shows its error output); nothing saved"},
      {{"secret", "set", "github", "--command", "echo nope >&2; exit 3", "--show-error"},
       "exited with status 3: nope; nothing saved"},
      {{"secret", "set", "github", "--command", "printf ''"}, "printed nothing"},
      {{"secret", "set", "github", "--ref", "vault://kv/github"}, "unsupported --ref"},
      {{"secret", "set-custom", "--host", "ampcode.com", "--env", "AMP_API_KEY", "--command",
        "exit 2"},
       "exited with status 2"},
  };
  for (const auto& c : cases) {
    CliRun r = kitgate(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.says;
    EXPECT_THAT(r.err, HasSubstr(c.says));
    EXPECT_TRUE(stored().services.empty());
    EXPECT_TRUE(stored().custom.empty());
    EXPECT_FALSE(std::filesystem::exists(state::sourcesFile(paths_)));
  }
}

TEST_F(SecretSourceCli, SourceFlagsExcludeATypedValueAndEachOther) {
  const struct {
    std::vector<std::string> args;
    const char* says;
  } cases[] = {
      {{"secret", "set", "github", "--command", "true", "-t", "x"}, "exclude each other"},
      {{"secret", "set", "github", "--command", "true", "--ref", "op://a/b/c"},
       "--command and --ref exclude each other"},
      {{"secret", "set", "github", "--refresh", "5m", "-t", "value-1234"},
       "--refresh and --show-error need --command or --ref"},
      {{"secret", "set", "github", "--command", "true", "--refresh", "soon"}, "invalid --refresh"},
  };
  for (const auto& c : cases) {
    CliRun r = kitgate(c.args);
    EXPECT_NE(r.exit_code, 0) << c.says;
    EXPECT_THAT(r.err, HasSubstr(c.says));
    EXPECT_TRUE(stored().services.empty());
  }
}

TEST_F(SecretSourceCli, CustomSecretFromACommandAndRmForgetsItsSource) {
  writeToken(kToken1);
  CliRun r = kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                      "--placeholder", "sgamp-{rand}", "--command", command_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("refreshed on each run/start"));
  ASSERT_EQ(stored().custom.size(), 1u);
  EXPECT_EQ(stored().custom[0].value, kToken1);
  // A typed value replaces the source.
  r = kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
               "--value", "typed-value-1234"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(state::sourcesFile(paths_)));
  ASSERT_EQ(kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                     "--command", command_})
                .exit_code,
            0);
  r = kitgate({"secret", "rm", "-g", "--host", "ampcode.com", "-f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(stored().custom.empty());
  EXPECT_FALSE(std::filesystem::exists(state::sourcesFile(paths_)));
}

// The proxy lists the credential hosts a sandbox's CA cannot sign for
// (<state>/ca/<name>.outside); a secret change then says a restart is needed.
TEST_F(SecretSourceCli, ASecretForAHostOutsideTheSandboxCaSaysRestart) {
  state::SandboxRecord rec;
  rec.name = "dev1";
  rec.sources = {"10.88.1.2/32"};
  rec.allow = {"ampcode.com"};
  ASSERT_TRUE(state::writeSandbox(paths_, rec).isOk());
  CliRun r = kitgate({"secret", "set", "amp", "-t", "value-for-amp-1234"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("restart")));
  std::filesystem::create_directories(paths_.root + "/ca");
  std::ofstream(paths_.root + "/ca/dev1.outside") << "api.github.com\n";
  r = kitgate({"secret", "set", "github", "-t", "value-for-github-1234"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("WARN: sandbox dev1 trusts an interception CA made before "
                               "api.github.com was allowed: its credentials are injected there "
                               "after a restart (kitgate stop dev1 && kitgate start dev1)"));
}

TEST_F(SecretSourceCli, ImportCopiesWellKnownVariablesAndKeepsExistingOnes) {
  const std::string key = "sk-ant-api03-IMPORTED-from-env-0123";
  registerSecret(key);
  ::setenv("ANTHROPIC_API_KEY", key.c_str(), 1);
  ::unsetenv("OPENAI_API_KEY");
  CliRun r = kitgate({"secret", "import", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Would import anthropic from ANTHROPIC_API_KEY."));
  EXPECT_TRUE(stored().services.empty());

  r = kitgate({"secret", "import"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Imported anthropic from ANTHROPIC_API_KEY (global)."));
  EXPECT_EQ(serviceValue("anthropic"), key);

  ASSERT_EQ(kitgate({"secret", "set", "anthropic", "-t", "sk-typed-value-5678"}).exit_code, 0);
  r = kitgate({"secret", "import", "anthropic"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Kept the existing global secret for anthropic"));
  EXPECT_EQ(serviceValue("anthropic"), "sk-typed-value-5678");
  ASSERT_EQ(kitgate({"secret", "import", "anthropic", "--force"}).exit_code, 0);
  EXPECT_EQ(serviceValue("anthropic"), key);

  r = kitgate({"secret", "import", "openai"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no OPENAI_API_KEY in the environment"));
  r = kitgate({"secret", "import", "nosuch"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no well-known environment variable for service \"nosuch\""));
  ::unsetenv("ANTHROPIC_API_KEY");
}

}  // namespace
}  // namespace kitgate::cli::testing
