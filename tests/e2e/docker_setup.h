// What every e2e suite does once before its first test: make sure a Docker
// daemon answers (support/start-dockerd.sh; its exit 77 = Docker cannot run
// here = skip) and that the local test image is built
// (support/build-test-image.sh with `image_args`). Header-only; call it
// from one function-local static per suite. And runKitgate(): one CLI call.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace kitgate::testing
