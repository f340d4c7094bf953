// H2Relay: an intercepted connection that speaks HTTP/2 on both legs — the
// sandbox's (an http2::Session in the server role) and the upstream's (one in
// the client role, one TLS connection shared by every stream). Each sandbox
// stream is one stream::Stream through the same pipeline as an HTTP/1 inner
// request (Host/:authority == SNI == CONNECT host else 421, credential
// injection and placeholder substitution on the decoded header list, response
// scrub, one policy log line); the relay is its StreamHost and maps it to a
// stream on the upstream session.
//
//   sandbox bytes ─> onClientBytes ─> [per stream: Stream::onInnerRequest
//     ─> forward(): upstream stream opened with the rewritten head]
//   upstream bytes ─> onUpstreamBytes ─> response head scrubbed ─> sandbox
//   flush() ─> frames for both sides
//
// Flow control ties the two legs' buffers: bytes received on one leg open
// that leg's window only when the other leg has framed them, so a stream
// holds at most one stream window per direction, and a stream whose reader
// is slow stalls alone.
//
// A stream whose request carries an expired proxy-managed OAuth access token
// waits for the refresh (Stream::parkForRefresh, the worker's OAuthWaits,
// at most kOAuthWaitLimit) — that stream only: the others keep flowing. Its
// body and trailers are held meanwhile, not credited, so its stream window
// bounds them; a reset ends the wait and gives the window back, the relay's
// end drops every wait, the upstream closing ends waiting streams with 502.
// When a wait ends outside a call into the relay, Context::resume asks the
// connection to flush().
//
// The relay owns no socket and no timer; the connection (proxy/server/
// connection.h) reads and writes the transports and calls in. Thread: the
// owning worker's loop.
#pragma once

#include <event2/buffer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/admin/policy_log.h"
#include "proxy/codec/http2/session.h"
#include "proxy/common/status.h"
#include "proxy/stream/stream.h"

namespace kitgate::server {

class H2Relay {
 public:
  struct Context {
    const stream::StreamEnv* env = nullptr;
    stream::InterceptContext* ic = nullptr;  // outlives the relay
    const sandbox::Sandbox* sandbox = nullptr;
    std::string_view client;                              // "ip:port", outlives the relay
    std::function<std::string()> next_id;                 // a log id per stream
    std::function<void(const admin::PolicyRecord&)> log;  // one policy log line
    double tls_ms = -1;                                   // the interception's handshakes
    http2::Limits limits;
    // A stream parked for an OAuth refresh went on outside any call into
    // the relay (proxy/stream/oauth_wait.h): flush() soon, from the loop —
    // never inside this call.
    std::function<void()> resume;
  };

  static StatusOr<std::unique_ptr<H2Relay>> create(Context context);
  ~H2Relay();
  H2Relay(const H2Relay&) = delete;
  H2Relay& operator=(const H2Relay&) = delete;

  // Bytes read from the sandbox / the upstream (all consumed). An error is a
  // connection error on that leg: flush() what is queued, then close.
  Status onClientBytes(evbuffer* in);
  Status onUpstreamBytes(evbuffer* in);
  // The upstream connection closed: every stream still on it is reset and
  // the sandbox gets GOAWAY (it reconnects for new requests).
  void upstreamClosed();
  // Frames toward each side, each buffer filled up to `high_water`.
  Status flush(evbuffer* to_client, evbuffer* to_upstream, size_t high_water);
  // Graceful end (drain, reload): GOAWAY to the sandbox; streams in flight finish.
  void shutdown();
  // Nothing more to read or write toward the sandbox: close the connection.
  bool done() const;
  size_t activeStreams() const { return exchanges_.size(); }
  const http2::Session& clientSession() const { return *down_; }

 private:
  class Exchange;
  class DownCallbacks;
  class UpCallbacks;

  H2Relay(Context context);
  Exchange* byDown(int32_t id);
  Exchange* byUp(int32_t id);
  void onRequest(int32_t id, http2::Head& head, bool end_stream);
  void retire(int32_t down_id);
  void collect();
  void resume();

  Context ctx_;
  std::unique_ptr<DownCallbacks> down_cb_;
  std::unique_ptr<UpCallbacks> up_cb_;
  std::unique_ptr<http2::Session> down_;  // toward the sandbox (server role)
  std::unique_ptr<http2::Session> up_;    // toward the upstream (client role)
  bool upstream_alive_ = true;
  std::unordered_map<int32_t, std::unique_ptr<Exchange>> exchanges_;  // by sandbox stream id
  std::unordered_map<int32_t, int32_t> up_to_down_;
  std::vector<std::unique_ptr<Exchange>> retired_;  // deleted outside their callbacks
  evbuffer* scratch_ = nullptr;
  evbuffer* body_ = nullptr;  // a scrubbed response body's bytes before the scrub
};

}  // namespace kitgate::server
