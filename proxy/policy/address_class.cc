#include "proxy/policy/address_class.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace kitgate::policy {
namespace {

bool inV4(uint32_t a, uint32_t net, unsigned prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (a & mask) == net;
}

AddressClass classifyV4(uint32_t a) {
  if (inV4(a, 0x00000000, 8)) return AddressClass::kUnspecified;  // "this network"
  if (inV4(a, 0x7f000000, 8)) return AddressClass::kLoopback;
  if (inV4(a, 0x0a000000, 8) || inV4(a, 0xac100000, 12) || inV4(a, 0xc0a80000, 16)) {
    return AddressClass::kPrivate;
  }
  if (inV4(a, 0x64400000, 10)) return AddressClass::kCgnat;
  if (inV4(a, 0xa9fe0000, 16)) return AddressClass::kLinkLocal;
  if (inV4(a, 0xc0000200, 24) || inV4(a, 0xc6336400, 24) || inV4(a, 0xcb007100, 24)) {
    return AddressClass::kDocumentation;
  }
  if (a == 0xffffffff) return AddressClass::kBroadcast;
  if (inV4(a, 0xe0000000, 4)) return AddressClass::kMulticast;
  if (inV4(a, 0xf0000000, 4) || inV4(a, 0xc0000000, 24) || inV4(a, 0xc6120000, 15) ||
      inV4(a, 0xc0586300, 24)) {
    return AddressClass::kReserved;
  }
  return AddressClass::kPublic;
}

}  // namespace

AddressClass classify(const IpAddress& ip) {
  if (ip.isV4()) return classifyV4(ip.v4Value());
  const auto& b = ip.bytes;
  bool all_zero = true;
  for (size_t i = 0; i < 15; ++i) all_zero = all_zero && b[i] == 0;
  if (all_zero && b[15] == 0) return AddressClass::kUnspecified;
  if (all_zero && b[15] == 1) return AddressClass::kLoopback;
  if (auto v4 = ip.embeddedV4()) return classifyV4(v4->v4Value());
  const uint16_t w0 = static_cast<uint16_t>(b[0] << 8 | b[1]);
  const uint16_t w1 = static_cast<uint16_t>(b[2] << 8 | b[3]);
  const uint16_t w2 = static_cast<uint16_t>(b[4] << 8 | b[5]);
  if (w0 == 0x0064 && w1 == 0xff9b && w2 == 0x0001) return AddressClass::kIpv4Embedded;
  if (w0 == 0x2001 && w1 == 0x0000) return AddressClass::kIpv4Embedded;  // Teredo
  if (w0 == 0x2001 && w1 == 0x0db8) return AddressClass::kDocumentation;
  if ((w0 & 0xfff0) == 0x3ff0) return AddressClass::kDocumentation;  // 3fff::/20
  if (w0 == 0x2001 && w1 < 0x0200) return AddressClass::kReserved;   // 2001::/23
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::kPrivate;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::kReserved;  // site-local
  if (b[0] == 0xff) return AddressClass::kMulticast;
  if ((b[0] & 0xe0) != 0x20) return AddressClass::kReserved;  // outside 2000::/3
  return AddressClass::kPublic;
}

AddressClass classify(const IpAddress& ip, uint16_t port, const SelfAddresses& self) {
  if (self.contains(ip, port)) return AddressClass::kSelf;
  return classify(ip);
}

std::string_view toString(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kCgnat:
      return "carrier-grade NAT";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kBroadcast:
      return "broadcast";
    case AddressClass::kDocumentation:
      return "documentation";
    case AddressClass::kReserved:
      return "reserved";
    case AddressClass::kIpv4Embedded:
      return "IPv4-embedding";
    case AddressClass::kSelf:
      return "the proxy's own listener";
  }
  return "unknown";
}

void SelfAddresses::add(const IpAddress& ip, uint16_t port) { endpoints_[ip].push_back(port); }

bool SelfAddresses::containsExact(const IpAddress& ip, uint16_t port) const {
  auto it = endpoints_.find(ip);
  if (it == endpoints_.end()) return false;
  for (uint16_t p : it->second) {
    if (p == 0 || p == port) return true;
  }
  return false;
}

void SelfAddresses::addLoopback(uint16_t port) { loopback_ports_.push_back(port); }

bool SelfAddresses::contains(const IpAddress& ip, uint16_t port) const {
  if (empty()) return false;
  if (containsExact(ip, port)) return true;
  auto v4 = ip.embeddedV4();
  if (v4 && containsExact(*v4, port)) return true;
  if (!loopback_ports_.empty() && classify(ip) == AddressClass::kLoopback) {
    for (uint16_t p : loopback_ports_) {
      if (p == 0 || p == port) return true;
    }
  }
  return false;
}

bool SelfAddresses::hasPort(uint16_t port) const {
  if (std::find(loopback_ports_.begin(), loopback_ports_.end(), port) != loopback_ports_.end())
    return true;
  for (const auto& [ip, ports] : endpoints_) {
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) return true;
  }
  return false;
}

StatusOr<SelfAddresses> SelfAddresses::fromInterfaces(uint16_t port) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return Status::error(std::string("getifaddrs: ") + std::strerror(errno));
  }
  SelfAddresses self;
  self.addLoopback(port);
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const socklen_t len =
        i->ifa_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (auto ip = IpAddress::fromSockaddr(i->ifa_addr, len)) self.add(*ip, port);
  }
  freeifaddrs(list);
  return self;
}

void SelfAddresses::merge(const SelfAddresses& other) {
  for (const auto& [ip, ports] : other.endpoints_) {
    for (uint16_t port : ports) add(ip, port);
  }
  for (uint16_t port : other.loopback_ports_) addLoopback(port);
}

}  // namespace kitgate::policy
