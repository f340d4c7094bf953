// originalDestination: where a connection accepted on the transparent
// listener was really going, before the host's nat rule (iptables REDIRECT)
// sent it to kitgate — SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for
// IPv6, read from conntrack at accept time (Envoy's original_dst listener
// filter does the same).
//
// nullopt when the kernel knows no original destination, or when it is the
// listener itself (the connection was not redirected: a client dialled the
// transparent port directly). Any thread; one getsockopt per call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "proxy/policy/ip_address.h"

namespace kitgate::server {

struct Endpoint {
  policy::IpAddress ip;
  uint16_t port = 0;
  std::string toString() const;  // "ip:port", "[v6]:port"
};

std::optional<Endpoint> originalDestination(int fd);

}  // namespace kitgate::server
