#include "proxy/admin/admin_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/config/config.h"
#include "proxy/http/request.h"
#include "proxy/http/serialize.h"
#include "proxy/policy/ip_address.h"

namespace kitgate::admin {

struct AdminServer::Conn {
  AdminServer* server = nullptr;
  UniqueFd fd;
  event* ev = nullptr;
  bool metrics_only = false;
  std::string in;
  std::string out;
  size_t out_off = 0;
  bool writing = false;
};

AdminServer::AdminServer(event_base* base, AdminHandlers handlers) : base_(base), handlers_(std::move(handlers)) {}

AdminServer::~AdminServer() {
  for (Conn* c : conns_) {
    event_free(c->ev);
    delete c;
  }
  for (auto& l : listeners_) {
    if (l->ev) event_free(l->ev);
    if (!l->unix_path.empty()) ::unlink(l->unix_path.c_str());
  }
}

Status AdminServer::listen(const std::string& addr, bool metrics_only) {
  auto l = std::make_unique<Listener>();
  l->metrics_only = metrics_only;
  if (addr.rfind("unix:", 0) == 0) {
    std::string path = addr.substr(5);
    sockaddr_un un{};
    if (path.empty() || path.size() >= sizeof un.sun_path) return Status::error("bad unix socket path: " + addr);
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    l->fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    mode_t old = ::umask(0177);
    int rc = ::bind(l->fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof un);
    ::umask(old);
    if (rc != 0) return Status::error("cannot listen on " + addr + ": " + std::strerror(errno));
    l->unix_path = path;
  } else {
    std::string host;
    uint16_t port = 0;
    auto ip = config::splitHostPort(addr, &host, &port) ? policy::IpAddress::parse(host) : std::nullopt;
    if (!ip) return Status::error("bad listen address " + addr);
    sockaddr_storage ss{};
    socklen_t len = ip->toSockaddr(port, &ss);
    l->fd.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(l->fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(l->fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      return Status::error("cannot listen on " + addr + ": " + std::strerror(errno));
    }
  }
  if (::listen(l->fd.get(), 64) != 0) return Status::error("listen " + addr + ": " + std::strerror(errno));
  l->ev = event_new(base_, l->fd.get(), EV_READ | EV_PERSIST, &AdminServer::onAccept, this);
  event_add(l->ev, nullptr);
  listeners_.push_back(std::move(l));
  return Status::ok();
}

std::string AdminServer::boundAddress(size_t i) const {
  if (i >= listeners_.size()) return "";
  const auto& l = listeners_[i];
  if (!l->unix_path.empty()) return "unix:" + l->unix_path;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(l->fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  auto ip = policy::IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  uint16_t port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                          : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  std::string h = ip ? ip->toString() : "?";
  if (ip && ip->isV6()) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

void AdminServer::onAccept(evutil_socket_t fd, short, void* arg) {
  auto* self = static_cast<AdminServer*>(arg);
  bool metrics_only = false;
  for (const auto& l : self->listeners_) {
    if (l->fd.get() == fd) metrics_only = l->metrics_only;
  }
  for (int i = 0; i < 16; ++i) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    auto* conn = new Conn;
    conn->server = self;
    conn->fd.reset(c);
    conn->metrics_only = metrics_only;
    conn->ev = event_new(self->base_, c, EV_READ | EV_PERSIST, &AdminServer::onConnEvent, conn);
    timeval tv{5, 0};
    event_add(conn->ev, &tv);
    self->conns_.push_back(conn);
  }
}

void AdminServer::onConnEvent(evutil_socket_t fd, short what, void* arg) {
  auto* c = static_cast<Conn*>(arg);
  AdminServer* self = c->server;
  if (what & EV_TIMEOUT) {
    self->finish(c);
    return;
  }
  if (c->writing) {
    while (c->out_off < c->out.size()) {
      ssize_t n = ::send(fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) return;
        break;
      }
      c->out_off += static_cast<size_t>(n);
    }
    self->finish(c);
    return;
  }
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    self->finish(c);
    return;
  }
  c->in.append(buf, static_cast<size_t>(n));
  self->handle(c);
}

void AdminServer::handle(Conn* c) {
  http::HeadLimits limits;
  limits.max_head_bytes = 8192;
  http::RequestHead req;
  size_t consumed = 0;
  http::ParseStatus st = http::parseRequestHead(c->in, limits, &req, &consumed);
  if (st.isIncomplete()) return;
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::string path = req.path.substr(0, req.path.find('?'));
  if (st.isError()) {
    status = st.httpStatus();
    body = std::string(st.reason()) + "\n";
  } else if (path == "/metrics" && (req.method == "GET" || req.method == "HEAD")) {
    body = handlers_.metrics();
    content_type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (c->metrics_only) {
    status = 404;
    body = "not found: this listener serves /metrics only\n";
  } else if (path == "/healthz") {
    body = "ok\n";
  } else if (path == "/readyz") {
    bool ready = handlers_.ready();
    status = ready ? 200 : 503;
    body = ready ? "ready\n" : "draining\n";
  } else if (path == "/reload") {
    if (req.method != "POST") {
      status = 405;
      body = "use POST /reload\n";
    } else {
      Status s = handlers_.reload();
      status = s ? 200 : 500;
      body = s ? "reloaded\n" : "reload failed; the previous policy stays active:\n" + s.message() + "\n";
    }
  } else {
    status = 404;
    body = "not found; endpoints: /healthz /readyz /metrics POST /reload\n";
  }
  c->out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(http::reasonPhrase(status)) +
           "\r\nContent-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n";
  if (req.method != "HEAD") c->out += body;
  c->writing = true;
  event_del(c->ev);
  event_assign(c->ev, base_, c->fd.get(), EV_WRITE | EV_PERSIST, &AdminServer::onConnEvent, c);
  timeval tv{5, 0};
  event_add(c->ev, &tv);
}

void AdminServer::finish(Conn* c) {
  event_free(c->ev);
  conns_.erase(std::remove(conns_.begin(), conns_.end(), c), conns_.end());
  delete c;
}

}  // namespace kitgate::admin
