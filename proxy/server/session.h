// Session: one client connection, from accept to close, on one worker.
//
//   kHead ──CONNECT──> policy ─> resolve ─> address check ─> connect ─> SpliceRelay
//     │                  └ deny: 403 + log ─> close
//     └─absolute-form http://──> policy ─> (reuse | resolve ─> connect) ─> kForward:
//           request head re-serialized, body streamed (CL / chunked re-encoded),
//           response head parsed + re-serialized, body streamed back,
//           then kHead again when both sides keep alive.
//
// Buffers are evbuffers with a high-water mark: above it the session stops
// reading the side that feeds the full buffer. All callbacks run on the
// owning worker's loop; the session never deletes itself, it asks the worker
// to retire it. It pins the Snapshot it started with for its whole life.
#pragma once

#include <event2/buffer.h>
#include <event2/event.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "proxy/admin/metrics.h"
#include "proxy/common/unique_fd.h"
#include "proxy/http/body_reader.h"
#include "proxy/http/request.h"
#include "proxy/http/response.h"
#include "proxy/policy/decision.h"
#include "proxy/policy/host.h"
#include "proxy/secrets/store.h"
#include "proxy/server/snapshot.h"
#include "proxy/stream/end_reason.h"
#include "proxy/tunnel/resolver.h"
#include "proxy/tunnel/splice_relay.h"
#include "proxy/tunnel/transport.h"

namespace kitgate::server {

class Worker;

class Session {
 public:
  Session(Worker& worker, UniqueFd client, const policy::IpAddress& peer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Drain: close now if no request is in flight, else after it completes.
  void drain();
  // Drain deadline passed: close now, whatever is in flight.
  void forceClose();

  // Worker's intrusive list.
  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  enum class State {
    kHead, kResolving, kConnecting, kForward, kTunnel,
    kClientHandshake, kUpstreamHandshake,  // interception only
    kClosing, kDead
  };

  static void onClient(evutil_socket_t, short what, void* arg);
  static void onClientWritable(evutil_socket_t, short, void* arg);
  static void onUpstream(evutil_socket_t, short what, void* arg);
  static void onUpstreamWritable(evutil_socket_t, short, void* arg);
  static void onTimer(evutil_socket_t, short, void* arg);

  // Request head and decision.
  void readClient();
  void tryHead();
  void handleRequest();
  bool identify();
  void decideAndRoute();
  void startResolve();
  void onResolved(tunnel::ResolveResult r);
  void connectNext();
  void onConnectDone(int err);
  void startTunnel();
  void startForward();
  void upstreamReady();

  // Interception (session_intercept.cc).
  void decideInterception();
  void startIntercept();
  void driveClientHandshake();
  void startUpstreamTls();
  void driveUpstreamHandshake();
  void handleInterceptedRequest();

  // Forward exchange.
  void pumpRequestBody();
  void readUpstream();
  void pumpResponse();
  void finishExchange();
  void flushClient();
  void flushUpstream();
  void updateReadInterest();
  void closeUpstream();

  // Ending.
  // Ends the request: the EndReason table (proxy/stream/end_reason.h) gives
  // the response, the metric and the log line; then close after the flush.
  void end(stream::EndReason reason, std::string_view detail = {}, int status = 0);
  void logDecision(bool allowed, int status, std::string_view reason, uint64_t up, uint64_t down);
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
    // Current request (forward exchange).
    bool req_done = false;             // the whole request body went to uout_
    bool resp_head_done = false;       // the final response head went to cout_
    bool resp_done = false;            // the whole response body went to cout_
    bool upstream_keep_alive = false;  // the upstream connection may serve the next request
    bool client_keep_alive = false;    // the client asked to keep the connection
    bool upgraded = false;             // after a 101 on an intercepted connection: opaque both ways
    bool request_waiting = false;      // an inner request waits for an upstream reconnect
  };

  Worker& w_;
  Flags flags_;
  // One forwarded exchange (plain forwarding, or an inner request of an
  // intercepted connection). Allocated by the first startForward(), reused
  // for the next request on the connection; a CONNECT tunnel never has one.
  struct Exchange {
    http::Request fwd;                          // the request as forwarded (rewritten)
    http1::Framing fwd_wire;                    // and the framing it is forwarded with
    std::optional<http::BodyReader> req_body;   // request body decoder
    std::optional<http::BodyReader> resp_body;  // response body decoder
    http::ResponseHead resp;                    // the response head as parsed (scrubbed)
  };
  std::unique_ptr<Exchange> ex_;
  std::shared_ptr<const Snapshot> snap_;
  UniqueFd client_;
  UniqueFd upstream_;
  std::unique_ptr<tunnel::Transport> client_io_;    // plain, or TLS when intercepted
  std::unique_ptr<tunnel::Transport> upstream_io_;
  policy::IpAddress peer_;
  State state_ = State::kHead;
  event* cev_ = nullptr;   // client readable (persistent)
  event* cwev_ = nullptr;  // client writable
  event* uev_ = nullptr;   // upstream readable (persistent)
  event* uwev_ = nullptr;  // upstream writable / connect done
  event* timer_ = nullptr;
  evbuffer* cin_ = nullptr;   // from client
  evbuffer* cout_ = nullptr;  // to client
  evbuffer* uin_ = nullptr;   // from upstream
  evbuffer* uout_ = nullptr;  // to upstream

  // Current request.
  const sandbox::Sandbox* sandbox_ = nullptr;
  SandboxCounter* sandbox_counter_ = nullptr;
  http::RequestHead req_;    // the request as received (never edited)
  uint16_t port_ = 0;        // the port this request goes to
  policy::Host host_;
  policy::Decision decision_;
  std::chrono::steady_clock::time_point req_start_;
  std::chrono::steady_clock::time_point step_start_;
  std::unique_ptr<tunnel::Lookup> lookup_;
  std::vector<policy::IpAddress> candidates_;
  size_t candidate_ = 0;
  std::string address_text_;     // upstream address connected to
  std::string blocked_address_reason_;
  uint64_t req_bytes_up_ = 0;
  uint64_t req_bytes_down_ = 0;

  // Forward state.
  std::string upstream_key_;     // host:port the open upstream connection serves
  std::string scratch_;

  std::unique_ptr<tunnel::SpliceRelay> relay_;

  // Interception state: the CONNECT host/port stay in host_/connect_port_
  // for the whole connection; every inner request must name the same host.
  uint16_t connect_port_ = 0;
  std::string sni_;
  std::string upstream_error_;   // upstream TLS failure, answered 502 on the next request
  const secrets::SandboxCredentials* creds_ = nullptr;
  std::shared_ptr<const secrets::InterceptPlan> plan_;
};

}  // namespace kitgate::server
