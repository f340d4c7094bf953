// What composition adds to the pure planner: mixin agent context beside the
// agent file, and kit proxy variables overridden by kitgate's own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kitloader/compose.h"
#include "orchestrator/sandbox/plan.h"

namespace kitgate::sandbox {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

PlanInput claudeInput() {
  PlanInput in;
  kit::LoadResult claude = kit::loadBuiltinAgent("claude");
  EXPECT_TRUE(claude.ok());
  in.kit = claude.kit;
  in.name = "claude-proj";
  in.workspace = "/home/me/proj";
  in.agent = "claude";
  in.subnet = "172.30.16.0/24";
  in.gateway = "172.30.16.1";
  in.token = "kgtAAAABBBBCCCCDDDD1234";
  return in;
}

const SetupStep* agentFileStep(const SandboxPlan& plan) {
  for (const SetupStep& s : plan.steps) {
    if (s.stage == "agent-file") return &s;
  }
  return nullptr;
}

TEST(ComposedPlan, MixinContextGoesBesideTheAgentFileIndexedByKitsSection) {
  PlanInput in = claudeInput();
  in.mixin_contexts = {{"vale", "Use Vale for prose."}, {"glab", "Use glab for GitLab."}};
  auto plan = planSandbox(in);
  ASSERT_TRUE(plan.isOk()) << plan.status().message();
  const SetupStep* step = agentFileStep(*plan);
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->dir, "/home/me");
  EXPECT_THAT(step->tar, HasSubstr("kits-agent-context/vale.md"));
  EXPECT_THAT(step->tar, HasSubstr("Use Vale for prose.\n"));
  EXPECT_THAT(step->tar, HasSubstr("kits-agent-context/glab.md"));
  const std::string text = agentFileContent(in.kit, in.workspace, in.mixin_contexts);
  EXPECT_THAT(text, HasSubstr("<!-- sbx:kits-section start -->\n## Kits\n\n"
                              "- vale: see `kits-agent-context/vale.md`\n"
                              "- glab: see `kits-agent-context/glab.md`\n"
                              "<!-- sbx:kits-section end -->\n"));
  // Without mixins there is no section.
  EXPECT_THAT(agentFileContent(in.kit, in.workspace), Not(HasSubstr("sbx:kits-section")));
}

TEST(ComposedPlan, KitNoProxyKeepsOnlyLoopbackEntriesAndSaysWhatWasDropped) {
  PlanInput in = claudeInput();
  in.kit.environment["NO_PROXY"] = "localhost,127.0.0.2,host.docker.internal,.localhost";
  in.kit.environment["HTTP_PROXY"] = "";
  auto plan = planSandbox(in);
  ASSERT_TRUE(plan.isOk()) << plan.status().message();
  EXPECT_THAT(plan->container.env,
              Contains("NO_PROXY=localhost,127.0.0.1,::1,127.0.0.2,.localhost"));
  EXPECT_THAT(plan->container.env,
              Contains("no_proxy=localhost,127.0.0.1,::1,127.0.0.2,.localhost"));
  EXPECT_THAT(plan->container.env, Contains(HasSubstr("HTTP_PROXY=http://claude-proj:")));
  EXPECT_THAT(plan->container.env, Not(Contains("HTTP_PROXY=")));
  EXPECT_THAT(plan->warnings,
              Contains("kit variable NO_PROXY is overridden by kitgate's proxy settings; dropped "
                       "entries: host.docker.internal"));
  EXPECT_THAT(plan->warnings,
              Contains("kit variable HTTP_PROXY is set by kitgate; the kit's value is ignored"));
}

}  // namespace
}  // namespace kitgate::sandbox
