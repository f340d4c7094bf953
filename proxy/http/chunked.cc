#include "proxy/http/chunked.h"

#include <algorithm>
#include <cassert>

#include "proxy/common/hex.h"

namespace kitgate::http {
namespace {

// Extension and trailer bytes: HT, SP, VCHAR, obs-text (no CTLs, no DEL).
bool isLineChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

constexpr size_t kMaxSizeDigits = 16;  // 64 bits

}  // namespace

DecodeResult ChunkedDecoder::fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  return DecodeResult::kError;
}

DecodeResult ChunkedDecoder::decode(std::string_view in, size_t* consumed, std::string_view* data) {
  size_t i = 0;
  *consumed = 0;
  if (state_ == State::kError) return DecodeResult::kError;
  while (i < in.size() && state_ != State::kDone) {
    const char c = in[i];
    switch (state_) {
      case State::kSizeStart: {
        const int v = hexValue(c);
        if (v < 0) return fail("invalid chunk size");
        remaining_ = static_cast<uint64_t>(v);
        size_digits_ = 1;
        line_bytes_ = 1;
        state_ = State::kSize;
        ++i;
        break;
      }
      case State::kSize: {
        const int v = hexValue(c);
        if (v >= 0) {
          // Leading zeros count too: a size line cannot grow without bound.
          if (++size_digits_ > kMaxSizeDigits) return fail("chunk size too large");
          remaining_ = (remaining_ << 4) | static_cast<uint64_t>(v);
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (c == ' ' || c == '\t') {
          state_ = State::kSizeSpace;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail("invalid chunk size");
        }
        ++line_bytes_;
        ++i;
        break;
      }
      case State::kSizeSpace:
        if (c == ';') {
          state_ = State::kExtension;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c != ' ' && c != '\t') {
          return fail("invalid chunk size");
        }
        if (++line_bytes_ > limits_.max_size_line_bytes) return fail("chunk size line too long");
        ++i;
        break;
      case State::kExtension:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (!isLineChar(c)) {
          return fail("invalid chunk extension");
        }
        if (++line_bytes_ > limits_.max_size_line_bytes) return fail("chunk size line too long");
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return fail("chunk size line without CRLF");
        state_ = remaining_ == 0 ? State::kTrailerStart : State::kData;
        ++i;
        break;
      case State::kData: {
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>(remaining_, static_cast<uint64_t>(in.size() - i)));
        *data = in.substr(i, n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDataCr;
        *consumed = i + n;
        return DecodeResult::kData;
      }
      case State::kDataCr:
        if (c != '\r') return fail("chunk data without CRLF");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return fail("chunk data without CRLF");
        state_ = State::kSizeStart;
        ++i;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (isLineChar(c)) {
          state_ = State::kTrailer;
        } else {
          return fail("invalid trailer");
        }
        if (++trailer_bytes_ > limits_.max_trailer_bytes) return fail("trailers too large");
        ++i;
        break;
      case State::kTrailer:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!isLineChar(c)) {
          return fail("invalid trailer");
        }
        if (++trailer_bytes_ > limits_.max_trailer_bytes) return fail("trailers too large");
        ++i;
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail("trailer without CRLF");
        state_ = State::kTrailerStart;
        ++i;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail("last chunk without CRLF");
        state_ = State::kDone;
        ++i;
        break;
      case State::kDone:
      case State::kError:
        assert(false && "unreachable");
        break;
    }
  }
  *consumed = i;
  return state_ == State::kDone ? DecodeResult::kDone : DecodeResult::kNeedMore;
}

size_t ChunkedEncoder::writeChunkHeader(uint64_t size, char* buf) {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  size_t n = 0;
  do {
    digits[n++] = kHex[size & 0xf];
    size >>= 4;
  } while (size != 0);
  for (size_t i = 0; i < n; ++i) buf[i] = digits[n - 1 - i];
  buf[n] = '\r';
  buf[n + 1] = '\n';
  return n + 2;
}

void ChunkedEncoder::appendChunkHeader(uint64_t size, std::string* out) {
  char buf[kMaxChunkHeaderBytes];
  out->append(buf, writeChunkHeader(size, buf));
}

}  // namespace kitgate::http
