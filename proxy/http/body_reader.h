// BodyReader: tells the server which of the bytes after a head belong to the
// body and when the message ends, for every framing, without buffering the
// body (data comes back as views into the caller's input).
//
// One reader per message, owned by the connection that reads it (one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http/chunked.h"
#include "proxy/http/message.h"

namespace kitgate::http {

class BodyReader {
 public:
  // kTunnel is read like kUntilClose (the server normally relays tunnels
  // without a reader). content_length is used only with kContentLength.
  BodyReader(BodyFraming framing, uint64_t content_length,
             ChunkedDecoder::Limits chunked_limits = {});

  // Same contract as ChunkedDecoder::decode: consumes a prefix of `in` and
  // returns kData (with *data, a view into `in`), kDone (bytes after
  // *consumed belong to the next message), kNeedMore or kError.
  DecodeResult read(std::string_view in, size_t* consumed, std::string_view* data);

  // The peer closed the connection. Returns true when that ends the body
  // cleanly (until-close framing, or the body was already complete); false
  // means the body was truncated.
  bool finishOnClose();

  bool done() const { return done_; }
  // Chunked framing error text (fixed, safe to echo), else "".
  std::string_view error() const { return chunked_.error(); }

 private:
  BodyFraming framing_;
  uint64_t remaining_;  // kContentLength: bytes still to come
  bool done_;
  ChunkedDecoder chunked_;
};

}  // namespace kitgate::http
