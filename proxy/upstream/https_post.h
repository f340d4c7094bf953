// postHttps: one blocking HTTPS POST that the proxy itself sends — its own
// OAuth refreshes (proxy/secrets/oauth_refresher.h). Never on a worker: the
// refresher thread calls it.
//
// The same rules as an upstream leg of a sandbox request:
//   the sandbox's policy decides the name (and port), then its addresses
//   (static names from the snapshot, else getaddrinfo — on a helper thread,
//   bounded by `timeout`: a resolver that never answers fails the POST with
//   "DNS timeout" and the helper finishes on its own; at most
//   kMaxPendingLookups such helpers at once, then a lookup fails at once),
//   the proxy's own
//   endpoints always refused -> TCP connect (each allowed address in order,
//   each bounded by `timeout`) -> TLS with the verifying upstream context
//   (system trust + upstream_ca_file), SNI and certificate name = host ->
//   `POST path HTTP/1.1`, `Connection: close` -> the response head (strict
//   parser) and body (Content-Length, chunked or until close), at most
//   `max_body` bytes; the whole exchange after connect bounded by `timeout`.
//
// Errors name the step and the host, never the body sent (it holds a
// refresh token). Thread: any (blocking).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/policy/address_class.h"
#include "proxy/policy/policy.h"
#include "proxy/tls/contexts.h"
#include "proxy/tunnel/resolver.h"

namespace kitgate::upstream {

struct HttpsPost {
  std::string host;
  uint16_t port = 443;
  std::string path;
  std::string content_type;
  std::string body;
};

struct HttpsAnswer {
  int status = 0;
  std::string body;
};

// A blocking name -> addresses lookup (getaddrinfo; tests replace it).
using NameLookup = std::function<StatusOr<std::vector<policy::IpAddress>>(const std::string& host)>;
StatusOr<std::vector<policy::IpAddress>> getaddrinfoLookup(const std::string& host);
inline constexpr int kMaxPendingLookups = 8;

struct HttpsPostSettings {
  const policy::Policy* policy = nullptr;         // the sandbox's
  const policy::SelfAddresses* self = nullptr;    // may be null
  const tunnel::HostMap* static_hosts = nullptr;  // may be null
  const tls::ClientContext* tls = nullptr;        // verifying
  std::chrono::milliseconds timeout{10'000};      // the lookup, each connect, the exchange
  NameLookup lookup = getaddrinfoLookup;          // runs on a helper thread
  size_t max_body = 64 * 1024;
};

StatusOr<HttpsAnswer> postHttps(const HttpsPost& post, const HttpsPostSettings& settings);

}  // namespace kitgate::upstream
