// The `kitgate` binary as a user runs it, for the kit CLI tests: a fixture
// that spawns it with stdout/stderr in files (never a TTY) and a temporary
// directory. Test-only; single-threaded.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern char** environ;

namespace kitgate::testing {

namespace fs = std::filesystem;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string envOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class KitCli : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = fs::path(envOr("KITGATE_BUILD_DIR", ".")) / "orchestrator/kitgate";
    source_ = envOr("KITGATE_SOURCE_DIR", ".");
    std::string tmpl = (fs::temp_directory_path() / "kitgate-cli-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // Runs kitgate with `args`; stdout/stderr go to files (never a TTY).
  CliRun kitgate(std::vector<std::string> args, const std::vector<std::string>& extra_env = {}) {
    args.insert(args.begin(), binary_.string());
    fs::path out = tmp_ / "stdout";
    fs::path err = tmp_ / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    CliRun r;
    std::vector<std::string> env_strings(extra_env);
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return r;
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  std::string corpus(const std::string& name) {
    return (source_ / "tests/kitloader/corpus" / ("docker__sbx-kits-contrib__" + name)).string();
  }
  std::string seedAmp() { return (source_ / "configs/kits/amp/").string(); }

  fs::path binary_;
  fs::path source_;
  fs::path tmp_;
};

inline std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace kitgate::testing
