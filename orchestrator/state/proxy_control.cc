// Control of the local kitgate-proxy daemon: start (posix_spawn, setsid),
// status (ready file + pid + /healthz), reload (POST /reload), stop. Admin
// requests and the credential probe go over libcurl.
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "orchestrator/state/state.h"
#include "proxy/common/unique_fd.h"

extern char** environ;

namespace kitgate::state {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kAdminTimeout = std::chrono::seconds(15);
constexpr auto kStartTimeout = std::chrono::seconds(15);
// The proxy drains for up to limits.drain_timeout (10 s by default).
constexpr auto kStopTimeout = std::chrono::seconds(20);

std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  if (in) ss << in.rdbuf();
  return ss.str();
}

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool isExecutable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Polls with growing pauses until `condition` holds or `timeout` passes.
template <typename Condition>
bool waitFor(Condition&& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(2);
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

// The ready file: listen=… (repeated), metrics=…, admin=…, pid=…
ProxyStatus readReadyFile(const std::string& path) {
  ProxyStatus s;
  std::istringstream in(readText(path));
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "listen") s.listen.push_back(value);
    if (key == "transparent") s.transparent.push_back(value);
    if (key == "metrics") s.metrics = value;
    if (key == "admin") s.admin = value;
    if (key == "pid") s.pid = std::atoi(value.c_str());
  }
  return s;
}

// Reaps `pid` if it is our (zombie) child; true while it still runs.
bool processAlive(int pid) {
  if (pid <= 0) return false;
  int status = 0;
  ::waitpid(pid, &status, WNOHANG);
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  // A zombie that is not ours (cannot reap) is not running either.
  std::string stat = readText("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') return false;
  return true;
}

// `pid` is a kitgate-proxy started with this ready file (guards against pid
// reuse by an unrelated process).
bool isOurProxy(int pid, const Paths& paths) {
  std::string cmdline = readText("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find(paths.readyFile()) != std::string::npos;
}

struct AdminAnswer {
  int status = 0;
  std::string body;
};

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > (1u << 20)) return 0;  // bounded: stop the transfer
  body->append(data, size * n);
  return size * n;
}

// One HTTP/1.1 exchange over libcurl with `addr` ("unix:/path", "ip:port",
// "[v6]:port") as the server (`via_proxy` false: `url` is only the path) or
// as the HTTP proxy for `url`. `setup` adds options (method, credentials).
// Credentials stay in memory: never in argv, never in the error text.
template <typename Setup>
StatusOr<AdminAnswer> exchange(const std::string& addr, const std::string& url, bool via_proxy,
                               Setup&& setup) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  std::unique_ptr<CURL, CurlDeleter> c(curl_ready ? curl_easy_init() : nullptr);
  if (!c) return Status::error("libcurl unavailable");
  const bool unix_socket = addr.rfind("unix:", 0) == 0;
  std::string full_url = url;
  if (unix_socket) {
    curl_easy_setopt(c.get(), CURLOPT_UNIX_SOCKET_PATH, addr.c_str() + 5);
    if (!via_proxy) full_url = "http://kitgate-proxy" + url;
  } else if (via_proxy) {
    curl_easy_setopt(c.get(), CURLOPT_PROXY, ("http://" + addr).c_str());
  } else {
    full_url = "http://" + addr + url;
  }
  AdminAnswer a;
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c.get(), CURLOPT_URL, full_url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &a.body);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_NOPROXY, via_proxy ? "" : "*");  // never an environment proxy
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::chrono::milliseconds(kAdminTimeout).count()));
  curl_easy_setopt(c.get(), CURLOPT_FORBID_REUSE,
                   1L);  // the admin server answers one request per connection
  setup(c.get());
  const CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return Status::error("no answer from " + addr + " (timed out)");
    if (rc == CURLE_COULDNT_CONNECT)
      return Status::error("cannot connect to " + addr + ": " + error);
    return Status::error("no answer from " + addr + ": " +
                         (error[0] ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  a.status = static_cast<int>(status);
  return a;
}

// One request to the admin listener.
StatusOr<AdminAnswer> adminRequest(const std::string& addr, std::string_view method,
                                   std::string_view target) {
  const std::string m(method);
  return exchange(addr, std::string(target), false, [&m](CURL* c) {
    if (m == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (m != "GET") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
    }
  });
}

// The status the proxy at `listen` answers a sandbox request with these
// credentials (a name that does not resolve: nothing leaves the host).
StatusOr<int> probeStatus(const std::string& listen, const std::string& user,
                          const std::string& token) {
  auto a = exchange(listen, "http://kitgate-probe.invalid/", true, [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_PROXYAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_PROXYUSERNAME, user.c_str());
    curl_easy_setopt(c, CURLOPT_PROXYPASSWORD, token.c_str());
  });
  if (!a) return a.status();
  return a->status;
}

bool healthy(const std::string& admin) {
  auto a = adminRequest(admin, "GET", "/healthz");
  return a && a->status == 200;
}

std::string tail(const std::string& text, size_t lines) {
  size_t pos = text.size();
  while (pos > 0 && (text[pos - 1] == '\n')) --pos;
  size_t end = pos;
  for (size_t n = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++n == lines) break;
  }
  return text.substr(pos, end - pos);
}

}  // namespace

ProxyStatus proxyStatus(const Paths& paths) {
  ProxyStatus s = readReadyFile(paths.readyFile());
  s.running =
      processAlive(s.pid) && isOurProxy(s.pid, paths) && (s.admin.empty() || healthy(s.admin));
  return s;
}

Status ensureProxy(const Paths& paths, const std::string& proxy_binary,
                   std::vector<std::string>* repaired) {
  Status st = ensureDirs(paths);
  if (!st) return st;
  // kitgate's own keys first, so a hand-edited file cannot make the proxy
  // run single-tenant or refuse its config.
  auto fixed = repairProxyConfig(paths);
  if (!fixed) return fixed.status();
  if (repaired != nullptr) *repaired = *fixed;
  if (proxyStatus(paths).running) return fixed->empty() ? Status::ok() : reloadProxy(paths);
  auto lock = lockFile(paths.root + "/.proxy.lock");
  if (!lock) return lock.status();
  // Another kitgate may have started it while we waited for the lock.
  if (proxyStatus(paths).running) return Status::ok();
  if (proxy_binary.empty() || !isExecutable(proxy_binary)) {
    return Status::error(
        "kitgate-proxy not found" + (proxy_binary.empty() ? std::string() : " at " + proxy_binary) +
        "; install it next to kitgate or set KITGATE_PROXY=/path/to/kitgate-proxy");
  }
  // The child changes directory before exec: resolve the binary first.
  char resolved[PATH_MAX];
  const std::string binary =
      ::realpath(proxy_binary.c_str(), resolved) != nullptr ? resolved : proxy_binary;
  if (!fileExists(paths.proxyConfig())) {
    st = writeFileAtomic(paths.proxyConfig(), defaultProxyConfig(paths), 0600);
    if (!st) return st;
  }
  ::unlink(paths.readyFile().c_str());

  int out = ::open(paths.proxyOut().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0)
    return Status::error("cannot open " + paths.proxyOut() + ": " + std::strerror(errno));
  const size_t out_start = static_cast<size_t>(::lseek(out, 0, SEEK_END));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Relative paths in proxy.yaml resolve against the state directory.
  posix_spawn_file_actions_addchdir_np(&actions, paths.root.c_str());
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, out, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGHUP);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string config = paths.proxyConfig(), ready = paths.readyFile();
  const char* argv[] = {binary.c_str(), "--config",    config.c_str(),
                        "--ready-file", ready.c_str(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out);
  if (rc != 0) return Status::error("cannot start " + proxy_binary + ": " + std::strerror(rc));

  bool exited = false;
  bool ready_seen = waitFor(
      [&] {
        if (readReadyFile(paths.readyFile()).pid == pid) return true;
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) exited = true;
        return exited;
      },
      kStartTimeout);
  if (ready_seen && !exited) {
    // The sandboxes' host rules name the transparent port: keep it across restarts.
    return pinTransparentListen(paths, readReadyFile(paths.readyFile()).transparent);
  }
  if (!exited) ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
  std::string output = readText(paths.proxyOut());
  output = out_start < output.size() ? output.substr(out_start) : "";
  return Status::error(std::string("kitgate-proxy ") +
                       (exited ? "exited" : "did not become ready") + " (config " +
                       paths.proxyConfig() + "); its last output:\n" + tail(output, 12));
}

Status stopProxy(const Paths& paths) {
  ProxyStatus s = readReadyFile(paths.readyFile());
  if (!processAlive(s.pid) || !isOurProxy(s.pid, paths)) {
    ::unlink(paths.readyFile().c_str());
    return Status::ok();
  }
  if (::kill(s.pid, SIGTERM) != 0 && errno != ESRCH) {
    return Status::error("cannot signal kitgate-proxy (pid " + std::to_string(s.pid) +
                         "): " + std::strerror(errno));
  }
  if (!waitFor([&] { return !processAlive(s.pid); }, kStopTimeout)) {
    ::kill(s.pid, SIGKILL);
    if (!waitFor([&] { return !processAlive(s.pid); }, std::chrono::seconds(5))) {
      return Status::error("kitgate-proxy (pid " + std::to_string(s.pid) + ") does not stop");
    }
  }
  ::unlink(paths.readyFile().c_str());
  return Status::ok();
}

Status probeSandbox(const std::string& listen, const std::string& name, const std::string& token) {
  constexpr int kUnrecognised = 407;
  auto right = probeStatus(listen, name, token);
  if (!right)
    return Status::error("the proxy does not answer on " + listen + ": " +
                         right.status().message());
  auto wrong = probeStatus(listen, name, "kgtPROBEnotTheToken0000");
  if (!wrong)
    return Status::error("the proxy does not answer on " + listen + ": " +
                         wrong.status().message());
  if (*right == kUnrecognised) {
    return Status::error("the proxy on " + listen + " does not recognise sandbox " + name +
                         " (407); its registration did not load (kitgate proxy status)");
  }
  if (*wrong != kUnrecognised) {
    return Status::error("the proxy on " + listen + " does not tell sandboxes apart (it answered " +
                         std::to_string(*wrong) +
                         " to a wrong token): is it running with another proxy.yaml or without "
                         "state_dir? (kitgate proxy stop, then run again)");
  }
  return Status::ok();
}

Status reloadProxy(const Paths& paths) {
  ProxyStatus s = proxyStatus(paths);
  if (!s.running) return Status::ok();
  if (s.admin.empty()) {
    if (::kill(s.pid, SIGHUP) != 0) {
      return Status::error("cannot signal kitgate-proxy: " + std::string(std::strerror(errno)));
    }
    return Status::ok();
  }
  auto a = adminRequest(s.admin, "POST", "/reload");
  if (!a) return Status::error("cannot reload kitgate-proxy: " + a.status().message());
  if (a->status == 200) return Status::ok();
  std::string body = a->body;
  while (!body.empty() && body.back() == '\n') body.pop_back();
  return Status::error("kitgate-proxy refused the new state (it keeps the previous one):\n" + body);
}

std::string findProxyBinary() {
  if (const char* env = std::getenv("KITGATE_PROXY"); env != nullptr && *env != '\0') return env;
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.find_last_of('/'));
    for (const std::string& candidate : {dir + "/../proxy/kitgate-proxy", dir + "/kitgate-proxy"}) {
      if (isExecutable(candidate)) return candidate;
    }
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::istringstream in(path);
    std::string dir;
    while (std::getline(in, dir, ':')) {
      if (!dir.empty() && isExecutable(dir + "/kitgate-proxy")) return dir + "/kitgate-proxy";
    }
  }
  return "";
}

}  // namespace kitgate::state
