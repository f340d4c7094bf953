#include "proxy/stream/body_scrub.h"

#include <algorithm>

namespace kitgate::stream {

namespace {

// How many bytes after a held tail are copied to look for a secret that
// starts in it: at least the longest form, so every match starting in the
// tail is seen whole.
constexpr size_t kJoinBytes = 4096;

// Parts of `in`'s front chain go to `out` without copying.
struct MoveSink {
  evbuffer* in;
  evbuffer* out;
  void keep(size_t n) const {
    if (n > 0) evbuffer_remove_buffer(in, out, n);
  }
  void replace(size_t n, std::string_view with) const {
    evbuffer_drain(in, n);
    evbuffer_add(out, with.data(), with.size());
  }
};

// Parts of a copied text go to `out` by copy.
struct CopySink {
  std::string_view text;
  evbuffer* out;
  size_t pos = 0;
  void keep(size_t n) {
    if (n > 0) evbuffer_add(out, text.data() + pos, n);
    pos += n;
  }
  void replace(size_t n, std::string_view with) {
    evbuffer_add(out, with.data(), with.size());
    pos += n;
  }
};

}  // namespace

void BodyScrub::begin(const secrets::ScrubMatcher* matcher) {
  matcher_ = matcher != nullptr && !matcher->empty() ? matcher : nullptr;
  held_.clear();
}

template <typename Sink>
size_t BodyScrub::scrubUnit(std::string_view u, bool more, Sink& sink, uint32_t* replaced) const {
  // A secret that may continue past the end of `u` starts at `tail`:
  // matches from there on wait for the bytes that decide the longest one.
  const size_t tail = more ? u.size() - matcher_->partialTail(u) : u.size();
  size_t pos = 0;
  for (auto m = matcher_->find(u); m && m.start < tail; m = matcher_->find(u, pos)) {
    sink.keep(m.start - pos);
    sink.replace(m.length, m.rule->replacement);
    pos = m.start + m.length;
    ++*replaced;
  }
  const size_t hold_from = std::max(pos, tail);
  sink.keep(hold_from - pos);
  return u.size() - hold_from;
}

uint32_t BodyScrub::move(evbuffer* in, evbuffer* out) {
  if (matcher_ == nullptr) {
    evbuffer_add_buffer(out, in);
    return 0;
  }
  uint32_t replaced = 0;
  for (;;) {
    const size_t avail = evbuffer_get_length(in);
    if (avail == 0) return replaced;
    if (!held_.empty()) {
      const size_t take = std::min(avail, std::max(kJoinBytes, matcher_->maxLength()));
      join_.assign(held_);
      join_.resize(held_.size() + take);
      evbuffer_copyout(in, join_.data() + held_.size(), take);
      CopySink sink{join_, out};
      const size_t hold = scrubUnit(join_, true, sink, &replaced);
      evbuffer_drain(in, take);
      held_.assign(join_, join_.size() - hold, hold);
      continue;
    }
    evbuffer_iovec seg;
    if (evbuffer_peek(in, -1, nullptr, &seg, 1) < 1) return replaced;
    MoveSink sink{in, out};
    const size_t hold =
        scrubUnit(std::string_view(static_cast<const char*>(seg.iov_base), seg.iov_len), true, sink,
                  &replaced);
    if (hold > 0) {
      held_.resize(hold);
      evbuffer_remove(in, held_.data(), hold);
    }
  }
}

uint32_t BodyScrub::finish(evbuffer* out) {
  uint32_t replaced = 0;
  if (matcher_ != nullptr && !held_.empty()) {
    CopySink sink{held_, out};
    scrubUnit(held_, false, sink, &replaced);
  }
  held_.clear();
  return replaced;
}

}  // namespace kitgate::stream
