// StreamDemuxer: splits Docker's multiplexed stdout/stderr stream (exec,
// attach and logs of a container without a TTY) into its two streams.
// Each frame is an 8-byte header {stream, 0, 0, 0, size as big-endian u32}
// followed by `size` bytes. With a TTY there are no headers: everything is
// stdout. Frames may be split anywhere across feed() calls.
//
// Pure and single-threaded; owns nothing but its partial-frame state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "orchestrator/docker/types.h"

namespace kitgate::docker {

class StreamDemuxer {
 public:
  explicit StreamDemuxer(bool tty) : tty_(tty) {}

  // Hands every complete or partial payload piece in `chunk` to `sink`, in
  // order. Stream 0 (stdin echo) counts as stdout, 3 (daemon error) as stderr.
  void feed(std::string_view chunk, const OutputFn& sink);

  // True when the stream stopped inside a frame (a header or its payload).
  bool midFrame() const { return header_have_ > 0 || payload_left_ > 0; }

 private:
  bool tty_;
  std::array<unsigned char, 8> header_{};
  size_t header_have_ = 0;
  uint32_t payload_left_ = 0;
  OutputStream current_ = OutputStream::kStdout;
};

// Keeps the last `limit` bytes appended to it (exec output for error texts).
class TailBuffer {
 public:
  explicit TailBuffer(size_t limit) : limit_(limit) {}
  void append(std::string_view data);
  const std::string& text() const { return text_; }
  bool truncated() const { return truncated_; }

 private:
  size_t limit_;
  std::string text_;
  bool truncated_ = false;
};

}  // namespace kitgate::docker
