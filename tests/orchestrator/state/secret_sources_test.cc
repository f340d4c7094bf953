// Dynamic secrets (`--command`, `--ref`, `--refresh`): the refresh schedule
// and failure handling with explicit times and a scripted runner, and the
// real process runner on real commands.
#include "orchestrator/state/secret_sources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "tests/support/fake_source_runner.h"

namespace kitgate::state {
namespace {

using ::testing::ElementsAre;
using testing::FakeSourceRunner;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kT0 = 1'800'000'000;

SecretSource serviceSource(std::string name, int64_t refresh_s) {
  SecretSource s;
  s.kind = SecretSource::Kind::kService;
  s.scope = std::string(kGlobalScope);
  s.name = std::move(name);
  s.command = "gh auth token";
  s.refresh_s = refresh_s;
  return s;
}

SecretSource customSource() {
  SecretSource s;
  s.kind = SecretSource::Kind::kCustom;
  s.scope = sandboxScope("dev1");
  s.name = "AMP_API_KEY";
  s.hosts = {"ampcode.com"};
  s.placeholder = "sgamp-abcdefgh";
  s.ref = "op://vault/amp/key";
  s.refresh_s = 0;
  return s;
}

const ServiceSecret* service(const Secrets& s, const std::string& name) {
  for (const auto& e : s.services)
    if (e.service == name) return &e;
  return nullptr;
}

TEST(SecretSourceRefresh, DurationsAndOnDemandParseAndPrint) {
  const struct {
    const char* text;
    std::optional<int64_t> seconds;
  } cases[] = {
      {"on-demand", 0},       {"55m", 3300},         {"1h", 3600},         {"90s", 90},
      {"1h30m", 5400},        {"2d", 172800},        {"", std::nullopt},   {"5", std::nullopt},
      {"m", std::nullopt},    {"-5m", std::nullopt}, {"5y", std::nullopt}, {"0m", std::nullopt},
      {"1h 5m", std::nullopt}};
  for (const auto& c : cases) {
    auto parsed = parseRefresh(c.text);
    EXPECT_EQ(parsed.isOk(), c.seconds.has_value()) << c.text;
    if (parsed.isOk() && c.seconds) {
      EXPECT_EQ(*parsed, *c.seconds) << c.text;
    }
    if (!parsed.isOk()) {
      EXPECT_THAT(parsed.status().message(), HasSubstr("on-demand")) << c.text;
    }
  }
  EXPECT_EQ(formatRefresh(3300), "55m");
  EXPECT_EQ(formatRefresh(5400), "1h30m");
  EXPECT_EQ(formatRefresh(0), "on-demand");
  EXPECT_EQ(defaultRefresh(SecretSource::Kind::kService), 3300);
  EXPECT_EQ(defaultRefresh(SecretSource::Kind::kCustom), 0);
}

TEST(SecretSourceRefresh, EachSourceFormRunsItsHelperWithTheValueNeverInArgv) {
  SecretSource s = serviceSource("github", 60);
  EXPECT_EQ(*sourceArgv(s), (std::vector<std::string>{"sh", "-c", "gh auth token"}));
  s.command.clear();
  s.ref = "op://Private/GitHub/token";
  EXPECT_EQ(*sourceArgv(s), (std::vector<std::string>{"op", "read", "op://Private/GitHub/token"}));
  s.ref = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh";
  EXPECT_EQ(*sourceArgv(s),
            (std::vector<std::string>{"aws", "secretsmanager", "get-secret-value", "--secret-id",
                                      s.ref, "--query", "SecretString", "--output", "text"}));
  for (const char* bad : {"vault://x", "https://example.com/secret", "op:/x"}) {
    s.ref = bad;
    auto argv = sourceArgv(s);
    ASSERT_FALSE(argv.isOk()) << bad;
    EXPECT_THAT(argv.status().message(), HasSubstr("op://")) << bad;
    EXPECT_THAT(argv.status().message(), HasSubstr("arn:aws:secretsmanager:")) << bad;
  }
}

TEST(SecretSourceRefresh, SudoCallerIsTheUserOnlyWhenRunningAsRoot) {
  EXPECT_EQ(invokingUser(0, 0, "1000", "1001").uid, 1000u);
  EXPECT_EQ(invokingUser(0, 0, "1000", "1001").gid, 1001u);
  EXPECT_EQ(invokingUser(1000, 1000, "0", "0").uid, 1000u);  // not root: SUDO_* ignored
  EXPECT_EQ(invokingUser(0, 0, nullptr, nullptr).uid, 0u);   // plain root
  EXPECT_EQ(invokingUser(0, 0, "10x0", "1000").uid, 0u);     // malformed: ignored
}

TEST(SecretSourceRefresh, ResolvesThenRefreshesOnlyWithinTheMarginBeforeExpiry) {
  std::vector<SecretSource> sources = {serviceSource("github", 3300)};
  Secrets secrets;
  FakeSourceRunner runner;
  auto r = refreshSources(sources, secrets, runner, kT0, RefreshTrigger::kAll);
  EXPECT_TRUE(r.changed);
  EXPECT_THAT(r.resolved, ElementsAre("github (global)"));
  ASSERT_NE(service(secrets, "github"), nullptr);
  EXPECT_EQ(service(secrets, "github")->value, "value-1");
  EXPECT_EQ(sources[0].expires_at, kT0 + 3300);

  // 55m: the margin is 5 minutes, so nothing is due at 49m59s.
  runner.value = "value-2";
  r = refreshSources(sources, secrets, runner, kT0 + 2999, RefreshTrigger::kDue);
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(runner.calls, 1);
  EXPECT_EQ(service(secrets, "github")->value, "value-1");
  r = refreshSources(sources, secrets, runner, kT0 + 3000, RefreshTrigger::kDue);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(service(secrets, "github")->value, "value-2");
  EXPECT_EQ(sources[0].expires_at, kT0 + 3000 + 3300);
  // A short lifetime has a proportional margin (a fifth).
  SecretSource short_lived = serviceSource("x", 100);
  short_lived.expires_at = kT0 + 100;
  EXPECT_FALSE(refreshDue(short_lived, kT0 + 79));
  EXPECT_TRUE(refreshDue(short_lived, kT0 + 80));
}

TEST(SecretSourceRefresh, FailingCommandKeepsTheLastGoodValueUntilItExpires) {
  std::vector<SecretSource> sources = {serviceSource("github", 600)};
  Secrets secrets;
  FakeSourceRunner runner;
  runner.value = "ghp_last_good_value";
  refreshSources(sources, secrets, runner, kT0, RefreshTrigger::kAll);

  runner.failure = "exited with status 1";
  auto r = refreshSources(sources, secrets, runner, kT0 + 500, RefreshTrigger::kDue);
  EXPECT_TRUE(r.changed);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0],
              HasSubstr("github (global): command 'gh auth token': exited with status 1"));
  EXPECT_THAT(r.errors[0], HasSubstr("keeping the last value until it expires"));
  EXPECT_THAT(r.errors[0], Not(HasSubstr("ghp_last_good_value")));
  EXPECT_EQ(service(secrets, "github")->value, "ghp_last_good_value");
  EXPECT_EQ(sources[0].state, SecretSource::State::kFailing);
  EXPECT_EQ(sources[0].expires_at, kT0 + 600);  // unchanged: the old value's expiry

  // Past expiry and still failing: the value is no longer injected.
  r = refreshSources(sources, secrets, runner, kT0 + 600, RefreshTrigger::kDue);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], HasSubstr("expired"));
  EXPECT_EQ(service(secrets, "github"), nullptr);
  EXPECT_EQ(sources[0].state, SecretSource::State::kExpired);

  // The command works again: the value comes back.
  runner.failure.clear();
  runner.value = "ghp_fresh";
  r = refreshSources(sources, secrets, runner, kT0 + 700, RefreshTrigger::kDue);
  EXPECT_TRUE(r.errors.empty());
  ASSERT_NE(service(secrets, "github"), nullptr);
  EXPECT_EQ(service(secrets, "github")->value, "ghp_fresh");
  EXPECT_EQ(sources[0].state, SecretSource::State::kOk);
  EXPECT_TRUE(sources[0].error.empty());
}

TEST(SecretSourceRefresh, OnDemandCustomSecretIsResolvedWhenASandboxStartsNotByTime) {
  std::vector<SecretSource> sources = {customSource()};
  Secrets secrets;
  FakeSourceRunner runner;
  auto r = refreshSources(sources, secrets, runner, kT0 + 86400 * 365, RefreshTrigger::kDue);
  EXPECT_EQ(runner.calls, 0);
  EXPECT_FALSE(r.changed);
  r = refreshSources(sources, secrets, runner, kT0, RefreshTrigger::kLaunch);
  EXPECT_EQ(runner.calls, 1);
  ASSERT_EQ(secrets.custom.size(), 1u);
  EXPECT_EQ(secrets.custom[0].env, "AMP_API_KEY");
  EXPECT_EQ(secrets.custom[0].placeholder, "sgamp-abcdefgh");
  EXPECT_EQ(secrets.custom[0].hosts, std::vector<std::string>{"ampcode.com"});
  EXPECT_EQ(secrets.custom[0].scope, "sandbox:dev1");
  EXPECT_EQ(secrets.custom[0].value, "value-1");
  EXPECT_EQ(sources[0].expires_at, 0);  // never expires

  // Failing: an on-demand value has no expiry, so it is kept.
  runner.failure = "not signed in";
  r = refreshSources(sources, secrets, runner, kT0 + 10, RefreshTrigger::kLaunch);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(secrets.custom[0].value, "value-1");
}

TEST(SecretSourceRefresh, OnlyLimitsAPassToOneSecret) {
  std::vector<SecretSource> sources = {serviceSource("github", 600), serviceSource("amp", 600)};
  Secrets secrets;
  FakeSourceRunner runner;
  const SecretSource only = serviceSource("amp", 0);
  refreshSources(sources, secrets, runner, kT0, RefreshTrigger::kAll, &only);
  EXPECT_EQ(runner.calls, 1);
  EXPECT_EQ(service(secrets, "github"), nullptr);
  EXPECT_NE(service(secrets, "amp"), nullptr);
}

TEST(SecretSourceRefresh, SyncDropsSourcesOfRemovedSecretsAndFollowsHostChanges) {
  std::vector<SecretSource> sources = {serviceSource("github", 600), customSource()};
  Secrets secrets;
  secrets.custom.push_back(
      {sandboxScope("dev1"), {"api.ampcode.com"}, "AMP_API_KEY", "sgamp-abcdefgh", "v"});
  syncSources(sources, secrets);  // github's entry is gone (secret rm)
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].name, "AMP_API_KEY");
  EXPECT_EQ(sources[0].hosts, std::vector<std::string>{"api.ampcode.com"});
}

class SourceFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kitgate-sources-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    paths_.root = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(paths_.root); }
  Paths paths_;
};

TEST_F(SourceFiles, RoundTripKeepsEveryFieldInAPrivateFileWithoutValues) {
  std::vector<SecretSource> sources = {serviceSource("github", 3300), customSource()};
  sources[0].state = SecretSource::State::kFailing;
  sources[0].error = "command 'gh auth token': exited with status 1";
  sources[0].expires_at = kT0;
  sources[1].show_error = true;
  sources[1].uid = 1000;
  sources[1].gid = 1001;
  ASSERT_TRUE(saveSources(paths_, sources).isOk());
  struct stat st {};
  ASSERT_EQ(::stat(sourcesFile(paths_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = loadSources(paths_);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().message();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].state, SecretSource::State::kFailing);
  EXPECT_EQ((*loaded)[0].error, sources[0].error);
  EXPECT_EQ((*loaded)[0].refresh_s, 3300);
  EXPECT_EQ((*loaded)[0].expires_at, kT0);
  EXPECT_EQ((*loaded)[1].kind, SecretSource::Kind::kCustom);
  EXPECT_EQ((*loaded)[1].ref, "op://vault/amp/key");
  EXPECT_EQ((*loaded)[1].placeholder, "sgamp-abcdefgh");
  EXPECT_TRUE((*loaded)[1].show_error);
  EXPECT_EQ((*loaded)[1].uid, 1000u);
  EXPECT_EQ((*loaded)[1].gid, 1001u);
  // No sources: no file.
  ASSERT_TRUE(saveSources(paths_, {}).isOk());
  EXPECT_FALSE(std::filesystem::exists(sourcesFile(paths_)));
  EXPECT_TRUE(loadSources(paths_)->empty());
  // A damaged file is an error naming it, not an empty list.
  std::ofstream(sourcesFile(paths_)) << "{\"sources\": [{\"kind\": 3}]}";
  auto damaged = loadSources(paths_);
  ASSERT_FALSE(damaged.isOk());
  EXPECT_THAT(damaged.status().message(), HasSubstr(sourcesFile(paths_)));
}

// ---- the real runner ---------------------------------------------------------

SecretSource commandSource(std::string command) {
  SecretSource s = serviceSource("svc", 60);
  s.command = std::move(command);
  s.uid = ::geteuid();
  s.gid = ::getegid();
  return s;
}

TEST(ProcessSourceRunner, OneLineOnStdoutIsTheValue) {
  ProcessSourceRunner runner;
  for (const char* cmd : {"printf 'tok-123\\n'", "printf tok-123", "printf 'tok-123\\r\\n'",
                          "echo diagnostics >&2; echo tok-123"}) {
    auto v = runner.resolve(commandSource(cmd));
    ASSERT_TRUE(v.isOk()) << cmd << ": " << v.status().message();
    EXPECT_EQ(*v, "tok-123") << cmd;
  }
}

TEST(ProcessSourceRunner, FailuresNameTheCommandAndNeverWhatItPrinted) {
  ProcessSourceRunner runner;
  const struct {
    const char* cmd;
    const char* says;
  } cases[] = {
      // The value printed is tok-SECRET; the command text never holds it whole.
      {"printf 'tok-%s\\n' SECRET; exit 3", "exited with status 3"},
      {"echo oops >&2; exit 1", "--show-error shows its error output"},
      {"printf 'tok-%s\\nline2\\n' SECRET", "printed more than one line"},
      {"true", "printed nothing"},
      {"printf 'tok-%s\\001' SECRET", "control character"},
      {"kitgate-no-such-helper-xyz", "exited with status 127"},
      {"kill -9 $$", "killed by signal 9"},
  };
  for (const auto& c : cases) {
    auto v = runner.resolve(commandSource(c.cmd));
    ASSERT_FALSE(v.isOk()) << c.cmd;
    EXPECT_THAT(v.status().message(), HasSubstr(std::string("command '") + c.cmd + "'"));
    EXPECT_THAT(v.status().message(), HasSubstr(c.says)) << c.cmd;
    EXPECT_THAT(v.status().message(), Not(HasSubstr("tok-SECRET"))) << c.cmd;
  }
  // --show-error: the command's stderr is part of the message.
  SecretSource shown = commandSource("echo 'gh: not logged in' >&2; exit 4");
  shown.show_error = true;
  auto v = runner.resolve(shown);
  ASSERT_FALSE(v.isOk());
  EXPECT_THAT(v.status().message(), HasSubstr("exited with status 4: gh: not logged in"));
}

TEST(ProcessSourceRunner, ACommandThatHangsIsStoppedAtTheBound) {
  ProcessSourceRunner runner(1);
  auto v = runner.resolve(commandSource("exec sleep 600"));
  ASSERT_FALSE(v.isOk());
  EXPECT_THAT(v.status().message(), HasSubstr("did not finish within 1s"));
}

TEST(ProcessSourceRunner, RunsAsTheUserWhoSetTheSecret) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  ProcessSourceRunner runner;
  SecretSource s = commandSource("printf '%s:%s:%s' \"$(id -u)\" \"$(id -g)\" \"$HOME\"");
  s.uid = 65534;  // nobody
  s.gid = 65534;
  auto v = runner.resolve(s);
  ASSERT_TRUE(v.isOk()) << v.status().message();
  EXPECT_THAT(*v, ::testing::StartsWith("65534:65534:"));
  EXPECT_THAT(*v, Not(::testing::EndsWith(":/root")));
}

}  // namespace
}  // namespace kitgate::state
