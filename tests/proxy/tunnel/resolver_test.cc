// EvdnsResolver against a scripted DNS server on loopback: names are looked
// up as absolute names — resolv.conf's search list never turns a name the
// policy decided into another one.
#include "proxy/tunnel/resolver.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace kitgate::tunnel {
namespace {

// Answers A queries for exactly one name with 127.0.0.9; NXDOMAIN for the rest.
class ScriptedDns {
 public:
  explicit ScriptedDns(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedDns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> asked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  void serve() {
    unsigned char buf[512];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      // QNAME at offset 12.
      std::string qname;
      size_t i = 12;
      while (i < static_cast<size_t>(n) && buf[i] != 0) {
        size_t l = buf[i++];
        if (!qname.empty()) qname += '.';
        qname.append(reinterpret_cast<char*>(buf + i), l);
        i += l;
      }
      for (char& ch : qname)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));  // 0x20 hack
      const size_t qend = i + 5;  // zero byte + QTYPE + QCLASS
      if (qend > static_cast<size_t>(n)) continue;
      const int qtype = buf[i + 1] << 8 | buf[i + 2];
      {
        std::lock_guard<std::mutex> lock(mu_);
        asked_.push_back(qname + "/" + std::to_string(qtype));
      }
      std::string out(reinterpret_cast<char*>(buf), qend);
      out[2] = static_cast<char>(0x81);  // QR, RD
      const bool hit = qname == name_ && qtype == 1;
      out[3] = static_cast<char>(qname == name_ ? 0x80 : 0x83);  // RA; NXDOMAIN for other names
      out[6] = 0;
      out[7] = hit ? 1 : 0;  // ANCOUNT
      out[8] = out[9] = out[10] = out[11] = 0;
      if (hit) {
        const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9};
        out.append(reinterpret_cast<const char*>(answer), sizeof answer);
      }
      ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }

  std::string name_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> asked_;
  std::thread thread_;
};

ResolveResult resolveWith(const std::string& conf, const std::string& host) {
  event_base* base = event_base_new();
  std::optional<ResolveResult> out;
  {
    EvdnsResolver r(base, conf.c_str());
    auto lookup = r.resolve(host, [&](ResolveResult res) { out = std::move(res); });
    for (int i = 0; i < 2000 && !out; ++i) event_base_loop(base, EVLOOP_ONCE);
  }
  event_base_free(base);
  EXPECT_TRUE(out.has_value());
  return out ? std::move(*out) : ResolveResult{};
}

TEST(EvdnsResolver, NamesAreResolvedAsAbsoluteNamesNeverThroughTheSearchList) {
  ScriptedDns dns("inside.kitgate-search.test");
  char path[] = "/tmp/kitgate-resolv-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "nameserver 127.0.0.1:" << dns.port() << "\nsearch kitgate-search.test\n"
                      << "options ndots:1 timeout:1 attempts:1\n";
  // The full name resolves (the server works)...
  ResolveResult full = resolveWith(path, "inside.kitgate-search.test");
  ASSERT_EQ(full.addresses.size(), 1u)
      << full.error
      << " (queries seen: " << (dns.asked().empty() ? std::string("-") : dns.asked()[0]) << ")";
  EXPECT_EQ(full.addresses[0].toString(), "127.0.0.9");
  // ...the short one is not completed by the search list.
  const size_t before = dns.asked().size();
  ResolveResult bare = resolveWith(path, "inside");
  const std::vector<std::string> asked = dns.asked();
  for (size_t i = before; i < asked.size(); ++i)
    EXPECT_EQ(asked[i].rfind("inside/", 0), 0u) << asked[i];
  EXPECT_TRUE(bare.addresses.empty())
      << "resolved through the search list to " << bare.addresses[0].toString();
  ::unlink(path);
}

}  // namespace
}  // namespace kitgate::tunnel
