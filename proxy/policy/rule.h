// Network rule grammar (kit-spec §4.2): parse one allow/deny entry.
//
// Pure functions, any thread. A Rule is a plain value that keeps its original
// text (the "rule" field of policy log lines and decisions).
//
//   example.com            that host only (not subdomains), every port
//   *.example.com          exactly one extra label: a.example.com, never the
//                          apex example.com nor a.b.example.com
//   **.example.com         one or more extra labels (never the apex)
//   api?.example.com       shell-glob characters inside labels: ? [ab] [a-c]
//   api[!1].example.com    [!…] negated class, * inside a label (api-*.x.com);
//                          a glob never matches across a '.'
//   api.*.example.com      a middle `*` label: exactly one label at that
//                          position (bedrock-runtime.*.amazonaws.com, used by
//                          real kits); Kind kGlob
//   **                     every host (names and IP literals)
//   host:443  host:*       one port / every port; no port = every port
//   10.0.0.1  [2001:db8::1]  [2001:db8::1]:443   IP literals (v6 in brackets)
//   10.0.0.0/8  10.0.0.0/8:5432  2001:db8::/32  [2001:db8::/32]:443
//                          CIDRs; a v6 CIDR with a port must be bracketed.
//                          Host bits must be zero (10.0.0.1/8 is refused).
// Refused, with the 1-based column of the offending character and a message:
//   bare `*`, port ranges `a-b` (ports compare exactly: list each port),
//   `**` anywhere but the first label (`a.**.b`), a wildcard last label
//   (`example.*`), bare IPv6
//   without brackets or prefix, bad characters, empty labels, port 0.
// Host parts are lower-cased and lose one trailing dot, like normalizeHost().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "proxy/policy/ip_address.h"

namespace kitgate::policy {

struct Rule {
  enum class Kind {
    kAnyHost,         // **
    kExact,           // example.com
    kSingleWildcard,  // *.example.com  (pattern = "example.com")
    kMultiWildcard,   // **.example.com (pattern = "example.com")
    kGlob,            // anything with glob characters (pattern = whole host)
    kCidr,            // IP literal (full-length prefix) or CIDR
  };

  Kind kind = Kind::kExact;
  std::string text;     // the rule exactly as written
  std::string pattern;  // normalised host part (see Kind)
  IpAddress network;    // kCidr: network address (host bits zero)
  uint8_t prefix_len = 0;
  std::optional<uint16_t> port;  // nullopt = every port

  bool matchesPort(uint16_t p) const { return !port || *port == p; }
};

struct RuleError {
  size_t column = 1;  // 1-based, inside the rule text
  std::string message;
};

using ParsedRule = std::variant<Rule, RuleError>;

ParsedRule parseRule(std::string_view text);

// Why `rule` (parsed from `text`) cannot name a credential host, i.e. a host
// the proxy TLS-intercepts under a name-constrained CA: a port, `**`, a glob
// other than whole `*` labels, an address range. nullopt = it can. Shared by
// the proxy's credential host patterns and the kit loader's warnings.
std::optional<RuleError> credentialHostProblem(const Rule& rule, std::string_view text);

}  // namespace kitgate::policy
