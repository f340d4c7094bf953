// Internal to kitgate_secrets: byte-level helpers shared by the store
// (rendering scrub forms) and the request/response rewriters. Pure; any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kitgate::secrets {

// A header value we may write: no control characters but HTAB (so no CR,
// LF or NUL).
inline bool isHeaderValueSafe(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// Percent-encodes every byte but RFC 3986 unreserved (A-Z a-z 0-9 - . _ ~),
// so the result reads back as exactly `bytes` in a query parameter ('+' and
// '&' included).
std::string percentEncode(std::string_view bytes);

// One left-to-right pass over `text` replacing every occurrence of
// from(item) by to(item): at each position the earliest match wins, on a tie
// the longest; replaced text is never scanned again (a value containing
// another placeholder stays as it is). Returns false, leaving *out alone,
// when nothing matched (no allocation on that path).
template <typename Item, typename From, typename To>
bool replaceAll(std::string_view text, const std::vector<Item>& items, From from, To to,
                std::string* out) {
  thread_local std::vector<size_t> next;  // next occurrence of each pattern
  next.assign(items.size(), std::string_view::npos);
  bool any = false;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string_view f = from(items[i]);
    if (!f.empty()) next[i] = text.find(f);
    any = any || next[i] != std::string_view::npos;
  }
  if (!any) return false;
  std::string result;
  size_t pos = 0;
  for (;;) {
    size_t best = std::string_view::npos;
    size_t best_len = 0;
    size_t best_item = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (next[i] == std::string_view::npos) continue;
      const std::string_view f = from(items[i]);
      if (next[i] < pos) next[i] = text.find(f, pos);
      if (next[i] == std::string_view::npos) continue;
      if (next[i] < best || (next[i] == best && f.size() > best_len)) {
        best = next[i];
        best_len = f.size();
        best_item = i;
      }
    }
    if (best == std::string_view::npos) break;
    result.append(text.substr(pos, best - pos));
    result.append(to(items[best_item]));
    pos = best + best_len;
  }
  result.append(text.substr(pos));
  *out = std::move(result);
  return true;
}

}  // namespace kitgate::secrets
