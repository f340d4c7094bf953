#include "proxy/server/original_dst.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace kitgate::server {
namespace {

// <linux/netfilter_ipv6/ip6_tables.h> defines it too, but that header does
// not build beside glibc's <netinet/in.h>.
constexpr int kIp6tSoOriginalDst = 80;

std::optional<Endpoint> fromSockaddr(const sockaddr_storage& ss, socklen_t len) {
  auto ip = policy::IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
  if (!ip) return std::nullopt;
  const uint16_t port = ss.ss_family == AF_INET6
                            ? ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port)
                            : ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  // An IPv4 connection on a dual-stack socket reads as IPv4.
  if (auto v4 = ip->isV6() ? ip->embeddedV4() : std::nullopt;
      v4 && ip->bytes[10] == 0xff && ip->bytes[11] == 0xff) {
    ip = v4;
  }
  return Endpoint{*ip, port};
}

}  // namespace

std::string Endpoint::toString() const {
  return (ip.isV6() ? "[" + ip.toString() + "]" : ip.toString()) + ":" + std::to_string(port);
}

std::optional<Endpoint> originalDestination(int fd) {
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return std::nullopt;
  auto self = fromSockaddr(local, local_len);
  if (!self) return std::nullopt;
  sockaddr_storage orig{};
  socklen_t len = 0;
  int rc = -1;
  if (self->ip.isV4()) {  // an IPv4 socket, or IPv4 on a dual-stack one
    len = sizeof(sockaddr_in);
    rc = ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &len);
  } else {
    len = sizeof(sockaddr_in6);
    rc = ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &orig, &len);
  }
  if (rc != 0) return std::nullopt;
  auto dst = fromSockaddr(orig, len);
  if (!dst || (dst->ip == self->ip && dst->port == self->port)) return std::nullopt;
  return dst;
}

}  // namespace kitgate::server
