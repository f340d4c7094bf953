// HTTP/1.1 codec: bytes <-> requests and responses, over evbuffers, for one
// proxied exchange at a time. No policy, no sockets: the connection feeds it
// what it read and sends what it wrote; the stream decides.
//
//   client ──> ServerCodec::dispatch (request head) ──> [stream decides]
//          ──> ClientCodec::encodeHead (the request as forwarded)
//          ──> Exchange::moveRequestBody (payload moved, never copied;
//              chunked re-encoded chunk by chunk; a body the stream rewrites
//              is buffered whole and goes with its new Content-Length)
//   origin ──> ClientCodec::dispatch (response head) ──> [stream scrubs]
//          ──> ServerCodec::encodeHead ──> Exchange::moveResponseBody
//
// Requests and responses are always re-serialized from their parsed form,
// never forwarded as raw bytes (proxy/http/request.h lists the smuggling
// defences). HTTP/2 comes as a second codec under the same stream.
//
// Thread: the owning connection's loop.
#pragma once

#include <event2/buffer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/body_reader.h"
#include "proxy/http/limits.h"
#include "proxy/http/request.h"
#include "proxy/http/response.h"

namespace kitgate::http1 {

enum class BodyStatus { kProgress, kDone, kError };

// Moves the body bytes buffered in `in` to `out` as framed by `reader`:
// payload chains move without copying; framing bytes are dropped; with
// `rechunk` every data piece is re-encoded as one chunk and the end gets the
// last-chunk marker. Bytes after the end of the body stay in `in`.
BodyStatus moveBody(evbuffer* in, evbuffer* out, http::BodyReader& reader, bool rechunk,
                    uint64_t* moved);

// Parses a head at the front of `in` with `parse` (at most
// limits.max_head_bytes are looked at) and drains it when complete.
http::ParseStatus dispatchRequestHead(evbuffer* in, const http::HeadLimits& limits,
                                      http::RequestHead* head);
http::ParseStatus dispatchResponseHead(evbuffer* in, const http::HeadLimits& limits,
                                       std::string_view request_method, http::ResponseHead* head);

// One request/response exchange on the HTTP/1 wire: the framing the request
// is forwarded with and the two body decoders. Reused for every exchange of
// a connection (begin()).
class Exchange {
 public:
  // A new exchange for the request received as `received`: forwarded with
  // the same body framing, keep-alive toward the origin (the upstream
  // connection is ours to reuse), and Upgrade only when `allow_upgrade`.
  void begin(const Framing& received, bool allow_upgrade);
  // The request head toward the origin, appended to `out`; returns its size.
  size_t encodeRequestHead(const http::Request& request, evbuffer* out, std::string* scratch) const;
  // The request body, client -> origin.
  BodyStatus moveRequestBody(evbuffer* in, evbuffer* out, uint64_t* moved);
  bool requestHasBody() const { return received_.framing != http::BodyFraming::kNone; }
  // The request body is rewritten whole (its length may change): the
  // connection decodes it all (decodeRequestBody), rewrites it, then calls
  // bufferedRequestBody with its rewritten length before encodeRequestHead —
  // forwarded with that Content-Length whatever the sandbox's framing, never
  // chunked (token endpoints behind CDNs may refuse chunked requests). The
  // head then goes without Expect: true when the sandbox awaits a
  // "100 Continue" the connection must give it. Call after begin().
  bool rewriteRequestBody() {
    const bool expects = fwd_.expect_continue;
    fwd_.expect_continue = false;
    return expects;
  }
  BodyStatus decodeRequestBody(evbuffer* in, evbuffer* payload, uint64_t* moved) {
    return moveBody(in, payload, *req_body_, false, moved);
  }
  void bufferedRequestBody(uint64_t length) {
    fwd_.framing = http::BodyFraming::kContentLength;
    fwd_.content_length = length;
  }
  std::string_view requestBodyError() const { return req_body_->error(); }

  // The response head from the origin (after dispatchResponseHead): interim
  // (1xx), a protocol switch (101 to an Upgrade request), or final.
  http::ResponseHead& response() { return resp_; }
  bool upgradeRequested() const { return fwd_.upgrade; }
  // Appends the response head for the client to `out`.
  void encodeResponseHead(evbuffer* out, std::string* scratch) const;
  // The response body will be rewritten on its way (its length may change):
  // a Content-Length body goes to the client chunked (HTTP/1.1) or until
  // close (HTTP/1.0). Call after the final head, before encodeResponseHead.
  void rewriteResponseBody();
  // Starts the response body as the final head from the origin frames it.
  void beginResponseBody() {
    if (rewrite_body_) {
      resp_body_.emplace(resp_received_, resp_received_length_);
    } else {
      resp_body_.emplace(resp_.framing, resp_.content_length);
    }
  }
  // After a 101: both directions are opaque byte streams until close.
  void switchToOpaque();
  BodyStatus moveResponseBody(evbuffer* in, evbuffer* out, uint64_t* moved);
  // The same in two steps, for a body rewritten in between: the payload
  // alone out of `in`, then payload bytes framed for the client (`last`:
  // the body ends here).
  BodyStatus decodeResponseBody(evbuffer* in, evbuffer* payload, uint64_t* moved);
  void encodeResponseBody(evbuffer* payload, evbuffer* out, bool last) const {
    encodePayload(payload, out, last, resp_.framing == http::BodyFraming::kChunked);
  }
  // The origin closed: true when that ends the response body cleanly.
  bool finishResponseOnClose() { return resp_body_ && resp_body_->finishOnClose(); }
  void end() {
    req_body_.reset();
    resp_body_.reset();
  }

 private:
  static void encodePayload(evbuffer* payload, evbuffer* out, bool last, bool chunked);

  Framing received_;  // the request's framing as received
  Framing fwd_;       // and as forwarded
  bool opaque_ = false;
  std::optional<http::BodyReader> req_body_;
  std::optional<http::BodyReader> resp_body_;
  http::ResponseHead resp_;
  // After rewriteResponseBody: the body's framing as the origin sends it
  // (resp_ holds it as forwarded).
  bool rewrite_body_ = false;
  http::BodyFraming resp_received_ = http::BodyFraming::kNone;
  uint64_t resp_received_length_ = 0;
};

}  // namespace kitgate::http1
