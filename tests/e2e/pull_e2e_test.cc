// `kitgate run` of a kit whose image is only in a private registry: the
// image is pulled through the Engine API (POST /images/create) with the
// registry login kitgate knows (X-Registry-Auth from `kitgate secret set
// --registry`, else Docker's config.json), by tag and by digest, and the
// sandbox runs. Without a login or with a wrong one the run fails clearly,
// leaks nothing and leaves no sandbox behind.
//
// The registry is Debian's docker-registry (distribution 2.8) with htpasswd
// auth on loopback (dockerd speaks plain HTTP to 127.0.0.0/8); the image is
// the registry-free test image plus one committed layer, pushed with the
// docker CLI and removed locally. Labels: e2e, registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "tests/support/loopback.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace kitgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kSupport = KITGATE_E2E_SUPPORT_DIR;
constexpr const char* kPassword = "pull-Pa55word-e2e";
constexpr const char* kWrongPassword = "wrong-Pa55word-e2e";

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

const std::string kBuildDir = envOr("KITGATE_BUILD_DIR", KITGATE_E2E_BUILD_DIR);

// dockerd and the test image, once per process; "" = ready.
std::string suiteProblem(bool* skip) {
  static bool skipped = false;
  static std::string problem = [] {
    auto started =
        runProgram({kSupport + "/start-dockerd.sh"}, "/tmp/kitgate-pull-e2e-dockerd", 540s);
    // Only the script's own verdict (77) skips; a script that could not run or
    // overran is an error.
    if (!started.isOk()) return "start-dockerd.sh: " + started.status().message();
    if (started->status.code == 77) {
      skipped = true;
      return std::string("Docker cannot run on this machine (start-dockerd.sh exited 77)");
    }
    if (started->status.code != 0) return "start-dockerd.sh failed: " + started->err;
    auto built =
        runProgram({kSupport + "/build-test-image.sh"}, "/tmp/kitgate-pull-e2e-image", 480s);
    if (!built.isOk() || built->status.code != 0) {
      return "build-test-image.sh failed: " +
             (built.isOk() ? built->err : built.status().message());
    }
    return std::string();
  }();
  *skip = skipped;
  return problem;
}

class PullE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    bool skip = false;
    std::string problem = suiteProblem(&skip);
    if (skip) GTEST_SKIP() << problem;
    ASSERT_TRUE(problem.empty()) << problem;
    auto dir = TempDir::create("kitgate-pull-e2e");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    tmp_ = std::make_unique<TempDir>(std::move(*dir));
    state_ = tmp_->path() + "/state";
    workspace_ = tmp_->path() + "/ws/proj";
    docker_config_ = tmp_->path() + "/docker";
    fs::create_directories(workspace_);
    fs::create_directories(state_);
    fs::create_directories(docker_config_);
    fs::permissions(state_, fs::perms::owner_all);
    name_ = "pull-e2e-" + std::to_string(::getpid());
    ::setenv("KITGATE_STATE_DIR", state_.c_str(), 1);
    ::setenv("KITGATE_PROXY", (kBuildDir + "/proxy/kitgate-proxy").c_str(), 1);
    ::setenv("DOCKER_CONFIG", docker_config_.c_str(), 1);
    std::ofstream(state_ + "/proxy.yaml") << "listen:\n  - 127.0.0.1:0\nmetrics_listen: \"\"\n"
                                          << "admin_listen: unix:" << state_ << "/admin.sock\n"
                                          << "state_dir: " << state_ << "\n"
                                          << "policy_log:\n  path: " << state_ << "/policy.log\n";
    fs::permissions(state_ + "/proxy.yaml", fs::perms::owner_read | fs::perms::owner_write);
    ASSERT_NO_FATAL_FAILURE(startRegistry());
    image_ = registry_address_ + "/kitgate-e2e/pulled-" + std::to_string(::getpid());
  }

  void TearDown() override {
    if (!tmp_) return;
    (void)kitgate({"rm", "-f", name_});
    (void)kitgate({"proxy", "stop"});
    (void)sh("docker rmi -f " + image_ + ":1 " + image_ + "@" + digest_ + " >/dev/null 2>&1");
    if (registry_) registry_->kill();
    ::unsetenv("DOCKER_CONFIG");
    ::unsetenv("DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES");
  }

  void startRegistry() {
    int port = freeLoopbackPort();
    registry_address_ = "127.0.0.1:" + std::to_string(port);
    const std::string dir = tmp_->path() + "/registry";
    fs::create_directories(dir);
    auto htpasswd = runProgram({"/usr/bin/htpasswd", "-Bbc", dir + "/htpasswd", "alice", kPassword},
                               dir + "/htpasswd-run", 60s);
    ASSERT_TRUE(htpasswd.isOk() && htpasswd->status.code == 0) << "htpasswd (apache2-utils)";
    std::ofstream(dir + "/config.yml")
        << "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " << dir
        << "/store\nhttp:\n  addr: " << registry_address_ << "\nauth:\n  htpasswd:\n"
        << "    realm: kitgate-e2e\n    path: " << dir << "/htpasswd\n";
    auto p = Subprocess::spawn({"/usr/bin/docker-registry", "serve", dir + "/config.yml"},
                               dir + "/serve");
    ASSERT_TRUE(p.isOk()) << "docker-registry (apt-get install docker-registry; scripts/setup.sh)";
    registry_.emplace(std::move(*p));
    ASSERT_TRUE(waitUntil([&] { return acceptsOnLoopback(port) || !registry_->running(); }, 20s));
    ASSERT_TRUE(registry_->running()) << registry_->stderrText();
  }

  RunResult sh(const std::string& script) {
    auto r = runProgram({"/bin/sh", "-c", script}, tmp_->path() + "/sh-" + std::to_string(++calls_),
                        300s);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : RunResult{};
  }
  RunResult kitgate(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kBuildDir + "/orchestrator/kitgate"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runProgram(argv, tmp_->path() + "/kitgate-" + std::to_string(++calls_), 300s);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : RunResult{};
  }

  // The test image plus one committed layer, pushed as IMAGE:1 with a
  // throw-away docker login, then removed locally; the manifest digest.
  void pushImageOnlyToTheRegistry() {
    const std::string cli = "docker --config " + tmp_->path() + "/pusher";
    auto r = sh("set -e\nprintf %s '" + std::string(kPassword) + "' | " + cli + " login " +
                registry_address_ + " -u alice --password-stdin >/dev/null\n" +
                "cid=$(docker create kitgate-test-agent:latest sh -c 'echo " + name_ +
                " > /pulled-marker')\n"
                "docker start -a \"$cid\" >/dev/null\n"
                "docker commit \"$cid\" " +
                image_ + ":1 >/dev/null\ndocker rm \"$cid\" >/dev/null\n" + cli + " push " +
                image_ + ":1 | sed -n 's/.*digest: \\(sha256:[0-9a-f]*\\).*/\\1/p'\n" +
                "docker rmi " + image_ + ":1 >/dev/null\n");
    ASSERT_EQ(r.status.code, 0) << r.out << r.err;
    digest_ = r.out.substr(0, r.out.find('\n'));
    ASSERT_EQ(digest_.size(), 71u) << r.out;
    ASSERT_NE(sh("docker image inspect " + image_ + ":1 >/dev/null 2>&1").status.code, 0);
  }

  std::string writeKit(const std::string& image) {
    const std::string dir = tmp_->path() + "/kit-" + std::to_string(++calls_);
    fs::create_directories(dir);
    std::ofstream(dir + "/spec.yaml") << "schemaVersion: \"2\"\nkind: sandbox\nname: pulled\n"
                                         "sandbox:\n  image: "
                                      << image << "\n  entrypoint: [sleep, infinity]\n";
    return dir;
  }

  RunResult run(const std::string& kit) {
    return kitgate(
        {"run", "--kit", kit, "--name", name_, "--workspace", workspace_, "-d", "pulled"});
  }

  void expectNoSandbox() {
    auto ls = kitgate({"ls"});
    EXPECT_THAT(ls.out, Not(HasSubstr(name_)));
    EXPECT_NE(sh("docker container inspect " + name_ + " >/dev/null 2>&1").status.code, 0);
  }

  std::unique_ptr<TempDir> tmp_;
  std::optional<Subprocess> registry_;
  std::string state_, workspace_, docker_config_, name_, registry_address_, image_, digest_;
  int calls_ = 0;
};

TEST_F(PullE2e, RunPullsAPrivateImageWithTheRegistryLoginByTagAndByDigestFromAPushedKit) {
  ASSERT_NO_FATAL_FAILURE(pushImageOnlyToTheRegistry());
  const std::string by_tag = writeKit(image_ + ":1");

  // No login: the registry's refusal and what to do, nothing created.
  auto anonymous = run(by_tag);
  EXPECT_NE(anonymous.status.code, 0);
  EXPECT_THAT(anonymous.err, HasSubstr("could not be pulled"));
  EXPECT_THAT(anonymous.err, HasSubstr("the registry needs a login: run 'kitgate secret set "
                                       "--registry HOST' or 'docker login HOST'"));
  expectNoSandbox();

  // A wrong password (kitgate's login): refused, never printed.
  auto login = kitgate(
      {"secret", "set", "--registry", registry_address_, "-u", "alice", "-t", kWrongPassword});
  ASSERT_EQ(login.status.code, 0) << login.err;
  auto wrong = run(by_tag);
  EXPECT_NE(wrong.status.code, 0);
  EXPECT_THAT(wrong.err, HasSubstr("the registry refused the login kitgate sent"));
  for (const std::string& text : {wrong.out, wrong.err}) {
    EXPECT_THAT(text, Not(HasSubstr(kWrongPassword)));
    EXPECT_THAT(text, Not(HasSubstr("alice:")));
  }
  expectNoSandbox();

  // The right one: pulled (with progress) and running from the pulled layer.
  login =
      kitgate({"secret", "set", "--registry", registry_address_, "-u", "alice", "-t", kPassword});
  ASSERT_EQ(login.status.code, 0) << login.err;
  auto ok = run(by_tag);
  ASSERT_EQ(ok.status.code, 0) << ok.out << ok.err;
  EXPECT_THAT(ok.out + ok.err, HasSubstr("Pulling image " + image_ + ":1"));
  for (const std::string& text : {ok.out, ok.err}) EXPECT_THAT(text, Not(HasSubstr(kPassword)));
  EXPECT_EQ(kitgate({"exec", name_, "--", "cat", "/pulled-marker"}).out, name_ + "\n");
  ASSERT_EQ(kitgate({"rm", "-f", name_}).status.code, 0);

  // The publish path of the issue: the kit itself pushed to the registry
  // with its image pinned by digest, Docker's config.json the only login,
  // then `run --kit REGISTRY/REPO:TAG`.
  ASSERT_EQ(sh("docker rmi " + image_ + ":1 >/dev/null").status.code, 0);
  fs::remove(state_ + "/registries.json");
  std::ofstream(docker_config_ + "/config.json")
      << "{\"auths\":{\"" << registry_address_ << "\":{\"username\":\"alice\",\"password\":\""
      << kPassword << "\"}}}";
  const std::string kit_ref =
      registry_address_ + "/kitgate-e2e/kit-" + std::to_string(::getpid()) + ":1";
  ::setenv("DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES", (registry_address_ + "/kitgate-e2e").c_str(), 1);
  auto push = kitgate({"kit", "push", writeKit(image_ + "@" + digest_), kit_ref});
  ASSERT_EQ(push.status.code, 0) << push.out << push.err;
  auto by_digest = run(kit_ref);
  ASSERT_EQ(by_digest.status.code, 0) << by_digest.out << by_digest.err;
  EXPECT_THAT(by_digest.out + by_digest.err, HasSubstr("Pulling image " + image_ + "@" + digest_));
  EXPECT_EQ(kitgate({"exec", name_, "--", "cat", "/pulled-marker"}).out, name_ + "\n");
}

}  // namespace
}  // namespace kitgate::testing
