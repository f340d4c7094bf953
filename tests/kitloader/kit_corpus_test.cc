// Every corpus kit loads with the verdict and warnings of corpus/README.md,
// and the golden pairs normalise to equal canonical models.
#include <gtest/gtest.h>

#include <algorithm>

#include "kitloader/kit.h"
#include "tests/kitloader/kit_test_util.h"

namespace kitgate::kit {
namespace {

using testing::corpusKit;

std::string dep(const std::string& what, const std::string& advice) {
  return "deprecated field \"" + what + "\": " + advice;
}

const std::string kKindAgent = dep("kind: agent", "use 'kind: sandbox' instead (kit-spec v2)");
const std::string kAgentBlock = dep("agent:", "use 'sandbox:' block instead (kit-spec v2)");
const std::string kPersistence =
    dep("sandbox.persistence", "field has no effect and is removed in kit-spec v2; safe to delete");
const std::string kMemory = dep(
    "memory",
    "use 'agentContext' (schemaVersion 1) or 'agentInstructions.content' (kit-spec v2) instead");
const std::string kServiceDomains =
    dep("network.serviceDomains", "use credentials[].apiKey.inject[].domain (kit-spec v2)");
const std::string kServiceAuth =
    dep("network.serviceAuth", "use credentials[].apiKey.inject[].header/format (kit-spec v2)");
const std::string kAllowed =
    dep("network.allowedDomains", "use 'permissions.network.allow' instead (kit-spec v2)");
const std::string kDenied =
    dep("network.deniedDomains", "use 'permissions.network.deny' instead (kit-spec v2)");
const std::string kPorts =
    dep("network.publishedPorts", "use the top-level 'ports' field instead (kit-spec v2)");
const std::string kSources =
    dep("credentials.sources",
        "use the top-level 'credentials:' list with 'apiKey:' sub-blocks (kit-spec v2)");
const std::string kProxyManaged =
    dep("environment.proxyManaged",
        "use credentials[].apiKey.name with credentials[].apiKey.proxyManaged: true (kit-spec v2)");
const std::string kOAuth =
    dep("oauth: (standalone block)", "use credentials[].oauth (kit-spec v2)");
const std::string kSettings = dep("settings",
                                  "container settings are now lifted into kit "
                                  "commands.initFiles/commands.startup (schemaVersion 1) or "
                                  "setup.files/setup.startup (kit-spec v2); remove this block");

std::vector<std::string> deprecations(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& w : r.warningMessages()) {
    if (w.rfind("deprecated field", 0) == 0) out.push_back(w);
  }
  return out;
}

struct CorpusCase {
  std::string kit;
  bool valid;
  std::vector<std::string> deprecations;  // exact, in order
};

class CorpusKit : public ::testing::TestWithParam<CorpusCase> {};

TEST_P(CorpusKit, LoadsWithExpectedVerdictAndDeprecations) {
  const CorpusCase& c = GetParam();
  LoadResult r = load(corpusKit(c.kit));
  std::string errors;
  for (const auto* d : r.errors()) errors += renderDiagnostic(*d, r.spec_text, false);
  ASSERT_EQ(r.ok(), c.valid) << errors;
  if (c.valid) {
    EXPECT_EQ(deprecations(r), c.deprecations);
  }
}

const std::vector<CorpusCase>& corpusCases() {
  static const std::vector<CorpusCase> kCases = {

      CorpusCase{"amp--v1-agent",
                 true,
                 {kKindAgent, kAgentBlock, kPersistence, kMemory, kServiceDomains, kServiceAuth,
                  kAllowed}},
      CorpusCase{"amp--v1-renamed", true, {kServiceDomains, kServiceAuth, kAllowed}},
      CorpusCase{"amp--v2", true, {}},
      CorpusCase{"claude-mem--v2-mixin-requires", true, {}},
      CorpusCase{"claude-model-runner--v1-mixin-anchors", true, {}},
      CorpusCase{"claude-ollama--v1-settings",
                 true,
                 {kKindAgent, kAgentBlock, kPersistence, kMemory, kAllowed, kSettings}},
      CorpusCase{"claude-sbx-statusline--v2-mixin-files", true, {}},
      CorpusCase{"code-server--v1-mixin-extends", true, {kAllowed}},
      CorpusCase{"code-server--v2-ports", true, {}},
      CorpusCase{"codex-app-server--v1-mixin-extends", true, {kMemory, kAllowed}},
      CorpusCase{"git-ssh-sign--v1-mixin", true, {kMemory}},
      CorpusCase{"github-ssh--v1-mixin", true, {kMemory, kAllowed}},
      CorpusCase{"glab--v2-mixin-credential", true, {}},
      CorpusCase{"hermes-agent--v2", true, {}},
      CorpusCase{"kernel--v2-mixin-credential", true, {}},
      CorpusCase{"kiro--v2-own-image", true, {}},
      CorpusCase{"nanoclaw--v1-mixin-initial", true, {kAllowed}},
      CorpusCase{"openclaw--v1-mixin-initial", true, {kAllowed}},
      CorpusCase{"openclaw--v2-oauth", true, {}},
      CorpusCase{"packages-through-sfw--v1-mixin", true, {kAllowed}},
      CorpusCase{"testdata-sample-agent-v1-renamed", true, {kAllowed, kDenied, kPorts}},
      CorpusCase{"testdata-sample-agent-v2", true, {}},
      CorpusCase{"testdata-sample-mixin-v1",
                 true,
                 {kSources, kServiceDomains, kServiceAuth, kProxyManaged, kAllowed, kDenied, kPorts,
                  kSettings}},
      CorpusCase{"testdata-v1-full",
                 true,
                 {kKindAgent, kAgentBlock, kMemory, kSources, kServiceDomains, kServiceAuth,
                  kProxyManaged, kOAuth, kAllowed, kDenied, kPorts, kSettings}},
      CorpusCase{"testdata-v2-expected", true, {}},
      CorpusCase{"amp--v3", false, {}},
      CorpusCase{"tck-args-install", false, {}}};
  return kCases;
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusKit, ::testing::ValuesIn(corpusCases()),
                         [](const ::testing::TestParamInfo<CorpusCase>& param_info) {
                           std::string n = param_info.param.kit;
                           std::replace_if(
                               n.begin(), n.end(),
                               [](char ch) {
                                 return !std::isalnum(static_cast<unsigned char>(ch));
                               },
                               '_');
                           return n;
                         });

TEST(CorpusKit, EveryCorpusFolderHasACase) {
  std::vector<std::string> folders;
  for (const auto& e : std::filesystem::directory_iterator(testing::corpusDir())) {
    if (e.is_directory()) folders.push_back(e.path().filename().string());
  }
  std::vector<std::string> cases;
  for (const auto& c : corpusCases()) cases.push_back("docker__sbx-kits-contrib__" + c.kit);
  std::sort(folders.begin(), folders.end());
  std::sort(cases.begin(), cases.end());
  EXPECT_EQ(folders.size(), 27u);
  EXPECT_EQ(folders, cases);
}

TEST(GoldenNormalisation, V1FullEqualsV2Expected) {
  LoadResult v1 = load(corpusKit("testdata-v1-full"));
  LoadResult v2 = load(corpusKit("testdata-v2-expected"));
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v1.spec_schema, "1");
  EXPECT_EQ(v2.spec_schema, "2");
  // Field by field first, so a failure says where they differ.
  EXPECT_EQ(v1.kit.sandbox, v2.kit.sandbox);
  EXPECT_EQ(v1.kit.agent_instructions, v2.kit.agent_instructions);
  EXPECT_EQ(v1.kit.allow, v2.kit.allow);
  EXPECT_EQ(v1.kit.deny, v2.kit.deny);
  EXPECT_EQ(v1.kit.ports, v2.kit.ports);
  EXPECT_EQ(v1.kit.credentials, v2.kit.credentials);
  EXPECT_EQ(v1.kit.environment, v2.kit.environment);
  EXPECT_EQ(v1.kit.setup, v2.kit.setup);
  EXPECT_EQ(v1.kit, v2.kit);
}

TEST(GoldenNormalisation, AmpV1AgentEqualsAmpV2) {
  LoadResult v1 = load(corpusKit("amp--v1-agent"));
  LoadResult v2 = load(corpusKit("amp--v2"));
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v1.kit.credentials, v2.kit.credentials);
  EXPECT_EQ(v1.kit, v2.kit);
}

TEST(GoldenNormalisation, AmpRenamedEqualsAmpV2) {
  EXPECT_EQ(load(corpusKit("amp--v1-renamed")).kit, load(corpusKit("amp--v2")).kit);
}

TEST(CanonicalModel, V1FullFoldsCredentialsLikeTheReference) {
  LoadResult r = load(corpusKit("testdata-v1-full"));
  ASSERT_EQ(r.kit.credentials.size(), 1u);
  const Credential& c = r.kit.credentials[0];
  EXPECT_EQ(c.service, "anthropic");
  ASSERT_TRUE(c.api_key);
  EXPECT_EQ(c.api_key->name, "ANTHROPIC_API_KEY");
  EXPECT_TRUE(c.api_key->proxy_managed);
  ASSERT_EQ(c.api_key->inject.size(), 2u);
  EXPECT_EQ(c.api_key->inject[1], (Inject{"console.anthropic.com", "x-api-key", "%s", ""}));
  ASSERT_TRUE(c.oauth);
  EXPECT_EQ(c.oauth->token_host, "platform.claude.com");
  EXPECT_EQ(r.kit.proxyManagedNames(), std::vector<std::string>{"ANTHROPIC_API_KEY"});
}

TEST(CanonicalModel, SampleMixinDerivesServiceFromProxyManagedName) {
  LoadResult r = load(corpusKit("testdata-sample-mixin-v1"));
  ASSERT_TRUE(r.ok());
  std::vector<std::string> services;
  for (const auto& c : r.kit.credentials) services.push_back(c.service);
  EXPECT_EQ(services, (std::vector<std::string>{"example", "sample_proxy"}));
  EXPECT_EQ(r.kit.credentials[1].api_key->name, "SAMPLE_PROXY_TOKEN");
  EXPECT_EQ(r.kit.credentials[0].api_key->inject[0].format, "Bearer %s");
  EXPECT_EQ(r.kit.setup.files[0].content, "workdir=${WORKDIR}");
}

TEST(CanonicalModel, AnchorsAndAliasesResolveToTheAnchoredValue) {
  LoadResult r = load(corpusKit("claude-model-runner--v1-mixin-anchors"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit.environment.at("CLAUDE_CODE_SUBAGENT_MODEL"), "gpt-oss");
  EXPECT_EQ(r.kit.extends, "claude");
}

TEST(CanonicalModel, SchemeSugarIsFolded) {
  LoadResult r = load(corpusKit("testdata-sample-agent-v2"));
  ASSERT_TRUE(r.ok());
  const auto& gh = r.kit.credentials[1].api_key->inject;
  EXPECT_EQ(gh[0], (Inject{"api.github.com", "Authorization", "Bearer %s", ""}));
  EXPECT_EQ(gh[1], (Inject{"github.com", "", "%s", "x-access-token"}));
  EXPECT_EQ(r.kit.sandbox->resources->memory, "4096m");
  EXPECT_EQ(r.kit.sandbox->resources->cpu, "2.0");
  EXPECT_EQ(r.kit.volumes.size(), 2u);
}

TEST(CanonicalModel, SeedAmpKitInConfigsIsTheCorpusSeed) {
  LoadResult r = load((testing::sourceDir() / "configs/kits/amp").string());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit, load(corpusKit("amp--v1-agent")).kit);
}

TEST(CanonicalModel, V3DirectoryErrorSaysV3) {
  LoadResult r = load(corpusKit("amp--v3"));
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_NE(r.errors()[0]->message.find("spec.yaml (or spec.yml) is required"), std::string::npos);
  EXPECT_NE(r.errors()[0]->message.find("amp.yaml is a schemaVersion \"3\" kit descriptor"),
            std::string::npos);
}

}  // namespace
}  // namespace kitgate::kit
