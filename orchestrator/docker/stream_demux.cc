#include "orchestrator/docker/stream_demux.h"

#include <algorithm>

namespace kitgate::docker {

void StreamDemuxer::feed(std::string_view chunk, const OutputFn& sink) {
  if (tty_) {
    if (!chunk.empty()) sink(OutputStream::kStdout, chunk);
    return;
  }
  while (!chunk.empty()) {
    if (payload_left_ == 0) {
      const size_t take = std::min(header_.size() - header_have_, chunk.size());
      std::copy_n(chunk.begin(), take, header_.begin() + static_cast<std::ptrdiff_t>(header_have_));
      header_have_ += take;
      chunk.remove_prefix(take);
      if (header_have_ < header_.size()) return;
      header_have_ = 0;
      current_ = (header_[0] == 2 || header_[0] == 3) ? OutputStream::kStderr : OutputStream::kStdout;
      payload_left_ = (uint32_t{header_[4]} << 24) | (uint32_t{header_[5]} << 16) |
                      (uint32_t{header_[6]} << 8) | uint32_t{header_[7]};
      continue;
    }
    const size_t take = std::min<size_t>(payload_left_, chunk.size());
    sink(current_, chunk.substr(0, take));
    payload_left_ -= static_cast<uint32_t>(take);
    chunk.remove_prefix(take);
  }
}

void TailBuffer::append(std::string_view data) {
  if (data.size() >= limit_) {
    truncated_ = truncated_ || data.size() > limit_ || !text_.empty();
    text_.assign(data.substr(data.size() - limit_));
    return;
  }
  const size_t total = text_.size() + data.size();
  if (total > limit_) {
    text_.erase(0, total - limit_);
    truncated_ = true;
  }
  text_.append(data);
}

}  // namespace kitgate::docker
