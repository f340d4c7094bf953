// `kitgate kit validate | inspect | pack` as a user runs them: the real binary,
// its stdout, stderr and exit code.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/orchestrator/cli/kit_cli_test_util.h"

namespace {

using namespace kitgate::testing;  // NOLINT: the fixture and its helpers

TEST_F(KitCli, ValidateSeedAmpKitPrintsValidAndItsDeprecationWarnings) {
  CliRun r = kitgate({"kit", "validate", seedAmp()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 8u) << r.out;
  EXPECT_EQ(out[0], "VALID: " + seedAmp() + " (directory)");
  EXPECT_EQ(out[1],
            "WARN: deprecated field \"kind: agent\": use 'kind: sandbox' instead (kit-spec v2)");
  EXPECT_EQ(out[7],
            "WARN: deprecated field \"network.allowedDomains\": use 'permissions.network.allow' "
            "instead (kit-spec v2)");
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << "colour on a non-TTY";
}

TEST_F(KitCli, ValidateBrokenKitPrintsEveryProblemWithItsLineOnStderr) {
  fs::create_directories(tmp_ / "broken");
  std::ofstream(tmp_ / "broken/spec.yaml")
      << "schemaVersion: \"2\"\nkind: sandbox\nname: Bad_Name\nsandbox:\n"
         "  image: x\n  persistence: persistent\nports:\n  - container: 0\n";
  CliRun r = kitgate({"kit", "validate", (tmp_ / "broken").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("spec.yaml:3:7: error: manifest: invalid name \"Bad_Name\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("  name: Bad_Name\n        ^\n"), std::string::npos) << r.err;
  EXPECT_NE(
      r.err.find("spec.yaml:6:3: error: field persistence not found in type spec.sandboxBlockV2"),
      std::string::npos);
  EXPECT_NE(
      r.err.find("spec.yaml:8:16: error: publishedPorts[0].container must be in 1..65535 (got 0)"),
      std::string::npos);
  EXPECT_NE(r.err.find("INVALID: " + (tmp_ / "broken").string() + " (3 errors)"), std::string::npos)
      << r.err;
}

TEST_F(KitCli, ValidateJsonReportsVerdict) {
  CliRun ok = kitgate({"kit", "validate", corpus("amp--v1-agent"), "--json"});
  EXPECT_EQ(ok.exit_code, 0);
  auto j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j["reference"], corpus("amp--v1-agent"));
  EXPECT_EQ(j["kind"], "directory");
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["warnings"].size(), 7u);
  EXPECT_FALSE(j.contains("error"));

  CliRun bad = kitgate({"kit", "validate", corpus("tck-args-install"), "--json"});
  EXPECT_EQ(bad.exit_code, 1);
  auto b = nlohmann::json::parse(bad.out);
  EXPECT_EQ(b["valid"], false);
  EXPECT_EQ(b["error"],
            "args[\"token\"] is required but no value was given (pass --kit-arg token=VALUE)");
  EXPECT_EQ(b["errors"][0]["file"], "spec.yaml");
  EXPECT_GT(b["errors"][0]["line"].get<int>(), 0);
}

TEST_F(KitCli, KitArgMakesTheArgsKitValid) {
  CliRun r = kitgate({"kit", "validate", corpus("tck-args-install"), "--kit-arg", "token=t",
                      "--kit-arg=greeting=hi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out)[0], "VALID: " + corpus("tck-args-install") + " (directory)");
}

TEST_F(KitCli, KitArgsFileSuppliesValuesAndKitArgOverridesIt) {
  std::ofstream(tmp_ / "args.txt") << "# tck values\n\ntoken=from-file\ngreeting=hi\n";
  CliRun r = kitgate({"kit", "inspect", corpus("tck-args-install"), "--json", "--kit-args-file",
                      (tmp_ / "args.txt").string(), "--kit-arg", "token=from-flag"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["environment"]["variables"]["ARGS_FIXTURE_TOKEN"], "from-flag");
  EXPECT_EQ(j["setup"]["install"][0]["command"], "test \"hi\" = \"supplied by tck.yaml\"");
  EXPECT_EQ(j["files"][0]["relativePath"], ".args-install/config.txt");

  std::ofstream(tmp_ / "bad.txt") << "token\n";
  CliRun bad = kitgate({"kit", "validate", corpus("tck-args-install"), "--kit-args-file",
                        (tmp_ / "bad.txt").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.txt:1: expected NAME=VALUE"), std::string::npos) << bad.err;
}

TEST_F(KitCli, InspectExplainsInterceptionAndCredentials) {
  CliRun r = kitgate({"kit", "inspect", seedAmp()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Image: docker/sandbox-templates:shell-docker"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Entrypoint: amp --dangerously-allow-all"), std::string::npos);
  EXPECT_NE(r.out.find("allow: ampcode.com:443, *.ampcode.com:443"), std::string::npos);
  EXPECT_NE(r.out.find("ampcode.com  [amp]  Authorization: Bearer <secret>"), std::string::npos);
  EXPECT_NE(r.out.find("install[0] as user 1000: Install Amp"), std::string::npos);
  EXPECT_NE(r.out.find("schemaVersion \"1\", shown normalized to schemaVersion \"2\""),
            std::string::npos);
}

// kit inspect names the secret each route will use (the chain run uses),
// never its value: none, a global custom secret bound to the host, then a
// global service secret, which wins.
TEST_F(KitCli, InspectSaysWhichSecretEachRouteWillUse) {
  const std::string state = (tmp_ / "state").string();
  const std::vector<std::string> env = {"KITGATE_STATE_DIR=" + state};
  CliRun r = kitgate({"kit", "inspect", seedAmp()}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("credential amp (ampcode.com): no secret set, requests go out without it"),
            std::string::npos)
      << r.out;
  r = kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
               "--value", "sk-amp-inspect-VALUE-0123"},
              env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kitgate({"kit", "inspect", seedAmp()}, env);
  EXPECT_NE(r.out.find("credential amp (ampcode.com): custom secret AMP_API_KEY (global)"),
            std::string::npos)
      << r.out;
  r = kitgate({"secret", "set", "amp", "-t", "sk-amp-service-VALUE-4567"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kitgate({"kit", "inspect", "--kit", seedAmp()}, env);
  EXPECT_NE(r.out.find("credential amp (ampcode.com): service secret amp (global)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("VALUE"), std::string::npos) << r.out;
}

TEST_F(KitCli, InspectJsonOfV1FullEqualsV2Expected) {
  CliRun v1 = kitgate({"kit", "inspect", corpus("testdata-v1-full"), "--json"});
  CliRun v2 = kitgate({"kit", "inspect", corpus("testdata-v2-expected"), "--json"});
  ASSERT_EQ(v1.exit_code, 0) << v1.err;
  ASSERT_EQ(v2.exit_code, 0) << v2.err;
  auto a = nlohmann::json::parse(v1.out);
  auto b = nlohmann::json::parse(v2.out);
  EXPECT_EQ(a["schemaVersion"], "2");
  EXPECT_EQ(a["sourceSchemaVersion"], "1");
  EXPECT_EQ(a["credentials"][0]["apiKey"]["inject"][0]["header"], "x-api-key");
  for (const char* volatile_key : {"reference", "sourceSchemaVersion", "warnings"}) {
    a.erase(volatile_key);
    b.erase(volatile_key);
  }
  EXPECT_EQ(a, b);
}

TEST_F(KitCli, InspectWithSeveralKitsShowsTheComposedKit) {
  CliRun r = kitgate({"kit", "inspect", "--kit", corpus("claude-mem--v2-mixin-requires"), "--kit",
                      corpus("glab--v2-mixin-credential"), "claude"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Composed: claude + claude-mem + glab\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Image: docker/sandbox-templates:claude-code"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("api.anthropic.com  [anthropic]  x-api-key: <secret>"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("gitlab.com  [gitlab]  Authorization: Bearer <secret>"), std::string::npos)
      << r.out;

  CliRun j = kitgate({"kit", "inspect", "--json", "--kit", corpus("glab--v2-mixin-credential"),
                      "--kit", corpus("kernel--v2-mixin-credential"), "shell"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["name"], "shell");
  EXPECT_EQ(doc["kind"], "sandbox");
  std::vector<std::string> services;
  for (const auto& c : doc["credentials"]) services.push_back(c["service"]);
  EXPECT_EQ(services, (std::vector<std::string>{"gitlab", "kernel"})) << j.out;

  // A composition error is reported like run reports it.
  CliRun bad =
      kitgate({"kit", "inspect", "--kit", corpus("amp--v2"), "--kit", corpus("hermes-agent--v2")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("compose: two sandbox kits"), std::string::npos) << bad.err;
}

TEST_F(KitCli, KitAddNeedsASandboxAndAReference) {
  CliRun r = kitgate({"kit", "add", "claude-proj"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("add needs a kit reference"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Usage: kitgate kit add SANDBOX REF"), std::string::npos) << r.err;
}

TEST_F(KitCli, PackWritesAZipThatValidateAccepts) {
  std::string zip = (tmp_ / "amp.zip").string();
  CliRun p = kitgate({"kit", "pack", seedAmp(), "-o", zip});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(lines(p.out)[0], "PACKED: " + zip + " (1 entries)");
  CliRun v = kitgate({"kit", "validate", zip});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(lines(v.out)[0], "VALID: " + zip + " (zip)");
  std::string again = (tmp_ / "again.zip").string();
  EXPECT_EQ(kitgate({"kit", "pack", seedAmp(), "--output", again}).exit_code, 0);
  EXPECT_EQ(slurp(zip), slurp(again));
}

TEST_F(KitCli, ValidateGitReference) {
  fs::path repo = tmp_ / "repo";
  fs::create_directories(repo / "amp");
  fs::copy_file(seedAmp() + "spec.yaml", repo / "amp/spec.yaml");
  auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "git");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawnp(&pid, "git", nullptr, nullptr, argv.data(), environ), 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_EQ(WEXITSTATUS(status), 0);
  };
  git({"init", "-q", "-b", "main", repo.string()});
  git({"-C", repo.string(), "add", "."});
  git({"-C", repo.string(), "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit",
       "-q", "-m", "amp"});
  std::string ref = "git+file://" + repo.string() + "#ref=main&dir=amp";
  CliRun r = kitgate({"kit", "validate", ref, "--cache-dir", (tmp_ / "cache").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out)[0], "VALID: " + ref + " (git)");
}

TEST_F(KitCli, PasswordInAGitUrlIsRefusedBeforeAnyFetchAndNeverPrinted) {
  CliRun r = kitgate({"kit", "validate", "git+https://u:hunter2@example.invalid/x.git#dir=kit"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("carries credentials in the URL"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos);
}

TEST_F(KitCli, HelpOnEveryCommandHasExamples) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"kit", "--help"},
                                        {"kit", "validate", "--help"},
                                        {"kit", "inspect", "--help"},
                                        {"kit", "pack", "--help"},
                                        {"kit", "sign", "--help"},
                                        {"kit", "verify", "--help"}}) {
    CliRun r = kitgate(args);
    EXPECT_EQ(r.exit_code, 0) << args.back();
    EXPECT_NE(r.out.find("Examples:"), std::string::npos) << args.back() << ": " << r.out;
    EXPECT_NE(r.out.find("Usage: kitgate"), std::string::npos);
  }
}

TEST_F(KitCli, UsageErrorsExitTwo) {
  EXPECT_EQ(kitgate({"nosuch"}).exit_code, 2);
  EXPECT_EQ(kitgate({"kit", "validate"}).exit_code, 2);
  EXPECT_EQ(kitgate({"kit", "validate", seedAmp(), "--bogus"}).exit_code, 2);
  EXPECT_EQ(kitgate({}).exit_code, 2);
}

TEST_F(KitCli, V3KitIsAClearError) {
  CliRun r = kitgate({"kit", "validate", corpus("amp--v3")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("amp.yaml is a schemaVersion \"3\" kit descriptor"), std::string::npos)
      << r.err;
}

}  // namespace

namespace kitgate::testing {
namespace {

TEST_F(KitCli, SettingsFileGatesLocalKitsAndTheEnvironmentWins) {
  std::string settings = (tmp_ / "settings.json").string();
  std::ofstream(settings) << "{\"kit\": {\"allowLocalKits\": false}}";
  CliRun refused = kitgate({"kit", "inspect", seedAmp()}, {"KITGATE_SETTINGS=" + settings});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("cannot be installed — local kits are disabled (kit.allowLocalKits "
                             "is false)"),
            std::string::npos)
      << refused.err;
  CliRun env = kitgate({"kit", "inspect", seedAmp()},
                       {"KITGATE_SETTINGS=" + settings, "DOCKER_SANDBOXES_KIT_ALLOW_LOCAL=true"});
  EXPECT_EQ(env.exit_code, 0) << env.err;

  for (const char* bad :
       {"{\"kit.allowLocalKits\": \"no\"}", "{\"kit.allowedSources\": \"x\"}", "not json"}) {
    std::ofstream(settings, std::ios::trunc) << bad;
    CliRun r = kitgate({"kit", "inspect", seedAmp()}, {"KITGATE_SETTINGS=" + settings});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find(settings), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace kitgate::testing
