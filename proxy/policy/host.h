// Host normalisation: the one routine that turns a destination host as a
// client wrote it (CONNECT authority, absolute URI, Host header, SNI) into
// the canonical identity that policy matches and the proxy connects to.
//
// Pure function, any thread. Run it once, before matching and before
// connecting, and never hand the raw client text to a resolver.
//
// Rules:
//  * lowercase ASCII; strip exactly one trailing dot; reject empty labels,
//    labels longer than 63, names longer than 253, and any byte outside
//    [a-z0-9-_] (so non-ASCII is refused: IDNs must arrive as `xn--` A-labels);
//    a label may not start or end with '-'.
//  * a name whose last label is numeric (digits, or 0x-hex) is an IPv4 literal
//    in inet_aton/WHATWG form (`2130706433`, `0x7f.1`, `017.0.0.1`, `127.1`)
//    and is canonicalised to a dotted quad, or refused if it does not parse.
//  * IPv6 literals: `[v6]` and, when the caller allows it, bare `v6`; zone ids
//    are refused. The text is RFC 5952 canonical, without brackets.
//    IPv4-mapped and other embedded forms stay kIpv6; classify() and CIDR
//    matching look through them (IpAddress::embeddedV4).
#pragma once

#include <string>
#include <string_view>

#include "proxy/common/status.h"
#include "proxy/policy/ip_address.h"

namespace kitgate::policy {

struct Host {
  enum class Kind { kName, kIpv4, kIpv6 };
  Kind kind = Kind::kName;
  std::string text;  // canonical form (no brackets for IPv6)
  IpAddress ip;      // valid for kIpv4 / kIpv6 only

  bool isIp() const { return kind != Kind::kName; }
  // `text`, bracketed for IPv6: what goes before ":port".
  std::string authority() const;
};

enum class Ipv6Brackets {
  kRequired,  // authority forms (CONNECT target, Host header, absolute URI)
  kOptional,  // bare IPv6 also accepted (e.g. a resolver answer)
};

StatusOr<Host> normalizeHost(std::string_view input,
                             Ipv6Brackets brackets = Ipv6Brackets::kRequired);

// Host services (kit-spec §4.1): the host's loopback ports, which a sandbox
// reaches as `host.docker.internal`. Policy normalises that name to
// `localhost` (sbx's normalisation), so rules `localhost:PORT` and
// `host.docker.internal:PORT` mean the same: host port PORT.
inline constexpr std::string_view kHostServiceName = "localhost";
// Whether a normalised name (Host::text of a kName host) names the host's
// loopback: "localhost" or "host.docker.internal".
bool isHostServiceName(std::string_view name);

}  // namespace kitgate::policy
