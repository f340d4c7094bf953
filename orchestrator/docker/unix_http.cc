#include "orchestrator/docker/unix_http.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace kitgate::docker {
namespace {

// Error bodies are read for their message only; bound what we keep.
constexpr size_t kMaxCollectedErrorBody = 64 * 1024;
constexpr long kConnectTimeoutMs = 10'000;
constexpr size_t kMaxHijackHead = 64 * 1024;
constexpr int kHijackHeadTimeoutMs = 30'000;

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct FileCloser {
  void operator()(FILE* f) const {
    if (f) std::fclose(f);
  }
};

// State shared with curl's C callbacks for one transfer. Callbacks never
// throw: a throwing sink is caught and turns into an aborted transfer.
struct Transfer {
  CURL* curl = nullptr;
  const BodySink* sink = nullptr;
  HttpResponse* response = nullptr;
  FILE* body_file = nullptr;
  bool sink_stopped = false;
  std::string sink_error;
};

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->sink && *t->sink && status >= 200 && status < 300) {
    try {
      if (!(*t->sink)(std::string_view(data, n))) {
        t->sink_stopped = true;
        return 0;  // makes curl fail with CURLE_WRITE_ERROR
      }
    } catch (const std::exception& e) {
      t->sink_stopped = true;
      t->sink_error = e.what();
      return 0;
    } catch (...) {
      t->sink_stopped = true;
      t->sink_error = "unknown exception";
      return 0;
    }
    return n;
  }
  std::string& body = t->response->body;
  if (body.size() < kMaxCollectedErrorBody || (status >= 200 && status < 300)) {
    body.append(data, n);
  }
  return n;
}

size_t onReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t got = std::fread(buffer, 1, size * count, t->body_file);
  if (got == 0 && std::ferror(t->body_file)) return CURL_READFUNC_ABORT;
  return got;
}

}  // namespace

struct UnixHttp::Curl {
  CURL* handle = nullptr;
  ~Curl() {
    if (handle) curl_easy_cleanup(handle);
  }
};

UnixHttp::UnixHttp(std::string socket_path)
    : socket_path_(std::move(socket_path)), curl_(std::make_unique<Curl>()) {
  globalInit();
  curl_->handle = curl_easy_init();
}

UnixHttp::~UnixHttp() = default;

Status UnixHttp::unreachable(std::string_view detail) const {
  return Status::error("cannot reach the Docker daemon at unix://" + socket_path_ + ": " +
                       std::string(detail) + ". Is dockerd running?");
}

StatusOr<HttpResponse> UnixHttp::send(const HttpRequest& request, const BodySink& sink) {
  CURL* c = curl_->handle;
  if (c == nullptr) return Status::error("libcurl could not be initialised");
  curl_easy_reset(c);

  HttpResponse response;
  Transfer transfer{c, &sink, &response};
  std::unique_ptr<FILE, FileCloser> file;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  const std::string url = "http://localhost" + request.target;
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  if (request.timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(request.timeout.count()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);

  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  std::string content_type_header;
  if (!request.content_type.empty()) {
    content_type_header = "Content-Type: " + request.content_type;
    headers = curl_slist_append(headers, content_type_header.c_str());
  }
  for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    if (!request.body_file.empty()) {
      file.reset(std::fopen(request.body_file.c_str(), "rb"));
      if (!file) {
        curl_slist_free_all(headers);
        return Status::error("cannot open " + request.body_file + ": " + std::strerror(errno));
      }
      std::fseek(file.get(), 0, SEEK_END);
      const long size = std::ftell(file.get());
      std::fseek(file.get(), 0, SEEK_SET);
      transfer.body_file = file.get();
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, &onReadBody);
      curl_easy_setopt(c, CURLOPT_READDATA, &transfer);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(size));
    } else {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);

  if (rc != CURLE_OK) {
    if (transfer.sink_stopped) {
      return Status::error("reading from the Docker daemon stopped" +
                           (transfer.sink_error.empty() ? std::string() : ": " + transfer.sink_error));
    }
    const std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
      // curl's own text names "localhost port 80"; say what happened to the socket.
      struct stat st {};
      if (::stat(socket_path_.c_str(), &st) != 0) return unreachable("the socket does not exist");
      if (!S_ISSOCK(st.st_mode)) return unreachable("that path is not a socket");
      if (::access(socket_path_.c_str(), R_OK | W_OK) != 0) {
        return unreachable("permission denied (run as root or join the docker group)");
      }
      return unreachable("nothing accepts connections on the socket");
    }
    return Status::error("talking to the Docker daemon at unix://" + socket_path_ + " failed: " + detail);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* content_type = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type) {
    response.content_type = content_type;
  }
  return response;
}

StatusOr<HijackedConnection> UnixHttp::hijack(const HttpRequest& request) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(addr.sun_path)) {
    return Status::error("Docker socket path is too long: " + socket_path_);
  }
  std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::error(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return unreachable(std::strerror(errno));
  }

  std::string head = request.method + " " + request.target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!request.content_type.empty()) head += "Content-Type: " + request.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  head += "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
  head += request.body;
  for (size_t sent = 0; sent < head.size();) {
    const ssize_t n = ::send(fd.get(), head.data() + sent, head.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return unreachable(std::string("sending the attach request: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }

  std::string in;
  size_t end = std::string::npos;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    if (in.size() > kMaxHijackHead) return Status::error("the Docker daemon's attach answer is too long");
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, kHijackHeadTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return Status::error("the Docker daemon did not answer the attach request");
    char buf[4096];
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::error("the Docker daemon closed the attach connection");
    in.append(buf, static_cast<size_t>(n));
  }

  HijackedConnection out;
  // "HTTP/1.1 101 UPGRADED"
  const size_t space = in.find(' ');
  if (space == std::string::npos || in.compare(0, 5, "HTTP/") != 0) {
    return Status::error("the Docker daemon's attach answer is not HTTP");
  }
  out.status = std::strtol(in.c_str() + space + 1, nullptr, 10);
  out.pending = in.substr(end + 4);  // output already, or an error body
  out.fd = std::move(fd);
  return out;
}

}  // namespace kitgate::docker
