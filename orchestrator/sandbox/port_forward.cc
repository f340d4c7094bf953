#include "orchestrator/sandbox/port_forward.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "proxy/common/unique_fd.h"

extern char** environ;

namespace kitgate::sandbox {

namespace {

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct PortsFile {
  std::vector<PublishedPort> ports;
  int pid = 0;
};

PortsFile parsePortsFile(const std::string& text) {
  PortsFile f;
  std::istringstream in(text);
  std::string a, b;
  while (in >> a >> b) {
    if (a == "pid") {
      f.pid = std::atoi(b.c_str());
    } else {
      f.ports.push_back({std::atoi(a.c_str()), b});
    }
  }
  return f;
}

// Copies both ways between two connected sockets until both sides are done.
void relay(UniqueFd a, UniqueFd b) {
  char buf[16384];
  bool a_open = true, b_open = true;
  while (a_open || b_open) {
    pollfd fds[2] = {{a_open ? a.get() : -1, POLLIN, 0}, {b_open ? b.get() : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int from = i == 0 ? a.get() : b.get();
      const int to = i == 0 ? b.get() : a.get();
      ssize_t n = ::read(from, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        (i == 0 ? a_open : b_open) = false;
        ::shutdown(to, SHUT_WR);
        continue;
      }
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += w;
      }
    }
  }
}

UniqueFd connectTo(const std::string& ip, int port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &sin.sin_addr) != 1) return UniqueFd();
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    return UniqueFd();
  }
  return fd;
}

class ProcessPortForwarder final : public PortForwarder {
 public:
  ProcessPortForwarder(state::Paths paths, std::string self)
      : paths_(std::move(paths)), self_(std::move(self)) {}

  StatusOr<std::vector<PublishedPort>> start(const std::string& name, const std::string& target_ip,
                                             const std::vector<int>& ports) override {
    if (Status s = stop(name); !s.isOk()) return s;
    const std::string file = portsFile(name);
    std::vector<std::string> args = {self_, "__forward", file, target_ip};
    for (int p : ports) args.push_back(std::to_string(p));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, self_.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
      return Status::error("cannot start the port forwarder: " + std::string(std::strerror(rc)));
    // Bounded wait for its ports file (it binds first, then writes it).
    for (int i = 0; i < 200; ++i) {
      PortsFile f = parsePortsFile(readText(file));
      if (f.pid == pid) return f.ports;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        return Status::error("the port forwarder exited (" + std::to_string(status) + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ::kill(pid, SIGKILL);
    return Status::error("the port forwarder did not start");
  }

  Status stop(const std::string& name) override {
    const std::string file = portsFile(name);
    PortsFile f = parsePortsFile(readText(file));
    // Only a forwarder started for this file (guards against pid reuse).
    if (f.pid > 0 &&
        readText("/proc/" + std::to_string(f.pid) + "/cmdline").find(file) != std::string::npos) {
      ::kill(f.pid, SIGTERM);
    }
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
      return Status::error("remove " + file + ": " + std::strerror(errno));
    }
    return Status::ok();
  }

 private:
  std::string portsFile(const std::string& name) const {
    return paths_.runDir() + "/" + name + ".ports";
  }
  state::Paths paths_;
  std::string self_;
};

}  // namespace

std::unique_ptr<PortForwarder> makeProcessPortForwarder(state::Paths paths,
                                                        std::string self_binary) {
  return std::make_unique<ProcessPortForwarder>(std::move(paths), std::move(self_binary));
}

int runForwarder(const std::vector<std::string>& args) {
  if (args.size() < 3) return 2;
  const std::string& file = args[0];
  const std::string& ip = args[1];
  ::signal(SIGPIPE, SIG_IGN);
  struct Listener {
    UniqueFd fd;
    int target = 0;
  };
  std::vector<Listener> listeners;
  std::string text;
  for (size_t i = 2; i < args.size(); ++i) {
    const int port = std::atoi(args[i].c_str());
    if (port <= 0 || port > 65535) return 2;
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
        ::listen(fd.get(), 64) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
      return 1;
    }
    text += std::to_string(port) + " 127.0.0.1:" + std::to_string(ntohs(sin.sin_port)) + "\n";
    listeners.push_back({std::move(fd), port});
  }
  text += "pid " + std::to_string(::getpid()) + "\n";
  if (!state::writeFileAtomic(file, text, 0600).isOk()) return 1;
  std::vector<pollfd> fds;
  for (const Listener& l : listeners) fds.push_back({l.fd.get(), POLLIN, 0});
  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      UniqueFd client(::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (!client.valid()) continue;
      UniqueFd upstream = connectTo(ip, listeners[i].target);
      if (!upstream.valid()) continue;  // closing the client says "refused"
      std::thread(relay, std::move(client), std::move(upstream)).detach();
    }
  }
}

}  // namespace kitgate::sandbox
