#include "orchestrator/sandbox/tty_relay.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace kitgate::sandbox {

namespace {

// Raw mode on a TTY for the lifetime of the object.
class RawMode {
 public:
  explicit RawMode(int fd) : fd_(fd) {
    termios t{};
    if (::isatty(fd) == 0 || ::tcgetattr(fd, &t) != 0) return;
    saved_ = t;
    ::cfmakeraw(&t);
    ::tcsetattr(fd, TCSANOW, &t);
  }
  ~RawMode() {
    if (saved_) ::tcsetattr(fd_, TCSANOW, &*saved_);
  }
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  int fd_;
  std::optional<termios> saved_;
};

// SIGWINCH blocked in this thread and readable from a signalfd.
class WinchFd {
 public:
  WinchFd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    ::pthread_sigmask(SIG_BLOCK, &set, &old_);
    fd_ = UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  ~WinchFd() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  WinchFd(const WinchFd&) = delete;
  WinchFd& operator=(const WinchFd&) = delete;
  int fd() const { return fd_.get(); }
  void drain() {
    signalfd_siginfo info;
    while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    }
  }

 private:
  UniqueFd fd_;
  sigset_t old_{};
};

bool writeAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void forwardSize(const ResizeFn& resize, int tty_fd) {
  winsize ws{};
  if (::ioctl(tty_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    resize(ws.ws_row, ws.ws_col);
  }
}

}  // namespace

Status relayTerminal(docker::DockerClient& docker, const std::string& container_id,
                     docker::AttachStream stream, int in_fd, int out_fd) {
  return relayTerminal(
      [&docker, &container_id](int rows, int cols) {
        (void)docker.resizeTty(container_id, rows, cols);
      },
      std::move(stream), in_fd, out_fd);
}

Status relayTerminal(const ResizeFn& resize, docker::AttachStream stream, int in_fd, int out_fd) {
  const int sock = stream.fd.get();
  if (!stream.pending.empty() && !writeAll(out_fd, stream.pending.data(), stream.pending.size())) {
    return Status::error("write to the terminal: " + std::string(std::strerror(errno)));
  }
  const bool tty = ::isatty(in_fd) != 0;
  WinchFd winch;
  RawMode raw(in_fd);
  if (tty) forwardSize(resize, in_fd);

  bool in_open = true;
  char buf[16384];
  for (;;) {
    pollfd fds[3] = {{sock, POLLIN, 0}, {winch.fd(), POLLIN, 0}, {in_open ? in_fd : -1, POLLIN, 0}};
    int n = ::poll(fds, 3, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error("poll: " + std::string(std::strerror(errno)));
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = ::read(sock, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return Status::ok();  // the container side closed
      if (!writeAll(out_fd, buf, static_cast<size_t>(r))) {
        return Status::error("write to the terminal: " + std::string(std::strerror(errno)));
      }
    }
    if (fds[1].revents & POLLIN) {
      winch.drain();
      if (tty) forwardSize(resize, in_fd);
    }
    if (in_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = ::read(in_fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        in_open = false;
        ::shutdown(sock, SHUT_WR);
      } else if (!writeAll(sock, buf, static_cast<size_t>(r))) {
        return Status::ok();  // the container side went away
      }
    }
  }
}

}  // namespace kitgate::sandbox
