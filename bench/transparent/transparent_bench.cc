// kitgate_transparent_bench: what the transparent path costs next to a CONNECT
// tunnel, in the same run, through the same kitgate-proxy process (issue 9).
//
// In a private network namespace (root): loopback up, 93.184.216.34 on lo as
// the "internet" origin (an echo server), kitgate-proxy with a forward and a
// transparent listener, and a nat REDIRECT of TCP from 127.0.0.2 (the
// sandbox) to the transparent listener. Both paths reach the same origin
// address, allowed by one CIDR rule, so they differ only by the path:
//
//   new connection: connect, (CONNECT + 200,) one byte there and back, close
//                   — microseconds per connection, sequential, median and mean
//   bulk:           BYTES up through the tunnel and echoed back — s/GiB
//
// Rounds alternate the two paths so drift hits both alike. Prints a Markdown
// table (bench/results/transparent.md holds a committed run).
//
//   sudo build/bench/transparent/kitgate_transparent_bench [CONNS=2000] [MiB=256] [ROUNDS=3]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/origin_server.h"
#include "tests/support/proxy_process.h"
#include "tests/support/subprocess.h"

using namespace kitgate;
using namespace kitgate::testing;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kOrigin = "93.184.216.34";
constexpr const char* kSandbox = "127.0.0.2";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "kitgate_transparent_bench: %s\n", what.c_str());
  std::exit(1);
}

void run(const std::vector<std::string>& argv, const std::string& scratch) {
  auto r = runProgram(argv, scratch + "/cmd", std::chrono::seconds(20));
  if (!r || r->timed_out || !r->status.exited || r->status.code != 0)
    die(argv[0] + " failed: " + (r ? r->err : r.status().message()));
}

// A blocking TCP connection from 127.0.0.2 to ip:port (TCP_NODELAY).
int dial(const char* ip, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, kSandbox, &from.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) die("bind 127.0.0.2");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, ip, &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) die("connect");
  return fd;
}

void writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) die("write");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void readExactly(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) die("read");
    p += r;
    n -= static_cast<size_t>(r);
  }
}

struct Path {
  const char* name;
  uint16_t proxy_port;  // CONNECT: the forward listener; 0 = transparent
  uint16_t origin_port;
  // An open tunnel to the origin.
  int open() const {
    if (proxy_port == 0) return dial(kOrigin, origin_port);
    int fd = dial("127.0.0.1", proxy_port);
    const std::string req = "CONNECT " + std::string(kOrigin) + ":" + std::to_string(origin_port) +
                            " HTTP/1.1\r\nHost: x\r\n\r\n";
    writeAll(fd, req.data(), req.size());
    static const std::string want = "HTTP/1.1 200 Connection established\r\n\r\n";
    std::string got(want.size(), '\0');
    readExactly(fd, got.data(), got.size());
    if (got != want) die("CONNECT refused: " + got);
    return fd;
  }
};

// Microseconds per new connection (open, one byte there and back, close).
std::vector<double> newConnections(const Path& p, int n) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    int fd = p.open();
    char b = 'x';
    writeAll(fd, &b, 1);
    readExactly(fd, &b, 1);
    ::close(fd);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return us;
}

// Seconds per GiB for `bytes` up and echoed back down.
double bulk(const Path& p, size_t bytes) {
  int fd = p.open();
  const auto t0 = Clock::now();
  std::thread writer([fd, bytes] {
    std::vector<char> chunk(256 * 1024, 'b');
    for (size_t sent = 0; sent < bytes;) {
      const size_t n = std::min(chunk.size(), bytes - sent);
      writeAll(fd, chunk.data(), n);
      sent += n;
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::vector<char> buf(256 * 1024);
  size_t got = 0;
  while (got < bytes) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r <= 0) die("bulk read");
    got += static_cast<size_t>(r);
  }
  writer.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  return s * static_cast<double>(1ULL << 30) / static_cast<double>(bytes);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

}  // namespace

int main(int argc, char** argv) {
  const int conns = argc > 1 ? std::atoi(argv[1]) : 2000;
  const size_t mib = argc > 2 ? static_cast<size_t>(std::atoi(argv[2])) : 256;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  if (::geteuid() != 0) die("needs root (a network namespace and iptables)");
  if (::unshare(CLONE_NEWNET) != 0)
    die("unshare(CLONE_NEWNET): " + std::string(std::strerror(errno)));
  auto scratch = TempDir::create("transparent-bench");
  if (!scratch) die(scratch.status().message());
  run({"ip", "link", "set", "lo", "up"}, scratch->path());
  run({"ip", "addr", "add", std::string(kOrigin) + "/32", "dev", "lo"}, scratch->path());

  OriginServer::Options o;
  o.mode = OriginServer::Mode::kEcho;
  o.bind_address = kOrigin;
  auto origin = OriginServer::start(o);
  if (!origin) die(origin.status().message());

  ProxyOptions po;
  po.workers = 1;
  po.state_files["sandboxes/sb.yaml"] = "name: sb\nmatch: {sources: [\"" + std::string(kSandbox) +
                                        "\"]}\nallow: [\"" + std::string(kOrigin) + "/32\"]\n";
  po.extra_yaml = "transparent_listen: 127.0.0.1:0\n";
  auto proxy = ProxyProcess::start(po);
  if (!proxy) die(proxy.status().message());
  run({"iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", kSandbox, "!", "-d",
       "127.0.0.1", "-j", "REDIRECT", "--to-ports", std::to_string((*proxy)->transparentPort())},
      scratch->path());

  const Path connect{"CONNECT tunnel", (*proxy)->port(), (*origin)->port()};
  const Path transparent{"transparent", 0, (*origin)->port()};
  std::vector<double> c_new, t_new, c_bulk, t_bulk;
  newConnections(connect, 200);  // warm-up: pipes, caches, conntrack
  newConnections(transparent, 200);
  for (int r = 0; r < rounds; ++r) {
    for (double x : newConnections(connect, conns)) c_new.push_back(x);
    for (double x : newConnections(transparent, conns)) t_new.push_back(x);
    c_bulk.push_back(bulk(connect, mib << 20));
    t_bulk.push_back(bulk(transparent, mib << 20));
  }
  auto pct = [](double t, double c) { return (t - c) / c * 100.0; };
  std::printf("| path | new connection µs (median) | (mean) | bulk s/GiB (median of %d) |\n",
              rounds);
  std::printf("|---|---|---|---|\n");
  std::printf("| %s | %.1f | %.1f | %.3f |\n", connect.name, median(c_new), mean(c_new),
              median(c_bulk));
  std::printf("| %s | %.1f | %.1f | %.3f |\n", transparent.name, median(t_new), mean(t_new),
              median(t_bulk));
  std::printf("| transparent vs CONNECT | %+.1f %% | %+.1f %% | %+.1f %% |\n",
              pct(median(t_new), median(c_new)), pct(mean(t_new), mean(c_new)),
              pct(median(t_bulk), median(c_bulk)));
  std::printf(
      "\n%d connections x %d rounds per path, %zu MiB up + echoed down per bulk round, "
      "1 worker, sequential client, same proxy process.\n",
      conns, rounds, mib);
  return 0;
}
