// UnixHttp: HTTP/1.1 requests to a server on a unix socket (the Docker
// daemon), over libcurl, keeping one connection alive between requests.
// Also opens raw "Upgrade: tcp" (hijacked) connections for attach.
//
// Threads: one UnixHttp per thread at a time. The body sink runs on the
// calling thread during send(). Owns its curl handle.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::docker {

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, DELETE, HEAD
  std::string target;          // path and query: "/v1.41/containers/json?all=1"
  std::string content_type;    // sent when non-empty
  // Extra "Name: value" header lines (X-Registry-Auth: never logged).
  std::vector<std::string> headers;
  std::string body;            // ignored when body_file is set
  std::string body_file;       // stream this file as the body (large tarballs)
  // 0 = no limit (wait, streams); the connect phase always has its own limit.
  std::chrono::seconds timeout{0};
};

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;  // empty when a sink consumed it
};

// Receives the response body of a 2xx answer piece by piece; return false
// to stop the transfer (send() then fails).
using BodySink = std::function<bool(std::string_view)>;

// The HTTP answer to an upgrade request and the socket it came on.
struct HijackedConnection {
  long status = 0;
  UniqueFd fd;
  std::string pending;  // bytes read past the answer's head
};

class UnixHttp {
 public:
  explicit UnixHttp(std::string socket_path);
  ~UnixHttp();
  UnixHttp(const UnixHttp&) = delete;
  UnixHttp& operator=(const UnixHttp&) = delete;

  const std::string& socketPath() const { return socket_path_; }

  // Sends the request and returns the answer. A transport failure (no
  // daemon, connection dropped) is an error naming the socket; any HTTP
  // status is a value. With `sink`, a 2xx body streams into it; a non-2xx
  // body is always collected (bounded) for the error text.
  StatusOr<HttpResponse> send(const HttpRequest& request, const BodySink& sink = nullptr);

  // Sends `request` (no body file) with "Connection: Upgrade, Upgrade: tcp"
  // on a new connection and returns it once the answer's head is read.
  StatusOr<HijackedConnection> hijack(const HttpRequest& request);

 private:
  Status unreachable(std::string_view detail) const;

  std::string socket_path_;
  struct Curl;
  std::unique_ptr<Curl> curl_;
};

}  // namespace kitgate::docker
