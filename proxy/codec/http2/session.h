// HTTP/2 codec: one HTTP/2 connection (either leg of an intercepted
// connection) as bytes in, streams out — libnghttp2 for framing, HPACK and
// flow control, driven by the owning connection's loop over evbuffers. No
// sockets, no policy, no second event loop: the connection reads its
// transport (plain or TlsStream) into an evbuffer and calls dispatch(), and
// writes what flush() appends.
//
//   sandbox ─bytes─> Session(kServer)::dispatch ─> Callbacks::onHeaders
//            (a request head as http::Request: :method/:scheme/:authority/
//            :path into its fields, lower-case regular fields in order)
//            ─> onData ... ─> onEnd      [the stream decides, rewrites]
//   Session(kClient)::submitRequest / sendData toward the origin, and the
//   response back the same way (onHeaders: interim, final, trailers).
//
// Flow control is tied to the consumer's buffers: a stream's receive window
// opens only when the consumer calls consume() for bytes it has passed on,
// so one stream never holds more than Limits::stream_window unsent bytes and
// the connection never more than Limits::connection_window; a slow reader on
// one stream stalls that stream only.
//
// Bounded against the known HTTP/2 denial-of-service classes: rapid reset
// (RST_STREAM rate), CONTINUATION floods (frames per header block), SETTINGS
// and PING floods (queued ACKs; entries per SETTINGS frame), HPACK bombs (the
// decoded header list is capped, whatever its compressed size), too many
// streams (SETTINGS_MAX_CONCURRENT_STREAMS, refused above it), and server
// push (disabled toward the origin; a client's PUSH_PROMISE is a protocol
// error). A connection-level violation queues GOAWAY: flush() it, then close
// when neither wantsRead() nor wantsWrite().
//
// Thread: the owning connection's loop. Callbacks run inside dispatch() or
// flush(); they may call submit*/sendData/consume/resetStream on any session
// but must not call dispatch() or flush() on the session that called them.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/http/request_model.h"
#include "proxy/http/response.h"

struct nghttp2_session;

namespace kitgate::http2 {

// Error codes of RST_STREAM and GOAWAY (RFC 9113 §7).
enum class ErrorCode : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kFlowControlError = 0x3,
  kRefusedStream = 0x7,
  kCancel = 0x8,
  kEnhanceYourCalm = 0xb,
};

struct Limits {
  // SETTINGS_MAX_CONCURRENT_STREAMS we announce; streams above it are refused.
  uint32_t max_concurrent_streams = 100;
  // Decoded header list (name + value + 32 per field, RFC 9113 §6.5.2) and
  // field count of one header block; above either the stream is reset.
  size_t max_header_list_bytes = 32 * 1024;
  size_t max_headers = 100;
  // Receive windows: the most body bytes a peer may have in flight toward
  // us, per stream and for the whole connection.
  uint32_t stream_window = 256 * 1024;
  uint32_t connection_window = 1024 * 1024;
  // SETTINGS entries per frame, and SETTINGS/PING ACKs waiting to be sent.
  size_t max_settings = 32;
  size_t max_outbound_ack = 1000;
  // Rapid reset: a token bucket of `reset_burst` stream resets by the peer,
  // refilled at `reset_rate` per second.
  uint64_t reset_burst = 1000;
  uint64_t reset_rate = 33;
  // CONTINUATION frames after one HEADERS frame.
  size_t max_continuations = 8;
};

// One complete header block on a stream.
struct Head {
  enum class Kind {
    kRequest,   // server: a request (request is filled)
    kInterim,   // client: a 1xx response (response is filled)
    kResponse,  // client: the final response (response is filled)
    kTrailers,  // either side: trailing fields (trailers is filled)
  };
  Kind kind = Kind::kRequest;
  http::Request request;
  http::ResponseHead response;
  std::vector<http::Header> trailers;
};

// What a session reports. Each call names the stream it concerns.
class Callbacks {
 public:
  virtual ~Callbacks() = default;
  // A complete header block; `end_stream`: the peer sends nothing more on it
  // (onEnd follows as well).
  virtual void onHeaders(int32_t stream_id, Head& head, bool end_stream) = 0;
  // Body bytes; valid during the call. The stream's window opens again only
  // when the consumer calls consume(stream_id, data.size()) (later is fine).
  virtual void onData(int32_t stream_id, std::string_view data) = 0;
  // The peer ended its side of the stream (END_STREAM).
  virtual void onEnd(int32_t stream_id) = 0;
  // The stream is gone (both sides ended, reset by either side, or refused);
  // `code` is the reset's error code, kNoError for a clean close.
  virtual void onClose(int32_t stream_id, ErrorCode code) = 0;
  // `bytes` of body queued with sendData went out in DATA frames.
  virtual void onDataSent(int32_t /*stream_id*/, size_t /*bytes*/) {}
};

// Counters of what the session refused (tests and metrics read them).
struct Stats {
  uint64_t header_lists_refused = 0;  // HPACK bomb / oversized or overlong header blocks
  uint64_t heads_rejected = 0;        // malformed pseudo-headers or authority
  uint64_t pushes_refused = 0;        // PUSH_PROMISE received
};

class Session {
 public:
  enum class Role { kServer, kClient };

  // A session for one connection; its connection preface and SETTINGS are
  // queued at once (a server's after the client's preface arrives).
  static StatusOr<std::unique_ptr<Session>> create(Role role, const Limits& limits,
                                                   Callbacks& callbacks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Consumes every byte of `in`. An error is a connection error: GOAWAY is
  // queued (flush it, then close); the message is safe to log.
  Status dispatch(evbuffer* in);
  // Appends frames to `out` until it holds at least `high_water` bytes or
  // nothing more is ready to send.
  Status flush(evbuffer* out, size_t high_water);
  // Whether the session still reads / has frames to send. Both false: the
  // connection is done (GOAWAY exchanged, or a connection error sent).
  bool wantsRead() const;
  bool wantsWrite() const;

  // Server: the response head on `stream_id` (1xx heads may precede it).
  Status submitResponse(int32_t stream_id, const http::ResponseHead& head, bool end_stream);
  // Client: opens a stream for `request` (scheme "https" unless it names
  // one; :authority from host and port); returns its id.
  StatusOr<int32_t> submitRequest(const http::Request& request, bool end_stream);
  // Queues body bytes on `stream_id` (moved out of `data`); `end`: the last.
  // A stream whose trailers were queued with sendTrailers ends with them.
  void sendData(int32_t stream_id, evbuffer* data, bool end);
  // Queues trailers that end the stream after its queued body.
  void sendTrailers(int32_t stream_id, std::vector<http::Header> trailers);
  // Resets `stream_id` (RST_STREAM).
  void resetStream(int32_t stream_id, ErrorCode code);
  // The consumer passed on `bytes` received on `stream_id`: window update.
  void consume(int32_t stream_id, size_t bytes);
  // Graceful shutdown: GOAWAY (no new streams), streams in flight finish.
  void shutdown();
  // Body bytes queued on `stream_id` and not yet framed.
  size_t queuedBody(int32_t stream_id) const;
  // Streams open right now.
  size_t openStreams() const;
  const Stats& stats() const;

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The fields of `headers` that HTTP/2 carries: names lower-cased, Host
// dropped (it travels as :authority), connection-specific fields dropped
// (isHopByHop and the fields Connection names), "te" kept only as
// "trailers". Used when a head received over HTTP/1 is sent over HTTP/2.
void appendH2Fields(const std::vector<http::Header>& headers, std::vector<http::Header>* out);

}  // namespace kitgate::http2
