#include "proxy/codec/http1/codec.h"

#include <algorithm>

#include "proxy/http/chunked.h"
#include "proxy/http/serialize.h"

namespace kitgate::http1 {

BodyStatus moveBody(evbuffer* in, evbuffer* out, http::BodyReader& reader, bool rechunk,
                    uint64_t* moved) {
  while (!reader.done() && evbuffer_get_length(in) > 0) {
    evbuffer_iovec seg;
    if (evbuffer_peek(in, -1, nullptr, &seg, 1) < 1) break;
    std::string_view sv(static_cast<const char*>(seg.iov_base), seg.iov_len);
    size_t consumed = 0;
    std::string_view data;
    switch (reader.read(sv, &consumed, &data)) {
      case http::DecodeResult::kData: {
        size_t framing = static_cast<size_t>(data.data() - sv.data());
        evbuffer_drain(in, framing);
        if (rechunk) {
          char hdr[http::ChunkedEncoder::kMaxChunkHeaderBytes];
          size_t n = http::ChunkedEncoder::writeChunkHeader(data.size(), hdr);
          evbuffer_add(out, hdr, n);
        }
        evbuffer_remove_buffer(in, out, data.size());
        if (rechunk)
          evbuffer_add(out, http::ChunkedEncoder::kChunkEnd.data(),
                       http::ChunkedEncoder::kChunkEnd.size());
        evbuffer_drain(in, consumed - framing - data.size());
        *moved += data.size();
        break;
      }
      case http::DecodeResult::kNeedMore:
      case http::DecodeResult::kDone:
        evbuffer_drain(in, consumed);
        break;
      case http::DecodeResult::kError:
        return BodyStatus::kError;
    }
  }
  if (reader.done()) {
    if (rechunk)
      evbuffer_add(out, http::ChunkedEncoder::kLastChunk.data(),
                   http::ChunkedEncoder::kLastChunk.size());
    return BodyStatus::kDone;
  }
  return BodyStatus::kProgress;
}

namespace {

std::string_view frontView(evbuffer* in, size_t max) {
  size_t view = std::min(evbuffer_get_length(in), max);
  const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(view)));
  return {p, view};
}

}  // namespace

http::ParseStatus dispatchRequestHead(evbuffer* in, const http::HeadLimits& limits,
                                      http::RequestHead* head) {
  size_t consumed = 0;
  http::ParseStatus st =
      http::parseRequestHead(frontView(in, limits.max_head_bytes), limits, head, &consumed);
  if (!st.isIncomplete() && !st.isError()) evbuffer_drain(in, consumed);
  return st;
}

http::ParseStatus dispatchResponseHead(evbuffer* in, const http::HeadLimits& limits,
                                       std::string_view request_method, http::ResponseHead* head) {
  size_t consumed = 0;
  http::ParseStatus st = http::parseResponseHead(frontView(in, limits.max_head_bytes), limits,
                                                 request_method, head, &consumed);
  if (!st.isIncomplete() && !st.isError()) evbuffer_drain(in, consumed);
  return st;
}

void Exchange::begin(const Framing& received, bool allow_upgrade) {
  received_ = received;
  fwd_ = received;
  fwd_.keep_alive = true;  // the upstream connection is ours to reuse
  if (!allow_upgrade) fwd_.upgrade = false;
  opaque_ = false;
  rewrite_body_ = false;
  req_body_.emplace(received.framing, received.content_length);
  resp_body_.reset();
}

size_t Exchange::encodeRequestHead(const http::Request& request, evbuffer* out,
                                   std::string* scratch) const {
  scratch->clear();
  http::serializeRequestForOrigin(request, fwd_, scratch);
  evbuffer_add(out, scratch->data(), scratch->size());
  return scratch->size();
}

BodyStatus Exchange::moveRequestBody(evbuffer* in, evbuffer* out, uint64_t* moved) {
  const bool rechunk = !opaque_ && received_.framing == http::BodyFraming::kChunked;
  return moveBody(in, out, *req_body_, rechunk, moved);
}

void Exchange::encodeResponseHead(evbuffer* out, std::string* scratch) const {
  scratch->clear();
  http::serializeResponseForClient(resp_, scratch);
  evbuffer_add(out, scratch->data(), scratch->size());
}

void Exchange::switchToOpaque() {
  opaque_ = true;
  resp_body_.emplace(http::BodyFraming::kUntilClose, 0);
  req_body_.emplace(http::BodyFraming::kUntilClose, 0);
}

void Exchange::rewriteResponseBody() {
  rewrite_body_ = true;
  resp_received_ = resp_.framing;
  resp_received_length_ = resp_.content_length;
  if (resp_.framing != http::BodyFraming::kContentLength) return;
  resp_.framing =
      received_.version_minor == 0 ? http::BodyFraming::kUntilClose : http::BodyFraming::kChunked;
  resp_.has_content_length = false;
}

BodyStatus Exchange::moveResponseBody(evbuffer* in, evbuffer* out, uint64_t* moved) {
  const bool rechunk = !opaque_ && resp_.framing == http::BodyFraming::kChunked;
  return moveBody(in, out, *resp_body_, rechunk, moved);
}

BodyStatus Exchange::decodeResponseBody(evbuffer* in, evbuffer* payload, uint64_t* moved) {
  return moveBody(in, payload, *resp_body_, false, moved);
}

void Exchange::encodePayload(evbuffer* payload, evbuffer* out, bool last, bool chunked) {
  const size_t n = evbuffer_get_length(payload);
  if (n > 0 && chunked) {
    char hdr[http::ChunkedEncoder::kMaxChunkHeaderBytes];
    evbuffer_add(out, hdr, http::ChunkedEncoder::writeChunkHeader(n, hdr));
  }
  evbuffer_add_buffer(out, payload);
  if (n > 0 && chunked) {
    evbuffer_add(out, http::ChunkedEncoder::kChunkEnd.data(),
                 http::ChunkedEncoder::kChunkEnd.size());
  }
  if (last && chunked) {
    evbuffer_add(out, http::ChunkedEncoder::kLastChunk.data(),
                 http::ChunkedEncoder::kLastChunk.size());
  }
}

}  // namespace kitgate::http1
