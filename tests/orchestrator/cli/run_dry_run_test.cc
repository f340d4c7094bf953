// `kitgate run --dry-run` on the real binary: every corpus kit composes and
// plans (each sandbox kit alone, each mixin on its base agent), with no
// Docker daemon and no state directory; five plans are pinned as goldens.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/orchestrator/cli/kit_cli_test_util.h"

namespace {

using namespace kitgate::testing;  // NOLINT: the fixture and its helpers

struct DryRunCase {
  std::vector<std::string> kits;  // corpus folder suffixes, in --kit order
  std::string agent;
  std::vector<std::string> extra;  // more arguments (--kit-arg …)
};

// Every corpus kit except amp--v3 (a v3 descriptor, not loadable by design).
// Sandbox kits alone; mixins on their requires.agent / v1 extends base (a
// built-in, or the corpus kit of that name), else on the built-in shell.
const std::vector<DryRunCase>& corpusCases() {
  static const std::vector<DryRunCase> kCases = {
      {{"amp--v1-agent"}, "amp", {}},
      {{"amp--v1-renamed"}, "amp", {}},
      {{"amp--v2"}, "amp", {}},
      {{"claude-ollama--v1-settings"}, "claude-ollama", {}},
      {{"hermes-agent--v2"}, "hermes-agent", {}},
      {{"kiro--v2-own-image"}, "kiro", {}},
      {{"openclaw--v2-oauth"}, "openclaw", {}},
      {{"testdata-sample-agent-v1-renamed"}, "sample-agent", {}},
      {{"testdata-sample-agent-v2"}, "sample-agent-v2", {}},
      {{"testdata-v1-full"}, "legacy-kit", {}},
      {{"testdata-v2-expected"}, "legacy-kit", {}},
      {{"claude-mem--v2-mixin-requires"}, "claude", {}},
      {{"claude-model-runner--v1-mixin-anchors"}, "claude", {}},
      {{"claude-sbx-statusline--v2-mixin-files"}, "claude", {}},
      {{"code-server--v1-mixin-extends"}, "claude", {}},
      {{"code-server--v2-ports"}, "claude", {}},
      {{"codex-app-server--v1-mixin-extends"}, "codex", {}},
      {{"git-ssh-sign--v1-mixin"}, "shell", {}},
      {{"github-ssh--v1-mixin"}, "shell", {}},
      {{"glab--v2-mixin-credential"}, "shell", {}},
      {{"kernel--v2-mixin-credential"}, "shell", {}},
      {{"nanoclaw--v1-mixin-initial"}, "shell", {}},
      {{"openclaw--v1-mixin-initial"}, "shell", {}},
      {{"packages-through-sfw--v1-mixin"}, "shell", {}},
      {{"testdata-sample-agent-v1-renamed", "testdata-sample-mixin-v1"}, "sample-agent", {}},
      {{"tck-args-install"},
       "shell",
       {"--kit-arg", "greeting=supplied by tck.yaml", "--kit-arg", "token=dummy-for-ci"}},
  };
  return kCases;
}

class RunDryRun : public KitCli {
 protected:
  void SetUp() override {
    KitCli::SetUp();
    workspace_ = tmp_ / "proj";
    fs::create_directories(workspace_);
    state_ = tmp_ / "state";
  }

  // No daemon and no state: a dry run must need neither.
  CliRun dryRun(const DryRunCase& c, const std::string& name = "") {
    std::vector<std::string> args{"run", "--dry-run", "--workspace", workspace_.string()};
    for (const std::string& k : c.kits) {
      args.push_back("--kit");
      args.push_back(corpus(k));
    }
    if (!name.empty()) args.insert(args.end(), {"--name", name});
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    args.push_back(c.agent);
    return kitgate(args, {"DOCKER_HOST=unix://" + (tmp_ / "no-docker.sock").string(),
                          "KITGATE_STATE_DIR=" + state_.string()});
  }

  fs::path workspace_;
  fs::path state_;
};

TEST_F(RunDryRun, EveryCorpusKitComposesAndPlansWithoutDocker) {
  std::vector<std::string> covered;
  for (const DryRunCase& c : corpusCases()) {
    CliRun r = dryRun(c);
    std::string label = c.kits.back() + " on " + c.agent;
    EXPECT_EQ(r.exit_code, 0) << label << "\n" << r.err;
    EXPECT_NE(r.out.find("Plan for sandbox "), std::string::npos) << label;
    EXPECT_NE(r.out.find("Steps in the container, in order\n"), std::string::npos) << label;
    // The executor's own steps, host side included, in the order run takes them.
    const size_t run_steps = r.out.find("What kitgate run does, in order");
    EXPECT_NE(run_steps, std::string::npos) << label;
    EXPECT_LT(r.out.find(". network\n", run_steps), r.out.find(". container\n", run_steps))
        << label;
    EXPECT_NE(r.out.find("Start the agent"), std::string::npos) << label;
    covered.insert(covered.end(), c.kits.begin(), c.kits.end());
  }
  EXPECT_FALSE(fs::exists(state_)) << "a dry run wrote state";
  // Every corpus folder but the v3 descriptor is planned at least once.
  std::vector<std::string> folders;
  for (const auto& e : fs::directory_iterator(source_ / "tests/kitloader/corpus")) {
    std::string n = e.path().filename().string();
    if (e.is_directory() && n != "docker__sbx-kits-contrib__amp--v3") folders.push_back(n);
  }
  std::sort(covered.begin(), covered.end());
  covered.erase(std::unique(covered.begin(), covered.end()), covered.end());
  for (std::string& k : covered) k = "docker__sbx-kits-contrib__" + k;
  std::sort(folders.begin(), folders.end());
  EXPECT_EQ(covered, folders);
}

TEST_F(RunDryRun, ComposesTwoMixinsOnABuiltinInKitOrder) {
  CliRun r = dryRun({{"code-server--v2-ports", "glab--v2-mixin-credential"}, "claude", {}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("kits        claude (builtin:claude) + code-server ("), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(") + glab ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("image       docker/sandbox-templates:claude-code\n"), std::string::npos);
  // Both credentials are routed; secrets never appear, only placeholders.
  EXPECT_NE(r.out.find("api.anthropic.com  anthropic: x-api-key: <secret>"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ANTHROPIC_API_KEY=proxy-managed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gitlab"), std::string::npos) << r.out;
}

TEST_F(RunDryRun, KitReferenceMayStandInForAgent) {
  CliRun r = dryRun({{"amp--v2"}, corpus("amp--v2"), {}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Plan for sandbox amp-proj "), std::string::npos) << r.out;
}

TEST_F(RunDryRun, CompositionErrorsStopBeforeAPlan) {
  // Two sandbox kits.
  CliRun r = dryRun({{"amp--v2", "hermes-agent--v2"}, "amp", {}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("compose: two sandbox kits, \"amp\""), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  // requires.agent mismatch.
  r = dryRun({{"claude-mem--v2-mixin-requires"}, "codex", {}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("compose: mixin \"claude-mem\" requires agent \"claude\", but the sandbox "
                       "is \"codex\""),
            std::string::npos)
      << r.err;
  // The same kit twice.
  r = dryRun({{"glab--v2-mixin-credential", "glab--v2-mixin-credential"}, "shell", {}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("compose: duplicate kit name \"glab\""), std::string::npos) << r.err;
}

TEST_F(RunDryRun, KitNamedLikeABuiltinIsRefusedWithSbxMessage) {
  fs::create_directories(tmp_ / "claude");
  std::ofstream(tmp_ / "claude/spec.yaml")
      << "schemaVersion: \"2\"\nkind: sandbox\nname: claude\nsandbox:\n  image: x\n";
  CliRun r = kitgate({"run", "--dry-run", "--workspace", workspace_.string(), "--kit",
                      (tmp_ / "claude").string(), "claude"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("agent \"claude\" is already registered (built-in agents cannot be "
                       "overridden by a kit)"),
            std::string::npos)
      << r.err;
}

TEST_F(RunDryRun, ProxyVariablesAreOverriddenAndSaidSo) {
  fs::create_directories(tmp_ / "px");
  std::ofstream(tmp_ / "px/spec.yaml")
      << "schemaVersion: \"2\"\nkind: mixin\nname: px\nenvironment:\n  variables:\n"
         "    HTTP_PROXY: \"\"\n    NO_PROXY: \"localhost,127.0.0.1,host.docker.internal\"\n";
  CliRun r = kitgate({"run", "--dry-run", "--workspace", workspace_.string(), "--kit",
                      (tmp_ / "px").string(), "shell"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("HTTP_PROXY=http://shell-proj:<identification-token>@<gateway>:3128\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("HTTP_PROXY=\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NO_PROXY=localhost,127.0.0.1,::1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kit variable HTTP_PROXY is set by kitgate; the kit's value is ignored"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("kit variable NO_PROXY is overridden by kitgate's proxy settings; dropped "
                       "entries: host.docker.internal"),
            std::string::npos)
      << r.out;
  // And validate only warns, with the position (sbx says VALID).
  r = kitgate({"kit", "validate", (tmp_ / "px").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("WARN: environment: variable \"HTTP_PROXY\" should not be set by a kit"),
            std::string::npos)
      << r.out;
}

TEST_F(RunDryRun, PatternTheProxyCannotEnforceIsValidButRunRefusesIt) {
  fs::create_directories(tmp_ / "bad");
  std::ofstream(tmp_ / "bad/spec.yaml")
      << "schemaVersion: \"2\"\nkind: mixin\nname: bad\npermissions:\n  network:\n"
         "    allow: [\"example.com:80-443\"]\n";
  CliRun r = kitgate({"kit", "validate", (tmp_ / "bad").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = kitgate({"run", "--dry-run", "--workspace", workspace_.string(), "--kit",
               (tmp_ / "bad").string(), "shell"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("permissions.network.allow[0] \"example.com:80-443\": column 15: port "
                       "ranges"),
            std::string::npos)
      << r.err;
}

// ---------------------------------------------------------------- goldens

struct GoldenCase {
  std::string file;
  DryRunCase run;
};

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

TEST_F(RunDryRun, GoldenPlansOfFiveCompositions) {
  const std::vector<GoldenCase> cases = {
      {"amp-v2", {{"amp--v2"}, "amp", {}}},
      {"openclaw-v2-oauth", {{"openclaw--v2-oauth"}, "openclaw", {}}},
      {"claude-mem-on-claude", {{"claude-mem--v2-mixin-requires"}, "claude", {}}},
      {"sample-agent-with-sample-mixin",
       {{"testdata-sample-agent-v1-renamed", "testdata-sample-mixin-v1"}, "sample-agent", {}}},
      {"statusline-and-glab-on-claude",
       {{"claude-sbx-statusline--v2-mixin-files", "glab--v2-mixin-credential"}, "claude", {}}},
  };
  const bool update = std::getenv("KITGATE_UPDATE_GOLDEN") != nullptr;
  for (const GoldenCase& g : cases) {
    CliRun r = dryRun(g.run, "golden");
    ASSERT_EQ(r.exit_code, 0) << g.file << "\n" << r.err;
    std::string got = replaceAll(r.out, workspace_.string(), "/WORKSPACE");
    got = replaceAll(got, tmp_.string(), "/WORKSPACE-PARENT");  // the agent file's directory
    got = replaceAll(got, (source_ / "tests/kitloader/corpus").string(), "CORPUS");
    const fs::path golden = source_ / "tests/orchestrator/cli/golden" / (g.file + ".txt");
    if (update) std::ofstream(golden, std::ios::binary) << got;
    EXPECT_EQ(got, slurp(golden)) << "golden " << golden
                                  << " differs (KITGATE_UPDATE_GOLDEN=1 rewrites it)";
  }
}

}  // namespace
