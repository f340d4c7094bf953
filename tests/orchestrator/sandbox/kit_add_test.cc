// `kitgate kit add` against FakeDockerClient and a temporary state directory:
// a mixin's allow rules join the running sandbox's registration, its
// variables are exported for new shells, its installs run in order as their
// users; what cannot be applied in place is refused before anything changes,
// and a failed install puts the registration back.
#include "orchestrator/sandbox/kit_add.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "kitloader/compose.h"
#include "orchestrator/sandbox/run_record.h"
#include "tests/support/fake_docker.h"

namespace kitgate::sandbox {
namespace {

using docker::testing::FakeDockerClient;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace fs = std::filesystem;

class CountingProxy final : public ProxyControl {
 public:
  Status ensureRunning() override { return Status::ok(); }
  Status reload() override {
    ++reloads;
    return Status::ok();
  }
  Status addListen(const std::string&) override { return Status::ok(); }
  Status removeListen(const std::string&) override { return Status::ok(); }
  Status addDnsListen(const std::string&) override { return Status::ok(); }
  Status removeDnsListen(const std::string&) override { return Status::ok(); }
  StatusOr<int> transparentPort() override { return 40001; }
  int reloads = 0;
};

kit::Kit mixin(const std::string& body, const std::string& name = "vale") {
  kit::LoadResult r =
      kit::loadSpecBytes("schemaVersion: \"2\"\nkind: mixin\nname: " + name + "\n" + body);
  EXPECT_TRUE(r.ok());
  return r.kit;
}

class KitAddTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kitgate-kit-add-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    paths_.root = root_ + "/state";
    docker_.addImage("agent:latest");
    docker::ContainerSpec spec;
    spec.name = "kitgate-claude-proj";
    spec.image = "agent:latest";
    auto id = docker_.createContainer(spec);
    ASSERT_TRUE(id.isOk());
    id_ = *id;
    ASSERT_TRUE(docker_.startContainer(id_).isOk());
    RunRecord rec;
    rec.name = "claude-proj";
    rec.agent = "claude";
    rec.kit = "builtin:claude";
    rec.workspace = "/home/me/proj";
    rec.container_id = id_;
    rec.container = spec.name;
    ASSERT_TRUE(saveRunRecord(paths_.runDir(), rec).isOk());
    ASSERT_TRUE(state::writeSandbox(paths_, {"claude-proj",
                                             {"172.30.0.0/24"},
                                             "kgtTOKENtoken0123456789",
                                             {"api.anthropic.com"},
                                             {},
                                             0})
                    .isOk());
    docker_.setExecHandler([this](const FakeDockerClient::Container&, const docker::ExecSpec& s) {
      docker::ExecResult r;
      r.exit_code = s.cmd.size() == 3 && s.cmd[2] == fail_command_ ? 4 : 0;
      if (r.exit_code != 0) r.stderr_text = "vale: not found\n";
      return r;
    });
  }
  void TearDown() override { fs::remove_all(root_); }

  StatusOr<KitAddResult> add(const kit::Kit& k, CreateFailure* failure = nullptr) {
    return addKitToSandbox(docker_, proxy_, paths_, {"claude-proj", k, "./vale/"}, {}, failure);
  }
  std::vector<std::string> allow() { return state::loadSandbox(paths_, "claude-proj")->allow; }
  const std::vector<docker::ExecSpec>& execs() { return docker_.findContainer(id_)->execs; }

  std::string root_;
  state::Paths paths_;
  FakeDockerClient docker_;
  CountingProxy proxy_;
  std::string id_;
  std::string fail_command_;
};

TEST_F(KitAddTest, AllowRulesVariablesAndInstallsAreAppliedInPlace) {
  auto r =
      add(mixin("permissions:\n  network:\n    allow: [api.anthropic.com, vale.sh]\n"
                "environment:\n  variables:\n    VALE_STYLE: \"Google's\"\n"
                "setup:\n  install:\n    - command: apt-get install -y vale\n"
                "    - {command: vale sync, user: \"1000\", description: Sync styles}\n"));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->added_allow, std::vector<std::string>{"vale.sh"});
  EXPECT_EQ(allow(), (std::vector<std::string>{"api.anthropic.com", "vale.sh"}));
  EXPECT_EQ(proxy_.reloads, 1);
  ASSERT_EQ(execs().size(), 3u);
  EXPECT_EQ(execs()[0].user, "0");
  EXPECT_EQ(execs()[0].cmd[4], "export VALE_STYLE='Google'\\''s'\n");
  EXPECT_EQ(execs()[0].cmd[5], "/etc/sandbox-persistent.sh");
  EXPECT_THAT(execs()[1].cmd, ElementsAre("sh", "-c", "apt-get install -y vale"));
  EXPECT_EQ(execs()[1].user, "0");
  EXPECT_EQ(execs()[1].working_dir, "/home/me/proj");
  EXPECT_EQ(execs()[2].user, "1000");
  EXPECT_EQ(r->installs, 2);
  EXPECT_EQ(loadRunRecord(paths_.runDir(), "claude-proj")->kit, "builtin:claude,./vale/");
}

TEST_F(KitAddTest, ProxyVariablesAreNotExported) {
  auto r = add(mixin("environment:\n  variables:\n    NO_PROXY: \"*\"\n    A: b\n"));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->skipped, std::vector<std::string>{"NO_PROXY"});
  EXPECT_EQ(r->exported, std::vector<std::string>{"A"});
  EXPECT_EQ(execs()[0].cmd[4], "export A='b'\n");
}

TEST_F(KitAddTest, WhatCannotBeAppliedInPlaceIsRefusedBeforeAnythingChanges) {
  auto r =
      add(mixin("permissions:\n  network:\n    allow: [x.com]\n    deny: [y.com]\n"
                "setup:\n  startup:\n    - command: [x]\n"
                "ports:\n  - container: 8080\n"
                "credentials:\n  - service: s\n    apiKey: {name: S_TOKEN}\n"));
  ASSERT_FALSE(r.isOk());
  const std::string m = r.status().message();
  for (const char* what :
       {"does not yet apply setup.startup", "does not yet apply permissions.network.deny",
        "does not yet publish ports", "does not yet wire credentials"}) {
    EXPECT_THAT(m, HasSubstr(what));
  }
  EXPECT_THAT(m, HasSubstr("remove the sandbox (kitgate rm) and run it again with --kit"));
  EXPECT_EQ(allow(), std::vector<std::string>{"api.anthropic.com"});
  EXPECT_TRUE(execs().empty());

  kit::LoadResult sandbox_kit = kit::loadBuiltinAgent("shell");
  r = add(sandbox_kit.kit);
  ASSERT_FALSE(r.isOk());
  EXPECT_THAT(r.status().message(), HasSubstr("`kitgate kit add` is for mixins"));
}

TEST_F(KitAddTest, FailedInstallRestoresTheRegistration) {
  fail_command_ = "vale sync";
  CreateFailure failure;
  auto r = add(mixin("permissions:\n  network:\n    allow: [vale.sh]\n"
                     "setup:\n  install:\n    - command: vale sync\n"),
               &failure);
  ASSERT_FALSE(r.isOk());
  EXPECT_THAT(r.status().message(), HasSubstr("install: vale sync failed (exit 4)"));
  EXPECT_EQ(failure.exit_code, 4);
  EXPECT_THAT(failure.output, HasSubstr("vale: not found"));
  EXPECT_EQ(allow(), std::vector<std::string>{"api.anthropic.com"});
  EXPECT_EQ(proxy_.reloads, 2);  // the added rule, then the restore
  EXPECT_EQ(loadRunRecord(paths_.runDir(), "claude-proj")->kit, "builtin:claude");
}

TEST_F(KitAddTest, RequiresAgentAndARunningSandbox) {
  auto r = add(mixin("requires:\n  agent: codex\n"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(),
            "mixin \"vale\" requires agent \"codex\", but sandbox claude-proj runs \"claude\"");
  ASSERT_TRUE(docker_.stopContainer(id_, std::chrono::seconds(0)).isOk());
  r = add(mixin("requires:\n  agent: claude\n"));
  ASSERT_FALSE(r.isOk());
  EXPECT_THAT(r.status().message(), HasSubstr("sandbox claude-proj is not running"));
  r = addKitToSandbox(docker_, proxy_, paths_, {"nope", mixin(""), "./vale/"}, {});
  EXPECT_EQ(r.status().message(), "no sandbox named nope");
}

}  // namespace
}  // namespace kitgate::sandbox
