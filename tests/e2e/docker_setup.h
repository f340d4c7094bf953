// What every e2e suite does once before its first test: make sure a Docker
// daemon answers (support/start-dockerd.sh; its exit 77 = Docker cannot run
// here = skip) and that the local test image is built
// (support/build-test-image.sh with `image_args`). Header-only; call it
// from one function-local static per suite. And runKitgate(): one CLI call;
// makeE2eState() / writeProxyYaml(): one test's own state directory.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace kitgate::testing {

struct DockerSetup {
  std::string skip;   // non-empty: skip, saying why
  std::string error;  // non-empty: fail, saying why
};

inline DockerSetup dockerSetup(const std::string& support_dir,
                               const std::vector<std::string>& image_args,
                               const std::string& log_prefix) {
  using namespace std::chrono_literals;
  DockerSetup r;
  auto started = runProgram({support_dir + "/start-dockerd.sh"}, log_prefix + "-dockerd", 540s);
  // Only the script's own verdict (77) skips; a script that could not run or
  // overran is an error.
  if (!started.isOk()) {
    r.error = "start-dockerd.sh: " + started.status().message();
    return r;
  }
  if (started->status.code == 77) {
    r.skip = "Docker cannot run on this machine (start-dockerd.sh exited 77)";
    return r;
  }
  if (started->status.code != 0) {
    r.error = "start-dockerd.sh failed: " + started->status.toString() + "\n" + started->err;
    return r;
  }
  std::vector<std::string> argv = {support_dir + "/build-test-image.sh"};
  argv.insert(argv.end(), image_args.begin(), image_args.end());
  auto built = runProgram(argv, log_prefix + "-image", 480s);
  if (!built.isOk() || built->status.code != 0) {
    r.error =
        "build-test-image.sh failed: " + (built.isOk() ? built->err : built.status().message());
  }
  return r;
}

// Runs `binary` (the kitgate CLI) with `args` to completion; its output is
// kept under `out_prefix`. A run that could not start fails the test.
inline RunResult runKitgate(const std::string& binary, const std::vector<std::string>& args,
                            const std::string& out_prefix,
                            std::chrono::milliseconds timeout = std::chrono::seconds(300)) {
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runProgram(argv, out_prefix, timeout);
  EXPECT_TRUE(r.isOk()) << r.status().message();
  return r.isOk() ? *r : RunResult{};
}

// One test's own kitgate state: a temporary directory holding state/ (0700)
// and the workspace ws/proj; KITGATE_STATE_DIR and KITGATE_PROXY point the
// CLI (and the proxy it starts) at them.
struct E2eState {
  std::unique_ptr<TempDir> tmp;
  std::string state, workspace;
};
inline StatusOr<E2eState> makeE2eState(const std::string& prefix, const std::string& proxy_bin) {
  namespace fs = std::filesystem;
  auto dir = TempDir::create(prefix);
  if (!dir.isOk()) return dir.status();
  E2eState s;
  s.tmp = std::make_unique<TempDir>(std::move(*dir));
  s.state = s.tmp->path() + "/state";
  s.workspace = s.tmp->path() + "/ws/proj";
  fs::create_directories(s.workspace);
  fs::create_directories(s.state);
  fs::permissions(s.state, fs::perms::owner_all);
  ::setenv("KITGATE_STATE_DIR", s.state.c_str(), 1);
  ::setenv("KITGATE_PROXY", proxy_bin.c_str(), 1);
  return s;
}

// A 0600 file (proxy.yaml, policy.yaml: kitgate refuses readable ones).
inline void writePrivateFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// proxy.yaml before the first kitgate command (ensureProxy keeps it): a
// loopback listener, no metrics port, the admin socket and the policy log in
// `state`, then `extra_yaml` (dns.hosts, tls).
inline void writeProxyYaml(const std::string& state, const std::string& extra_yaml) {
  writePrivateFile(state + "/proxy.yaml",
                   "listen:\n  - 127.0.0.1:0\nmetrics_listen: \"\"\n"
                   "admin_listen: unix:" +
                       state +
                       "/admin.sock\n"
                       "state_dir: " +
                       state +
                       "\n"
                       "policy_log:\n  path: " +
                       state + "/policy.log\n" + extra_yaml);
}

}  // namespace kitgate::testing
