// Composed kits end to end, with the real binaries and a real Docker engine:
// an agent kit plus two mixins (one with a credential, one with files/),
// checked inside the sandbox the way sbx-kits-contrib's TCK checks a kit
// (every declared variable, every files/home file and setup.files path,
// tmpfs mounts, the agent-context file and the mixins' context files), then
// `kitgate kit add` of a third mixin to the running sandbox.
//
// The kits are written by the test; the image is the registry-free test
// image (build-test-image.sh). Each TEST is its own process with its own
// state directory, proxy and sandbox name, all removed in TearDown.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/subprocess.h"

namespace kitgate::testing {
namespace {

using ::testing::HasSubstr;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kSupport = KITGATE_E2E_SUPPORT_DIR;

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

const std::string kBuildDir = envOr("KITGATE_BUILD_DIR", KITGATE_E2E_BUILD_DIR);

// dockerd and the test image, once per process.
std::string& suiteProblem(bool* skip) {
  static bool skipped = false;
  static std::string problem = [] {
    auto started =
        runProgram({kSupport + "/start-dockerd.sh"}, "/tmp/kitgate-kits-e2e-dockerd", 540s);
    // Only the script's own verdict (77) skips; a script that could not run or
    // overran (it waits, bounded, for another caller's install) is an error.
    if (!started.isOk()) {
      return "start-dockerd.sh: " + started.status().message();
    }
    if (started->status.code == 77) {
      skipped = true;
      return std::string("Docker cannot run on this machine (start-dockerd.sh exited 77)");
    }
    if (started->status.code != 0) return "start-dockerd.sh failed: " + started->err;
    auto built =
        runProgram({kSupport + "/build-test-image.sh"}, "/tmp/kitgate-kits-e2e-image", 480s);
    if (!built.isOk() || built->status.code != 0) {
      return "build-test-image.sh failed: " +
             (built.isOk() ? built->err : built.status().message());
    }
    return std::string();
  }();
  *skip = skipped;
  return problem;
}

void writeKit(const std::string& dir, const std::string& spec,
              const std::vector<std::pair<std::string, std::string>>& files = {}) {
  fs::create_directories(dir);
  std::ofstream(dir + "/spec.yaml") << spec;
  for (const auto& [path, content] : files) {
    fs::create_directories(fs::path(dir + "/" + path).parent_path());
    std::ofstream(dir + "/" + path) << content;
  }
}

class KitsE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    bool skip = false;
    const std::string& problem = suiteProblem(&skip);
    if (skip) GTEST_SKIP() << problem;
    ASSERT_TRUE(problem.empty()) << problem;
    ASSERT_TRUE(fs::exists(kitgate_)) << kitgate_ << " not built";
    ASSERT_TRUE(fs::exists(proxy_bin_)) << proxy_bin_ << " not built";
    auto dir = TempDir::create("kitgate-kits-e2e");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    tmp_ = std::make_unique<TempDir>(std::move(*dir));
    state_ = tmp_->path() + "/state";
    workspace_ = tmp_->path() + "/ws/proj";
    fs::create_directories(workspace_);
    fs::create_directories(state_);
    fs::permissions(state_, fs::perms::owner_all);
    name_ = "kits-e2e-" + std::to_string(::getpid());
    ::setenv("KITGATE_STATE_DIR", state_.c_str(), 1);
    ::setenv("KITGATE_PROXY", proxy_bin_.c_str(), 1);
    std::ofstream(state_ + "/proxy.yaml") << "listen:\n  - 127.0.0.1:0\nmetrics_listen: \"\"\n"
                                          << "admin_listen: unix:" << state_ << "/admin.sock\n"
                                          << "state_dir: " << state_ << "\n"
                                          << "policy_log:\n  path: " << state_ << "/policy.log\n";
    fs::permissions(state_ + "/proxy.yaml", fs::perms::owner_read | fs::perms::owner_write);
  }

  void TearDown() override {
    if (!tmp_) return;
    (void)kitgate({"rm", "-f", name_});
    (void)kitgate({"proxy", "stop"});
  }

  RunResult kitgate(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kitgate_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runProgram(argv, tmp_->path() + "/kitgate-" + std::to_string(++calls_), 300s);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : RunResult{};
  }
  RunResult inSandbox(const std::string& script) {
    return kitgate({"exec", name_, "--", "sh", "-c", script});
  }

  const std::string kitgate_ = kBuildDir + "/orchestrator/kitgate";
  const std::string proxy_bin_ = kBuildDir + "/proxy/kitgate-proxy";
  std::unique_ptr<TempDir> tmp_;
  std::string state_, workspace_, name_;
  int calls_ = 0;
};

TEST_F(KitsE2e, AgentKitWithTwoMixinsThenKitAddToTheRunningSandbox) {
  const std::string kits = tmp_->path() + "/kits";
  writeKit(kits + "/agent",
           "schemaVersion: \"2\"\nkind: sandbox\nname: e2e-agent\n"
           "sandbox:\n  image: kitgate-test-agent:latest\n  entrypoint: [sleep, infinity]\n"
           "agentInstructions:\n  filename: AGENTS.md\n  content: \"## e2e agent context\"\n"
           "environment:\n  variables:\n    AGENT_VAR: from-agent\n    SHARED_VAR: agent\n"
           "volumes:\n  - {path: /tmp/e2e-agent-scratch, type: tmpfs, size: 16m}\n");
  writeKit(kits + "/cred",
           "schemaVersion: \"2\"\nkind: mixin\nname: e2e-cred\nrequires:\n  agent: e2e-agent\n"
           "permissions:\n  network:\n    allow: [api.e2e.test]\n"
           "credentials:\n  - service: e2esvc\n    apiKey:\n      name: E2E_TOKEN\n"
           "      proxyManaged: true\n      inject:\n        - {domain: api.e2e.test, scheme: "
           "bearer}\n"
           "environment:\n  variables:\n    CRED_VAR: from-cred\n    SHARED_VAR: cred\n"
           "agentInstructions:\n  content: \"e2e cred mixin context\"\n");
  writeKit(kits + "/files",
           "schemaVersion: \"2\"\nkind: mixin\nname: e2e-files\n"
           "environment:\n  variables:\n    FILES_VAR: from-files\n"
           "setup:\n  files:\n    - {path: /home/agent/.e2e/init.conf, content: "
           "\"workdir=${WORKDIR}\", mode: \"0600\"}\n"
           "volumes:\n  - {path: /tmp/e2e-files-scratch, type: tmpfs}\n",
           {{"files/home/.e2e/config.txt", "from files/home\n"}});
  writeKit(kits + "/late",
           "schemaVersion: \"2\"\nkind: mixin\nname: e2e-late\n"
           "permissions:\n  network:\n    allow: [late.e2e.test]\n"
           "environment:\n  variables:\n    LATE_VAR: from-late\n"
           "setup:\n  install:\n    - {command: \"id -u > /home/agent/.late-installed\", user: "
           "\"1000\"}\n");

  auto run =
      kitgate({"run", "--kit", kits + "/agent", "--kit", kits + "/cred", "--kit", kits + "/files",
               "--name", name_, "--workspace", workspace_, "-d", "e2e-agent"});
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;

  // Every declared variable (later kits win on a shared name); the
  // credential's variable holds the sentinel, never a value.
  auto env = inSandbox("env");
  for (const char* want : {"AGENT_VAR=from-agent", "CRED_VAR=from-cred", "FILES_VAR=from-files",
                           "SHARED_VAR=cred", "E2E_TOKEN=proxy-managed"}) {
    EXPECT_THAT(env.out, HasSubstr(std::string(want) + "\n")) << env.out;
  }
  // files/home and setup.files, owned by the agent, with their modes.
  EXPECT_EQ(inSandbox("cat /home/agent/.e2e/config.txt").out, "from files/home\n");
  auto init =
      inSandbox("cat /home/agent/.e2e/init.conf; stat -c '%a %u' /home/agent/.e2e/init.conf");
  EXPECT_EQ(init.out, "workdir=" + workspace_ + "600 1000\n") << init.err;
  // tmpfs volumes of both kits.
  auto mounts = inSandbox("grep -E ' /tmp/e2e-(agent|files)-scratch tmpfs' /proc/mounts | wc -l");
  EXPECT_EQ(mounts.out, "2\n") << mounts.err;
  // The agent-context file beside the workspace, with the mixins' section.
  const std::string parent = fs::path(workspace_).parent_path().string();
  auto agents = inSandbox("cat " + parent + "/AGENTS.md");
  EXPECT_THAT(agents.out, HasSubstr("## e2e agent context"));
  EXPECT_THAT(agents.out, HasSubstr("<!-- sbx:kits-section start -->"));
  EXPECT_THAT(agents.out, HasSubstr("- e2e-cred: see `kits-agent-context/e2e-cred.md`"));
  EXPECT_EQ(inSandbox("cat " + parent + "/kits-agent-context/e2e-cred.md").out,
            "e2e cred mixin context\n");
  // The composed rules and the credential route reached the proxy's files.
  EXPECT_THAT(readFile(state_ + "/sandboxes/" + name_ + ".yaml"), HasSubstr("api.e2e.test"));
  EXPECT_THAT(readFile(state_ + "/credentials/" + name_ + ".yaml"), HasSubstr("e2esvc"));

  // kit add: a sandbox kit is refused; the mixin applies in place.
  auto refused = kitgate({"kit", "add", name_, kits + "/agent"});
  EXPECT_EQ(refused.status.code, 1);
  EXPECT_THAT(refused.err, HasSubstr("is for mixins"));
  auto add = kitgate({"kit", "add", name_, kits + "/late"});
  ASSERT_EQ(add.status.code, 0) << add.out << add.err;
  EXPECT_THAT(add.out, HasSubstr("Added kit e2e-late to " + name_));
  EXPECT_EQ(inSandbox("cat /home/agent/.late-installed").out, "1000\n");
  EXPECT_EQ(inSandbox(". /etc/sandbox-persistent.sh && printf %s \"$LATE_VAR\"").out, "from-late");
  EXPECT_THAT(readFile(state_ + "/sandboxes/" + name_ + ".yaml"), HasSubstr("late.e2e.test"));
  EXPECT_THAT(readFile(state_ + "/run/" + name_ + ".json"), HasSubstr("late"));

  auto rm = kitgate({"rm", "-f", name_});
  EXPECT_EQ(rm.status.code, 0) << rm.err;
}

}  // namespace
}  // namespace kitgate::testing
