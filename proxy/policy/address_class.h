// Address classification for the check after DNS (and for IP literal hosts):
// which IANA special-purpose range an address falls in, and the set of the
// proxy's own addresses ("self") that it must never connect back to.
//
// classify() is a pure function, any thread. SelfAddresses is built once
// (at start-up / reload) and then only read, so a const instance may be
// shared between workers.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/policy/ip_address.h"

namespace kitgate::policy {

enum class AddressClass {
  kPublic,
  kUnspecified,    // 0.0.0.0/8, ::
  kLoopback,       // 127/8, ::1
  kPrivate,        // 10/8, 172.16/12, 192.168/16, fc00::/7 (ULA)
  kCgnat,          // 100.64/10
  kLinkLocal,      // 169.254/16 (incl. 169.254.169.254 metadata), fe80::/10
  kMulticast,      // 224/4, ff00::/8
  kBroadcast,      // 255.255.255.255
  kDocumentation,  // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  kReserved,       // 240/4, 192.0.0/24, 198.18/15, 192.88.99/24, 100::/64,
                   // 2001::/23, fec0::/10, anything outside 2000::/3 …
  kIpv4Embedded,   // IPv6 transition form whose IPv4 cannot be verified:
                   // Teredo 2001::/32, local-use NAT64 64:ff9b:1::/48
  kSelf,           // one of the proxy's own listening endpoints (SelfAddresses)
};

// IPv4-in-IPv6 forms that carry a decodable IPv4 (::ffff:a.b.c.d,
// ::ffff:0:a.b.c.d, ::a.b.c.d, 64:ff9b::/96, 2002::/16) are classified by
// their embedded IPv4: ::ffff:10.0.0.1 is kPrivate, 64:ff9b::7f00:1 kLoopback.
// Never returns kSelf.
AddressClass classify(const IpAddress& ip);

// Lower-case words for logs and reasons: "public", "link-local", …
std::string_view toString(AddressClass c);

// The proxy's own listening endpoints, so that the address check can refuse
// connections back into the proxy (loops, T16). An entry with port 0 covers
// every port of that address. contains() also matches an IPv6 form
// embedding a listed IPv4 (::ffff:<self v4>).
class SelfAddresses {
 public:
  SelfAddresses() = default;
  void add(const IpAddress& ip, uint16_t port = 0);
  bool contains(const IpAddress& ip, uint16_t port) const;
  // Whether any listed endpoint, on whatever address, uses `port` (the
  // proxy's own ports: never a host service).
  bool hasPort(uint16_t port) const;
  bool empty() const { return endpoints_.empty() && loopback_ports_.empty(); }
  // Adds every endpoint of `other`.
  void merge(const SelfAddresses& other);

  // Every loopback address (127.0.0.0/8, ::1, and their IPv6 forms) on
  // `port`: all of them are delivered locally, to a wildcard listener.
  void addLoopback(uint16_t port);

  // What a proxy listening on a wildcard address (0.0.0.0 / ::) on `port`
  // answers on: every address of every local interface and every loopback
  // address, each on `port`.
  static StatusOr<SelfAddresses> fromInterfaces(uint16_t port);

 private:
  bool containsExact(const IpAddress& ip, uint16_t port) const;
  std::unordered_map<IpAddress, std::vector<uint16_t>, IpAddressHash> endpoints_;
  std::vector<uint16_t> loopback_ports_;
};

// classify(), but kSelf when `self` contains the endpoint.
AddressClass classify(const IpAddress& ip, uint16_t port, const SelfAddresses& self);

}  // namespace kitgate::policy
