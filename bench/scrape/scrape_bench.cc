// scrape_bench: what a /metrics scrape of the real kitgate-proxy costs with
// many CONNECT tunnels open (issue 10: "a scrape stays cheap with 10,000
// open tunnels").
//
//   build/bench/scrape/kitgate_scrape_bench [TUNNELS=10000] [SCRAPES=200]
//
// Loopback only, bounded: a forked child accepts and holds the upstream
// connections (never reads), kitgate-proxy (2 workers, policy log off) runs
// as a process (tests/support ProxyProcess), this process opens the tunnels
// one by one, waits until kitgate_tunnels_active says they are all open, then
// times SCRAPES sequential GET /metrics with no tunnels and with all of them.
// The tunnel count is capped by the fd limit (the proxy holds 2 fds per
// tunnel); the cap is printed. Prints one Markdown table.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/proxy_process.h"
#include "tests/support/wait.h"

namespace {

using kitgate::testing::ProxyOptions;
using kitgate::testing::ProxyProcess;
using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "scrape_bench: %s\n", what.c_str());
  std::exit(1);
}

// A child that accepts up to `max` connections on `fd` and holds them until
// its parent goes away (it reads `parent` to EOF).
pid_t startHolder(int fd, int parent, size_t max) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  std::vector<int> held;
  held.reserve(max);
  while (held.size() < max) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) break;
    held.push_back(c);
  }
  char b;
  while (::read(parent, &b, 1) > 0) {
  }
  ::_exit(0);
}

int openTunnel(uint16_t proxy_port, uint16_t origin_port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(proxy_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    die("connect to the proxy failed");
  const std::string req =
      "CONNECT 127.0.0.1:" + std::to_string(origin_port) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(s, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    die("send CONNECT");
  std::string head;
  char buf[512];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(s, buf, sizeof buf, 0);
    if (n <= 0) die("tunnel closed before its answer");
    head.append(buf, static_cast<size_t>(n));
  }
  if (head.rfind("HTTP/1.1 200", 0) != 0)
    die("CONNECT refused: " + head.substr(0, head.find('\r')));
  return s;
}

struct Timing {
  double p50_ms, p99_ms, max_ms;
  size_t bytes;
};

Timing timeScrapes(ProxyProcess& proxy, int n) {
  std::vector<double> ms;
  size_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    auto text = proxy.metricsText();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!text) die("scrape failed: " + text.status().message());
    bytes = text->size();
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back(), bytes};
}

}  // namespace

int main(int argc, char** argv) {
  size_t want = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  const int scrapes = argc > 2 ? std::atoi(argv[2]) : 200;
  if (want == 0 || want > 100000 || scrapes <= 0 || scrapes > 100000)
    die("usage: kitgate_scrape_bench [TUNNELS] [SCRAPES]");
  ::signal(SIGPIPE, SIG_IGN);
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;  // children (proxy, holder) inherit it
  ::setrlimit(RLIMIT_NOFILE, &rl);
  const size_t cap = rl.rlim_cur > 200 ? (rl.rlim_cur - 100) / 2 : 0;
  const size_t n = std::min(want, cap);
  if (n < want)
    std::fprintf(stderr, "scrape_bench: fd limit %llu: %zu tunnels instead of %zu\n",
                 static_cast<unsigned long long>(rl.rlim_cur), n, want);

  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 4096) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("origin listener");
  }
  const uint16_t origin_port = ntohs(a.sin_port);
  int lifeline[2];
  if (::pipe2(lifeline, O_CLOEXEC) != 0) die("pipe");
  pid_t holder = startHolder(lfd, lifeline[0], n);
  ::close(lfd);
  ::close(lifeline[0]);

  ProxyOptions o;
  o.allow = {"127.0.0.1/32"};
  o.workers = 2;
  o.limits = {{"max_connections", 100000},
              {"max_connections_per_sandbox", 100000},
              {"idle_timeout_ms", 3600000}};
  auto proxy = ProxyProcess::start(o);
  if (!proxy) die("proxy: " + proxy.status().message());

  Timing idle = timeScrapes(**proxy, scrapes);
  std::vector<int> tunnels;
  tunnels.reserve(n);
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; ++i) tunnels.push_back(openTunnel((*proxy)->port(), origin_port));
  const double open_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!kitgate::testing::waitUntil(
          [&] { return (*proxy)->metric("kitgate_tunnels_active") == static_cast<double>(n); },
          std::chrono::seconds(60))) {
    die("kitgate_tunnels_active never reached " + std::to_string(n));
  }
  Timing busy = timeScrapes(**proxy, scrapes);

  std::printf(
      "| open tunnels | scrapes | p50 ms | p99 ms | max ms | bytes |\n|---|---|---|---|---|---|\n");
  std::printf("| 0 | %d | %.3f | %.3f | %.3f | %zu |\n", scrapes, idle.p50_ms, idle.p99_ms,
              idle.max_ms, idle.bytes);
  std::printf("| %zu | %d | %.3f | %.3f | %.3f | %zu |\n", n, scrapes, busy.p50_ms, busy.p99_ms,
              busy.max_ms, busy.bytes);
  std::printf("\n(%zu tunnels opened in %.2f s; loopback, kitgate-proxy with 2 workers)\n", n,
              open_s);

  for (int fd : tunnels) ::close(fd);
  (void)(*proxy)->stop();
  ::close(lifeline[1]);
  ::kill(holder, SIGTERM);
  ::waitpid(holder, nullptr, 0);
  return 0;
}
