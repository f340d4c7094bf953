#include "tests/support/origin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

namespace kitgate::testing {
namespace {

constexpr size_t kMaxHead = 64 * 1024;

class PlainStream : public Stream {
 public:
  explicit PlainStream(UniqueFd fd) : fd_(std::move(fd)) {}
  long read(char* buf, size_t n) override {
    while (true) {
      ssize_t r = ::recv(fd_.get(), buf, n, 0);
      if (r < 0 && errno == EINTR) continue;
      return static_cast<long>(r);
    }
  }
  bool writeAll(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void shutdownWrite() override { ::shutdown(fd_.get(), SHUT_WR); }

 private:
  UniqueFd fd_;
};

// Buffered reading over a Stream.
class Reader {
 public:
  explicit Reader(Stream& s) : s_(s) {}
  // Up to and including the blank line; nullopt at EOF/error/oversize.
  std::optional<std::string> head() {
    while (true) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) return take(end + 4);
      if (buf_.size() > kMaxHead || !fill()) return std::nullopt;
    }
  }
  std::optional<std::string> line() {
    while (true) {
      size_t end = buf_.find("\r\n");
      if (end != std::string::npos) return take(end + 2);
      if (buf_.size() > kMaxHead || !fill()) return std::nullopt;
    }
  }
  // Feeds exactly n bytes to `sink` in pieces.
  template <typename Sink>
  bool exactly(uint64_t n, Sink&& sink) {
    while (n > 0) {
      if (buf_.empty() && !fill()) return false;
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, buf_.size()));
      sink(std::string_view(buf_.data(), k));
      buf_.erase(0, k);
      n -= k;
    }
    return true;
  }
  bool empty() const { return buf_.empty(); }

 private:
  bool fill() {
    char tmp[65536];
    long n = s_.read(tmp, sizeof tmp);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  std::string take(size_t n) {
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  Stream& s_;
  std::string buf_;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Request {
  std::string method, target, version;
  std::string head;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool expect_continue = false;
  bool close = false;
};

std::optional<Request> parseHead(std::string head) {
  Request r;
  r.head = head;
  std::string_view v = head;
  size_t eol = v.find("\r\n");
  std::string_view line = v.substr(0, eol);
  size_t s1 = line.find(' ');
  size_t s2 = line.rfind(' ');
  if (s1 == std::string_view::npos || s2 == s1) return std::nullopt;
  r.method = std::string(line.substr(0, s1));
  r.target = std::string(line.substr(s1 + 1, s2 - s1 - 1));
  r.version = std::string(line.substr(s2 + 1));
  r.close = r.version == "HTTP/1.0";
  v.remove_prefix(eol + 2);
  while (v.size() > 2) {
    size_t e = v.find("\r\n");
    std::string_view h = v.substr(0, e);
    v.remove_prefix(e + 2);
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = h.substr(0, colon);
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (iequals(name, "content-length")) {
      uint64_t n = 0;
      std::from_chars(value.data(), value.data() + value.size(), n);
      r.content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
      r.chunked = lower(value).find("chunked") != std::string::npos;
    } else if (iequals(name, "expect")) {
      r.expect_continue = iequals(value, "100-continue");
    } else if (iequals(name, "connection")) {
      std::string l = lower(value);
      if (l.find("close") != std::string::npos) r.close = true;
      if (l.find("keep-alive") != std::string::npos) r.close = false;
    }
  }
  return r;
}

// Reads the request body, feeding its payload to `sink`. False on a framing
// error or EOF.
template <typename Sink>
bool readBody(Reader& rd, const Request& r, Sink&& sink) {
  if (r.chunked) {
    while (true) {
      auto line = rd.line();
      if (!line) return false;
      uint64_t size = 0;
      auto [p, ec] = std::from_chars(line->data(), line->data() + line->size(), size, 16);
      if (ec != std::errc()) return false;
      if (size == 0) break;
      if (!rd.exactly(size, sink)) return false;
      auto crlf = rd.line();
      if (!crlf || *crlf != "\r\n") return false;
    }
    while (true) {  // trailers
      auto line = rd.line();
      if (!line) return false;
      if (*line == "\r\n") return true;
    }
  }
  if (r.content_length) return rd.exactly(*r.content_length, sink);
  return true;
}

std::string statusLine(int status) {
  const char* reason = "OK";
  switch (status) {
    case 200:
      reason = "OK";
      break;
    case 204:
      reason = "No Content";
      break;
    case 304:
      reason = "Not Modified";
      break;
    case 404:
      reason = "Not Found";
      break;
    default:
      reason = "Status";
      break;
  }
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
}

bool writePattern(Stream& s, uint64_t n, bool chunked) {
  uint64_t off = 0;
  uint64_t i = 0;
  while (off < n) {
    // Chunk sizes vary (1 byte .. 64 KiB) so framing bugs at odd sizes show.
    size_t piece = chunked ? static_cast<size_t>((i * 7919 + 1) % 65536 + 1) : 256 * 1024;
    piece = static_cast<size_t>(std::min<uint64_t>(piece, n - off));
    std::string data = patternBytes(off, piece);
    if (chunked) {
      char hdr[32];
      int len = std::snprintf(hdr, sizeof hdr, "%zx\r\n", piece);
      data.insert(0, hdr, static_cast<size_t>(len));
      data += "\r\n";
    }
    if (!s.writeAll(data)) return false;
    off += piece;
    ++i;
  }
  return !chunked || s.writeAll("0\r\n\r\n");
}

std::optional<uint64_t> numberAfter(std::string_view target, std::string_view prefix) {
  if (target.substr(0, prefix.size()) != prefix) return std::nullopt;
  target.remove_prefix(prefix.size());
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(target.data(), target.data() + target.size(), n);
  if (ec != std::errc() || p != target.data() + target.size()) return std::nullopt;
  return n;
}

}  // namespace

char patternByte(uint64_t i) {
  // 251 is prime: the pattern never lines up with buffer or page sizes.
  return static_cast<char>('!' + (i % 251) % 94 + (i / 251) % 7);
}

std::string patternBytes(uint64_t offset, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = patternByte(offset + i);
  return out;
}

uint64_t fnv1a64(std::string_view data, uint64_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

StatusOr<std::unique_ptr<OriginServer>> OriginServer::start(Options options) {
  std::unique_ptr<OriginServer> o(new OriginServer);
  o->options_ = std::move(options);
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  const std::string& bind = o->options_.bind_address;
  if (::inet_pton(AF_INET, bind.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, bind.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof *v6;
  } else {
    return Status::error("origin: bad bind address " + bind);
  }
  o->listen_fd_.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!o->listen_fd_.valid())
    return Status::error(std::string("origin: socket: ") + std::strerror(errno));
  if (::bind(o->listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::listen(o->listen_fd_.get(), 1024) != 0) {
    return Status::error(std::string("origin: bind/listen: ") + std::strerror(errno));
  }
  len = sizeof ss;
  ::getsockname(o->listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  o->port_ = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  o->wake_fd_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!o->wake_fd_.valid())
    return Status::error(std::string("origin: eventfd: ") + std::strerror(errno));
  o->acceptor_ = std::thread([raw = o.get()] { raw->acceptLoop(); });
  return o;
}

OriginServer::~OriginServer() { stop(); }

std::string OriginServer::authority() const {
  const std::string& b = options_.bind_address;
  return (b.find(':') != std::string::npos ? "[" + b + "]" : b) + ":" + std::to_string(port_);
}

std::string OriginServer::lastRequestHead() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_head_;
}

void OriginServer::closeConnections() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
}

void OriginServer::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
  (void)n;
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void OriginServer::acceptLoop() {
  while (true) {
    pollfd p[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents != 0) return;
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    accepted_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    for (std::thread::id id : finished_) {
      auto t = std::find_if(threads_.begin(), threads_.end(),
                            [id](const std::thread& x) { return x.get_id() == id; });
      if (t == threads_.end()) continue;
      t->join();  // it has nothing left to do but return
      threads_.erase(t);
    }
    finished_.clear();
    conn_fds_.push_back(fd);
    open_.fetch_add(1);
    threads_.emplace_back([this, fd] {
      serve(UniqueFd(fd));
      std::lock_guard<std::mutex> done(mu_);
      finished_.push_back(std::this_thread::get_id());
    });
  }
}

void OriginServer::serve(UniqueFd fd) {
  const int raw = fd.get();
  std::unique_ptr<Stream> s =
      options_.wrap ? options_.wrap(std::move(fd)) : std::make_unique<PlainStream>(std::move(fd));
  if (s && !options_.banner.empty() && !s->writeAll(options_.banner)) s.reset();
  if (s) {
    if (options_.mode == Mode::kEcho) {
      serveEcho(*s);
    } else {
      serveHttp(*s);
    }
  }
  {
    // Forget the fd before it is closed, so stop() never touches a reused number.
    std::lock_guard<std::mutex> lock(mu_);
    conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), raw), conn_fds_.end());
  }
  open_.fetch_sub(1);
  s.reset();
}

void OriginServer::serveEcho(Stream& s) {
  char buf[65536];
  while (true) {
    long n = s.read(buf, sizeof buf);
    if (n <= 0) break;
    if (!s.writeAll(std::string_view(buf, static_cast<size_t>(n)))) return;
  }
  s.shutdownWrite();
}

void OriginServer::serveHttp(Stream& s) {
  Reader rd(s);
  bool drop_next = false;  // "X-Drop-Next: 1" on the previous request
  while (true) {
    auto head = rd.head();
    if (!head) return;
    auto req = parseHead(std::move(*head));
    if (!req) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_head_ = req->head;
    }
    const bool has_body = req->chunked || req->content_length.value_or(0) > 0;
    if (req->expect_continue && has_body && !s.writeAll("HTTP/1.1 100 Continue\r\n\r\n")) return;
    uint64_t body_len = 0;
    uint64_t sum = fnv1a64("");
    bool ok = readBody(rd, *req, [&](std::string_view piece) {
      body_len += piece.size();
      sum = fnv1a64(piece, sum);
    });
    if (!ok) return;
    if (drop_next) return;  // read, never answered: the connection just ends
    drop_next = req->head.find("\r\nX-Drop-Next: 1\r\n") != std::string::npos;
    requests_.fetch_add(1);

    const bool head_only = req->method == "HEAD";
    const std::string conn = req->close ? "Connection: close\r\n" : "";
    const std::string& t = req->target;
    std::string out;
    bool close_after = req->close;
    auto simple = [&](int status, std::string_view body, std::string_view extra = "") {
      out = statusLine(status) + std::string(extra) +
            "Content-Length: " + std::to_string(body.size()) + "\r\n" + conn + "\r\n";
      if (!head_only) out += body;
    };
    if (t == "/small") {
      simple(200, patternBytes(0, kSmallBodySize), "Content-Type: application/octet-stream\r\n");
    } else if (auto n = numberAfter(t, "/bytes/")) {
      if (!s.writeAll(statusLine(200) + "Content-Length: " + std::to_string(*n) + "\r\n" + conn +
                      "\r\n"))
        return;
      if (!head_only && !writePattern(s, *n, false)) return;
    } else if (auto chunked_n = numberAfter(t, "/chunked/")) {
      if (!s.writeAll(statusLine(200) + "Transfer-Encoding: chunked\r\n" + conn + "\r\n")) return;
      if (!head_only && !writePattern(s, *chunked_n, true)) return;
    } else if (auto code = numberAfter(t, "/status/")) {
      if (*code == 204) {
        out = statusLine(204) + conn + "\r\n";
      } else if (*code == 304) {
        out = statusLine(304) + "ETag: \"v1\"\r\n" + conn + "\r\n";
      } else {
        simple(static_cast<int>(*code), "status " + std::to_string(*code) + "\n");
      }
    } else if (t == "/echo-length") {
      simple(200, "length=" + std::to_string(body_len) + " checksum=" + hex64(sum) + "\n");
    } else if (t == "/headers") {
      simple(200, req->head);
    } else if (t == "/close") {
      out = statusLine(200) + "Connection: close\r\n\r\n";
      if (!head_only) out += "closing body\n";
      close_after = true;
    } else {
      simple(404, "no such route\n");
    }
    if (!out.empty() && !s.writeAll(out)) return;
    if (close_after) {
      s.shutdownWrite();
      return;
    }
  }
}

}  // namespace kitgate::testing
