// Composition (kit-spec §3.3): one sandbox kit or built-in plus mixins in
// --kit order, extends resolved, the merge table and each of its errors.
#include <gtest/gtest.h>

#include "kitloader/compose.h"
#include "tests/kitloader/kit_test_util.h"

namespace kitgate::kit {
namespace {

Kit kitOf(const std::string& yaml) {
  LoadResult r = loadSpecBytes(yaml);
  std::string all;
  for (const auto& d : r.diagnostics) all += renderDiagnostic(d, r.spec_text, false);
  EXPECT_TRUE(r.ok()) << all;
  return r.kit;
}

std::string sandboxKit(const std::string& name, const std::string& rest = "") {
  return "schemaVersion: \"2\"\nkind: sandbox\nname: " + name + "\nsandbox:\n  image: img/" + name +
         "\n  entrypoint: [" + name + ", --flag]\n" + rest;
}
std::string mixinKit(const std::string& name, const std::string& rest = "") {
  return "schemaVersion: \"2\"\nkind: mixin\nname: " + name + "\n" + rest;
}
ComposeKit ck(const std::string& yaml, const std::string& ref = "./kit") {
  return ComposeKit{kitOf(yaml), ref};
}

// ---------------------------------------------------------------- errors

TEST(ComposeErrors, TwoSandboxKits) {
  auto r = compose({ck(sandboxKit("a"), "./a"), ck(sandboxKit("b"), "./b")}, "a");
  EXPECT_EQ(r.error,
            "compose: two sandbox kits, \"a\" (./a) and \"b\" (./b): exactly one kit supplies the "
            "sandbox, the others must be mixins");
}

TEST(ComposeErrors, DuplicateKitName) {
  auto r = compose({ck(sandboxKit("a")), ck(mixinKit("m")), ck(mixinKit("m"))}, "a");
  EXPECT_EQ(r.error, "compose: duplicate kit name \"m\"");
  // A mixin named like the built-in base is a duplicate too.
  EXPECT_EQ(compose({ck(mixinKit("claude"))}, "claude").error,
            "compose: duplicate kit name \"claude\"");
}

TEST(ComposeErrors, CredentialDefinedInTwoShapes) {
  const std::string a =
      "credentials:\n  - service: gh\n    apiKey:\n      name: GH_TOKEN\n      inject:\n"
      "        - {domain: api.github.com, scheme: bearer}\n";
  const std::string b =
      "credentials:\n  - service: gh\n    apiKey:\n      name: GITHUB_TOKEN\n      inject:\n"
      "        - {domain: api.github.com, header: X-Token, format: \"%s\"}\n";
  auto r = compose({ck(sandboxKit("base", a)), ck(mixinKit("m", b))}, "base");
  EXPECT_EQ(r.error, "credential \"gh\" defined in both \"base\" and \"m\" (in different shapes)");
  // Between two mixins as well.
  r = compose({ck(mixinKit("m1", a)), ck(mixinKit("m2", b))}, "shell");
  EXPECT_EQ(r.error, "credential \"gh\" defined in both \"m1\" and \"m2\" (in different shapes)");
}

TEST(ComposeErrors, RequiresAgentMismatchNamesBoth) {
  auto r =
      compose({ck(sandboxKit("amp")), ck(mixinKit("cm", "requires:\n  agent: claude\n"))}, "amp");
  EXPECT_EQ(r.error, "compose: mixin \"cm\" requires agent \"claude\", but the sandbox is \"amp\"");
  // On a built-in base.
  r = compose({ck(mixinKit("cm", "requires:\n  agent: claude\n"))}, "codex");
  EXPECT_EQ(r.error,
            "compose: mixin \"cm\" requires agent \"claude\", but the sandbox is \"codex\"");
}

TEST(ComposeErrors, KitNamedLikeABuiltinIsRefusedWithSbxMessage) {
  for (const std::string& name : builtinAgentNames()) {
    auto r = compose({ck(sandboxKit(name))}, name);
    EXPECT_EQ(r.error, "agent \"" + name +
                           "\" is already registered (built-in agents cannot be overridden by a "
                           "kit)");
  }
}

TEST(ComposeErrors, NoSandboxAndNoBuiltin) {
  EXPECT_NE(compose({ck(mixinKit("m"))}, "").error.find("compose: no sandbox kit"),
            std::string::npos);
  EXPECT_NE(compose({ck(mixinKit("m"))}, "nosuch").error.find("\"nosuch\" is neither"),
            std::string::npos);
}

TEST(ComposeErrors, AgentMustNameTheSandboxKit) {
  EXPECT_EQ(compose({ck(sandboxKit("amp"), "./amp/")}, "claude").error,
            "kit ./amp/ is named \"amp\", not \"claude\": use \"amp\" as AGENT");
}

TEST(ComposeErrors, ExtendsIdentityKeyClashIsAnError) {
  const std::string child =
      "schemaVersion: \"2\"\nkind: sandbox\nname: my-claude\nextends: claude\n"
      "credentials:\n  - service: anthropic\n    apiKey: {name: MY_KEY}\n";
  EXPECT_EQ(compose({ck(child)}, "my-claude").error,
            "extends: credential \"anthropic\" is declared by both \"my-claude\" and its parent "
            "\"claude\" (rename the child's service)");
}

TEST(ComposeErrors, ExtendsOfAnAgentKitgateDoesNotShip) {
  const std::string child =
      "schemaVersion: \"2\"\nkind: sandbox\nname: my-kiro\nextends: kiro\n"
      "sandbox:\n  image: x\n";
  EXPECT_NE(compose({ck(child)}, "my-kiro").error.find("\"kiro\", which is not a built-in agent"),
            std::string::npos);
}

// ---------------------------------------------------------------- merging

TEST(ComposeMerge, MixinsLayerInKitOrderByTheMergeTable) {
  const std::string base = sandboxKit(
      "base",
      "permissions:\n  network:\n    allow: [a.com]\n    deny: [bad.com]\n"
      "environment:\n  variables: {X: base, Y: base}\n"
      "setup:\n  install:\n    - command: base-install\n  files:\n    - {path: /f, content: base}\n"
      "volumes:\n  - {path: /v, size: 1g}\n"
      "ports:\n  - container: 80\n"
      "agentInstructions: {filename: AGENTS.md, content: base says}\n");
  const std::string m1 = mixinKit(
      "m1",
      "permissions:\n  network:\n    allow: [b.com, a.com]\n"
      "environment:\n  variables: {X: m1}\n"
      "setup:\n  install:\n    - command: m1-install\n  files:\n    - {path: /f, content: m1}\n"
      "volumes:\n  - {path: /v, size: 2g}\n"
      "ports:\n  - container: 80\n"
      "security: {privileged: true}\n"
      "agentInstructions: {content: m1 says}\n");
  const std::string m2 = mixinKit(
      "m2", "environment:\n  variables: {X: m2}\nsetup:\n  install:\n    - command: m2-install\n");
  auto r = compose({ck(base, "./base"), ck(m1, "./m1"), ck(m2, "./m2")}, "base");
  ASSERT_TRUE(r.ok()) << r.error;
  const Kit& k = r.value.kit;
  EXPECT_EQ(k.kind, KitKind::kSandbox);
  EXPECT_EQ(k.name, "base");
  EXPECT_EQ(k.allow, (std::vector<std::string>{"a.com", "b.com"}));
  EXPECT_EQ(k.deny, (std::vector<std::string>{"bad.com"}));
  EXPECT_EQ(k.environment, (std::map<std::string, std::string>{{"X", "m2"}, {"Y", "base"}}));
  ASSERT_EQ(k.setup.install.size(), 3u);
  EXPECT_EQ(k.setup.install[0].command, "base-install");
  EXPECT_EQ(k.setup.install[2].command, "m2-install");
  ASSERT_EQ(k.setup.files.size(), 1u);
  EXPECT_EQ(k.setup.files[0].content, "m1");
  ASSERT_EQ(k.volumes.size(), 1u);
  EXPECT_EQ(k.volumes[0].size, "2g");
  EXPECT_EQ(k.ports.size(), 2u);  // two kits asking for one port get two bindings
  EXPECT_TRUE(k.privileged);
  EXPECT_EQ(k.agent_instructions.content, "base says");
  EXPECT_EQ(r.value.mixin_contexts, (std::vector<MixinContext>{{"m1", "m1 says"}}));
  EXPECT_EQ(r.value.mixins, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(r.value.refs, (std::vector<std::string>{"./base", "./m1", "./m2"}));
}

TEST(ComposeMerge, RoutingOnlyMixinRowsMergeIntoTheBaseService) {
  const std::string routing =
      "credentials:\n  - service: anthropic\n    apiKey:\n      inject:\n"
      "        - domain: api.eu.anthropic.com\n";
  auto r = compose({ck(mixinKit("eu", routing))}, "claude");
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.value.kit.credentials.size(), 1u);
  const auto& inject = r.value.kit.credentials[0].api_key->inject;
  ASSERT_EQ(inject.size(), 2u);
  EXPECT_EQ(inject[1].domain, "api.eu.anthropic.com");
}

TEST(ComposeMerge, IdenticalCredentialInTwoKitsIsOne) {
  const std::string c =
      "credentials:\n  - service: gl\n    apiKey:\n      name: GITLAB_TOKEN\n      inject:\n"
      "        - {domain: gitlab.com, scheme: bearer}\n";
  auto r = compose({ck(mixinKit("a", c)), ck(mixinKit("b", c))}, "shell");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value.kit.credentials.size(), 1u);
}

TEST(ComposeMerge, MixinOnlyInvocationUsesTheBuiltinOrAnImage) {
  auto r = compose({ck(mixinKit("vale", "requires:\n  agent: claude\n"))}, "claude");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value.base, "claude");
  EXPECT_EQ(r.value.kit.sandbox->image, "docker/sandbox-templates:claude-code");
  EXPECT_EQ(r.value.refs.front(), "builtin:claude");

  r = compose({ck(mixinKit("vale"))}, "registry.example/team/agent:1.2");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value.base, "shell");
  EXPECT_EQ(r.value.kit.sandbox->image, "registry.example/team/agent:1.2");
}

TEST(ComposeMerge, V1MixinExtendsActsAsRequiresAgent) {
  const std::string v1 = "schemaVersion: \"1\"\nkind: mixin\nname: cs\nextends: claude\n";
  EXPECT_TRUE(compose({ck(v1)}, "claude").ok());
  EXPECT_NE(compose({ck(v1)}, "codex").error.find("requires agent \"claude\""), std::string::npos);
}

TEST(ComposeExtends, ChildInheritsAndReplacesEntrypointAndCommand) {
  const std::string child =
      "schemaVersion: \"2\"\nkind: sandbox\nname: my-claude\nextends: claude\n"
      "sandbox:\n  command: [--model, opus]\n"
      "permissions:\n  network:\n    allow: [example.com]\n"
      "setup:\n  install:\n    - command: child-install\n";
  auto r = compose({ck(child)}, "my-claude");
  ASSERT_TRUE(r.ok()) << r.error;
  const Kit& k = r.value.kit;
  EXPECT_EQ(r.value.extends_chain, std::vector<std::string>{"claude"});
  EXPECT_EQ(k.name, "my-claude");
  EXPECT_EQ(k.sandbox->image, "docker/sandbox-templates:claude-code");
  // The child's command replaces the whole inherited tail (the flag too).
  EXPECT_EQ(k.sandbox->entrypoint, std::vector<std::string>{"claude"});
  EXPECT_EQ(k.sandbox->command->default_args, (std::vector<std::string>{"--model", "opus"}));
  EXPECT_EQ(k.allow.front(), "api.anthropic.com");
  EXPECT_EQ(k.allow.back(), "example.com");
  ASSERT_EQ(k.credentials.size(), 1u);
  EXPECT_EQ(k.credentials[0].service, "anthropic");
  // A mixin requiring the parent agent composes on the derived kit.
  EXPECT_TRUE(
      compose({ck(child), ck(mixinKit("m", "requires:\n  agent: claude\n"))}, "my-claude").ok());
}

// ---------------------------------------------------------------- built-ins

TEST(BuiltinAgents, EveryBuiltinIsAValidSandboxKitOnATemplateImage) {
  EXPECT_EQ(builtinAgentNames(), (std::vector<std::string>{"claude", "codex", "copilot", "gemini",
                                                           "opencode", "shell"}));
  for (const std::string& name : builtinAgentNames()) {
    LoadResult r = loadBuiltinAgent(name);
    std::string all;
    for (const auto& d : r.diagnostics) all += renderDiagnostic(d, r.spec_text, false);
    ASSERT_TRUE(r.ok()) << name << "\n" << all;
    EXPECT_TRUE(r.warningMessages().empty()) << name << "\n" << all;
    EXPECT_EQ(r.kit.name, name);
    EXPECT_EQ(r.kit.kind, KitKind::kSandbox);
    EXPECT_EQ(r.kit.sandbox->image.rfind("docker/sandbox-templates:", 0), 0u) << name;
    EXPECT_FALSE(r.kit.sandbox->entrypoint.empty()) << name;
  }
  EXPECT_FALSE(isShippedBuiltin("amp"));
  EXPECT_FALSE(loadBuiltinAgent("amp").ok());
}

// ---------------------------------------------------------------- run-time checks

TEST(RuntimeProblems, NameWhatTheProxyCannotEnforce) {
  Kit k = kitOf(sandboxKit(
      "t",
      "permissions:\n  network:\n    allow: [\"*\", ok.com, \"bedrock-runtime.*.amazonaws.com\"]\n"
      "    deny: [\"x:1-2\"]\n"));
  auto p = runtimeProblems(k);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NE(p[0].find("permissions.network.allow[0] \"*\""), std::string::npos) << p[0];
  EXPECT_NE(p[1].find("permissions.network.deny[0] \"x:1-2\""), std::string::npos) << p[1];
}

TEST(RuntimeProblems, InjectDomainsTheProxyCannotInterceptFor) {
  Kit k = kitOf(sandboxKit(
      "t",
      "credentials:\n  - service: s\n    apiKey:\n      inject:\n"
      "        - {domain: \"api?.x.com\", header: X, format: \"%s\"}\n"
      "        - {domain: \"bedrock-runtime.*.amazonaws.com\", header: X, format: \"%s\"}\n"
      "        - {domain: \"x.com:443\", header: X, format: \"%s\"}\n"));
  auto p = runtimeProblems(k);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NE(p[0].find("\"api?.x.com\": column 1: glob patterns cannot be intercepted"),
            std::string::npos)
      << p[0];
  EXPECT_NE(p[1].find("\"x.com:443\": column 6: credential hosts take no port"), std::string::npos)
      << p[1];
}

TEST(NoProxy, KeepsOnlyLoopbackEntries) {
  auto s = splitNoProxy(
      "localhost, 127.0.0.1,host.docker.internal,::1,.localhost,127.0.0.0/8,"
      "127.evil.com,10.0.0.1,*.corp");
  EXPECT_EQ(s.kept, (std::vector<std::string>{"localhost", "127.0.0.1", "::1", ".localhost",
                                              "127.0.0.0/8"}));
  EXPECT_EQ(s.dropped, (std::vector<std::string>{"host.docker.internal", "127.evil.com", "10.0.0.1",
                                                 "*.corp"}));
}

}  // namespace
}  // namespace kitgate::kit
