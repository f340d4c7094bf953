#include "proxy/policy/rule.h"

#include <algorithm>

#include "proxy/policy/host.h"

namespace kitgate::policy {
namespace {

constexpr std::string_view kBareStar =
    "bare '*' is not allowed; use '**' for every host or '*.example.com' for one label";
constexpr std::string_view kPortRange =
    "port ranges are not supported (ports are compared exactly); write one rule per port";
constexpr std::string_view kMiddleWildcard =
    "'**' is only allowed as the first label ('**.example.com'); a '*' label may stand first or "
    "in the middle ('*.example.com', 'api.*.example.com')";
constexpr std::string_view kLastWildcard =
    "a wildcard label cannot be the last (top-level) label; list the names explicitly";

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isNameChar(char c) { return isDigit(c) || (c >= 'a' && c <= 'z') || c == '-' || c == '_'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

RuleError error(size_t column, std::string_view message) {
  return RuleError{column, std::string(message)};
}

// Port text after ':' (column = 1-based column of its first char).
std::variant<std::optional<uint16_t>, RuleError> parsePort(std::string_view p, size_t column) {
  if (p.empty()) return error(column, "missing port after ':' (use ':*' for every port)");
  if (p == "*") return std::optional<uint16_t>();
  uint32_t value = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '-' && i > 0) return error(column + i, kPortRange);
    if (!isDigit(p[i])) return error(column + i, "invalid port: expected a number 1-65535 or '*'");
    value = value * 10 + static_cast<uint32_t>(p[i] - '0');
    if (value > 65535) return error(column, "port out of range (1-65535)");
  }
  if (value == 0) return error(column, "port 0 is not a valid destination port");
  return std::optional<uint16_t>(static_cast<uint16_t>(value));
}

// "addr/len" (addr strict text). column = column of addr's first char.
std::variant<Rule, RuleError> parseCidr(std::string_view host, size_t column, bool want_v6) {
  Rule r;
  r.kind = Rule::Kind::kCidr;
  const size_t slash = host.find('/');
  std::string_view addr = host.substr(0, slash);
  auto ip = IpAddress::parse(addr);
  if (!ip || ip->isV6() != want_v6) {
    return error(column, want_v6 ? "invalid IPv6 address" : "invalid IPv4 address");
  }
  size_t prefix = ip->bitLength();
  if (slash != std::string_view::npos) {
    std::string_view len = host.substr(slash + 1);
    const size_t len_col = column + slash + 1;
    if (len.empty() || len.size() > 3) return error(len_col, "invalid prefix length");
    prefix = 0;
    for (char c : len) {
      if (!isDigit(c)) return error(len_col, "invalid prefix length");
      prefix = prefix * 10 + static_cast<size_t>(c - '0');
    }
    if (prefix > ip->bitLength())
      return error(len_col, "prefix length too long for the address family");
    if (ip->masked(prefix) != *ip) {
      return error(column, "host bits set in CIDR; did you mean " + ip->masked(prefix).toString() +
                               "/" + std::to_string(prefix) + "?");
    }
  }
  r.network = *ip;
  r.prefix_len = static_cast<uint8_t>(prefix);
  return r;
}

// A host-name pattern (possibly with wildcards / globs).
std::variant<Rule, RuleError> parseNamePattern(std::string_view host, size_t column) {
  if (host == "*") return error(column, kBareStar);
  if (host == "**") {
    Rule r;
    r.kind = Rule::Kind::kAnyHost;
    return r;
  }
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  if (host.size() > 253) return error(column, "host name longer than 253 characters");
  if (host.find('/') != std::string_view::npos) return parseCidr(host, column, false);

  std::string pattern;
  pattern.reserve(host.size());
  bool glob = false;
  size_t label_start = 0;
  size_t label_index = 0;
  while (true) {
    const size_t dot = host.find('.', label_start);
    const size_t end = dot == std::string_view::npos ? host.size() : dot;
    std::string_view label = host.substr(label_start, end - label_start);
    const size_t col = column + label_start;
    const bool last = dot == std::string_view::npos;
    if (label.empty()) return error(col, "empty label");
    if (label == "*" || label == "**") {
      if (label_index == 0) {
        if (last) return error(col, label == "*" ? kBareStar : "'**' must be the whole rule");
      } else if (label == "**") {
        return error(col, kMiddleWildcard);
      } else if (last) {
        return error(col, kLastWildcard);
      } else {
        glob = true;  // a middle `*` label: exactly one label at that position
      }
    } else {
      for (size_t i = 0; i < label.size(); ++i) {
        const char c = lower(label[i]);
        if (static_cast<unsigned char>(c) >= 0x80) {
          return error(col + i, "non-ASCII character (write internationalised names in xn-- form)");
        }
        if (c == '?' || c == '*') {
          if (c == '*' && i + 1 < label.size() && label[i + 1] == '*') {
            return error(col + i, "'**' is only allowed as a whole first label");
          }
          glob = true;
        } else if (c == '[') {
          const size_t close = label.find(']', i + 1);
          if (close == std::string_view::npos) return error(col + i, "unterminated '[' class");
          size_t j = i + 1;
          if (j < close && label[j] == '!') ++j;
          if (j == close) return error(col + i, "empty '[]' class");
          const size_t class_start = j;
          for (; j < close; ++j) {
            const char k = lower(label[j]);
            if (!isNameChar(k)) return error(col + j, "invalid character in '[]' class");
            if (k == '-' && j > class_start && j + 1 < close &&
                lower(label[j - 1]) > lower(label[j + 1])) {
              return error(col + j, "invalid '[]' range (start after end)");
            }
          }
          glob = true;
          i = close;
        } else if (c == ']') {
          return error(col + i, "']' without '['");
        } else if (!isNameChar(c)) {
          return error(col + i, "invalid character in host name");
        }
      }
      if (label.size() > 63 && !glob) return error(col, "label longer than 63 characters");
    }
    for (char c : label) pattern.push_back(lower(c));
    if (last) break;
    pattern.push_back('.');
    label_start = dot + 1;
    ++label_index;
  }

  Rule r;
  if (glob) {
    r.kind = Rule::Kind::kGlob;
    r.pattern = std::move(pattern);
    return r;
  }
  size_t suffix_at = 0;
  if (pattern.rfind("**.", 0) == 0) {
    r.kind = Rule::Kind::kMultiWildcard;
    suffix_at = 3;
  } else if (pattern.rfind("*.", 0) == 0) {
    r.kind = Rule::Kind::kSingleWildcard;
    suffix_at = 2;
  }
  auto normal = normalizeHost(std::string_view(pattern).substr(suffix_at));
  if (!normal.isOk()) return error(column + suffix_at, normal.status().message());
  if (normal->isIp()) {
    if (suffix_at != 0) return error(column, "a wildcard cannot precede an IP address; use a CIDR");
    Rule ip;
    ip.kind = Rule::Kind::kCidr;
    ip.network = normal->ip;
    ip.prefix_len = static_cast<uint8_t>(normal->ip.bitLength());
    return ip;
  }
  if (suffix_at == 0) r.kind = Rule::Kind::kExact;
  r.pattern = std::move(normal->text);
  return r;
}

size_t portColumn(std::string_view text) {
  const size_t bracket = text.rfind(']');
  const size_t colon = text.find(':', bracket == std::string_view::npos ? 0 : bracket);
  return colon == std::string_view::npos ? 1 : colon + 1;
}

// True when every glob character of `pattern` is a whole `*` label
// (`bedrock-runtime.*.amazonaws.com`, `*.eu.*.example.com`).
bool onlyWholeLabelStars(std::string_view pattern) {
  size_t start = 0;
  while (start <= pattern.size()) {
    size_t dot = pattern.find('.', start);
    if (dot == std::string_view::npos) dot = pattern.size();
    std::string_view label = pattern.substr(start, dot - start);
    if (label != "*" && label.find_first_of("*?[]") != std::string_view::npos) return false;
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::optional<RuleError> credentialHostProblem(const Rule& rule, std::string_view text) {
  if (rule.port) return error(portColumn(text), "credential hosts take no port");
  switch (rule.kind) {
    case Rule::Kind::kAnyHost:
      return error(1, "\"**\" would intercept every host; name the hosts that need the credential");
    case Rule::Kind::kGlob:
      if (onlyWholeLabelStars(rule.pattern)) return std::nullopt;
      return error(1,
                   "glob patterns cannot be intercepted (no CA name constraint expresses them); "
                   "use an exact host, *.domain, **.domain or a middle '*' label");
    case Rule::Kind::kCidr:
      if (rule.prefix_len == rule.network.bitLength()) return std::nullopt;
      return error(1, "address ranges cannot be intercepted; list single IP addresses");
    case Rule::Kind::kExact:
    case Rule::Kind::kSingleWildcard:
    case Rule::Kind::kMultiWildcard:
      return std::nullopt;
  }
  return std::nullopt;
}

ParsedRule parseRule(std::string_view text) {
  if (text.empty()) return error(1, "empty rule");
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c <= 0x20 || c == 0x7f) return error(i + 1, "whitespace or control character in rule");
  }

  std::string_view host = text;
  size_t host_col = 1;
  std::optional<std::string_view> port_text;
  size_t port_col = 0;
  bool v6 = false;

  const size_t first_close = text.find(']');
  if (text[0] == '[' && first_close != std::string_view::npos &&
      text.substr(0, first_close).find(':') != std::string_view::npos) {
    v6 = true;
    host = text.substr(1, first_close - 1);
    host_col = 2;
    std::string_view rest = text.substr(first_close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return error(first_close + 2, "expected ':port' after ']'");
      port_text = rest.substr(1);
      port_col = first_close + 3;
    }
  } else if (text[0] == '[' && text.find(':') != std::string_view::npos &&
             first_close == std::string_view::npos) {
    return error(1, "unterminated '[' in IPv6 literal");
  } else {
    const size_t colons = static_cast<size_t>(std::count(text.begin(), text.end(), ':'));
    if (colons >= 2) {
      if (text.find('/') == std::string_view::npos) {
        return error(
            1, "IPv6 addresses must be written in brackets: [2001:db8::1] or [2001:db8::1]:443");
      }
      v6 = true;  // bare v6 CIDR: 2001:db8::/32 (no port possible)
    } else if (colons == 1) {
      const size_t colon = text.find(':');
      host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      port_col = colon + 2;
    }
  }

  std::optional<uint16_t> port;
  if (port_text) {
    auto p = parsePort(*port_text, port_col);
    if (auto* e = std::get_if<RuleError>(&p)) return *e;
    port = std::get<std::optional<uint16_t>>(p);
  }
  if (host.empty()) return error(host_col, "missing host before ':'");

  auto parsed = v6 ? parseCidr(host, host_col, true) : parseNamePattern(host, host_col);
  if (auto* e = std::get_if<RuleError>(&parsed)) return *e;
  Rule rule = std::move(std::get<Rule>(parsed));
  rule.text = std::string(text);
  rule.port = port;
  return rule;
}

}  // namespace kitgate::policy
