// git kits: `git+https://host/repo.git#ref=REF&dir=DIR` (and git+file:// for
// tests), cloned with the `git` program via posix_spawn — never a shell —
// into a cache directory, then read like a directory kit.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "kitloader/source.h"

extern char** environ;

namespace kitgate::kit {

namespace fs = std::filesystem;

namespace {

void addError(std::vector<Diagnostic>* diags, const std::string& file, std::string message) {
  diags->push_back(Diagnostic{Severity::kError, file, 0, 0, std::move(message)});
}

std::string urlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::strtol(std::string(s.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool isSha(const std::string& ref) {
  if (ref.size() != 40) return false;
  for (char c : ref) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

struct RunResult {
  bool ok = false;
  std::string error;  // stderr tail or spawn/timeout problem
};

// Runs `git args...` with no shell, stdin/stdout on /dev/null, stderr captured.
RunResult runGit(const std::vector<std::string>& args, int timeout_seconds) {
  RunResult result;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);

  std::vector<std::string> env_storage;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "GIT_", 4) == 0) continue;  // no inherited GIT_DIR & co.
    env_storage.emplace_back(*e);
  }
  env_storage.emplace_back("GIT_TERMINAL_PROMPT=0");
  env_storage.emplace_back("GIT_ASKPASS=/bin/false");
  env_storage.emplace_back("GIT_CONFIG_NOSYSTEM=1");
  std::vector<char*> envp;
  for (auto& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_storage = {"git"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "git", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    result.error = std::string("cannot run git: ") + std::strerror(rc);
    return result;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  std::string err;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(pipefd[0], buf, sizeof(buf));
    if (n <= 0) break;
    if (err.size() < 8192) err.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    result.error = "git did not finish within " + std::to_string(timeout_seconds) + " s";
    return result;
  }
  result.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  result.error = err;
  return result;
}

std::string defaultCacheDir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/kitgate/git";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/kitgate/git";
  return "/tmp/kitgate-git-cache";
}

}  // namespace

std::string redactUrl(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  size_t start = scheme + 3;
  size_t slash = url.find('/', start);
  size_t at = url.find('@', start);
  if (at != std::string_view::npos && (slash == std::string_view::npos || at < slash)) {
    return std::string(url.substr(0, start)) + std::string(url.substr(at + 1));
  }
  return std::string(url);
}

std::string redactReference(std::string_view ref) {
  // A schemeless OCI reference with `user:password@` before its first '/'.
  if (ref.find("://") == std::string_view::npos) {
    size_t at = ref.find('@');
    if (at != std::string_view::npos && at < ref.find('/')) return std::string(ref.substr(at + 1));
  }
  return redactUrl(ref);
}

bool readGitSource(std::string_view ref, const LoadOptions& options, KitSource* out,
                   std::vector<Diagnostic>* diags) {
  std::string shown = redactUrl(ref);
  std::string_view rest = ref.substr(4);  // after "git+"
  std::string url(rest.substr(0, rest.find('#')));
  std::string fragment =
      rest.find('#') == std::string_view::npos ? "" : std::string(rest.substr(rest.find('#') + 1));
  bool is_file = url.rfind("file://", 0) == 0;
  if (redactUrl(url) != url) {
    // A password in the URL would sit in git's argv (visible in ps) and in logs.
    addError(diags, shown,
             "git reference " + shown +
                 " carries credentials in the URL; remove them and use a git credential helper");
    return false;
  }
  if (!is_file && url.rfind("https://", 0) != 0) {
    addError(
        diags, shown,
        "unsupported git reference " + shown + " (use git+https://host/repo.git#ref=REF&dir=DIR)");
    return false;
  }
  std::string git_ref;
  std::string dir;
  size_t pos = 0;
  while (pos < fragment.size()) {
    size_t amp = fragment.find('&', pos);
    if (amp == std::string::npos) amp = fragment.size();
    std::string pair = fragment.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    std::string key = urlDecode(pair.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : urlDecode(pair.substr(eq + 1));
    if (key == "ref")
      git_ref = value;
    else if (key == "dir")
      dir = value;
    else if (!key.empty()) {
      addError(diags, shown,
               "git reference fragment key " + key + " is unknown (expected ref= and dir=)");
      return false;
    }
    pos = amp + 1;
  }
  if (!git_ref.empty() && (git_ref[0] == '-' || git_ref.find("..") != std::string::npos)) {
    addError(diags, shown, "git ref " + git_ref + " is not a valid branch, tag or commit");
    return false;
  }
  fs::path sub = fs::path(dir).lexically_normal();
  if (!dir.empty() && (sub.is_absolute() || *sub.begin() == "..")) {
    addError(diags, shown,
             "git reference dir=" + dir + " must be a relative path inside the repository");
    return false;
  }

  fs::path cache =
      options.cache_dir.empty() ? fs::path(defaultCacheDir()) : fs::path(options.cache_dir);
  std::error_code ec;
  fs::create_directories(cache, ec);
  if (ec) {
    addError(diags, shown,
             "cannot create git cache directory " + cache.string() + ": " + ec.message());
    return false;
  }
  fs::path final_dir = cache / fnv1a(url + "#" + git_ref);
  bool reuse = isSha(git_ref) && fs::exists(final_dir / ".git", ec);
  if (!reuse) {
    static std::atomic<unsigned> counter{0};
    fs::path tmp = cache / (".tmp-" + fnv1a(url + git_ref) + "-" + std::to_string(::getpid()) +
                            "-" + std::to_string(counter++));
    fs::remove_all(tmp, ec);
    std::vector<std::string> args = {
        "-c",    "protocol.allow=never",
        "-c",    is_file ? "protocol.file.allow=always" : "protocol.https.allow=always",
        "clone", "--quiet"};
    if (isSha(git_ref)) {
      args.push_back("--no-checkout");
    } else {
      args.insert(args.end(), {"--depth", "1"});
      if (!git_ref.empty()) args.insert(args.end(), {"--branch", git_ref});
    }
    args.insert(args.end(), {"--", url, tmp.string()});
    RunResult r = runGit(args, options.git_timeout_seconds);
    if (r.ok && isSha(git_ref)) {
      r = runGit({"-C", tmp.string(), "-c", "advice.detachedHead=false", "checkout", "--quiet",
                  "--detach", git_ref},
                 options.git_timeout_seconds);
    }
    if (!r.ok) {
      fs::remove_all(tmp, ec);
      addError(diags, shown,
               "git clone of " + redactUrl(url) + (git_ref.empty() ? "" : " at " + git_ref) +
                   " failed: " + redactUrl(r.error));
      return false;
    }
    fs::remove_all(final_dir, ec);
    fs::rename(tmp, final_dir, ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      addError(diags, shown, "cannot move the git checkout into the cache: " + ec.message());
      return false;
    }
  }
  fs::path kit_dir = dir.empty() ? final_dir : final_dir / sub;
  fs::path real = fs::weakly_canonical(kit_dir, ec);
  fs::path real_root = fs::canonical(final_dir, ec);
  std::string r = real.string();
  if (r != real_root.string() && r.rfind(real_root.string() + "/", 0) != 0) {
    addError(diags, shown, "git reference dir=" + dir + " escapes the repository");
    return false;
  }
  if (!fs::is_directory(kit_dir, ec)) {
    addError(diags, shown, "git reference dir=" + dir + " is not a directory in " + redactUrl(url));
    return false;
  }
  return readDirectorySource(kit_dir.string(), RefKind::kGit, out, diags);
}

}  // namespace kitgate::kit
