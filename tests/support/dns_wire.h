// DNS by hand for tests (no dig on the box): a query message, what an
// answer says (rcode, id, A/AAAA addresses), and one blocking exchange over
// UDP or TCP (two-byte length prefix) from a chosen source address.
// Header-only; any thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/unique_fd.h"

namespace kitgate::testing {

inline constexpr uint16_t kDnsA = 1;
inline constexpr uint16_t kDnsAAAA = 28;
inline constexpr uint16_t kDnsMX = 15;

// One question (RD set), class IN.
inline std::string dnsQuery(const std::string& name, uint16_t type, uint16_t id = 0x1234) {
  std::string q{static_cast<char>(id >> 8),
                static_cast<char>(id & 0xff),
                '\x01',
                '\x00',
                '\x00',
                '\x01',
                0,
                0,
                0,
                0,
                0,
                0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<char>(dot - start));
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q.push_back('\0');
  q += std::string{static_cast<char>(type >> 8), static_cast<char>(type & 0xff), '\0', '\x01'};
  return q;
}

struct DnsReply {
  uint16_t id = 0;
  int rcode = -1;
  std::vector<std::string> addresses;  // A and AAAA answers, as text
};

// What the tests need of an answer (records follow one question).
inline std::optional<DnsReply> parseDnsReply(const std::string& r) {
  if (r.size() < 12) return std::nullopt;
  auto u16 = [&r](size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(r[at]) << 8) |
                                 static_cast<uint8_t>(r[at + 1]));
  };
  DnsReply out;
  out.id = u16(0);
  out.rcode = u16(2) & 0xf;
  const uint16_t qdcount = u16(4);
  const uint16_t ancount = u16(6);
  size_t pos = 12;
  auto skipName = [&] {
    while (pos < r.size()) {
      const auto len = static_cast<uint8_t>(r[pos]);
      if (len == 0) {
        ++pos;
        return;
      }
      if ((len & 0xc0) == 0xc0) {
        pos += 2;
        return;
      }
      pos += 1 + len;
    }
  };
  if (qdcount > 0) {
    skipName();
    pos += 4;
  }
  for (uint16_t i = 0; i < ancount && pos < r.size(); ++i) {
    skipName();
    if (pos + 10 > r.size()) return std::nullopt;
    const uint16_t type = u16(pos);
    const uint16_t len = u16(pos + 8);
    pos += 10;
    if (pos + len > r.size()) return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    if (type == kDnsA && len == 4) inet_ntop(AF_INET, r.data() + pos, text, sizeof text);
    if (type == kDnsAAAA && len == 16) inet_ntop(AF_INET6, r.data() + pos, text, sizeof text);
    if (text[0] != '\0') out.addresses.push_back(text);
    pos += len;
  }
  return out;
}

// Sends `message` from `source` to IPv4 `server`:`port` and waits (10 s)
// for one answer; nullopt on no answer.
inline std::optional<DnsReply> dnsExchange(const char* source, const char* server, uint16_t port,
                                           const std::string& message, bool tcp = false) {
  UniqueFd fd(::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return std::nullopt;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, server, &to.sin_addr);
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return std::nullopt;
  std::string out = message;
  if (tcp) {
    out.insert(0, std::string{static_cast<char>(message.size() >> 8),
                              static_cast<char>(message.size() & 0xff)});
  }
  if (::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
    return std::nullopt;
  }
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    got.append(buf, static_cast<size_t>(n));
    if (!tcp) break;
    if (got.size() >= 2) {
      const size_t len =
          (static_cast<size_t>(static_cast<uint8_t>(got[0])) << 8) | static_cast<uint8_t>(got[1]);
      if (got.size() >= 2 + len) {
        got = got.substr(2, len);
        break;
      }
    }
  }
  return parseDnsReply(got);
}

}  // namespace kitgate::testing
