#include "tests/support/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace kitgate::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (equalsIgnoreCase(n, name)) return v;
  }
  return std::nullopt;
}

StatusOr<RawClient> RawClient::connect(uint16_t port, std::string_view host) {
  return connectFrom("", port, host);
}

StatusOr<RawClient> RawClient::connectFrom(std::string_view source, uint16_t port, std::string_view host) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string h(host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return Status::error("not an IP literal: " + h);
  }
  RawClient c;
  c.fd_.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!c.fd_.valid()) return Status::error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(c.fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!source.empty()) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    if (ss.ss_family != AF_INET || ::inet_pton(AF_INET, std::string(source).c_str(), &src.sin_addr) != 1 ||
        ::bind(c.fd_.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      return Status::error("cannot bind the client to " + std::string(source));
    }
  }
  if (::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return Status::error("connect " + h + ":" + std::to_string(port) + ": " + std::strerror(errno));
  }
  return c;
}

Status RawClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

void RawClient::shutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }

StatusOr<size_t> RawClient::fill(Clock::time_point deadline) {
  if (eof_) return size_t{0};
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) left = 0;
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::error(std::string("poll: ") + std::strerror(errno));
    }
    if (r == 0) return Status::error("timed out waiting for data (" + std::to_string(buf_.size()) + " bytes buffered)");
    char tmp[65536];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) {
        eof_ = true;
        return Status::error("connection reset by peer");
      }
      return Status::error(std::string("recv: ") + std::strerror(errno));
    }
    if (n == 0) {
      eof_ = true;
      return size_t{0};
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return static_cast<size_t>(n);
  }
}

StatusOr<std::string> RawClient::takeLine(Clock::time_point deadline) {
  while (true) {
    size_t pos = buf_.find('\n');
    if (pos != std::string::npos) {
      std::string line = buf_.substr(0, pos + 1);
      buf_.erase(0, pos + 1);
      return line;
    }
    auto n = fill(deadline);
    if (!n) return n.status();
    if (*n == 0) return Status::error("connection closed in the middle of a line");
  }
}

StatusOr<HttpResponse> RawClient::readResponse(std::chrono::milliseconds timeout, bool head_request) {
  const auto deadline = Clock::now() + timeout;
  HttpResponse r;
  // Head: up to the blank line.
  while (true) {
    size_t end = buf_.find("\r\n\r\n");
    if (end != std::string::npos) {
      r.head = buf_.substr(0, end + 4);
      buf_.erase(0, end + 4);
      break;
    }
    auto n = fill(deadline);
    if (!n) return n.status();
    if (*n == 0) {
      return Status::error(buf_.empty() ? "connection closed before a response"
                                        : "connection closed inside a response head: " + buf_);
    }
  }
  std::string_view head = r.head;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12) {
    return Status::error("bad status line: " + std::string(status_line));
  }
  std::from_chars(status_line.data() + 9, status_line.data() + 12, r.status);
  r.reason = status_line.size() > 13 ? std::string(status_line.substr(13)) : "";
  head.remove_prefix(eol + 2);
  while (!head.empty() && head.substr(0, 2) != "\r\n") {
    size_t e = head.find("\r\n");
    std::string_view line = head.substr(0, e);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      r.headers.emplace_back(std::string(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    head.remove_prefix(e + 2);
  }

  if (head_request || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304) return r;
  auto te = r.header("Transfer-Encoding");
  auto cl = r.header("Content-Length");
  if (te && te->find("chunked") != std::string::npos) {
    r.chunked = true;
    while (true) {
      auto line = takeLine(deadline);
      if (!line) return line.status();
      size_t size = 0;
      auto [p, ec] = std::from_chars(line->data(), line->data() + line->size(), size, 16);
      if (ec != std::errc() || p == line->data()) return Status::error("bad chunk size line: " + *line);
      if (size == 0) break;
      while (buf_.size() < size + 2) {
        auto n = fill(deadline);
        if (!n) return n.status();
        if (*n == 0) return Status::error("connection closed inside a chunk");
      }
      if (buf_.compare(size, 2, "\r\n") != 0) return Status::error("chunk not followed by CRLF");
      r.body.append(buf_, 0, size);
      buf_.erase(0, size + 2);
    }
    while (true) {  // trailers up to the blank line
      auto line = takeLine(deadline);
      if (!line) return line.status();
      if (*line == "\r\n") break;
    }
    return r;
  }
  if (cl) {
    size_t want = 0;
    std::from_chars(cl->data(), cl->data() + cl->size(), want);
    auto body = readExactly(want, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (!body) return body.status();
    r.body = std::move(body.value());
    return r;
  }
  auto rest = readUntilClose(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  if (!rest) return rest.status();
  r.body = std::move(rest.value());
  return r;
}

StatusOr<std::string> RawClient::readExactly(size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (buf_.size() < n) {
    auto got = fill(deadline);
    if (!got) return got.status();
    if (*got == 0) {
      return Status::error("connection closed after " + std::to_string(buf_.size()) + " of " + std::to_string(n) +
                           " bytes");
    }
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

StatusOr<std::string> RawClient::readUntilClose(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto got = fill(deadline);
    if (!got) {
      if (eof_) break;  // reset counts as closed
      return got.status();
    }
    if (*got == 0) break;
  }
  return std::exchange(buf_, std::string());
}

StatusOr<std::string> RawClient::readSome(size_t max, std::chrono::milliseconds timeout) {
  if (buf_.empty()) {
    auto got = fill(Clock::now() + timeout);
    if (!got) return got.status();
  }
  size_t n = std::min(max, buf_.size());
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

bool RawClient::readableWithin(std::chrono::milliseconds timeout) {
  if (!buf_.empty() || eof_) return true;
  auto got = fill(Clock::now() + timeout);
  return got.isOk() || eof_;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16 | static_cast<uint8_t>(in[i + 1]) << 8 | static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16 | static_cast<uint8_t>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += '=';
  }
  return out;
}

std::string proxyBasicAuth(std::string_view user, std::string_view password) {
  std::string cred(user);
  cred += ':';
  cred += password;
  return "Proxy-Authorization: Basic " + base64(cred) + "\r\n";
}

StatusOr<Tunnel> openTunnel(uint16_t proxy_port, std::string_view target, std::string_view extra_headers,
                            std::chrono::milliseconds timeout) {
  auto c = RawClient::connect(proxy_port);
  if (!c) return c.status();
  std::string req = "CONNECT " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(target) + "\r\n" +
                    std::string(extra_headers) + "\r\n";
  Status st = c->send(req);
  if (!st) return st;
  // A CONNECT 200 has no body: read it as a head-only response.
  auto r = c->readResponse(timeout, /*head_request=*/true);
  if (!r) return r.status();
  Tunnel t{std::move(c.value()), std::move(r.value())};
  if (!t.established()) {
    // Error answers carry a body: read it for the test to inspect.
    if (auto cl = t.response.header("Content-Length")) {
      auto body = t.client.readExactly(std::stoul(*cl), timeout);
      if (body) t.response.body = std::move(body.value());
    }
  }
  return t;
}

StatusOr<HttpResponse> requestOnce(uint16_t port, std::string_view raw_request, std::chrono::milliseconds timeout,
                                   bool head_request) {
  auto c = RawClient::connect(port);
  if (!c) return c.status();
  Status st = c->send(raw_request);
  if (!st) return st;
  return c->readResponse(timeout, head_request);
}

}  // namespace kitgate::testing
