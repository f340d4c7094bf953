#include "proxy/sandbox/credentials.h"

#include <cstdint>

#include "proxy/common/base64.h"

namespace kitgate::sandbox {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool startsWithScheme(std::string_view value, std::string_view scheme, std::string_view* rest) {
  if (value.size() <= scheme.size()) return false;
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (lower(value[i]) != scheme[i]) return false;
  }
  if (value[scheme.size()] != ' ') return false;
  std::string_view r = value.substr(scheme.size());
  while (!r.empty() && r.front() == ' ') r.remove_prefix(1);
  while (!r.empty() && (r.back() == ' ' || r.back() == '\t')) r.remove_suffix(1);
  *rest = r;
  return !r.empty();
}

bool validTokenText(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

}  // namespace

std::optional<ProxyCredentials> parseProxyAuthorization(std::string_view value) {
  std::string_view rest;
  if (startsWithScheme(value, "bearer", &rest)) {
    if (!validTokenText(rest)) return std::nullopt;
    return ProxyCredentials{std::nullopt, std::string(rest)};
  }
  if (startsWithScheme(value, "basic", &rest)) {
    auto decoded = kitgate::base64Decode(rest);
    if (!decoded) return std::nullopt;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    ProxyCredentials c{decoded->substr(0, colon), decoded->substr(colon + 1)};
    if (!validTokenText(c.token)) return std::nullopt;
    return c;
  }
  return std::nullopt;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<unsigned char>(
        diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
  }
  return diff == 0;
}

}  // namespace kitgate::sandbox
