// soak_bench: long mixed load against the real kitgate-proxy, sampling its
// resident memory and open descriptors, to show both stay flat (issue 17).
//
//   KITGATE_BUILD_DIR=$PWD/build-asan build/bench/soak/kitgate_soak_bench SECONDS [REPORT.md
//   [RATE]]
//
// RATE (operations per second, all clients together; default: as fast as
// they go) paces the clients so memory can be read against a steady load
// on a box whose other work would otherwise swing the rate.
//
// The proxy is the binary under KITGATE_BUILD_DIR (an ASan build: leaks and
// memory errors end the run with the sanitizer's report), started as a
// process (tests/support ProxyProcess) with 2 workers, single-tenant, a
// bound credential route for amp.soak.test (intercepted) and
// other.soak.test allowed but not bound (an opaque tunnel). Everything is on
// 127.0.0.1. Four client threads loop over the mix, each step bounded by
// its own timeouts:
//   forward      GET http://127.0.0.1:<origin>/bytes/4096, new connection
//   tunnel       CONNECT other.soak.test, TLS to the origin through it, GET /small
//   intercepted  CONNECT amp.soak.test, TLS to the proxy (sandbox CA), 3 requests kept alive
//   abort        one of: a half-sent head, a CONNECT closed mid-ClientHello, a
//                large forward body dropped after its head, an intercepted
//                connection reset mid-body
// A reload every 10 s (POST /reload, alternating two policy.yaml versions).
// Every 10 s: VmRSS and the count of /proc/<pid>/fd, and the operation counts.
// Writes a Markdown report (samples each minute, the summary) to REPORT.md or
// stdout; exits 1 if the proxy died or a sanitizer reported.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/https_origin.h"
#include "tests/support/origin_server.h"
#include "tests/support/proxy_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/wait.h"

namespace {

using namespace kitgate::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kAmpHost = "amp.soak.test";
constexpr const char* kOtherHost = "other.soak.test";
constexpr const char* kKey = "SOAK-secret-4b1d";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "soak_bench: %s\n", what.c_str());
  std::exit(1);
}

// VmRSS of `pid` in KiB; -1 when unreadable.
long rssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, 6, "VmRSS:") == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Entries of /proc/<pid>/fd; -1 when unreadable.
long openFds(pid_t pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  long n = 0;
  while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

enum Op { kForward, kTunnel, kIntercepted, kAbort, kOps };
constexpr const char* kOpNames[kOps] = {"forward", "tunnel", "intercepted", "abort"};

struct Counts {
  std::atomic<uint64_t> ok[kOps] = {};
  std::atomic<uint64_t> failed[kOps] = {};
};

struct World {
  uint16_t proxy_port = 0;
  uint16_t http_port = 0;
  uint16_t https_port = 0;
  std::string origin_ca_file;
  std::string sandbox_ca_file;
};

bool forward(const World& w, const std::string& path, bool read_body) {
  auto c = RawClient::connect(w.proxy_port);
  if (!c.isOk()) return false;
  const std::string target = "http://127.0.0.1:" + std::to_string(w.http_port) + path;
  if (!c->send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(w.http_port) +
               "\r\nConnection: close\r\n\r\n")
           .isOk())
    return false;
  if (!read_body) return c->readSome(1, 10s).isOk();  // the head begins; then drop it
  auto r = c->readResponse(10s);
  return r.isOk() && r->status == 200;
}

bool tunnelled(const World& w) {
  auto c = HttpsClient::open({w.proxy_port, kOtherHost, w.https_port, w.origin_ca_file, {}}, 10s);
  if (!c.isOk()) return false;
  if (!c->send(c->request("GET", "/small", "Connection: close\r\n")).isOk()) return false;
  auto r = c->readResponse(10s);
  return r.isOk() && r->status == 200;
}

bool intercepted(const World& w, bool reset_mid_body) {
  auto c = HttpsClient::open({w.proxy_port, kAmpHost, w.https_port, w.sandbox_ca_file, {}}, 10s);
  if (!c.isOk()) return false;
  for (int i = 0; i < 3; ++i) {
    const std::string path = reset_mid_body ? "/bytes/1048576" : "/bytes/2048";
    if (!c->send(c->request("GET", path)).isOk()) return false;
    if (reset_mid_body) {
      auto head = c->readHead(10s);
      if (!head.isOk()) return false;
      c->conn().resetConnection();
      return true;
    }
    auto r = c->readResponse(10s);
    if (!r.isOk() || r->status != 200) return false;
  }
  return true;
}

bool aborted(const World& w, uint64_t n) {
  switch (n % 4) {
    case 0: {  // half a head, then gone
      auto c = RawClient::connect(w.proxy_port);
      return c.isOk() && c->send("GET http://127.0.0.1/ HTTP/1.1\r\nHost: 12").isOk();
    }
    case 1: {  // a tunnel closed in the middle of a ClientHello
      auto t =
          openTunnel(w.proxy_port, std::string(kOtherHost) + ":" + std::to_string(w.https_port));
      return t.isOk() && t->established() && t->client.send("\x16\x03\x01\x02\x00\x01").isOk();
    }
    case 2:
      return forward(w, "/bytes/8388608", /*read_body=*/false);
    default:
      return intercepted(w, /*reset_mid_body=*/true);
  }
}

struct Sample {
  long seconds;
  long rss_kib;
  long fds;
  uint64_t ops;
  uint64_t failed;
  uint64_t reloads;
};

std::string mib(long kib) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1f", static_cast<double>(kib) / 1024.0);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: kitgate_soak_bench SECONDS [REPORT.md [RATE]]");
  const long seconds = std::atol(argv[1]);
  if (seconds < 30) die("SECONDS must be at least 30");
  const std::string report_path = argc > 2 ? argv[2] : "";
  const double rate = argc > 3 ? std::atof(argv[3]) : 0.0;
  if (argc > 3 && rate <= 0.0) die("RATE must be a positive number of operations per second");

  auto tmp = TempDir::create("soak");
  if (!tmp.isOk()) die(tmp.status().message());
  auto ca = makeTestCa({kAmpHost, kOtherHost});
  if (!ca.isOk()) die(ca.status().message());
  World w;
  w.origin_ca_file = tmp->path() + "/origin-ca.pem";
  auto pem = ca->certPem();
  if (!pem.isOk() || !writeFileAtomic(w.origin_ca_file, *pem).isOk()) die("writing the origin CA");
  auto https = HttpsOrigin::start({&*ca, {kAmpHost, kOtherHost}});
  if (!https.isOk()) die(https.status().message());
  auto http = OriginServer::start();
  if (!http.isOk()) die(http.status().message());
  w.https_port = (*https)->port();
  w.http_port = (*http)->port();

  ProxyOptions o;
  o.allow = {kAmpHost, kOtherHost, "127.0.0.1/32"};
  o.dns_hosts = {{kAmpHost, "127.0.0.1"}, {kOtherHost, "127.0.0.1"}};
  o.state_files["secrets.yaml"] =
      "services:\n  - {service: amp, scope: global, value: \"" + std::string(kKey) + "\"}\n";
  o.state_files["credentials/default.yaml"] = "routes:\n  - {service: amp, domains: [\"" +
                                              std::string(kAmpHost) +
                                              "\"], header: X-Api-Key, format: \"Key %s\"}\n";
  o.extra_yaml = "tls: {upstream_ca_file: \"" + w.origin_ca_file + "\"}\n";
  auto proxy = ProxyProcess::start(o, 120s);  // a sanitizer build starts slowly
  if (!proxy.isOk()) die(proxy.status().message());
  ProxyProcess& p = **proxy;
  w.proxy_port = p.port();
  w.sandbox_ca_file = p.stateDir() + "/ca/default.crt";
  if (!waitUntil([&] { return ::access(w.sandbox_ca_file.c_str(), R_OK) == 0; }, 60s))
    die("the proxy never wrote its CA");
  auto binary = proxyBinary();

  Counts counts;
  std::atomic<uint64_t> reloads{0}, reload_failures{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      // Paced: each of the 4 clients starts an operation every 4 / RATE s
      // (a late one starts at once; lost time is not made up in a burst).
      const auto period = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(rate > 0.0 ? 4.0 / rate : 0.0));
      auto next = Clock::now();
      for (uint64_t n = t; !stop.load(); ++n) {
        if (rate > 0.0) {
          next = std::max(next + period, Clock::now());
          std::this_thread::sleep_until(next);
        }
        const Op op = static_cast<Op>(n % kOps);
        bool ok = false;
        switch (op) {
          case kForward:
            ok = forward(w, "/bytes/4096", true);
            break;
          case kTunnel:
            ok = tunnelled(w);
            break;
          case kIntercepted:
            ok = intercepted(w, false);
            break;
          default:
            ok = aborted(w, n / kOps);
            break;
        }
        (ok ? counts.ok[op] : counts.failed[op]).fetch_add(1);
      }
    });
  }

  // Reloads (alternating two global policies) and samples, every 10 s, on this thread.
  const std::string policies[2] = {"deny: []\n", "deny: [\"denied.soak.test\"]\n"};
  std::vector<Sample> samples;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  bool died = false;
  for (int tick = 1;; ++tick) {
    const auto at = start + std::chrono::seconds(10 * tick);
    while (Clock::now() < std::min(at, end) && !died) {
      died = !p.running();
      if (!died)
        std::this_thread::sleep_for(200ms);  // a sampling period, not a wait for a condition
    }
    if (died || Clock::now() >= end) break;
    (void)p.writeStateFile("policy.yaml", policies[tick % 2]);
    auto r = p.reloadViaAdmin();
    (r.isOk() && r->status == 200 ? reloads : reload_failures).fetch_add(1);
    uint64_t ops = 0, failed = 0;
    for (int i = 0; i < kOps; ++i)
      ops += counts.ok[i] + counts.failed[i], failed += counts.failed[i];
    // Elapsed time as measured (a slow reload under load delays a tick).
    const long elapsed =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
    samples.push_back({elapsed, rssKib(p.pid()), openFds(p.pid()), ops, failed, reloads.load()});
    std::fprintf(stderr, "soak: %lds rss %s MiB fds %ld ops %llu failed %llu reloads %llu\n",
                 samples.back().seconds, mib(samples.back().rss_kib).c_str(), samples.back().fds,
                 static_cast<unsigned long long>(ops), static_cast<unsigned long long>(failed),
                 static_cast<unsigned long long>(reloads.load()));
  }
  stop = true;
  for (auto& c : clients) c.join();
  // Quiet again: the proxy's descriptors once every client has gone.
  waitUntil([&] { return p.metric("kitgate_connections_active") == 0.0; }, 60s);
  const long fds_idle = openFds(p.pid());
  const long rss_idle = rssKib(p.pid());
  bool clean_exit = false;
  if (!died) {
    auto stopped = p.stop(120s);
    clean_exit = stopped.isOk() && stopped->exited && stopped->code == 0;
  }
  const std::string stderr_text = p.stderrText();
  const bool sanitizer = stderr_text.find("Sanitizer") != std::string::npos;

  std::ostringstream md;
  md << "# Soak: kitgate-proxy under mixed load\n\n"
     << "Binary `" << (binary.isOk() ? *binary : "?") << "`, " << seconds
     << " s, 4 client threads (forward / tunnel / intercepted / abort in turn), a reload every "
        "10 s, 2 workers, loopback"
     << (rate > 0.0 ? ", paced at " + std::to_string(static_cast<long>(rate)) + " ops/s" : "")
     << ". Command: `KITGATE_BUILD_DIR="
     << (std::getenv("KITGATE_BUILD_DIR") != nullptr ? std::getenv("KITGATE_BUILD_DIR") : "?")
     << " build/bench/soak/kitgate_soak_bench " << seconds << " REPORT.md"
     << (argc > 3 ? std::string(" ") + argv[3] : "") << "`";
  if (const char* asan = std::getenv("ASAN_OPTIONS")) md << " with `ASAN_OPTIONS=" << asan << "`";
  md << ".\n\n";
  md << "| op | ok | failed |\n| --- | ---: | ---: |\n";
  for (int i = 0; i < kOps; ++i)
    md << "| " << kOpNames[i] << " | " << counts.ok[i] << " | " << counts.failed[i] << " |\n";
  md << "| reload | " << reloads << " | " << reload_failures << " |\n\n";
  md << "| time (s) | RSS (MiB) | fds | ops so far | failed so far |\n"
     << "| ---: | ---: | ---: | ---: | ---: |\n";
  for (const Sample& s : samples) {
    if (&s != &samples.front() && &s != &samples.back() && s.seconds / 60 == (&s - 1)->seconds / 60)
      continue;  // one row a minute
    md << "| " << s.seconds << " | " << mib(s.rss_kib) << " | " << s.fds << " | " << s.ops << " | "
       << s.failed << " |\n";
  }
  if (samples.size() >= 2) {
    // After a warm-up (a quarter of the run, at most 5 minutes: ASan's
    // quarantine, allocator arenas, the leaf cache fill), growth per hour.
    const long warm_up = std::min(300L, seconds / 4);
    const Sample* warm = &samples.front();
    for (const Sample& s : samples) {
      if (s.seconds >= warm_up) {
        warm = &s;
        break;
      }
    }
    const Sample& last = samples.back();
    long rss_max = 0, fds_max = 0;
    for (const Sample& s : samples)
      rss_max = std::max(rss_max, s.rss_kib), fds_max = std::max(fds_max, s.fds);
    const double hours = std::max(1.0, static_cast<double>(last.seconds - warm->seconds)) / 3600.0;
    md << "\nRSS " << mib(warm->rss_kib) << " MiB at " << warm->seconds << " s, "
       << mib(last.rss_kib) << " MiB at the end (max " << mib(rss_max)
       << "): " << mib(static_cast<long>((last.rss_kib - warm->rss_kib) / hours))
       << " MiB/hour. Open fds " << warm->fds << " at " << warm->seconds << " s, " << last.fds
       << " at the end (max " << fds_max << "); " << fds_idle
       << " once every client had gone (RSS then " << mib(rss_idle) << " MiB).\n";
  }
  md << "\nProxy "
     << (died         ? "DIED during the run"
         : clean_exit ? "stopped cleanly (exit 0)"
                      : "did NOT exit cleanly")
     << "; sanitizer report: " << (sanitizer ? "YES (see the proxy's stderr)" : "none") << ".\n";
  if (sanitizer) std::fprintf(stderr, "%s\n", stderr_text.c_str());
  if (died || !clean_exit || sanitizer) {
    // The proxy's own last words (its temp dir goes with ProxyProcess).
    const size_t from = stderr_text.size() > 4000 ? stderr_text.size() - 4000 : 0;
    md << "\nLast lines of the proxy's stderr:\n\n```\n" << stderr_text.substr(from) << "\n```\n";
  }
  if (report_path.empty()) {
    std::fputs(md.str().c_str(), stdout);
  } else {
    std::ofstream(report_path) << md.str();
  }
  return clean_exit && !sanitizer ? 0 : 1;
}
