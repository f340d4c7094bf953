#include "proxy/secrets/mask.h"

#include <vector>

namespace kitgate::secrets {
namespace {

constexpr size_t kShownPrefix = 6;
constexpr size_t kShownSuffix = 4;
constexpr size_t kLongFrom = 20;
constexpr size_t kMaxLength = 25;
constexpr std::string_view kEllipsis = "...";

// Splits into UTF-8 characters (a stray continuation byte counts as one).
std::vector<std::string_view> characters(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 1;
    while (i + len < s.size() && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) ++len;
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

void appendVisible(std::string_view c, std::string* out) {
  const auto u = static_cast<unsigned char>(c[0]);
  if (c.size() == 1 && (u < 0x20 || u == 0x7f)) {
    out->push_back('?');
  } else {
    out->append(c);
  }
}

}  // namespace

std::string maskSecret(std::string_view secret) {
  const std::vector<std::string_view> chars = characters(secret);
  const size_t n = chars.size();
  std::string out;
  if (n <= kShownPrefix) return std::string(n, '*');
  for (size_t i = 0; i < kShownPrefix; ++i) appendVisible(chars[i], &out);
  if (n < kLongFrom) return out.append(n - kShownPrefix, '*');
  const size_t hidden = n - kShownPrefix - kShownSuffix;
  if (n <= kMaxLength) {
    out.append(hidden, '*');
  } else {
    out.append(kMaxLength - kShownPrefix - kShownSuffix - kEllipsis.size(), '*');
    out.append(kEllipsis);
  }
  for (size_t i = n - kShownSuffix; i < n; ++i) appendVisible(chars[i], &out);
  return out;
}

}  // namespace kitgate::secrets
