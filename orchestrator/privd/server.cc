#include "orchestrator/privd/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kitgate::privd {

namespace {

constexpr int kIoTimeoutSeconds = 10;
// Read (and dropped past kMaxMessageBytes) before answering an oversize request.
constexpr size_t kDrainBytes = 4 * kMaxMessageBytes;

std::string errnoText() { return std::strerror(errno); }

void setTimeouts(int fd) {
  timeval tv{kIoTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void writeAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

Response refusal(std::string message) {
  Response r;
  r.error = std::move(message);
  return r;
}

}  // namespace

Server::Server(std::string path, UniqueFd listen_fd, UniqueFd stop_read, UniqueFd stop_write,
               Authorizer authorize, Handler& handler, LogFn log)
    : path_(std::move(path)),
      listen_fd_(std::move(listen_fd)),
      stop_read_(std::move(stop_read)),
      stop_write_(std::move(stop_write)),
      authorize_(std::move(authorize)),
      handler_(handler),
      log_(std::move(log)) {}

Server::~Server() {
  if (listen_fd_.valid()) ::unlink(path_.c_str());
}

StatusOr<std::unique_ptr<Server>> Server::listen(const std::string& path, gid_t group,
                                                 Authorizer authorize, Handler& handler,
                                                 LogFn log) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Status::error("socket path too long: " + path);
  }
  struct stat info {};
  if (::lstat(path.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) {
      return Status::error(path + " exists and is not a socket; refusing to replace it");
    }
    ::unlink(path.c_str());
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::error("socket: " + errnoText());
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  // Created 0600 (umask), then opened to the group: no window where others can connect.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) return Status::error("cannot bind " + path + ": " + std::strerror(bind_errno));
  if (::chown(path.c_str(), ::geteuid(), group) != 0 || ::chmod(path.c_str(), 0660) != 0) {
    const std::string err = errnoText();
    ::unlink(path.c_str());
    return Status::error("cannot set owner/mode of " + path + ": " + err);
  }
  if (::listen(fd.get(), 16) != 0) {
    const std::string err = errnoText();
    ::unlink(path.c_str());
    return Status::error("listen " + path + ": " + err);
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    const std::string err = errnoText();
    ::unlink(path.c_str());
    return Status::error("pipe: " + err);
  }
  return std::unique_ptr<Server>(new Server(path, std::move(fd), UniqueFd(pipe_fds[0]),
                                            UniqueFd(pipe_fds[1]), std::move(authorize), handler,
                                            std::move(log)));
}

void Server::stop() {
  const char byte = 1;
  ssize_t n = ::write(stop_write_.get(), &byte, 1);
  (void)n;
}

Status Server::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Status::error("poll: " + errnoText());
    }
    if (fds[1].revents != 0) return Status::ok();
    if (fds[0].revents == 0) continue;
    UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      return Status::error("accept: " + errnoText());
    }
    serveConnection(conn.get());
  }
}

void Server::serveConnection(int fd) {
  setTimeouts(fd);
  std::string what;
  const Response response = serve(fd, &what);
  if (log_) log_(what + ": " + (response.ok ? std::string("ok") : "refused: " + response.error));
  writeAll(fd, encodeResponse(response));
  ::shutdown(fd, SHUT_WR);
}

Response Server::serve(int fd, std::string* what) {
  // The whole request is read (bounded) before any answer, refusals included:
  // a unix socket closed with unread data resets the peer, which would lose
  // the answer.
  std::string bytes;
  bool complete = false;
  char buf[4096];
  while (bytes.size() < kDrainBytes) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      complete = n == 0;
      break;
    }
    if (bytes.size() <= kMaxMessageBytes) bytes.append(buf, static_cast<size_t>(n));
  }
  auto peer = peerCredentials(fd);
  if (!peer.isOk()) {
    *what = "unknown caller";
    return refusal(peer.status().message());
  }
  *what = "uid " + std::to_string(peer->uid) + " pid " + std::to_string(peer->pid);
  if (Status allowed = authorize_(*peer); !allowed.isOk()) return refusal(allowed.message());
  if (bytes.size() > kMaxMessageBytes) {
    return refusal("request too large (more than " + std::to_string(kMaxMessageBytes) + " bytes)");
  }
  if (!complete) return refusal("incomplete request (timed out or broken)");
  auto request = parseRequest(bytes);
  if (!request.isOk()) return refusal(request.status().message());
  *what += " " + std::string(verbName(request->verb));
  if (!request->name.empty()) *what += " " + request->name;
  return handler_.handle(*request, *peer);
}

}  // namespace kitgate::privd
