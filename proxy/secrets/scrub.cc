#include "proxy/secrets/scrub.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "proxy/common/base64.h"
#include "proxy/common/json_text.h"
#include "proxy/secrets/text.h"

namespace kitgate::secrets {

namespace {

std::string percentEncodeLower(std::string_view bytes) {
  std::string out = percentEncode(bytes);
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '%') {
      out[i + 1] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i + 1])));
      out[i + 2] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i + 2])));
    }
  }
  return out;
}

std::string jsonEscape(std::string_view bytes, bool escape_slash) {
  std::string out;
  appendJsonEscaped(out, bytes, escape_slash);
  return out;
}

// The base64 characters of `bytes` placed at byte offset `offset` (0..2) of
// an encoded text that depend on `bytes` alone: character i covers bits
// [6i, 6i + 6) of the text, so it is kept when those bits lie inside the
// bytes' bits [8 * offset, 8 * (offset + size)).
std::string base64Core(std::string_view bytes, size_t offset, bool url) {
  std::string text(offset, '\0');
  text.append(bytes);
  std::string encoded = base64Encode(text);
  const size_t first = (8 * offset + 5) / 6;
  const size_t end = 8 * (offset + bytes.size()) / 6;
  if (end <= first) return {};
  std::string core = encoded.substr(first, end - first);
  if (url) {
    std::replace(core.begin(), core.end(), '+', '-');
    std::replace(core.begin(), core.end(), '/', '_');
  }
  return core;
}

}  // namespace

std::vector<ScrubRule> scrubForms(std::string_view secret, std::string_view replacement) {
  std::vector<ScrubRule> forms;
  auto add = [&](std::string s, std::string r) {
    if (s.empty()) return;
    const bool seen =
        std::any_of(forms.begin(), forms.end(), [&](const ScrubRule& f) { return f.secret == s; });
    if (!seen) forms.push_back(ScrubRule{std::move(s), std::move(r)});
  };
  add(std::string(secret), std::string(replacement));
  add(percentEncode(secret), std::string(replacement));
  add(percentEncodeLower(secret), std::string(replacement));
  for (const bool slash : {false, true})
    add(jsonEscape(secret, slash), jsonEscape(replacement, slash));
  for (const bool url : {false, true}) {
    for (size_t offset = 0; offset < 3; ++offset) {
      std::string core = base64Core(secret, offset, url);
      if (core.size() >= kMinEncodedCore)
        add(std::move(core), base64Core(replacement, offset, url));
    }
  }
  return forms;
}

// ---------------------------------------------------------------- matcher

ScrubMatcher::ScrubMatcher(std::vector<ScrubRule> rules) {
  rules.erase(std::remove_if(rules.begin(), rules.end(),
                             [](const ScrubRule& r) { return r.secret.empty(); }),
              rules.end());
  rules_ = std::move(rules);
  if (rules_.empty()) return;
  min_len_ = rules_.front().secret.size();
  for (const ScrubRule& r : rules_) {
    min_len_ = std::min(min_len_, r.secret.size());
    max_len_ = std::max(max_len_, r.secret.size());
    const auto c = static_cast<unsigned char>(r.secret.front());
    starts_[c >> 6] |= uint64_t{1} << (c & 63);
  }
  block_ = min_len_ >= 2 ? 2 : 1;
  // Shift: for a block ending at offset q (1-based, block_ <= q <= min_len)
  // of some pattern, the window may move min_len - q; a block seen nowhere
  // lets it move past the whole block.
  const size_t most = std::min<size_t>(min_len_ - block_ + 1, 255);
  shift_.assign(kBuckets, static_cast<uint8_t>(most));
  for (uint32_t i = 0; i < rules_.size(); ++i) {
    const std::string& p = rules_[i].secret;
    for (size_t q = block_; q <= min_len_; ++q) {
      const size_t b = blockAt(p, q - 1);
      shift_[b] = static_cast<uint8_t>(std::min<size_t>(shift_[b], min_len_ - q));
    }
    candidates_.emplace_back(static_cast<uint32_t>(blockAt(p, min_len_ - 1)), i);
  }
  std::sort(candidates_.begin(), candidates_.end());
}

size_t ScrubMatcher::blockAt(std::string_view text, size_t last) const {
  const auto b = static_cast<unsigned char>(text[last]);
  return block_ == 2 ? bucket(static_cast<unsigned char>(text[last - 1]), b) : bucket(0, b);
}

ScrubMatcher::Match ScrubMatcher::find(std::string_view text, size_t from) const {
  Match best;
  if (rules_.empty() || from >= text.size() || text.size() - from < min_len_) return best;
  const char* data = text.data();
  size_t last = from + min_len_ - 1;  // the window's last byte
  while (last < text.size()) {
    const size_t b = blockAt(text, last);
    if (shift_[b] != 0) {
      last += shift_[b];
      continue;
    }
    const size_t start = last + 1 - min_len_;
    auto it = std::lower_bound(candidates_.begin(), candidates_.end(),
                               std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(b), 0));
    for (; it != candidates_.end() && it->first == b; ++it) {
      const ScrubRule& r = rules_[it->second];
      const size_t n = r.secret.size();
      if (n > best.length && n <= text.size() - start &&
          std::memcmp(data + start, r.secret.data(), n) == 0) {
        best = Match{start, n, &r};
      }
    }
    if (best) return best;
    ++last;
  }
  return best;
}

size_t ScrubMatcher::partialTail(std::string_view text, size_t from) const {
  if (rules_.empty() || from >= text.size()) return 0;
  const size_t n = text.size();
  for (size_t p = std::max(from, n > max_len_ - 1 ? n - (max_len_ - 1) : size_t{0}); p < n; ++p) {
    const auto c = static_cast<unsigned char>(text[p]);
    if ((starts_[c >> 6] & (uint64_t{1} << (c & 63))) == 0) continue;
    const std::string_view rest = text.substr(p);
    for (const ScrubRule& r : rules_) {
      if (r.secret.size() > rest.size() && r.secret.compare(0, rest.size(), rest) == 0)
        return rest.size();
    }
  }
  return 0;
}

bool ScrubMatcher::replaceAll(std::string_view text, std::string* out) const {
  Match m = find(text);
  if (!m) return false;
  std::string result;
  size_t pos = 0;
  for (; m; m = find(text, pos)) {
    result.append(text.substr(pos, m.start - pos));
    result.append(m.rule->replacement);
    pos = m.start + m.length;
  }
  result.append(text.substr(pos));
  *out = std::move(result);
  return true;
}

}  // namespace kitgate::secrets
