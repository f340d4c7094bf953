#include "tests/support/https_origin.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tests/support/raw_client.h"

namespace kitgate::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Connections of the origin wait this long for the next byte; stop() ends
// them earlier by shutting the socket down.
constexpr milliseconds kOriginIdle = std::chrono::minutes(5);

Status setNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return Status::error(std::string("fcntl(O_NONBLOCK): ") + std::strerror(errno));
  }
  return Status::ok();
}

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Calls fn(name, value) for every header field of a raw head (start line
// skipped, value without surrounding blanks).
template <typename Fn>
void forEachHeader(std::string_view head, Fn&& fn) {
  size_t start = head.find("\r\n");
  while (start != std::string_view::npos) {
    start += 2;
    const size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos || end == start) return;
    const std::string_view field = head.substr(start, end - start);
    const size_t colon = field.find(':');
    if (colon != std::string_view::npos) {
      std::string_view v = field.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      fn(field.substr(0, colon), v);
    }
    start = end;
  }
}

// The value of header `name` (case-insensitive) in a raw head, or "".
std::string headerValue(std::string_view head, std::string_view name) {
  std::optional<std::string> found;
  forEachHeader(head, [&](std::string_view n, std::string_view v) {
    if (!found && lower(n) == lower(name)) found = std::string(v);
  });
  return found.value_or("");
}

std::string requestTarget(std::string_view head) {
  size_t s1 = head.find(' ');
  size_t s2 = s1 == std::string_view::npos ? s1 : head.find(' ', s1 + 1);
  if (s2 == std::string_view::npos) return "";
  return std::string(head.substr(s1 + 1, s2 - s1 - 1));
}

// The origin side of one connection, handed to OriginServer: replays the
// bytes read while looking at the first head, then reads through TLS.
class TlsOriginStream : public Stream {
 public:
  TlsOriginStream(std::unique_ptr<TlsConn> conn, std::string prefix)
      : conn_(std::move(conn)), prefix_(std::move(prefix)) {}
  long read(char* buf, size_t n) override {
    if (!prefix_.empty()) {
      size_t k = std::min(n, prefix_.size());
      std::memcpy(buf, prefix_.data(), k);
      prefix_.erase(0, k);
      return static_cast<long>(k);
    }
    auto r = conn_->read(buf, n, kOriginIdle);
    return r ? static_cast<long>(*r) : -1;
  }
  bool writeAll(std::string_view data) override {
    return conn_->writeAll(data, kOriginIdle).isOk();
  }
  void shutdownWrite() override { conn_->shutdownWrite(); }

 private:
  std::unique_ptr<TlsConn> conn_;
  std::string prefix_;
};

}  // namespace

// ---------------------------------------------------------------- TlsConn

tls::IoResult TlsConn::drive(const std::function<tls::IoResult()>& op, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    tls::IoResult r = op();
    if (r.status != tls::IoStatus::kWantRead && r.status != tls::IoStatus::kWantWrite) return r;
    pollfd p{fd_.get(), static_cast<short>(r.status == tls::IoStatus::kWantRead ? POLLIN : POLLOUT),
             0};
    int n = ::poll(&p, 1, remainingMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return tls::IoResult{tls::IoStatus::kError, 0, n == 0 ? "timed out" : std::strerror(errno)};
    // POLLHUP/POLLERR: let the next call report what happened.
  }
}

StatusOr<std::unique_ptr<TlsConn>> TlsConn::accept(
    UniqueFd fd, const tls::ServerContext& ctx,
    const std::vector<std::shared_ptr<const tls::Leaf>>& leaves, milliseconds timeout) {
  if (leaves.empty()) return Status::error("TlsConn::accept: no certificate");
  if (Status st = setNonBlocking(fd.get()); !st) return st;
  std::unique_ptr<TlsConn> c(new TlsConn(std::move(fd)));
  auto hook = [&leaves](std::string_view sni, tls::TlsStream& s) -> Status {
    for (const auto& leaf : leaves) {
      if (leaf->host == sni) return s.useLeaf(*leaf);
    }
    return s.useLeaf(*leaves.front());
  };
  auto stream = tls::TlsStream::accept(c->fd_.get(), ctx, nullptr, hook);
  if (!stream) return stream.status();
  c->stream_ = std::move(stream.value());
  tls::IoResult r = c->drive([&] { return c->stream_->handshake(); }, timeout);
  if (!r.ok())
    return Status::error("TLS accept: " + (r.error.empty() ? std::string("closed") : r.error));
  return c;
}

StatusOr<std::unique_ptr<TlsConn>> TlsConn::connect(UniqueFd fd, const tls::ClientContext& ctx,
                                                    std::string_view verify_host,
                                                    std::optional<std::string> sni,
                                                    milliseconds timeout,
                                                    tls::ClientSessionCache* sessions) {
  if (Status st = setNonBlocking(fd.get()); !st) return st;
  std::unique_ptr<TlsConn> c(new TlsConn(std::move(fd)));
  auto stream = tls::TlsStream::connect(c->fd_.get(), ctx, verify_host, sessions,
                                        sessions != nullptr ? std::string(verify_host) : "");
  if (!stream) return stream.status();
  c->stream_ = std::move(stream.value());
  // "" = a ClientHello without server_name.
  const char* sni_name = sni && !sni->empty() ? sni->c_str() : nullptr;
  if (sni && SSL_set_tlsext_host_name(c->stream_->ssl(), sni_name) != 1) {
    return Status::error("cannot set SNI " + *sni);
  }
  tls::IoResult r = c->drive([&] { return c->stream_->handshake(); }, timeout);
  if (!r.ok())
    return Status::error("TLS connect: " + (r.error.empty() ? std::string("closed") : r.error));
  return c;
}

StatusOr<size_t> TlsConn::read(char* buf, size_t n, milliseconds timeout) {
  if (eof_) return size_t{0};
  tls::IoResult r = drive([&] { return stream_->read(buf, n); }, timeout);
  switch (r.status) {
    case tls::IoStatus::kOk:
      return r.bytes;
    case tls::IoStatus::kClosed:
    case tls::IoStatus::kTruncated:
      eof_ = true;
      return size_t{0};
    default:
      return Status::error("TLS read: " + r.error);
  }
}

Status TlsConn::writeAll(std::string_view data, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    tls::IoResult r = drive([&] { return stream_->write(data.data(), data.size()); },
                            std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    if (!r.ok())
      return Status::error("TLS write: " + (r.error.empty() ? std::string("closed") : r.error));
    data.remove_prefix(r.bytes);
  }
  return Status::ok();
}

void TlsConn::shutdownWrite() {
  if (stream_) drive([&] { return stream_->shutdown(); }, milliseconds(1000));
  ::shutdown(fd_.get(), SHUT_WR);
}

void TlsConn::resetConnection() {
  linger l{1, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  stream_.reset();
  fd_.reset();
}

tls::X509Ptr TlsConn::peerCertificate() const {
  X509* cert = stream_ ? tls::compat::peerCertificate(stream_->ssl()) : nullptr;
  return cert == nullptr ? tls::X509Ptr() : tls::upRef(cert);
}

// ------------------------------------------------------------- test CAs

StatusOr<tls::CertificateAuthority> makeTestCa(const std::vector<std::string>& hosts,
                                               const std::string& common_name) {
  tls::CaOptions options;
  options.permitted_hosts = hosts;
  options.common_name = common_name;
  return tls::CertificateAuthority::create(options);
}

// ---------------------------------------------------------- HttpsOrigin

StatusOr<ServerIdentity> makeServerIdentity(const tls::CertificateAuthority& ca,
                                            const std::vector<std::string>& hosts) {
  ServerIdentity id;
  auto ctx = tls::ServerContext::create();
  if (!ctx) return ctx.status();
  id.ctx = std::make_unique<tls::ServerContext>(std::move(ctx.value()));
  auto minter = tls::LeafMinter::create(ca);
  if (!minter) return minter.status();
  for (const std::string& host : hosts) {
    auto leaf = (*minter)->mint(host, std::chrono::system_clock::now());
    if (!leaf) return leaf.status();
    id.leaves.push_back(std::make_shared<const tls::Leaf>(std::move(leaf.value())));
  }
  return id;
}

StatusOr<std::unique_ptr<HttpsOrigin>> HttpsOrigin::start(const Options& options) {
  if (options.ca == nullptr || options.hosts.empty())
    return Status::error("HttpsOrigin: needs a CA and hosts");
  std::unique_ptr<HttpsOrigin> o(new HttpsOrigin);
  auto id = makeServerIdentity(*options.ca, options.hosts);
  if (!id) return id.status();
  o->ctx_ = std::move(id->ctx);
  o->leaves_ = std::move(id->leaves);
  OriginServer::Options http;
  http.bind_address = options.bind_address;
  http.wrap = [raw = o.get()](UniqueFd fd) { return raw->wrap(std::move(fd)); };
  auto server = OriginServer::start(std::move(http));
  if (!server) return server.status();
  o->http_ = std::move(server.value());
  return o;
}

HttpsOrigin::~HttpsOrigin() {
  if (http_) http_->stop();
}

size_t HttpsOrigin::handshakesResumed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handshakes_resumed_;
}

size_t HttpsOrigin::handshakesFailed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handshake_failures_;
}

std::string HttpsOrigin::lastSpecialHead() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_special_head_;
}

std::unique_ptr<Stream> HttpsOrigin::wrap(UniqueFd fd) {
  auto conn = TlsConn::accept(std::move(fd), *ctx_, leaves_);
  if (!conn) {
    std::lock_guard<std::mutex> lock(mu_);
    ++handshake_failures_;
    return nullptr;
  }
  TlsConn& c = **conn;
  if (c.sessionReused()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++handshakes_resumed_;
  }
  // The first head decides whether this is a special connection.
  std::string buf;
  char tmp[16384];
  while (buf.find("\r\n\r\n") == std::string::npos) {
    auto n = c.read(tmp, sizeof tmp, kOriginIdle);
    if (!n || *n == 0) return nullptr;
    buf.append(tmp, *n);
    if (buf.size() > 64 * 1024) return nullptr;
  }
  const std::string head = buf.substr(0, buf.find("\r\n\r\n") + 4);
  const std::string target = requestTarget(head);
  const std::string path = target.substr(0, target.find('?'));
  const bool special = path == "/echo-auth" || path == "/echo-body" || path == "/ws" ||
                       path.rfind("/reset/", 0) == 0;
  if (!special) return std::make_unique<TlsOriginStream>(std::move(conn.value()), std::move(buf));
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_special_head_ = head;
  }
  if (path == "/echo-auth") {
    const std::string body = "echoed\n";
    c.writeAll("HTTP/1.1 200 OK\r\nX-Echo-Authorization: " + headerValue(head, "authorization") +
               "\r\nX-Echo-Api-Key: " + headerValue(head, "x-api-key") + "\r\nX-Echo-Target: " +
               target + "\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n" + body);
    c.shutdownWrite();
  } else if (path == "/echo-body") {
    echoBody(c, head, target);
  } else if (path == "/ws") {
    if (lower(headerValue(head, "upgrade")) != "websocket") {
      c.writeAll("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      c.shutdownWrite();
      return nullptr;
    }
    // The accept key is not checked by the proxy; a fixed one keeps the
    // origin free of SHA-1 code.
    if (!c.writeAll(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")) {
      return nullptr;
    }
    std::string rest = buf.substr(head.size());
    if (!rest.empty() && !c.writeAll(rest)) return nullptr;
    while (true) {
      auto n = c.read(tmp, sizeof tmp, kOriginIdle);
      if (!n || *n == 0) break;
      if (!c.writeAll(std::string_view(tmp, *n))) return nullptr;
    }
    c.shutdownWrite();
  } else {
    uint64_t n = 0;
    std::string_view digits = std::string_view(path).substr(7);
    std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (c.writeAll("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(2 * n) + "\r\n\r\n") &&
        c.writeAll(patternBytes(0, static_cast<size_t>(n)))) {
      c.resetConnection();
    }
  }
  return nullptr;
}

namespace {

std::string queryValue(const std::string& target, std::string_view key) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const std::string_view pair = rest.substr(0, rest.find('&'));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    if (pair.substr(0, pair.find('=')) == key && pair.find('=') != std::string_view::npos)
      return std::string(pair.substr(pair.find('=') + 1));
  }
  return {};
}

std::string percentEncodeAll(std::string_view in, bool lower_hex) {
  const char* hex = lower_hex ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  for (char ch : in) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 15]);
    }
  }
  return out;
}

}  // namespace

void HttpsOrigin::echoBody(TlsConn& c, const std::string& head, const std::string& target) {
  const std::string form = queryValue(target, "form");
  const std::string frame = queryValue(target, "frame");
  const size_t piece =
      std::max<size_t>(1, std::strtoul(queryValue(target, "piece").c_str(), nullptr, 10));
  const std::string pad(std::strtoul(queryValue(target, "pad").c_str(), nullptr, 10), 'x');
  std::string body;
  if (form == "json" || form == "json-slash") {
    body = nlohmann::json{{"head", head}}.dump();
    if (form == "json-slash") {
      std::string slashed;
      for (char ch : body) slashed += ch == '/' ? std::string("\\/") : std::string(1, ch);
      body = slashed;
    }
  } else if (form == "base64" || form == "base64url") {
    body = base64(pad + head);
    if (form == "base64url") {
      for (char& ch : body) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    }
  } else if (form == "pct" || form == "pctl") {
    body = percentEncodeAll(head, form == "pctl");
  } else {
    body = head;
  }
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
  if (!queryValue(target, "encoding").empty())
    out += "Content-Encoding: " + queryValue(target, "encoding") + "\r\n";
  if (frame == "chunked") {
    out += "Transfer-Encoding: chunked\r\n\r\n";
  } else if (frame == "close") {
    out += "Connection: close\r\n\r\n";
  } else {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  }
  if (!c.writeAll(out)) return;
  // The body in pieces of `piece` bytes, each its own TLS record (and chunk),
  // so that a secret straddles the proxy's reads.
  for (size_t i = 0; i < body.size(); i += piece) {
    const std::string_view part = std::string_view(body).substr(i, piece);
    std::string wire;
    if (frame == "chunked") {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", part.size());
      wire = std::string(size) + std::string(part) + "\r\n";
    } else {
      wire = std::string(part);
    }
    if (!c.writeAll(wire)) return;
  }
  if (frame == "chunked" && !c.writeAll("0\r\n\r\n")) return;
  c.shutdownWrite();
}

// ---------------------------------------------------------- HttpsClient

StatusOr<HttpsClient> HttpsClient::open(const Options& options, milliseconds timeout) {
  HttpsClient c;
  c.authority_ = options.host + ":" + std::to_string(options.port);
  tls::ClientContextOptions ctx_options;
  ctx_options.system_trust_file.clear();
  ctx_options.extra_ca_file = options.ca_file;
  auto ctx = tls::ClientContext::create(ctx_options);
  if (!ctx) return ctx.status();
  c.ctx_ = std::make_unique<tls::ClientContext>(std::move(ctx.value()));
  auto tunnel = openTunnel(options.proxy_port, c.authority_, "", timeout);
  if (!tunnel) return tunnel.status();
  if (!tunnel->established()) {
    return Status::error("CONNECT " + c.authority_ + " answered " +
                         std::to_string(tunnel->response.status) + ": " + tunnel->response.body);
  }
  UniqueFd fd(::dup(tunnel->client.fd()));
  if (!fd.valid()) return Status::error(std::string("dup: ") + std::strerror(errno));
  auto conn = TlsConn::connect(std::move(fd), *c.ctx_, options.host, options.sni, timeout);
  if (!conn) return conn.status();
  c.conn_ = std::move(conn.value());
  return c;
}

std::string HttpsClient::request(std::string_view method, std::string_view target,
                                 std::string_view extra) const {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: " + authority_ +
         "\r\n" + std::string(extra) + "\r\n";
}

Status HttpsClient::fill(Clock::time_point deadline) {
  char tmp[65536];
  auto n = conn_->read(tmp, sizeof tmp, milliseconds(std::max(1, remainingMs(deadline))));
  if (!n) return n.status();
  if (*n == 0) return Status::error("connection closed");
  buf_.append(tmp, *n);
  return Status::ok();
}

StatusOr<HttpResponse> HttpsClient::readHead(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (Status st = fill(deadline); !st)
      return Status::error("reading a response head: " + st.message());
  }
  HttpResponse r;
  r.head = buf_.substr(0, end + 4);
  buf_.erase(0, end + 4);
  std::string_view v = r.head;
  size_t eol = v.find("\r\n");
  std::string_view line = v.substr(0, eol);
  size_t s1 = line.find(' ');
  if (s1 == std::string_view::npos) return Status::error("bad status line");
  std::string_view rest = line.substr(s1 + 1);
  std::from_chars(rest.data(), rest.data() + rest.size(), r.status);
  size_t s2 = rest.find(' ');
  if (s2 != std::string_view::npos) r.reason = std::string(rest.substr(s2 + 1));
  forEachHeader(r.head, [&](std::string_view name, std::string_view value) {
    r.headers.emplace_back(std::string(name), std::string(value));
  });
  auto te = r.header("transfer-encoding");
  r.chunked = te && lower(*te).find("chunked") != std::string::npos;
  return r;
}

StatusOr<uint64_t> HttpsClient::readBody(const HttpResponse& head,
                                         const std::function<void(std::string_view)>& sink,
                                         milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (head.status / 100 == 1 || head.status == 204 || head.status == 304) return uint64_t{0};
  auto exactly = [&](uint64_t n) -> Status {
    while (n > 0) {
      if (buf_.empty()) {
        if (Status st = fill(deadline); !st) return st;
      }
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, buf_.size()));
      sink(std::string_view(buf_.data(), k));
      buf_.erase(0, k);
      n -= k;
    }
    return Status::ok();
  };
  auto line = [&]() -> StatusOr<std::string> {
    size_t e;
    while ((e = buf_.find("\r\n")) == std::string::npos) {
      if (Status st = fill(deadline); !st) return st;
    }
    std::string out = buf_.substr(0, e);
    buf_.erase(0, e + 2);
    return out;
  };
  if (head.chunked) {
    uint64_t total = 0;
    while (true) {
      auto size_line = line();
      if (!size_line) return size_line.status();
      uint64_t size = 0;
      std::from_chars(size_line->data(), size_line->data() + size_line->size(), size, 16);
      if (size == 0) break;
      if (Status st = exactly(size); !st) return st;
      total += size;
      auto crlf = line();
      if (!crlf) return crlf.status();
    }
    while (true) {
      auto trailer = line();
      if (!trailer) return trailer.status();
      if (trailer->empty()) return total;
    }
  }
  auto cl = head.header("content-length");
  if (!cl && lower(head.header("connection").value_or("")) == "close") {
    // Delimited by the end of the connection.
    uint64_t total = 0;
    while (true) {
      total += buf_.size();
      sink(buf_);
      buf_.clear();
      char tmp[65536];
      auto n = conn_->read(tmp, sizeof tmp, milliseconds(std::max(1, remainingMs(deadline))));
      if (!n) return n.status();
      if (*n == 0) return total;
      buf_.append(tmp, *n);
    }
  }
  if (!cl) return Status::error("response without Content-Length or chunked framing");
  uint64_t n = 0;
  std::from_chars(cl->data(), cl->data() + cl->size(), n);
  if (Status st = exactly(n); !st) return Status::error("body ended early: " + st.message());
  return n;
}

StatusOr<HttpResponse> HttpsClient::readResponse(milliseconds timeout) {
  auto head = readHead(timeout);
  if (!head) return head.status();
  auto n = readBody(
      *head, [&](std::string_view piece) { head->body.append(piece); }, timeout);
  if (!n) return n.status();
  return head;
}

StatusOr<std::string> HttpsClient::readSome(size_t n, milliseconds timeout) {
  if (buf_.empty()) {
    if (Status st = fill(Clock::now() + timeout); !st) return st;
  }
  size_t k = std::min(n, buf_.size());
  std::string out = buf_.substr(0, k);
  buf_.erase(0, k);
  return out;
}

}  // namespace kitgate::testing
