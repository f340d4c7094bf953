#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/wait.h"

extern char** environ;

namespace kitgate::testing {
namespace {

ExitStatus fromWaitStatus(int ws) {
  ExitStatus s;
  if (WIFEXITED(ws)) {
    s.exited = true;
    s.code = WEXITSTATUS(ws);
  } else if (WIFSIGNALED(ws)) {
    s.signal = WTERMSIG(ws);
  }
  return s;
}

}  // namespace

std::string ExitStatus::toString() const {
  if (exited) return "exit " + std::to_string(code);
  if (signal != 0) return "signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "unknown";
}

StatusOr<Subprocess> Subprocess::spawn(const std::vector<std::string>& argv, const std::string& out_prefix,
                                       bool search_path, const std::vector<std::string>& extra_env) {
  if (argv.empty()) return Status::error("spawn: empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  for (const auto& e : extra_env) env_store.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_store) env.push_back(e.data());
  env.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = out_prefix + ".stdout";
  const std::string err = out_prefix + ".stderr";
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The child starts with default signal handling and nothing blocked.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = search_path ? posix_spawnp(&pid, args[0], &fa, &attr, args.data(), env.data())
                       : posix_spawn(&pid, args[0], &fa, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::error("spawn " + argv[0] + ": " + std::strerror(rc));
  Subprocess p;
  p.pid_ = pid;
  p.out_prefix_ = out_prefix;
  return p;
}

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), status_(std::move(o.status_)), out_prefix_(std::move(o.out_prefix_)) {}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !status_) kill();
    pid_ = std::exchange(o.pid_, -1);
    status_ = std::move(o.status_);
    out_prefix_ = std::move(o.out_prefix_);
  }
  return *this;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !status_) kill();
}

bool Subprocess::poll() {
  if (status_ || pid_ <= 0) return true;
  int ws = 0;
  pid_t r = ::waitpid(pid_, &ws, WNOHANG);
  if (r == pid_) {
    status_ = fromWaitStatus(ws);
    return true;
  }
  return false;
}

bool Subprocess::running() { return !poll(); }

Status Subprocess::signal(int sig) {
  if (poll()) return Status::error("process " + std::to_string(pid_) + " is not running");
  if (::kill(pid_, sig) != 0) return Status::error(std::string("kill: ") + std::strerror(errno));
  return Status::ok();
}

std::optional<ExitStatus> Subprocess::wait(std::chrono::milliseconds timeout) {
  if (!waitUntil([&] { return poll(); }, timeout)) return std::nullopt;
  return status_;
}

ExitStatus Subprocess::kill() {
  if (!poll()) {
    ::kill(pid_, SIGKILL);
    int ws = 0;
    while (::waitpid(pid_, &ws, 0) < 0 && errno == EINTR) {
    }
    status_ = fromWaitStatus(ws);
  }
  return status_.value_or(ExitStatus{});
}

std::string Subprocess::stdoutText() const { return readFile(out_prefix_ + ".stdout"); }
std::string Subprocess::stderrText() const { return readFile(out_prefix_ + ".stderr"); }

StatusOr<RunResult> runProgram(const std::vector<std::string>& argv, const std::string& out_prefix,
                               std::chrono::milliseconds timeout) {
  auto p = Subprocess::spawn(argv, out_prefix, /*search_path=*/true);
  if (!p) return p.status();
  RunResult r;
  auto st = p->wait(timeout);
  if (!st) {
    r.timed_out = true;
    r.status = p->kill();
  } else {
    r.status = *st;
  }
  r.out = p->stdoutText();
  r.err = p->stderrText();
  return r;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status writeFileAtomic(const std::string& path, const std::string& text, unsigned mode) {
  std::filesystem::path p(path);
  std::string tmp = (p.parent_path() / ("." + p.filename().string() + ".tmp")).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::error("open " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Status::error("write " + tmp + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::error("rename " + tmp + ": " + std::strerror(errno));
  return Status::ok();
}

StatusOr<TempDir> TempDir::create(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/kitgate-" + tag + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  TempDir d;
  d.path_ = tmpl;
  return d;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace kitgate::testing
