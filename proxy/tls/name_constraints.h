// X.509 Name Constraints for an interception CA, derived from the kit host
// patterns that sandbox's traffic is intercepted for (serviceDomains, inject
// domains, custom-secret hosts). Pure values, no I/O; any thread.
//
// How kit patterns map to RFC 5280 §4.2.1.10 (dNSName constraints are
// "this name and every name below it"; a leading dot means "strictly below";
// there is no way to say "exactly one label" or "exactly this name"):
//
//   kit pattern        permitted subtree   the CA can then sign
//   api.x.com          dNSName api.x.com   api.x.com and any *.api.x.com
//   *.x.com            dNSName .x.com      any name strictly below x.com
//   **.x.com           dNSName .x.com      any name strictly below x.com
//   192.0.2.7          iPAddress 192.0.2.7/32
//   2001:db8::1        iPAddress 2001:db8::1/128
//
// So the constraint is the tightest superset of the intercepted set that X.509
// can express: `*.x.com` (one label) widens to any depth, and an exact host
// also covers names below it. The leaf cache only mints for hosts the proxy
// intercepts, so the widening matters only if the CA key leaks — and then it
// still cannot impersonate anything outside these subtrees.
// When no IP address is permitted, every IPv4 and IPv6 range is excluded;
// when no DNS name is permitted, the whole DNS namespace is excluded.
// Verifier support: OpenSSL, Go, NSS and GnuTLS check both kinds. BoringSSL's
// X509_verify_cert does not evaluate iPAddress constraints and rejects any
// IP-SAN leaf under such a CA ("unsupported name constraint type"): fail
// closed, and DNS-named leaves are unaffected.
// Rejected patterns: `*`, `**`, glob characters (`?`, `[`), wildcards that are
// not a leading `*.`/`**.` label, ports, and anything that is not a valid
// host name or IP literal.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::tls {

// Lower-cased, without a trailing dot; a valid DNS name (letters, digits, '-',
// '_', labels of 1..63, total <= 253) or an IP literal (IPv6 with or without
// brackets; returned without them). Errors name the problem.
StatusOr<std::string> normalizeHost(std::string_view host);

// True if `host` (already normalized) is an IPv4 or IPv6 literal.
bool isIpLiteral(std::string_view host);

struct NameConstraints {
  // dNSName subtrees: "api.x.com" (that name and below) or ".x.com" (below only).
  std::vector<std::string> permitted_dns;
  // iPAddress subtrees, each a single address: 4 or 16 raw bytes.
  std::vector<std::string> permitted_ips;

  // Whether a certificate for `host` (normalized) is inside these constraints,
  // with the same matching rule the verifiers apply.
  bool permits(std::string_view host) const;
  bool operator==(const NameConstraints&) const = default;
};

// Builds the constraints for a list of kit host patterns (see the table above).
// Duplicates and subtrees already covered by another entry are dropped.
StatusOr<NameConstraints> nameConstraintsFor(const std::vector<std::string>& host_patterns);

}  // namespace kitgate::tls
