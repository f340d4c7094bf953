#include "proxy/upstream/https_post.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "proxy/common/unique_fd.h"
#include "proxy/http/chunked.h"
#include "proxy/http/response.h"
#include "proxy/policy/host.h"
#include "proxy/tls/tls_stream.h"

namespace kitgate::upstream {

namespace {

using SteadyClock = std::chrono::steady_clock;

int msLeft(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout.
bool waitFor(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, msLeft(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Runs `lookup` on a detached helper thread and waits at most `timeout`
// for it: getaddrinfo has no timeout of its own, and a resolver that never
// answers must not hold the caller (the refresher thread, and every other
// sandbox's refresh behind it) any longer than a connect would.
StatusOr<std::vector<policy::IpAddress>> lookupWithin(const NameLookup& lookup,
                                                      const std::string& host,
                                                      std::chrono::milliseconds timeout) {
  static std::atomic<int> pending{0};  // helpers still running (answered or not)
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<StatusOr<std::vector<policy::IpAddress>>> result;
  };
  if (pending.fetch_add(1) >= kMaxPendingLookups) {
    pending.fetch_sub(1);
    return Status::error("DNS timeout: " + host + ": " + std::to_string(kMaxPendingLookups) +
                         " earlier lookups are still unanswered");
  }
  auto shared = std::make_shared<Shared>();
  try {
    std::thread([shared, lookup, host] {
      auto r = lookup(host);
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->result.emplace(std::move(r));
      }
      shared->cv.notify_all();
      pending.fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    pending.fetch_sub(1);
    return Status::error("cannot start a DNS lookup for " + host + ": " + e.what());
  }
  std::unique_lock<std::mutex> lock(shared->mu);
  if (!shared->cv.wait_for(lock, timeout, [&] { return shared->result.has_value(); })) {
    return Status::error("DNS timeout: no answer for " + host + " within " +
                         std::to_string(timeout.count()) + " ms");
  }
  return std::move(*shared->result);
}

StatusOr<std::vector<policy::IpAddress>> resolve(const policy::Host& host,
                                                 const HttpsPostSettings& s) {
  if (host.isIp()) return std::vector<policy::IpAddress>{host.ip};
  if (s.static_hosts != nullptr) {
    if (auto it = s.static_hosts->find(host.text); it != s.static_hosts->end()) return it->second;
  }
  if (!s.lookup) return Status::error("cannot resolve " + host.text + ": no resolver");
  return lookupWithin(s.lookup, host.text, s.timeout);
}

StatusOr<UniqueFd> connectTo(const std::vector<policy::IpAddress>& addresses, uint16_t port,
                             std::chrono::milliseconds timeout) {
  std::string last = "no address";
  for (const policy::IpAddress& ip : addresses) {
    sockaddr_storage ss{};
    const socklen_t len = ip.toSockaddr(port, &ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return Status::error(std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const auto deadline = SteadyClock::now() + timeout;
    int err = 0;
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        if (!waitFor(fd.get(), POLLOUT, deadline)) {
          err = ETIMEDOUT;
        } else {
          socklen_t l = sizeof err;
          if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &l) != 0) err = errno;
        }
      }
    }
    if (err == 0) return fd;
    last = ip.toString() + ": " + std::strerror(err);
  }
  return Status::error("cannot connect to " + last);
}

// Drives one TLS call to completion (poll on what it wants) until the deadline.
template <typename Call>
tls::IoResult drive(tls::TlsStream& s, SteadyClock::time_point deadline, Call call) {
  for (;;) {
    tls::IoResult r = call();
    if (r.status != tls::IoStatus::kWantRead && r.status != tls::IoStatus::kWantWrite) return r;
    if (!waitFor(s.fd(), r.status == tls::IoStatus::kWantRead ? POLLIN : POLLOUT, deadline)) {
      tls::IoResult t;
      t.status = tls::IoStatus::kError;
      t.error = "timed out";
      return t;
    }
  }
}

// The body after the head, by its framing; nullopt: not complete yet.
// `error` set: malformed or too large.
std::optional<std::string> bodyOf(const http::ResponseHead& head, std::string_view rest, bool eof,
                                  size_t max_body, std::string* error) {
  switch (head.framing) {
    case http::BodyFraming::kNone:
    case http::BodyFraming::kTunnel:
      return std::string();
    case http::BodyFraming::kContentLength:
      if (head.content_length > max_body) {
        *error = "the answer is larger than " + std::to_string(max_body) + " bytes";
        return std::nullopt;
      }
      if (rest.size() >= head.content_length)
        return std::string(rest.substr(0, head.content_length));
      if (eof) *error = "the answer was cut short";
      return std::nullopt;
    case http::BodyFraming::kChunked: {
      http::ChunkedDecoder dec;
      std::string body;
      for (;;) {
        size_t used = 0;
        std::string_view data;
        const http::DecodeResult r = dec.decode(rest, &used, &data);
        rest.remove_prefix(used);
        if (r == http::DecodeResult::kData) {
          body.append(data);
          continue;
        }
        if (r == http::DecodeResult::kDone) return body;
        if (r == http::DecodeResult::kError) {
          *error = "bad chunked framing: " + std::string(dec.error());
        } else if (eof) {
          *error = "the answer was cut short";
        }
        return std::nullopt;
      }
    }
    case http::BodyFraming::kUntilClose:
      if (eof) return std::string(rest);
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

StatusOr<std::vector<policy::IpAddress>> getaddrinfoLookup(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return Status::error("cannot resolve " + host + ": " + gai_strerror(rc));
  std::vector<policy::IpAddress> out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    auto ip = policy::IpAddress::fromSockaddr(a->ai_addr, a->ai_addrlen);
    if (ip && std::find(out.begin(), out.end(), *ip) == out.end()) out.push_back(*ip);
  }
  ::freeaddrinfo(res);
  if (out.empty()) return Status::error("cannot resolve " + host + ": no address");
  return out;
}

StatusOr<HttpsAnswer> postHttps(const HttpsPost& post, const HttpsPostSettings& s) {
  auto host = policy::normalizeHost(post.host, policy::Ipv6Brackets::kOptional);
  if (!host) return Status::error("bad host " + post.host + ": " + host.status().message());
  const std::string where = host->authority() + ":" + std::to_string(post.port);
  if (s.policy == nullptr || s.tls == nullptr) return Status::error(where + ": not configured");
  const policy::Decision decision = s.policy->evaluate(*host, post.port);
  if (decision.denied()) return Status::error(where + ": denied by policy: " + decision.reason);
  auto addresses = resolve(*host, s);
  if (!addresses) return addresses.status();
  static const policy::SelfAddresses kNoSelf;
  const policy::AddressDecision ad =
      s.policy->decideAddresses(decision, *addresses, post.port, s.self ? *s.self : kNoSelf);
  if (ad.decision.denied()) return Status::error(where + ": " + ad.decision.reason);
  auto fd = connectTo(ad.allowed, post.port, s.timeout);
  if (!fd) return Status::error(where + ": " + fd.status().message());

  const auto deadline = SteadyClock::now() + s.timeout;
  auto tls = tls::TlsStream::connect(fd->get(), *s.tls, host->text);
  if (!tls) return Status::error(where + ": TLS setup: " + tls.status().message());
  tls::TlsStream& t = **tls;
  tls::IoResult r = drive(t, deadline, [&] { return t.handshake(); });
  if (!r.ok()) return Status::error(where + ": TLS handshake: " + r.error);

  const std::string authority =
      post.port == 443 ? host->authority() : host->authority() + ":" + std::to_string(post.port);
  const std::string request =
      "POST " + post.path + " HTTP/1.1\r\nHost: " + authority +
      "\r\nContent-Type: " + post.content_type +
      "\r\nAccept: application/json\r\nContent-Length: " + std::to_string(post.body.size()) +
      "\r\nConnection: close\r\nUser-Agent: kitgate-proxy\r\n\r\n" + post.body;
  for (size_t off = 0; off < request.size();) {
    r = drive(t, deadline, [&] { return t.write(request.data() + off, request.size() - off); });
    if (!r.ok()) return Status::error(where + ": sending the request: " + r.error);
    off += r.bytes;
  }

  const http::HeadLimits limits;
  std::string buf;
  char chunk[16384];
  bool eof = false;
  for (;;) {
    http::ResponseHead head;
    size_t consumed = 0;
    const http::ParseStatus ps = parseResponseHead(buf, limits, "POST", &head, &consumed);
    if (ps.isError())
      return Status::error(where + ": bad response head: " + std::string(ps.reason()));
    if (ps.isComplete() && head.isInterim()) {
      buf.erase(0, consumed);
      continue;
    }
    if (ps.isComplete()) {
      std::string error;
      auto body = bodyOf(head, std::string_view(buf).substr(consumed), eof, s.max_body, &error);
      if (body) {
        if (body->size() > s.max_body)
          return Status::error(where + ": the answer is larger than " + std::to_string(s.max_body) +
                               " bytes");
        return HttpsAnswer{head.status, std::move(*body)};
      }
      if (!error.empty()) return Status::error(where + ": " + error);
      if (buf.size() - consumed > s.max_body + 64 * 1024)  // chunk framing included
        return Status::error(where + ": the answer is larger than " + std::to_string(s.max_body) +
                             " bytes");
    } else if (eof) {
      return Status::error(where + ": the connection closed before a response");
    }
    if (eof) return Status::error(where + ": the answer was cut short");
    r = drive(t, deadline, [&] { return t.read(chunk, sizeof chunk); });
    if (r.status == tls::IoStatus::kClosed || r.status == tls::IoStatus::kTruncated) {
      eof = true;
    } else if (!r.ok()) {
      return Status::error(where + ": reading the response: " + r.error);
    } else {
      buf.append(chunk, r.bytes);
    }
  }
}

}  // namespace kitgate::upstream
