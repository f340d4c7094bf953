// StateCliTest (state_cli_test_util.h).
#include "tests/orchestrator/cli/state_cli_test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

extern char** environ;

namespace kitgate::cli::testing {

namespace {
std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}
}  // namespace

void StateCliTest::SetUp() {
  auto dir = kitgate::testing::TempDir::create("state-cli");
  ASSERT_TRUE(dir.isOk()) << dir.status().message();
  dir_ = std::make_unique<kitgate::testing::TempDir>(std::move(dir.value()));
  paths_.root = dir_->path() + "/kg";
  const std::string build = envOr("KITGATE_BUILD_DIR", KITGATE_TEST_BUILD_DIR);
  binary_ = build + "/orchestrator/kitgate";
  proxy_binary_ = build + "/proxy/kitgate-proxy";
  ASSERT_EQ(::access(binary_.c_str(), X_OK), 0) << binary_;
}

void StateCliTest::TearDown() {
  if (paths_.root.empty()) return;
  state::ProxyStatus s = state::proxyStatus(paths_);
  if (s.running) {
    ::kill(s.pid, SIGKILL);
    ::waitpid(s.pid, nullptr, 0);
  }
}

void StateCliTest::writeTestProxyConfig() {
  const std::string config =
      "listen: [\"127.0.0.1:0\"]\nmetrics_listen: \"127.0.0.1:0\"\n"
      "admin_listen: \"unix:" +
      paths_.adminSocket() + "\"\nstate_dir: \"" + paths_.root + "\"\npolicy_log: {path: \"" +
      paths_.policyLog() + "\"}\n";
  ASSERT_TRUE(state::writeFileAtomic(paths_.proxyConfig(), config, 0600).isOk());
}

CliRun StateCliTest::kitgate(const std::vector<std::string>& args, const std::string& stdin_text) {
  const std::string in = dir_->path() + "/stdin", out = dir_->path() + "/stdout",
                    err = dir_->path() + "/stderr";
  EXPECT_TRUE(kitgate::testing::writeFileAtomic(in, stdin_text, 0600).isOk());
  std::vector<std::string> argv{binary_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env{"KITGATE_STATE_DIR=" + paths_.root, "KITGATE_PROXY=" + proxy_binary_,
                               "NO_COLOR=1"};
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v = *e;
    if (v.rfind("KITGATE_STATE_DIR=", 0) != 0 && v.rfind("KITGATE_PROXY=", 0) != 0)
      env.emplace_back(v);
  }
  std::vector<char*> cenv;
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, binary_.c_str(), &actions, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  CliRun r;
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << binary_;
    return r;
  }
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "kitgate did not finish in 60 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = kitgate::testing::readFile(out);
  r.err = kitgate::testing::readFile(err);
  for (const auto& s : secrets_) {
    EXPECT_EQ(r.out.find(s), std::string::npos)
        << "secret printed on stdout by kitgate " << args[0];
    EXPECT_EQ(r.err.find(s), std::string::npos)
        << "secret printed on stderr by kitgate " << args[0];
  }
  return r;
}

state::Secrets StateCliTest::stored() {
  auto s = state::loadSecrets(paths_);
  EXPECT_TRUE(s.isOk()) << s.status().message();
  return s.isOk() ? *s : state::Secrets{};
}

}  // namespace kitgate::cli::testing
