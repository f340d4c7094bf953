// Finding a sandbox's real secrets in what an upstream sends back, in every
// form an echo can take, so the response can carry the placeholder instead.
//
//   scrubForms    one secret -> the texts it can appear as (raw, percent-
//                 encoded in both hex cases, JSON-escaped, base64 and
//                 base64url at each of the three byte alignments) and what
//                 each becomes
//   ScrubMatcher  all of a sandbox's forms compiled once (at snapshot build)
//                 into a multi-pattern matcher: leftmost-longest matches in
//                 one pass, and the longest tail that may still begin one
//                 (so a stream can hold back exactly those bytes and no more)
//
// The response header scrub (rewrite.h) and the streaming body scrub
// (proxy/stream/body_scrub.h) both use it. Pure; any thread; a matcher is
// immutable once built.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kitgate::secrets {

// A real secret (in one of its rendered forms) and what a response shows
// instead: the custom secret's placeholder, or kProxyManagedSentinel, in the
// same form.
struct ScrubRule {
  std::string secret;
  std::string replacement;
};

// The forms of `secret` an echoing upstream can hand back, each paired with
// the same form of `replacement`; duplicates removed, raw form first.
//  - raw
//  - percent-encoded (every byte but RFC 3986 unreserved), upper- and
//    lower-case hex; replaced by the raw replacement (it reads back as such)
//  - JSON string escaping ('"' '\\' and control characters), with and
//    without "\/" for '/'
//  - base64 and base64url: where the secret sits inside a longer encoded
//    text its encoding depends on its offset modulo 3, so for each offset
//    the characters that depend on the secret's bytes alone. Only when that
//    core is at least kMinEncodedCore characters long (shorter cores would
//    match unrelated text); replaced by the replacement's core at the same
//    offset (the surrounding encoded text no longer decodes to the secret).
std::vector<ScrubRule> scrubForms(std::string_view secret, std::string_view replacement);
inline constexpr size_t kMinEncodedCore = 8;

// Multi-pattern matcher (Wu-Manber: a shift table over hashed two-byte
// blocks of each pattern's first `min length` bytes; in text without
// near-matches it skips about that many bytes per step).
class ScrubMatcher {
 public:
  ScrubMatcher() = default;
  explicit ScrubMatcher(std::vector<ScrubRule> rules);

  struct Match {
    size_t start = std::string_view::npos;  // npos: none
    size_t length = 0;
    const ScrubRule* rule = nullptr;
    explicit operator bool() const { return rule != nullptr; }
  };

  bool empty() const { return rules_.empty(); }
  const std::vector<ScrubRule>& rules() const { return rules_; }
  // The longest pattern: a stream never holds back more than this minus 1.
  size_t maxLength() const { return max_len_; }

  // The leftmost complete match in text[from..], the longest at that start.
  Match find(std::string_view text, size_t from = 0) const;
  // Length of the longest suffix of text[from..] that is a proper prefix of
  // some pattern (0 when none): bytes a stream must hold until more arrive.
  size_t partialTail(std::string_view text, size_t from = 0) const;
  // One left-to-right pass replacing every match; replaced text is not
  // scanned again. False (and *out untouched) when nothing matched.
  bool replaceAll(std::string_view text, std::string* out) const;

 private:
  // Blocks hash into 4,096 buckets: with a few dozen patterns few buckets
  // are taken, so random bytes mostly see the full shift.
  static constexpr size_t kBuckets = 4096;
  static size_t bucket(unsigned char a, unsigned char b) {
    return ((size_t{a} << 4) ^ b) & (kBuckets - 1);
  }
  size_t blockAt(std::string_view text, size_t last) const;

  std::vector<ScrubRule> rules_;
  size_t min_len_ = 0;
  size_t max_len_ = 0;
  size_t block_ = 2;            // bytes per block (1 when a pattern has 1 byte)
  std::vector<uint8_t> shift_;  // per bucket: how far the window may move (empty: no rules)
  // (bucket of the block ending at min_len, rule index), sorted: the
  // candidates when the shift is 0.
  std::vector<std::pair<uint32_t, uint32_t>> candidates_;
  std::array<uint64_t, 4> starts_{};  // bitset of the patterns' first bytes
};

}  // namespace kitgate::secrets
