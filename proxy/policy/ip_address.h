// IpAddress: an IPv4 or IPv6 address as a small value type (family + 16 bytes).
//
// Plain value, cheap to copy, usable from any thread. Parsing here is strict
// (canonical dotted quad or RFC 4291 IPv6 text, no brackets, no zone id);
// lenient host forms (`127.1`, `0x7f.1`, `[::1]`) are handled by
// normalizeHost() in proxy/policy/host.h.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kitgate::policy {

struct IpAddress {
  enum class Family : uint8_t { kV4, kV6 };

  Family family = Family::kV4;
  // Network byte order. IPv4 uses bytes[0..3]; the rest stay zero.
  std::array<uint8_t, 16> bytes{};

  static IpAddress v4(uint32_t host_order);
  static IpAddress v6(const std::array<uint8_t, 16>& network_order);
  // Strict text forms only: "1.2.3.4" or "2001:db8::1" (no brackets).
  static std::optional<IpAddress> parse(std::string_view text);
  // AF_INET / AF_INET6 only; the port is ignored.
  static std::optional<IpAddress> fromSockaddr(const sockaddr* sa, socklen_t len);

  bool isV4() const { return family == Family::kV4; }
  bool isV6() const { return family == Family::kV6; }
  size_t bitLength() const { return isV4() ? 32 : 128; }
  // IPv4 value in host byte order (only meaningful for kV4).
  uint32_t v4Value() const;

  // The IPv4 address carried inside an IPv6 address by a decodable
  // transition form: IPv4-mapped ::ffff:a.b.c.d, IPv4-translated
  // ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d (not :: or ::1),
  // NAT64 well-known prefix 64:ff9b::/96, 6to4 2002:aabb:ccdd::/48.
  // nullopt for IPv4 addresses and for every other IPv6 address.
  std::optional<IpAddress> embeddedV4() const;

  // This address with every bit after the first `prefix_len` cleared.
  IpAddress masked(size_t prefix_len) const;

  // Canonical text: dotted quad, or RFC 5952 IPv6 (no brackets).
  std::string toString() const;
  // Fills `out` with AF_INET/AF_INET6 and `port`; returns the length to pass
  // to connect(2).
  socklen_t toSockaddr(uint16_t port, sockaddr_storage* out) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct IpAddressHash {
  size_t operator()(const IpAddress& ip) const;
};

}  // namespace kitgate::policy
