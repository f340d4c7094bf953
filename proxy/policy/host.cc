#include "proxy/policy/host.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace kitgate::policy {
namespace {

constexpr size_t kMaxName = 253;
constexpr size_t kMaxLabel = 63;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); }

// WHATWG "ends in a number": the last label is all digits or 0x + hex digits.
bool endsInNumber(std::string_view name) {
  const size_t dot = name.rfind('.');
  std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (last.empty()) return false;
  bool all_digits = true;
  for (char c : last) all_digits = all_digits && isDigit(c);
  if (all_digits) return true;
  if (last.size() >= 2 && last[0] == '0' && last[1] == 'x') {
    for (char c : last.substr(2)) {
      if (!isHex(c)) return false;
    }
    return true;
  }
  return false;
}

// One inet_aton part: 0x hex, leading-0 octal, or decimal. Values beyond
// 2^32 are refused early so nothing overflows.
std::optional<uint64_t> parseNumber(std::string_view part) {
  if (part.empty()) return std::nullopt;
  unsigned base = 10;
  if (part.size() >= 2 && part[0] == '0' && part[1] == 'x') {
    base = 16;
    part.remove_prefix(2);
    if (part.empty()) return 0;  // "0x" is zero, as in WHATWG
  } else if (part.size() >= 2 && part[0] == '0') {
    base = 8;
    part.remove_prefix(1);
  }
  uint64_t value = 0;
  for (char c : part) {
    unsigned d;
    if (isDigit(c)) {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    if (d >= base) return std::nullopt;
    value = value * base + d;
    if (value > 0xffffffffull) return std::nullopt;
  }
  return value;
}

std::optional<uint32_t> parseIpv4Number(std::string_view name) {
  std::vector<uint64_t> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    auto part = parseNumber(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (!part) return std::nullopt;
    parts.push_back(*part);
    if (parts.size() > 4) return std::nullopt;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  uint64_t value = 0;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] > 255) return std::nullopt;
    value |= parts[i] << (8 * (3 - i));
  }
  const uint64_t last = parts.back();
  const size_t last_bits = 8 * (5 - parts.size());
  if (last_bits < 32 && last >= (uint64_t{1} << last_bits)) return std::nullopt;
  return static_cast<uint32_t>(value | last);
}

StatusOr<Host> ipv6Host(std::string_view text) {
  if (text.find('%') != std::string_view::npos) {
    return Status::error("IPv6 zone identifiers are not allowed");
  }
  auto ip = IpAddress::parse(text);
  if (!ip || !ip->isV6()) return Status::error("invalid IPv6 address");
  Host h;
  h.kind = Host::Kind::kIpv6;
  h.ip = *ip;
  h.text = ip->toString();
  return h;
}

}  // namespace

std::string Host::authority() const { return kind == Kind::kIpv6 ? "[" + text + "]" : text; }

StatusOr<Host> normalizeHost(std::string_view input, Ipv6Brackets brackets) {
  if (input.empty()) return Status::error("empty host");
  if (input.front() == '[') {
    if (input.size() < 3 || input.back() != ']') return Status::error("unterminated IPv6 literal");
    return ipv6Host(input.substr(1, input.size() - 2));
  }
  if (input.find(':') != std::string_view::npos) {
    if (brackets == Ipv6Brackets::kRequired) {
      return Status::error("IPv6 literal must be in brackets, or the host contains ':'");
    }
    return ipv6Host(input);
  }
  if (input.back() == '.') input.remove_suffix(1);
  if (input.empty()) return Status::error("empty host");
  if (input.size() > kMaxName) return Status::error("host name longer than 253 characters");

  std::string name;
  name.reserve(input.size());
  size_t label_len = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    const char c = lower(input[i]);
    if (c == '.') {
      if (label_len == 0) return Status::error("empty label in host name");
      if (name.back() == '-') return Status::error("label ends with '-'");
      label_len = 0;
    } else {
      const auto uc = static_cast<unsigned char>(c);
      if (uc >= 0x80) return Status::error("non-ASCII host name (use the xn-- form)");
      if (!(isDigit(c) || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) {
        return Status::error("invalid character in host name");
      }
      if (label_len == 0 && c == '-') return Status::error("label starts with '-'");
      if (++label_len > kMaxLabel) return Status::error("label longer than 63 characters");
    }
    name.push_back(c);
  }
  if (label_len == 0) return Status::error("empty label in host name");
  if (name.back() == '-') return Status::error("label ends with '-'");

  Host h;
  if (endsInNumber(name)) {
    auto v4 = parseIpv4Number(name);
    if (!v4) return Status::error("invalid IPv4 address");
    h.kind = Host::Kind::kIpv4;
    h.ip = IpAddress::v4(*v4);
    h.text = h.ip.toString();
    return h;
  }
  h.kind = Host::Kind::kName;
  h.text = std::move(name);
  return h;
}

bool isHostServiceName(std::string_view name) {
  return name == kHostServiceName || name == "host.docker.internal";
}

}  // namespace kitgate::policy
