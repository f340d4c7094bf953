#include "proxy/tls/name_constraints.h"

#include <arpa/inet.h>

#include <algorithm>

namespace kitgate::tls {
namespace {

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Raw bytes of an IP literal (4 or 16), or empty if `host` is not one.
std::string ipBytes(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return {};
  const std::string text(host);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return {};
}

Status validateDnsName(std::string_view name, std::string_view original) {
  if (name.empty() || name.size() > 253) {
    return Status::error("host \"" + std::string(original) + "\": length must be 1..253");
  }
  size_t label_len = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label_len == 0 || label_len > 63) {
        return Status::error("host \"" + std::string(original) +
                             "\": empty or over-long (>63) label");
      }
      label_len = 0;
      continue;
    }
    if (!isLabelChar(name[i])) {
      return Status::error("host \"" + std::string(original) + "\": character '" +
                           std::string(1, name[i]) + "' is not allowed in a host name");
    }
    ++label_len;
  }
  return Status::ok();
}

// RFC 5280 dNSName matching as the verifiers implement it: `base` matches
// itself and any name ending in "." + base; a base starting with '.' matches
// names strictly below it.
bool dnsWithin(std::string_view host, std::string_view base) {
  if (host.size() < base.size()) return false;
  if (host.substr(host.size() - base.size()) != base) return false;
  if (host.size() == base.size()) return true;
  return base.front() == '.' || host[host.size() - base.size() - 1] == '.';
}

}  // namespace

StatusOr<std::string> normalizeHost(std::string_view host) {
  std::string ip = ipBytes(host);
  if (!ip.empty()) {
    char text[INET6_ADDRSTRLEN];
    inet_ntop(ip.size() == 4 ? AF_INET : AF_INET6, ip.data(), text, sizeof(text));
    return std::string(text);
  }
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  if (!out.empty() && out.back() == '.') out.pop_back();
  Status s = validateDnsName(out, host);
  if (!s) return s;
  return out;
}

bool isIpLiteral(std::string_view host) { return !ipBytes(host).empty(); }

bool NameConstraints::permits(std::string_view host) const {
  const std::string ip = ipBytes(host);
  if (!ip.empty()) {
    return std::find(permitted_ips.begin(), permitted_ips.end(), ip) != permitted_ips.end();
  }
  return std::any_of(permitted_dns.begin(), permitted_dns.end(),
                     [&](const std::string& base) { return dnsWithin(host, base); });
}

StatusOr<NameConstraints> nameConstraintsFor(const std::vector<std::string>& host_patterns) {
  if (host_patterns.empty()) {
    return Status::error("an interception CA needs at least one permitted host");
  }
  NameConstraints nc;
  for (const std::string& pattern : host_patterns) {
    std::string_view rest = pattern;
    bool below_only = false;
    if (rest.starts_with("**.")) {
      rest.remove_prefix(3);
      below_only = true;
    } else if (rest.starts_with("*.")) {
      rest.remove_prefix(2);
      below_only = true;
    }
    if (rest.find_first_of("*?[]") != std::string_view::npos && !isIpLiteral(rest)) {
      return Status::error("host pattern \"" + pattern +
                           "\": only a leading \"*.\" or \"**.\" wildcard can be name-constrained");
    }
    StatusOr<std::string> host = normalizeHost(rest);
    if (!host) return Status::error("host pattern \"" + pattern + "\": " + host.status().message());
    if (isIpLiteral(*host)) {
      if (below_only) return Status::error("host pattern \"" + pattern + "\": wildcard on an IP");
      nc.permitted_ips.push_back(ipBytes(*host));
    } else {
      nc.permitted_dns.push_back(below_only ? "." + *host : *host);
    }
  }
  // Drop duplicates and entries another entry already covers (".x" under "x").
  std::sort(nc.permitted_dns.begin(), nc.permitted_dns.end());
  nc.permitted_dns.erase(std::unique(nc.permitted_dns.begin(), nc.permitted_dns.end()),
                         nc.permitted_dns.end());
  std::vector<std::string> kept;
  for (const std::string& base : nc.permitted_dns) {
    const std::string_view name = base.front() == '.' ? std::string_view(base).substr(1) : base;
    const bool covered = std::any_of(nc.permitted_dns.begin(), nc.permitted_dns.end(),
                                     [&](const std::string& other) {
                                       return other != base && dnsWithin(name, other);
                                     });
    if (!covered) kept.push_back(base);
  }
  nc.permitted_dns = std::move(kept);
  std::sort(nc.permitted_ips.begin(), nc.permitted_ips.end());
  nc.permitted_ips.erase(std::unique(nc.permitted_ips.begin(), nc.permitted_ips.end()),
                         nc.permitted_ips.end());
  return nc;
}

}  // namespace kitgate::tls
