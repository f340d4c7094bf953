// Chunked transfer coding (RFC 9112 §7.1): a strict incremental decoder and
// a tiny encoder. The proxy never passes chunk framing through: it decodes
// the sender's chunks and re-encodes what it forwards.
//
// A decoder belongs to one message on one connection (one thread); it holds
// a few integers and never copies body bytes: data comes back as views into
// the caller's input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kitgate::http {

// Result of one decode step (shared with BodyReader).
enum class DecodeResult {
  kNeedMore,  // all input consumed, no data in it; feed more
  kData,      // *data holds body bytes (a view into the input)
  kDone,      // end of message; bytes after *consumed belong to the next one
  kError,     // malformed framing; error() says why; sticky
};

class ChunkedDecoder {
 public:
  struct Limits {
    size_t max_size_line_bytes = 4096;  // hex size + extensions, per chunk
    size_t max_trailer_bytes = 16 * 1024;  // all trailer lines together
  };

  ChunkedDecoder() = default;
  explicit ChunkedDecoder(Limits limits) : limits_(limits) {}

  // Consumes a prefix of `in` (*consumed bytes) and stops at the first body
  // bytes (kData), the end of the message (kDone), the end of the input
  // (kNeedMore) or an error. Call again with the rest of the input. Chunk
  // extensions are skipped and trailers dropped, both within Limits.
  DecodeResult decode(std::string_view in, size_t* consumed, std::string_view* data);

  bool done() const { return state_ == State::kDone; }
  // Fixed text for the last kError (safe to log or echo), else "".
  std::string_view error() const { return error_; }

 private:
  enum class State {
    kSizeStart,    // expecting the first hex digit of a chunk size
    kSize,         // more hex digits, ';', whitespace before ';', or CR
    kSizeSpace,    // whitespace after the size: more of it, ';' or CR
    kExtension,    // skipping a chunk extension up to CR
    kSizeLf,       // CR seen at the end of the size line
    kData,         // inside chunk data
    kDataCr,       // expecting CR after chunk data
    kDataLf,       // expecting LF after chunk data
    kTrailerStart, // start of a trailer line, or CR of the final empty line
    kTrailer,      // inside a trailer line
    kTrailerLf,    // CR seen at the end of a trailer line
    kFinalLf,      // CR of the final empty line seen
    kDone,
    kError,
  };

  DecodeResult fail(const char* why);

  Limits limits_;
  State state_ = State::kSizeStart;
  uint64_t remaining_ = 0;   // chunk size being read, then data bytes left
  size_t size_digits_ = 0;
  size_t line_bytes_ = 0;    // bytes of the current size line
  size_t trailer_bytes_ = 0;
  const char* error_ = "";
};

// Chunk framing for re-encoding: write chunkHeader(n), then n data bytes,
// then kChunkEnd; after the last data chunk write kLastChunk (no trailers).
class ChunkedEncoder {
 public:
  static constexpr size_t kMaxChunkHeaderBytes = 18;  // 16 hex digits + CRLF
  static constexpr std::string_view kChunkEnd = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";

  // Writes "<hex size>\r\n" into buf (kMaxChunkHeaderBytes long); returns the
  // length. `size` must not be 0 (that is kLastChunk).
  static size_t writeChunkHeader(uint64_t size, char* buf);
  static void appendChunkHeader(uint64_t size, std::string* out);
};

}  // namespace kitgate::http
