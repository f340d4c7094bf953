// Connection: one client connection, from accept to close, on one worker —
// the fd, its Transport (plain, or TLS once intercepted), bounded buffers
// with watermarks, the sandbox it is identified as, and the HTTP/1 codec
// that turns its bytes into requests. Every decision about a request is the
// stream's (proxy/stream/stream.h); the connection executes them:
//
//   kHead ─head─> identify ─> Stream::onProxyRequest ─> kUpstream (the
//     connector resolves, decides the addresses and connects)
//       ├ tunnel():    "200" ─> SpliceRelay (kTunnel) ─> Stream::complete
//       ├ intercept(): "200" ─> TLS with the sandbox ─> verified TLS upstream
//       │              ─> kHead: inner requests ─> Stream::onInnerRequest
//       ├ forward():   request head serialized by the codec, body streamed,
//       │              response head parsed, scrubbed by the stream, body
//       │              streamed back (kForward) ─> Stream::complete ─> kHead
//       └ reply():     the EndReason's response, then close
//
//   transparent (accepted on a transparent listener, original destination
//   known): identify by source ─> kPeek: the first flight's ClientHello name,
//     unless the bare address already decides ─> Stream::onTransparent ─>
//     kUpstream (to the original address only) ─> tunnel(): SpliceRelay, no
//     "200" (kTunnel) ─> Stream::complete; a refusal resets the connection.
//
// Above a high-water mark the connection stops reading the side that feeds
// the full buffer; while the upstream is being reached (DNS, connect, TLS)
// it reads at most one head's worth. All callbacks run on the owning
// worker's loop; the connection never deletes itself, it asks the worker to
// retire it. It pins the Snapshot it started with for its whole life.
#pragma once

#include <event2/buffer.h>
#include <event2/event.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin/metrics.h"
#include "proxy/codec/http1/codec.h"
#include "proxy/common/unique_fd.h"
#include "proxy/http/request.h"
#include "proxy/mitm/handshake.h"
#include "proxy/server/h2_relay.h"
#include "proxy/server/original_dst.h"
#include "proxy/server/snapshot.h"
#include "proxy/stream/stream.h"
#include "proxy/tls/client_hello.h"
#include "proxy/tls/leaf_cache.h"
#include "proxy/tunnel/splice_relay.h"
#include "proxy/tunnel/transport.h"
#include "proxy/upstream/connector.h"
#include "proxy/upstream/tls_client.h"

namespace kitgate::server {

inline constexpr std::string_view kConnectEstablished =
    "HTTP/1.1 200 Connection established\r\n\r\n";

class Worker;

class Connection final : private stream::StreamHost {
 public:
  // `original`: the connection came through a transparent listener and was
  // going there (proxy/server/original_dst.h); it skips the codec.
  Connection(Worker& worker, UniqueFd client, const policy::IpAddress& peer, uint16_t peer_port,
             std::optional<Endpoint> original = std::nullopt);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // Drain: close now if no request is in flight, else after it completes.
  void drain();
  // Drain deadline passed: close now, whatever is in flight.
  void forceClose();
  // A reload published `snapshot`: the connection is decided again on it —
  // at once when idle between requests or tunnelling, else when the request
  // in flight is done. A removed sandbox, a host the new policy denies or a
  // credential no longer bound closes the connection (logged).
  void reload(std::shared_ptr<const Snapshot> snapshot);
  // A keep-alive connection waiting for its next request, nothing pending.
  bool idleBetweenRequests() const;
  // Overload action: closes an idle connection now (the client reconnects).
  void shed();

  // Worker's intrusive list.
  Connection* prev = nullptr;
  Connection* next = nullptr;

 private:
  enum class State {
    kPeek,            // transparent: reading the client's first flight (a ClientHello's name)
    kFirstFlight,     // an opaque tunnel connected: whoever speaks first (first_flight.cc)
    kHead,            // waiting for (or reading) a request head
    kUpstream,        // the stream is reaching the upstream (DNS, connect)
    kForward,         // a request/response exchange is flowing
    kTunnel,          // handed to the splice relay
    kInterceptHello,  // interception with HTTP/2 on: reading the sandbox's ClientHello (ALPN)
    kClientHandshake,
    kUpstreamHandshake,  // interception only
    kH2,                 // intercepted, HTTP/2 on both legs: the H2Relay runs the streams
    kClosing,
    kDead
  };

  static void onClient(evutil_socket_t, short what, void* arg);
  static void onClientWritable(evutil_socket_t, short, void* arg);
  static void onUpstream(evutil_socket_t, short what, void* arg);
  static void onUpstreamWritable(evutil_socket_t, short, void* arg);
  static void onTimer(evutil_socket_t, short, void* arg);
  static void onLifetime(evutil_socket_t, short, void* arg);

  // Transparent connections (transparent.cc): identified by source, decided
  // on the name the first flight carries (or the bare address), spliced.
  void startTransparent();
  void peekTransparent();
  void decideTransparent(std::string name, stream::TransparentTarget::NameSource source);
  // An opaque tunnel connected (first_flight.cc) — a CONNECT (answered 200
  // here; tls.tunnel_sni_check) or a transparent connection decided on the
  // name kitgate's DNS gave: the relay starts once the first flight is known
  // — the upstream speaking first, or the sandbox's first bytes, whose
  // ClientHello the stream checks (Stream::onFirstFlight). Returns true when
  // it took `upstream` to wait.
  bool awaitFirstFlight(UniqueFd& upstream);
  void checkFirstFlight();
  // The client's first flight as far as a ClientHello goes; nullopt while
  // more is needed (or when it ended the connection: no bytes, then EOF).
  std::optional<tls::ClientHelloPeek> peekFirstFlight();
  static void onUpstreamFirst(evutil_socket_t, short, void* arg);
  // A tunnel whose host and address are final (relaying, or waiting for its
  // first flight): a reload decides it again at once.
  bool tunnelDecided() const { return state_ == State::kTunnel || state_ == State::kFirstFlight; }
  // What the relay writes to the client before the upstream's bytes: the
  // CONNECT's answer unless the first-flight check sent it; nothing on a
  // transparent connection (no one asked).
  std::string_view relayPrefix() const;
  // The per-sandbox connection limit, once the sandbox is known; false when
  // it ended the connection.
  bool admitSandbox();

  // Requests.
  void readClient();
  void tryHead();
  void handleRequest();
  bool identify();

  // stream::StreamHost.
  bool keepUpstreamFor(const policy::Host& host, uint16_t port) override;
  bool reuseIdleUpstream(const policy::Host& host, uint16_t port, policy::Decision& decision,
                         std::string& address) override;
  void tunnel(UniqueFd upstream) override;
  void intercept(UniqueFd upstream) override;
  void forward(UniqueFd upstream, const http::Request& request) override;
  void reply(const stream::EndResponse& response) override;
  void log(const admin::PolicyRecord& record) override;
  // HTTP/1: the request waits in kUpstream; the stream's wait is bounded.
  bool holdForRefresh() override;

  void adoptUpstream(UniqueFd fd, const policy::Host& host, uint16_t port);
  // The worker's idle pool key: sandbox, host, port, TLS or plain.
  std::string poolKey(const policy::Host& host, uint16_t port, bool tls) const;
  // Gives the upstream to the worker's idle pool when its last exchange left
  // it reusable (flags_.upstream_idle_ok) and the snapshot is current.
  void poolUpstream();
  // The reused upstream closed before any response byte: true when the
  // request goes out again on a new connection (idempotent, no body).
  bool retryStale();
  // Applies a pending reload; false when it closed the connection.
  bool applyReload();
  void revoke(const std::string& reason);
  // The close line and tunnel metrics of an intercepted connection; `error`
  // says why the proxy ended it ("" when a peer closed).
  void closeIntercepted(std::string_view error);
  // Begins the stream for the next request (log id, client).
  void beginStream();
  void startUpstreamTls(bool for_waiting_request);
  void onUpstreamTls(upstream::TlsResult r, bool for_waiting_request);
  void onClientHandshake(mitm::Handshake::Outcome o, std::string error);
  void startClientHandshake();
  // Interception set-up: the CONNECT's 200 (false: the connection ended),
  // the intercepted connection's context, metrics and open line, and the
  // connection's events handed to the handshakes.
  bool sendEstablished();
  void beginIntercepted(UniqueFd upstream);
  void handshakesOwnEvents();
  // HTTP/2 on (kInterceptHello): the sandbox's ClientHello says whether the
  // upstream is offered h2 (only when the sandbox offers it too).
  void readInterceptHello();
  // Both TLS legs are up: inner requests begin (HTTP/1, or HTTP/2 when the
  // sandbox negotiated h2).
  void beginInnerRequests();
  // HTTP/2 (tls.http2): moves frames between the relay and both transports;
  // `st` is what the last dispatch said (an error closes after the flush).
  void pumpH2(Status st);

  // Forward exchange.
  void startForward(const http::Request& request);
  void pumpRequestBody();
  // A token request's body (flags_.rewrite_req_body): decoded whole (at most
  // stream::kMaxTokenRequest bytes, else 413 and nothing sent upstream),
  // rewritten, then the held head with its Content-Length and the body.
  void pumpTokenRequestBody();
  void endTokenRequestTooLarge();
  void readUpstream();
  void pumpResponse();
  // Decoded response body bytes through the stream's scrub into cout_.
  void scrubResponseBody(bool last);
  evbuffer* bodyBuffer();
  void finishExchange();
  void flushClient();
  void flushUpstream();
  void updateReadInterest();
  void closeUpstream();

  // Ending.
  // A request that ends before the stream took it (no head, a bad head, a
  // limit): begins the stream with what is known and ends it.
  void endEarly(stream::EndReason reason, std::string_view detail = {}, int status = 0);
  void closeAfterFlush();
  void terminate();
  void armTimer(std::chrono::milliseconds d);

  // Every flag of the connection and of its current request, in one place
  // (Envoy's ActiveStream::State). Request flags are reset by startForward().
  struct Flags {
    // Connection.
    bool client_reading = false;    // cev_ is armed
    bool upstream_reading = false;  // uev_ is armed
    bool client_eof = false;        // the client half-closed (or closed)
    bool draining = false;          // drain(): close once the current request is done
    bool intercepted = false;       // TLS terminated on both legs (after the CONNECT)
    bool established_sent = false;  // "200 Connection established" sent (first-flight check)
    bool idle = false;              // kept alive between requests, on the idle timeout
    // Current request (forward exchange).
    bool req_done = false;             // the whole request body went to uout_
    bool resp_head_done = false;       // the final response head went to cout_
    bool resp_done = false;            // the whole response body went to cout_
    bool upstream_keep_alive = false;  // the upstream connection may serve the next request
    bool client_keep_alive = false;    // the client asked to keep the connection
    bool upgraded = false;             // after a 101 on an intercepted connection: opaque both ways
    bool scrub_body = false;           // the response body goes through the stream's scrub
    bool rewrite_req_body = false;     // the request body goes through the stream, whole (OAuth)
    // The kept upstream may go to the worker's idle pool: its last exchange
    // was complete and correctly framed, both sides kept alive, nothing
    // pending. Cleared when the next exchange starts.
    bool upstream_idle_ok = false;
    bool upstream_pooled =
        false;             // the upstream came from the pool; no exchange finished on it yet
    bool retried = false;  // the current request already went out again (stale upstream)
  };

  Worker& w_;
  Flags flags_;
  std::shared_ptr<const Snapshot> snap_;
  std::shared_ptr<const Snapshot> pending_snap_;  // published, applied at the next boundary
  std::shared_ptr<const Snapshot> prev_snap_;     // the one before (views of a live decision)
  UniqueFd client_;
  UniqueFd upstream_;
  std::unique_ptr<tunnel::Transport> client_io_;  // plain, or TLS when intercepted
  std::unique_ptr<tunnel::Transport> upstream_io_;
  policy::IpAddress peer_;
  std::string client_text_;           // "ip:port" for the log
  std::optional<Endpoint> original_;  // transparent connections only
  bool first_flight_seen_ = false;    // transparent: awaitFirstFlight() is done
  event* first_ev_ = nullptr;         // transparent: the upstream's first readiness
  State state_ = State::kHead;
  event* cev_ = nullptr;   // client readable (persistent)
  event* cwev_ = nullptr;  // client writable
  event* uev_ = nullptr;   // upstream readable (persistent)
  event* uwev_ = nullptr;  // upstream writable
  event* timer_ = nullptr;
  event* lifetime_ = nullptr;  // max_connection_duration (when set)
  evbuffer* cin_ = nullptr;    // from client
  evbuffer* cout_ = nullptr;   // to client
  evbuffer* uin_ = nullptr;    // from upstream
  evbuffer* uout_ = nullptr;   // to upstream
  uint64_t lingered_ = 0;      // client bytes dropped after the final answer (kClosing)
  // A scrubbed response body between the codec and the stream's scrub
  // (created on the first one; empty between reads).
  evbuffer* body_ = nullptr;      // decoded payload
  evbuffer* scrubbed_ = nullptr;  // scrubbed, to be framed into cout_

  // Identification (once per connection). Until then the connection holds
  // an unidentified slot (global and for its source address), after it an
  // identified one (max_connections) and its sandbox's.
  const sandbox::Sandbox* sandbox_ = nullptr;
  SandboxCounter* sandbox_counter_ = nullptr;
  bool holds_unidentified_ = false;
  bool holds_source_ = false;
  bool holds_identified_ = false;
  // Claims the unidentified slots (false: refused and ended).
  bool claimUnidentified();
  void releaseUnidentified();

  // The current request: its head as received (the codec's), the stream
  // that decides it, the upstream it goes to.
  http::RequestHead req_;
  std::chrono::steady_clock::time_point req_start_;
  uint64_t req_bytes_up_ = 0;
  uint64_t req_bytes_down_ = 0;
  std::optional<upstream::TcpConnector> connector_;  // rebuilt when a reload is applied
  stream::StreamEnv env_;
  stream::Stream stream_;
  std::string upstream_key_;      // host:port the open upstream connection serves
  std::string pool_key_;          // its idle pool key (poolKey())
  std::string upstream_address_;  // the address it is connected to

  // One forwarded exchange (plain forwarding, or an inner request of an
  // intercepted connection): the HTTP/1 codec state. Allocated by the first
  // startForward(); a CONNECT tunnel never has one.
  std::unique_ptr<http1::Exchange> ex_;
  std::string scratch_;

  std::unique_ptr<tunnel::SpliceRelay> relay_;
  std::chrono::steady_clock::time_point tunnel_start_;

  // Interception: what the CONNECT fixed for the inner requests, and the
  // handshakes in flight.
  std::unique_ptr<stream::InterceptContext> ic_;
  std::string intercept_id_;  // the CONNECT's log id (its open and close lines)
  std::chrono::steady_clock::time_point intercept_start_;
  double tls_ms_ = -1;  // both handshakes of the interception
  std::unique_ptr<mitm::Handshake> client_hs_;
  std::unique_ptr<upstream::TlsClient> upstream_tls_;
  // The stream's request waiting for a reconnected upstream's TLS leg.
  const http::Request* pending_forward_ = nullptr;
  // The stream's token request whose head waits for its whole body.
  const http::Request* held_head_ = nullptr;

  // HTTP/2 (tls.http2 on): the upstream's TLS leg comes first so the sandbox
  // is offered h2 only when the upstream negotiated it.
  bool upstream_first_ = false;
  std::shared_ptr<const tls::Leaf> hello_leaf_;  // kInterceptHello: the leaf to present
  std::unique_ptr<H2Relay> h2_;  // kH2 only; destroyed before the stream env it uses
};

}  // namespace kitgate::server
