// The response body scrub of an intercepted host: the decoded body bytes
// stream through it on their way to the sandbox, and every real secret of
// the sandbox in any form an echo can take (secrets/scrub.h) comes out as
// its placeholder — also when a secret is split across reads.
//
//   codec decodes ──> payload ──> BodyScrub::move ──> scrubbed ──> codec frames
//
// Bytes that cannot begin a secret move through without being copied; only
// a tail that may be the start of one (never more than the longest form
// minus one byte) is held until the next read, or the end of the body
// (finish). Text that only *begins* like a secret is therefore delayed, not
// changed; a streamed response (server-sent events) whose pieces end in a
// newline is never held at all.
//
// Thread: the owning connection's loop. The matcher belongs to the snapshot
// the connection holds.
#pragma once

#include <event2/buffer.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/secrets/scrub.h"

namespace kitgate::stream {

class BodyScrub {
 public:
  // A new body; `matcher` null or empty: move() passes bytes through.
  void begin(const secrets::ScrubMatcher* matcher);
  bool active() const { return matcher_ != nullptr; }
  // Bytes held back (they may begin a secret), not yet given to `out`.
  size_t held() const { return held_.size(); }

  // Moves every byte of `in` to `out` (or into the held tail), with secrets
  // replaced. Returns how many replacements were made.
  uint32_t move(evbuffer* in, evbuffer* out);
  // The body ended: the held tail, scrubbed, to `out`.
  uint32_t finish(evbuffer* out);

 private:
  // Scrubs the contiguous text `u` (the front of the stream): the parts to
  // keep and the replacements through the sink; returns how many bytes of
  // `u`'s end to hold back (only when `more` bytes may follow).
  template <typename Sink>
  size_t scrubUnit(std::string_view u, bool more, Sink& sink, uint32_t* replaced) const;

  const secrets::ScrubMatcher* matcher_ = nullptr;
  std::string held_;  // the tail that may begin a secret
  std::string join_;  // held_ + the next bytes, when held_ is not empty
};

}  // namespace kitgate::stream
