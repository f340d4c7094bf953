#include "tests/orchestrator/docker/fake_engine_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace kitgate::docker::testing {
namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

void writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads one request; false when the peer closed first.
bool readRequest(int fd, FakeRequest& out) {
  std::string in;
  size_t head_end;
  char buf[4096];
  while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
  }
  const std::string head = in.substr(0, head_end);
  std::string body = in.substr(head_end + 4);
  size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const size_t s1 = request_line.find(' ');
  const size_t s2 = request_line.find(' ', s1 + 1);
  out.method = request_line.substr(0, s1);
  out.target = request_line.substr(s1 + 1, s2 - s1 - 1);
  while (line_end != std::string::npos && line_end < head.size()) {
    const size_t next = head.find("\r\n", line_end + 2);
    const std::string line = head.substr(line_end + 2, next == std::string::npos ? std::string::npos : next - line_end - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      out.headers[name] = line.substr(v);
    }
    line_end = next;
  }
  size_t length = 0;
  if (auto it = out.headers.find("content-length"); it != out.headers.end()) {
    length = std::strtoul(it->second.c_str(), nullptr, 10);
  }
  while (body.size() < length) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    body.append(buf, static_cast<size_t>(n));
  }
  out.body = std::move(body);
  return true;
}

}  // namespace

FakeAnswer jsonAnswer(int status, std::string body) {
  std::string bytes = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  bytes += "Content-Type: application/json\r\nConnection: close\r\n";
  bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return {std::move(bytes), nullptr};
}

FakeAnswer streamAnswer(std::string content_type, std::string body) {
  std::string bytes = "HTTP/1.1 200 OK\r\nContent-Type: " + content_type + "\r\n";
  bytes += "Connection: close\r\n\r\n" + body;
  return {std::move(bytes), nullptr};
}

std::string muxFrame(int stream, std::string_view payload) {
  std::string frame(8, '\0');
  frame[0] = static_cast<char>(stream);
  const auto n = static_cast<uint32_t>(payload.size());
  frame[4] = static_cast<char>((n >> 24) & 0xFF);
  frame[5] = static_cast<char>((n >> 16) & 0xFF);
  frame[6] = static_cast<char>((n >> 8) & 0xFF);
  frame[7] = static_cast<char>(n & 0xFF);
  return frame + std::string(payload);
}

FakeEngineServer::FakeEngineServer(Handler handler) : handler_(std::move(handler)) {
  std::string templ = (std::filesystem::temp_directory_path() / "kitgate-fake-engine-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = templ;
  socket_path_ = dir_ + "/docker.sock";
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0 || ::pipe(stop_pipe_) != 0) {
    throw std::runtime_error("fake engine server: cannot listen");
  }
  thread_ = std::thread([this] { serve(); });
}

FakeEngineServer::~FakeEngineServer() {
  (void)!::write(stop_pipe_[1], "x", 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<FakeRequest> FakeEngineServer::requests() {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void FakeEngineServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    FakeRequest request;
    if (readRequest(fd, request)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(request);
      }
      FakeAnswer answer = handler_(request);
      writeAll(fd, answer.bytes);
      if (answer.then) answer.then(fd);
    }
    ::close(fd);
  }
}

}  // namespace kitgate::docker::testing
