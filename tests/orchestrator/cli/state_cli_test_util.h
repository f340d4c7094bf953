// Test helper for the `kitgate secret|policy|proxy` CLI tests: runs the real
// kitgate binary (${KITGATE_BUILD_DIR}/orchestrator/kitgate) against a fresh
// temporary state directory, with optional stdin text, and fails the test
// when any registered secret value shows up in its stdout or stderr.
// One fixture per test; not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "orchestrator/state/state.h"
#include "tests/support/subprocess.h"

namespace kitgate::cli::testing {

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class StateCliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // kitgate ARGS with KITGATE_STATE_DIR=paths_.root and KITGATE_PROXY set;
  // `stdin_text` is fed on stdin (a file, never a TTY). Bounded: killed after 60 s.
  CliRun kitgate(const std::vector<std::string>& args, const std::string& stdin_text = "");
  // Values that must never be printed by any command of this test.
  void registerSecret(const std::string& value) { secrets_.push_back(value); }
  // A proxy.yaml on loopback port 0 with an admin unix socket (no collision
  // with a proxy on 3128/9090).
  void writeTestProxyConfig();
  // secrets.yaml as kitgate stored it (empty when absent; a failure when unreadable).
  state::Secrets stored();

  std::unique_ptr<kitgate::testing::TempDir> dir_;
  state::Paths paths_;
  std::string binary_;
  std::string proxy_binary_;
  std::vector<std::string> secrets_;
};

}  // namespace kitgate::cli::testing
