#include "proxy/policy/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace kitgate::policy {

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress ip;
  ip.family = Family::kV4;
  ip.bytes[0] = static_cast<uint8_t>(host_order >> 24);
  ip.bytes[1] = static_cast<uint8_t>(host_order >> 16);
  ip.bytes[2] = static_cast<uint8_t>(host_order >> 8);
  ip.bytes[3] = static_cast<uint8_t>(host_order);
  return ip;
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16>& network_order) {
  IpAddress ip;
  ip.family = Family::kV6;
  ip.bytes = network_order;
  return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; longest IPv6 text is 45 chars.
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (text.find(':') == std::string_view::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, buf, &a) != 1) return std::nullopt;
    ip.family = Family::kV4;
    std::memcpy(ip.bytes.data(), &a, 4);
    return ip;
  }
  in6_addr a{};
  if (inet_pton(AF_INET6, buf, &a) != 1) return std::nullopt;
  ip.family = Family::kV6;
  std::memcpy(ip.bytes.data(), &a, 16);
  return ip;
}

std::optional<IpAddress> IpAddress::fromSockaddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr) return std::nullopt;
  IpAddress ip;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in sin;
    std::memcpy(&sin, sa, sizeof sin);
    ip.family = Family::kV4;
    std::memcpy(ip.bytes.data(), &sin.sin_addr, 4);
    return ip;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, sa, sizeof sin6);
    ip.family = Family::kV6;
    std::memcpy(ip.bytes.data(), &sin6.sin6_addr, 16);
    return ip;
  }
  return std::nullopt;
}

uint32_t IpAddress::v4Value() const {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

std::optional<IpAddress> IpAddress::embeddedV4() const {
  if (isV4()) return std::nullopt;
  const auto& b = bytes;
  auto zero = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      if (b[i] != 0) return false;
    }
    return true;
  };
  auto tail = [&](size_t at) {
    return IpAddress::v4((uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) |
                         (uint32_t{b[at + 2]} << 8) | uint32_t{b[at + 3]});
  };
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated, RFC 2765).
  if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) return tail(12);
  if (zero(0, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) return tail(12);
  // 64:ff9b::/96, NAT64 well-known prefix (RFC 6052).
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12)) return tail(12);
  // 2002:aabb:ccdd::/48, 6to4 (RFC 3056).
  if (b[0] == 0x20 && b[1] == 0x02) return tail(2);
  // ::a.b.c.d, IPv4-compatible (deprecated); :: and ::1 are not.
  if (zero(0, 12)) {
    if (zero(12, 15) && b[15] <= 1) return std::nullopt;
    return tail(12);
  }
  return std::nullopt;
}

IpAddress IpAddress::masked(size_t prefix_len) const {
  IpAddress out = *this;
  const size_t bits = bitLength();
  for (size_t i = 0; i < bits / 8; ++i) {
    const size_t first_bit = i * 8;
    if (first_bit + 8 <= prefix_len) continue;
    if (first_bit >= prefix_len) {
      out.bytes[i] = 0;
    } else {
      const size_t keep = prefix_len - first_bit;
      out.bytes[i] = static_cast<uint8_t>(out.bytes[i] & (0xff << (8 - keep)));
    }
  }
  return out;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN];
  if (isV4()) {
    in_addr a{};
    std::memcpy(&a, bytes.data(), 4);
    inet_ntop(AF_INET, &a, buf, sizeof buf);
  } else {
    in6_addr a{};
    std::memcpy(&a, bytes.data(), 16);
    inet_ntop(AF_INET6, &a, buf, sizeof buf);
  }
  return buf;
}

socklen_t IpAddress::toSockaddr(uint16_t port, sockaddr_storage* out) const {
  std::memset(out, 0, sizeof *out);
  if (isV4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, bytes.data(), 4);
    std::memcpy(out, &sin, sizeof sin);
    return sizeof sin;
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(&sin6.sin6_addr, bytes.data(), 16);
  std::memcpy(out, &sin6, sizeof sin6);
  return sizeof sin6;
}

size_t IpAddressHash::operator()(const IpAddress& ip) const {
  // FNV-1a over family + bytes: addresses are not attacker-chosen keys in
  // bulk (rule and source tables are built from configuration).
  uint64_t h = 1469598103934665603ull ^ static_cast<uint64_t>(ip.family);
  for (uint8_t byte : ip.bytes) {
    h ^= byte;
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

}  // namespace kitgate::policy
