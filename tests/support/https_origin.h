// HTTPS test support over the project's own TLS module (kitgate_tls):
//
//  * TlsConn — a blocking TLS connection (client or server side) over a
//    connected socket: every call polls with a deadline and returns a Status
//    instead of hanging. The test client of the interception tests and the
//    server side of HttpsOrigin both use it.
//  * HttpsOrigin — an HTTPS origin on loopback: OriginServer's routes
//    (/small, /bytes/N, /echo-length, /headers, ... see origin_server.h)
//    behind TLS, with a certificate per served name minted at start from a
//    test CA (the SNI picks it). A few connection-level behaviours are chosen
//    by the FIRST request's target on a connection (the connection then ends
//    after them):
//      /echo-auth   200 whose response headers echo the request's
//                   Authorization (X-Echo-Authorization), X-Api-Key
//                   (X-Echo-Api-Key) and request-target (X-Echo-Target) —
//                   a reflecting endpoint
//      /echo-body   the request head echoed as the body, in an encoding
//                   (JSON, base64, percent-encoding ...) and framing the
//                   query picks — an "anything" endpoint (see echoBody)
//      /ws          "Upgrade: websocket" -> 101, then every byte is echoed
//      /reset/N     Content-Length 2N, N pattern bytes, then a TCP reset
//  * HttpsClient — a test client for intercepted connections: CONNECT through
//    the proxy, TLS with the sandbox CA as the only trust anchor, requests
//    and streamed responses.
//
// Threads: HttpsOrigin serves on its own threads (one per connection);
// counters and recorded heads may be read from any thread. TlsConn and
// HttpsClient belong to one thread. Ownership: each owns its socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"
#include "proxy/tls/ca.h"
#include "proxy/tls/contexts.h"
#include "proxy/tls/leaf_cache.h"
#include "proxy/tls/tls_stream.h"
#include "tests/support/origin_server.h"
#include "tests/support/raw_client.h"

namespace kitgate::testing {

class TlsConn {
 public:
  // Server side: handshakes with `leaf`, or with the entry of `leaves` whose
  // host equals the client's SNI (the first one without SNI).
  static StatusOr<std::unique_ptr<TlsConn>> accept(
      UniqueFd fd, const tls::ServerContext& ctx,
      const std::vector<std::shared_ptr<const tls::Leaf>>& leaves,
      std::chrono::milliseconds timeout = 10s);
  // Client side: verifies the server for `verify_host`. `sni` overrides the
  // name sent in the ClientHello (default: verify_host; "" = none).
  // `sessions` (may be null): resume from it and store new sessions in it.
  static StatusOr<std::unique_ptr<TlsConn>> connect(UniqueFd fd, const tls::ClientContext& ctx,
                                                    std::string_view verify_host,
                                                    std::optional<std::string> sni = std::nullopt,
                                                    std::chrono::milliseconds timeout = 10s,
                                                    tls::ClientSessionCache* sessions = nullptr);

  // Up to n bytes; 0 = the peer closed (close_notify or plain EOF). Error on
  // timeout, reset or a TLS failure.
  StatusOr<size_t> read(char* buf, size_t n, std::chrono::milliseconds timeout = 10s);
  Status writeAll(std::string_view data, std::chrono::milliseconds timeout = 10s);
  // close_notify (best effort) then shutdown(SHUT_WR).
  void shutdownWrite();
  // SO_LINGER 0 + close: the peer sees a TCP reset.
  void resetConnection();

  // The peer's certificate (own reference), or null.
  tls::X509Ptr peerCertificate() const;
  // The handshake resumed a session (an abbreviated handshake).
  bool sessionReused() const { return stream_->sessionReused(); }
  int fd() const { return fd_.get(); }

 private:
  explicit TlsConn(UniqueFd fd) : fd_(std::move(fd)) {}
  // Runs op() until it is neither kWantRead nor kWantWrite, polling between.
  tls::IoResult drive(const std::function<tls::IoResult()>& op, std::chrono::milliseconds timeout);

  UniqueFd fd_;  // declared first: destroyed after the stream that uses it
  std::unique_ptr<tls::TlsStream> stream_;
  bool eof_ = false;
};

// Mints a test CA whose name constraints permit `hosts` (plus nothing else).
StatusOr<tls::CertificateAuthority> makeTestCa(
    const std::vector<std::string>& hosts,
    const std::string& common_name = "kitgate test origin CA");

// A server context and one leaf per name in `hosts`, signed by `ca` (not
// checked against its name constraints): what a test HTTPS server presents.
struct ServerIdentity {
  std::unique_ptr<tls::ServerContext> ctx;
  std::vector<std::shared_ptr<const tls::Leaf>> leaves;
};
StatusOr<ServerIdentity> makeServerIdentity(const tls::CertificateAuthority& ca,
                                            const std::vector<std::string>& hosts);

class HttpsOrigin {
 public:
  struct Options {
    // Signs one leaf per name in `hosts` (not checked against its name
    // constraints: tests use that to prove a verifier enforces them).
    const tls::CertificateAuthority* ca = nullptr;
    std::vector<std::string> hosts;
    std::string bind_address = "127.0.0.1";  // OriginServer::Options::bind_address
  };
  static StatusOr<std::unique_ptr<HttpsOrigin>> start(const Options& options);
  ~HttpsOrigin();
  HttpsOrigin(const HttpsOrigin&) = delete;
  HttpsOrigin& operator=(const HttpsOrigin&) = delete;

  uint16_t port() const { return http_->port(); }
  size_t connectionsAccepted() const { return http_->connectionsAccepted(); }
  size_t connectionsOpen() const { return http_->connectionsOpen(); }
  size_t requestsServed() const { return http_->requestsServed(); }
  size_t handshakesFailed() const;
  // Handshakes that resumed a session (tickets: the proxy's upstream leg reconnecting).
  size_t handshakesResumed() const;
  // The head of the most recent request to an OriginServer route.
  std::string lastRequestHead() const { return http_->lastRequestHead(); }
  // The head of the most recent request to a special route (/echo-auth, ...).
  std::string lastSpecialHead() const;
  void closeConnections() { http_->closeConnections(); }
  void stop() { http_->stop(); }

 private:
  HttpsOrigin() = default;
  // OriginServer's wrap hook: TLS handshake, first head, special routes.
  std::unique_ptr<Stream> wrap(UniqueFd fd);

  std::unique_ptr<tls::ServerContext> ctx_;
  std::vector<std::shared_ptr<const tls::Leaf>> leaves_;
  std::unique_ptr<OriginServer> http_;
  mutable std::mutex mu_;
  std::string last_special_head_;
  // /echo-body: the request head as the response body, encoded (form=raw,
  // json, json-slash, base64, base64url, pct, pctl; pad=N bytes before the
  // head for base64), framed (frame=length, chunked, close), written in
  // pieces of piece=N bytes, optionally labelled encoding=NAME.
  void echoBody(TlsConn& c, const std::string& head, const std::string& target);
  size_t handshake_failures_ = 0;
  size_t handshakes_resumed_ = 0;
};

// A test client for one intercepted (or tunnelled) host: CONNECT host:port
// through the proxy, then TLS trusting only `ca_file`.
class HttpsClient {
 public:
  struct Options {
    uint16_t proxy_port = 0;
    std::string host;  // CONNECT host, verified name and (default) SNI
    uint16_t port = 0;
    std::string ca_file;  // PEM trust anchors (the sandbox CA)
    std::optional<std::string> sni;
  };
  static StatusOr<HttpsClient> open(const Options& options,
                                    std::chrono::milliseconds timeout = 10s);
  HttpsClient(HttpsClient&&) = default;
  HttpsClient& operator=(HttpsClient&&) = default;

  Status send(std::string_view bytes, std::chrono::milliseconds timeout = 10s) {
    return conn_->writeAll(bytes, timeout);
  }
  // "GET <target> HTTP/1.1" with Host = host:port plus `extra` header lines.
  std::string request(std::string_view method, std::string_view target,
                      std::string_view extra = "") const;
  // Reads one response head (status line to the blank line).
  StatusOr<HttpResponse> readHead(std::chrono::milliseconds timeout = 10s);
  // Reads a Content-Length (or chunked) body, feeding it to `sink`; returns
  // the number of payload bytes. Error if the stream ends early.
  StatusOr<uint64_t> readBody(const HttpResponse& head,
                              const std::function<void(std::string_view)>& sink,
                              std::chrono::milliseconds timeout = 10s);
  // readHead + readBody into response.body.
  StatusOr<HttpResponse> readResponse(std::chrono::milliseconds timeout = 10s);
  // Raw bytes: at most n, first those already buffered.
  StatusOr<std::string> readSome(size_t n, std::chrono::milliseconds timeout = 10s);
  TlsConn& conn() { return *conn_; }

 private:
  HttpsClient() = default;
  Status fill(std::chrono::steady_clock::time_point deadline);

  std::unique_ptr<tls::ClientContext> ctx_;
  std::unique_ptr<TlsConn> conn_;
  std::string authority_;
  std::string buf_;
};

}  // namespace kitgate::testing
