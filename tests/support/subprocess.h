// Subprocess: a child process started with posix_spawn, for integration tests
// that drive the real binaries (kitgate-proxy) and real clients (curl).
//
// The child's stdout and stderr go to files in a directory the caller names
// (read them at any time, also while it runs). The destructor kills a child
// that is still running (SIGKILL) and reaps it, so a failed test never leaves
// a process behind. Owned by one thread; not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::testing {

// How a child ended: exited with a code, or killed by a signal.
struct ExitStatus {
  bool exited = false;
  int code = -1;    // when exited
  int signal = 0;   // when killed by a signal
  std::string toString() const;
};

class Subprocess {
 public:
  // argv[0] is the program path (not searched in PATH unless search_path).
  // stdout/stderr are written to `<out_prefix>.stdout` / `.stderr`; stdin is
  // /dev/null. `extra_env` entries ("NAME=value") are added to the inherited
  // environment.
  static StatusOr<Subprocess> spawn(const std::vector<std::string>& argv, const std::string& out_prefix,
                                    bool search_path = false, const std::vector<std::string>& extra_env = {});

  Subprocess(Subprocess&& o) noexcept;
  Subprocess& operator=(Subprocess&& o) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  bool running();  // reaps the child if it has ended
  Status signal(int sig);
  // Waits up to `timeout` for the child to end.
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  // SIGKILL if still running, then reap.
  ExitStatus kill();
  std::string stdoutText() const;
  std::string stderrText() const;

 private:
  Subprocess() = default;
  bool poll();

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::string out_prefix_;
};

// Runs a program to completion (killed at `timeout`), capturing its output.
struct RunResult {
  ExitStatus status;
  bool timed_out = false;
  std::string out;
  std::string err;
};
StatusOr<RunResult> runProgram(const std::vector<std::string>& argv, const std::string& out_prefix,
                               std::chrono::milliseconds timeout);

// Reads a whole file ("" when it cannot be read).
std::string readFile(const std::string& path);
// Writes `text` to `path` atomically (temp file + rename) with `mode`.
Status writeFileAtomic(const std::string& path, const std::string& text, unsigned mode = 0644);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the TempDir is destroyed.
class TempDir {
 public:
  static StatusOr<TempDir> create(const std::string& tag);
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  TempDir() = default;
  std::string path_;
};

}  // namespace kitgate::testing
