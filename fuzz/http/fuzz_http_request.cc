// libFuzzer target for kitgate_http. Input: arbitrary bytes, read as
//  (1) a request head: if it parses, serialize it for the origin and parse
//      that again — it must parse, to the same target, framing and
//      keep-alive (the re-serialization invariant the proxy relies on);
//  (2) the bytes after the head as a chunked body, fed in pieces whose size
//      comes from the first input byte — data views must stay inside the
//      input and the decoded size cannot exceed it;
//  (3) a response head to GET or HEAD (last input byte), round-tripped too.
// Any broken invariant aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/http/body_reader.h"
#include "proxy/http/chunked.h"
#include "proxy/http/request.h"
#include "proxy/http/response.h"
#include "proxy/http/serialize.h"

namespace {

using namespace kitgate::http;

void check(bool ok) {
  if (!ok) std::abort();
}

// Re-parsing our own output uses generous limits: serialization may add a
// few fields (Host, framing, Connection) to a head that was at the limit.
constexpr HeadLimits kRoundTripLimits{.max_head_bytes = 1 << 20, .max_headers = 1000};

void requestRoundTrip(const RequestHead& first) {
  // CONNECT is tunnelled, never serialized; a request without a host (HTTP/1.0
  // origin-form without Host) cannot be forwarded.
  if (first.form == RequestHead::TargetForm::kAuthority || first.host.empty()) return;
  std::string wire;
  serializeRequestForOrigin(first, &wire);
  RequestHead second;
  size_t consumed = 0;
  check(parseRequestHead(wire, kRoundTripLimits, &second, &consumed).isComplete());
  check(consumed == wire.size());
  check(second.method == first.method);
  check(second.host == first.host);
  check(second.port == (first.port == 80 ? 0 : first.port));
  check(second.path == first.path);
  check(second.framing == first.framing);
  check(second.content_length == first.content_length);
  check(second.expect_continue == first.expect_continue);
  check(second.upgrade == first.upgrade);
  if (!first.upgrade) check(second.keep_alive == first.keep_alive);
  for (const Header& h : second.headers) {
    check(!equalsIgnoreCase(h.name, "proxy-authorization"));
    check(!equalsIgnoreCase(h.name, "keep-alive"));
  }
}

void chunkedBody(std::string_view body, size_t step) {
  ChunkedDecoder decoder({.max_size_line_bytes = 256, .max_trailer_bytes = 1024});
  size_t decoded = 0;
  size_t offset = 0;
  while (offset < body.size()) {
    const std::string_view piece = body.substr(offset, step);
    size_t consumed = 0;
    std::string_view data;
    const DecodeResult r = decoder.decode(piece, &consumed, &data);
    check(consumed <= piece.size());
    if (r == DecodeResult::kData) {
      check(!data.empty() && data.data() >= piece.data() &&
            data.data() + data.size() <= piece.data() + piece.size());
      decoded += data.size();
    }
    if (r == DecodeResult::kDone || r == DecodeResult::kError) break;
    check(consumed > 0);
    offset += consumed;
  }
  check(decoded <= body.size());
}

void responseRoundTrip(std::string_view input, std::string_view method) {
  ResponseHead first;
  size_t head_size = 0;
  if (!parseResponseHead(input, {}, method, &first, &head_size).isComplete()) return;
  check(head_size <= input.size());
  size_t consumed = 0;
  std::string wire;
  serializeResponseForClient(first, &wire);
  ResponseHead second;
  check(parseResponseHead(wire, kRoundTripLimits, method, &second, &consumed).isComplete());
  check(consumed == wire.size());
  check(second.status == first.status);
  check(second.framing == first.framing);
  if (first.framing == BodyFraming::kContentLength) {
    check(second.content_length == first.content_length);
  }
  // The body after the head, through the reader the server would use.
  BodyReader reader(first.framing, first.content_length);
  std::string_view body = input.substr(head_size);
  while (!body.empty()) {
    std::string_view data;
    const DecodeResult r = reader.read(body, &consumed, &data);
    check(consumed <= body.size());
    if (r != DecodeResult::kData) break;
    check(data.data() >= body.data() && data.data() + data.size() == body.data() + consumed);
    body.remove_prefix(consumed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(bytes), size);
  RequestHead head;
  size_t consumed = 0;
  const ParseStatus s = parseRequestHead(input, {}, &head, &consumed);
  if (s.isComplete()) {
    check(consumed <= input.size());
    requestRoundTrip(head);
    const size_t step = size == 0 ? 1 : 1 + bytes[0] % 16;
    chunkedBody(input.substr(consumed), step);
  } else if (s.isError()) {
    check(s.httpStatus() >= 400 && s.httpStatus() < 600 && !s.reason().empty());
  }
  // The whole input as a chunked body too, so the decoder is reached
  // without a valid head in front of it.
  chunkedBody(input, size == 0 ? 1 : 1 + bytes[size - 1] % 7);
  responseRoundTrip(input, size > 0 && (bytes[size - 1] & 1) ? "HEAD" : "GET");
  return 0;
}
