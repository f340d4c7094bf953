#include "tests/support/oauth_origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/https_origin.h"

namespace kitgate::testing {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string headerValue(const std::string& head, const std::string& name) {
  const std::string l = lower(head);
  const size_t at = l.find("\r\n" + lower(name) + ":");
  if (at == std::string::npos) return "";
  size_t start = at + 3 + name.size();
  while (start < head.size() && head[start] == ' ') ++start;
  return head.substr(start, head.find("\r\n", start) - start);
}

// The value of `key` in a form or JSON body.
std::string param(const std::string& type, const std::string& body, const std::string& key) {
  if (type.find("json") != std::string::npos) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
    return "";
  }
  const std::string k = key + "=";
  for (size_t pos = 0; pos <= body.size();) {
    size_t amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    if (body.compare(pos, k.size(), k) == 0)
      return body.substr(pos + k.size(), amp - pos - k.size());
    pos = amp + 1;
  }
  return "";
}

}  // namespace

StatusOr<std::unique_ptr<OAuthOrigin>> OAuthOrigin::start(const Options& options) {
  std::unique_ptr<OAuthOrigin> o(new OAuthOrigin);
  o->opts_ = options;
  o->expires_in_ = options.expires_in;
  auto id = makeServerIdentity(*options.ca, options.hosts);
  if (!id) return id.status();
  o->ctx_ = std::move(id->ctx);
  o->leaves_ = std::move(id->leaves);
  o->listen_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(o->listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(o->listen_.get(), 128) != 0 ||
      ::getsockname(o->listen_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return Status::error("OAuthOrigin: cannot listen");
  o->port_ = ntohs(a.sin_port);
  o->acceptor_ = std::thread([raw = o.get()] { raw->acceptLoop(); });
  return o;
}

OAuthOrigin::~OAuthOrigin() {
  stopping_ = true;
  ::shutdown(listen_.get(), SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> conns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    conns.swap(conns_);
  }
  for (auto& t : conns) t.join();
}

void OAuthOrigin::acceptLoop() {
  while (!stopping_) {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_ || errno == EINVAL) return;
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    conn_fds_.push_back(fd);
    conns_.emplace_back([this, fd] { serve(UniqueFd(fd)); });
  }
}

void OAuthOrigin::serve(UniqueFd fd) {
  auto conn = TlsConn::accept(std::move(fd), *ctx_, leaves_);
  if (!conn) return;
  std::string buf;
  char chunk[16384];
  auto fill = [&]() {
    auto n = (*conn)->read(chunk, sizeof chunk, 30s);
    if (!n || *n == 0) return false;
    buf.append(chunk, *n);
    return true;
  };
  for (;;) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return;
    }
    const std::string head = buf.substr(0, end + 2);
    buf.erase(0, end + 4);
    std::string body;
    if (lower(headerValue(head, "transfer-encoding")).find("chunked") != std::string::npos) {
      for (;;) {
        size_t eol;
        while ((eol = buf.find("\r\n")) == std::string::npos) {
          if (!fill()) return;
        }
        const size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
        while (buf.size() < eol + 2 + size + 2) {
          if (!fill()) return;
        }
        body.append(buf, eol + 2, size);
        buf.erase(0, eol + 2 + size + 2);
        if (size == 0) break;
      }
    } else {
      const std::string cl = headerValue(head, "content-length");
      const size_t want = cl.empty() ? 0 : std::stoul(cl);
      while (buf.size() < want) {
        if (!fill()) return;
      }
      body = buf.substr(0, want);
      buf.erase(0, want);
    }
    const size_t sp1 = head.find(' ');
    const size_t sp2 = head.find(' ', sp1 + 1);
    const std::string method = head.substr(0, sp1);
    const std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string type_in = headerValue(head, "content-type");
    if (method == "POST" && target == opts_.token_path) {
      std::lock_guard<std::mutex> lock(mu_);
      token_framings_.push_back({headerValue(head, "content-length"),
                                 headerValue(head, "transfer-encoding"),
                                 headerValue(head, "expect"), body.size()});
    }
    if (method == "POST" && target == opts_.token_path &&
        param(type_in, body, "grant_type") == "refresh_token") {
      ++refresh_attempts_;
      last_refresh_at_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
      const int64_t delay = refresh_delay_ms_.load();
      if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      if (refresh_answer_ == RefreshAnswer::kDrop) {
        std::lock_guard<std::mutex> lock(mu_);
        token_bodies_.push_back(body);
        return;  // closed without an answer
      }
    }
    auto [status, type, extra, out] =
        handle(method, target, headerValue(head, "authorization"), type_in, body);
    std::string resp = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type +
                       "\r\nContent-Length: " + std::to_string(out.size()) + "\r\n" + extra +
                       "\r\n" + out;
    if (!(*conn)->writeAll(resp)) return;
  }
}

std::tuple<int, std::string, std::string, std::string> OAuthOrigin::handle(
    const std::string& method, const std::string& target, const std::string& auth,
    const std::string& type, const std::string& body) {
  const std::string json = "application/json";
  std::lock_guard<std::mutex> lock(mu_);
  if (method == "POST" && target == opts_.token_path) {
    token_bodies_.push_back(body);
    const std::string grant = param(type, body, "grant_type");
    if (grant == "refresh_token") {
      if (refresh_answer_ == RefreshAnswer::kServerError)
        return {500, json, "", R"({"error":"server_error"})"};
      if (refresh_answer_ == RefreshAnswer::kNotJson)
        return {200, "text/html", "", "<html>maintenance</html>"};
      if (refresh_answer_ == RefreshAnswer::kBadRequest ||
          param(type, body, "refresh_token") != refresh_ || refresh_.empty())
        return {400, json, "", R"({"error":"invalid_grant"})"};
      if (!required_client_id_.empty() && param(type, body, "client_id") != required_client_id_)
        return {400, json, "", R"({"error":"invalid_client"})"};
      ++refreshes_;
    } else if (grant == "authorization_code") {
      ++logins_;
    } else {
      return {400, json, "", R"({"error":"unsupported_grant_type"})"};
    }
    ++serial_;
    access_ = "REAL-at-" + std::to_string(serial_) + "-f00dfeed";
    refresh_ = "REAL-rt-" + std::to_string(serial_) + "-c0ffee00";
    issued_.push_back(access_);
    issued_.push_back(refresh_);
    access_revoked_ = false;
    access_expires_ = std::chrono::steady_clock::now() + std::chrono::seconds(expires_in_.load());
    nlohmann::json j = {{"token_type", "Bearer"},
                        {"access_token", access_},
                        {"refresh_token", refresh_},
                        {"expires_in", expires_in_.load()},
                        {"scope", "user:inference"}};
    return {200, json, "", j.dump()};
  }
  if (method == "GET" && target == "/v1/me") {
    if (!access_.empty() && auth == "Bearer " + access_ && !access_revoked_ &&
        std::chrono::steady_clock::now() < access_expires_) {
      ++authorized_;
      return {200, json, "X-Echo-Authorization: " + auth + "\r\n",
              nlohmann::json{{"you_sent", auth}}.dump()};
    }
    ++unauthorized_;
    return {401, json, "", R"({"error":"invalid_token"})"};
  }
  return {404, "text/plain", "", "no such route\n"};
}

std::string OAuthOrigin::currentAccess() const {
  std::lock_guard<std::mutex> lock(mu_);
  return access_;
}
std::string OAuthOrigin::currentRefresh() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refresh_;
}
std::vector<std::string> OAuthOrigin::issued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return issued_;
}
std::vector<std::string> OAuthOrigin::tokenRequestBodies() const {
  std::lock_guard<std::mutex> lock(mu_);
  return token_bodies_;
}

std::vector<OAuthOrigin::Framing> OAuthOrigin::tokenRequestFramings() const {
  std::lock_guard<std::mutex> lock(mu_);
  return token_framings_;
}

}  // namespace kitgate::testing
