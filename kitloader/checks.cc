#include "kitloader/checks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <variant>

#include "proxy/policy/rule.h"

namespace kitgate::kit {

namespace {
bool lowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

bool isValidKitName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!lowerAlnum(s.front()) || !lowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lowerAlnum(c) || c == '-'; });
}

bool isShellIdentifier(std::string_view s) {
  if (s.empty() || !(alpha(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alpha(c) || digit(c) || c == '_'; });
}

bool isArgName(std::string_view s) {
  if (s.empty() || !(alpha(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return alpha(c) || digit(c) || c == '_' || c == '-'; });
}

bool isHeaderToken(std::string_view s) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return alpha(c) || digit(c) || kExtra.find(c) != std::string_view::npos;
  });
}

bool isOctalMode(std::string_view s) {
  if (!s.empty() && s[0] == '0' && (s.size() == 4 || s.size() == 5)) s.remove_prefix(1);
  if (s.size() != 3 && s.size() != 4) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '7'; });
}

std::optional<std::string> sizeError(std::string_view s) {
  std::string t = lower(s);
  size_t i = 0;
  bool seen_digit = false;
  while (i < t.size() && (digit(t[i]) || t[i] == '.')) {
    seen_digit = seen_digit || digit(t[i]);
    ++i;
  }
  std::string unit = t.substr(i);
  static constexpr std::array<std::string_view, 16> kUnits = {
      "", "b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib", "t", "tb", "tib", "p", "pb"};
  if (!seen_digit || std::find(kUnits.begin(), kUnits.end(), unit) == kUnits.end()) {
    return "invalid size: '" + std::string(s) + "'";
  }
  return std::nullopt;
}

int countPercentS(std::string_view f) {
  int n = 0;
  for (size_t i = 0; i + 1 < f.size(); ++i) {
    if (f[i] != '%') continue;
    if (f[i + 1] == 's') ++n;
    ++i;  // skip the verb (and `%%`)
  }
  return n;
}

bool isDottedPath(std::string_view s) {
  bool start = true;
  if (s.empty()) return false;
  for (char c : s) {
    if (start) {
      if (!(c >= 'a' && c <= 'z')) return false;
      start = false;
    } else if (c == '.') {
      start = true;
    } else if (!(alpha(c) || digit(c))) {
      return false;
    }
  }
  return !start;
}

std::optional<PatternProblem> checkNetworkPattern(std::string_view pattern) {
  policy::ParsedRule parsed = policy::parseRule(pattern);
  if (const auto* err = std::get_if<policy::RuleError>(&parsed)) {
    return PatternProblem{err->column, err->message};
  }
  return std::nullopt;
}

std::optional<MiddleWildcard> middleWildcard(std::string_view pattern) {
  size_t colon = pattern.find(':');
  std::string_view host = pattern.substr(0, colon);
  size_t last = std::string_view::npos;
  for (size_t pos = host.find(".*."); pos != std::string_view::npos;
       pos = host.find(".*.", pos + 1))
    last = pos;
  if (last == std::string_view::npos) return std::nullopt;
  return MiddleWildcard{last + 2, lower(host.substr(last + 3))};
}

std::optional<PatternProblem> checkCredentialHost(std::string_view pattern) {
  policy::ParsedRule parsed = policy::parseRule(pattern);
  const auto* rule = std::get_if<policy::Rule>(&parsed);
  if (rule == nullptr) return std::nullopt;  // checkNetworkPattern reports it
  if (auto e = policy::credentialHostProblem(*rule, pattern)) {
    return PatternProblem{e->column, e->message};
  }
  return std::nullopt;
}

namespace {
// Splits "host:port" (brackets for IPv6) into the host part.
std::string_view hostPart(std::string_view p) {
  if (!p.empty() && p[0] == '[') {
    size_t close = p.find(']');
    return close == std::string_view::npos ? p : p.substr(1, close - 1);
  }
  size_t colon = p.rfind(':');
  if (colon != std::string_view::npos && p.find(':') == colon) return p.substr(0, colon);
  return p;
}
size_t labelCount(std::string_view h) {
  return static_cast<size_t>(std::count(h.begin(), h.end(), '.')) + 1;
}
bool endsWithLabel(std::string_view host, std::string_view suffix) {
  return host.size() > suffix.size() + 1 && host.substr(host.size() - suffix.size()) == suffix &&
         host[host.size() - suffix.size() - 1] == '.';
}
}  // namespace

bool patternCoversHost(std::string_view pattern, std::string_view host) {
  std::string p = lower(hostPart(pattern));
  std::string h = lower(hostPart(host));
  if (p == "**" || p == h) return true;
  if (p.rfind("**.", 0) == 0) return endsWithLabel(h, p.substr(3));
  if (p.rfind("*.", 0) == 0) {
    std::string_view base = std::string_view(p).substr(2);
    return endsWithLabel(h, base) && labelCount(h) == labelCount(base) + 1;
  }
  // A wildcard inject domain is covered by the identical allow pattern only.
  return false;
}

bool isWildcardHost(std::string_view host) {
  return host.find_first_of("*?[") != std::string_view::npos;
}

EnvNameClass classifyEnvName(std::string_view name) {
  std::string l = lower(name);
  if (l == "http_proxy" || l == "https_proxy" || l == "no_proxy" || l == "all_proxy")
    return EnvNameClass::kProxyBypass;
  static constexpr std::array<std::string_view, 3> kPrefixes = {"SBX_", "DASH_", "DOCKER_"};
  for (auto p : kPrefixes) {
    if (name.substr(0, p.size()) == p) return EnvNameClass::kRuntimeReserved;
  }
  static constexpr std::array<std::string_view, 6> kNames = {
      "HOME", "USER", "SHELL", "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH"};
  if (std::find(kNames.begin(), kNames.end(), name) != kNames.end())
    return EnvNameClass::kRuntimeReserved;
  return EnvNameClass::kOk;
}

bool isBuiltinAgent(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kAgents = {
      "claude", "codex", "copilot",  "cursor", "docker-agent", "droid",
      "gemini", "kiro",  "opencode", "shell",  "amp",          "openhands"};
  return std::find(kAgents.begin(), kAgents.end(), name) != kAgents.end();
}

}  // namespace kitgate::kit
