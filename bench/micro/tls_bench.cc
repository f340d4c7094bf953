// TLS building blocks: leaf mint (cache miss), cache hit, installing a leaf on
// a connection, full and resumed handshakes (client + server in one thread
// over a socketpair, with each side's CPU time reported separately), bulk
// record throughput, and heap per idle intercepted-leg connection.
// Run in build-tls (BoringSSL) and build-tls-openssl to compare backends.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <time.h>

#include <string>
#include <vector>

#include "proxy/tls/leaf_cache.h"
#include "proxy/tls/tls_stream.h"
#include "tests/proxy/tls/tls_test_util.h"

namespace kitgate::tls {
namespace {

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Shared by the benches. The client trusts only the test CA: loading the
// system bundle is a one-off that does not belong to per-handshake figures.
testing::TlsWorld& fixture() {
  static testing::TlsWorld world({"api.example.com", "*.example.com"}, false);
  return world;
}

void BM_LeafMint(benchmark::State& state) {
  testing::TlsWorld& f = fixture();
  const SystemTime now = std::chrono::system_clock::now();
  for (auto _ : state) {
    StatusOr<Leaf> leaf = f.minter->mint("api.example.com", now);
    benchmark::DoNotOptimize(leaf);
  }
}
BENCHMARK(BM_LeafMint);

void BM_LeafCacheHit(benchmark::State& state) {
  testing::TlsWorld& f = fixture();
  (void)f.leaves.get("api.example.com");
  for (auto _ : state) {
    auto leaf = f.leaves.get("api.example.com");
    benchmark::DoNotOptimize(leaf);
  }
}
BENCHMARK(BM_LeafCacheHit);

// Per-connection cost of the "cert + key on the SSL" design (vs one SSL_CTX
// per host): arg 1 installs the leaf, arg 0 is the bare SSL_new baseline.
void BM_NewServerSsl(benchmark::State& state) {
  testing::TlsWorld& f = fixture();
  auto leaf = *f.leaves.get("api.example.com");
  const Leaf* use = state.range(0) != 0 ? leaf.get() : nullptr;
  for (auto _ : state) {
    auto stream = TlsStream::accept(-1, f.server_ctx, use);
    benchmark::DoNotOptimize(stream);
  }
}
BENCHMARK(BM_NewServerSsl)->Arg(0)->Arg(1);

// A full (or, with resume, ticket-resumed) TLS 1.3 handshake, ECDHE X25519,
// ECDSA P-256 leaf. Counters: CPU µs spent in each side's handshake calls.
void runHandshakes(benchmark::State& state, bool resume) {
  testing::TlsWorld& f = fixture();
  auto leaf = *f.leaves.get("api.example.com");
  ClientSessionCache sessions;
  double server_cpu = 0;
  double client_cpu = 0;
  int64_t reused = 0;
  for (auto _ : state) {
    auto [a, b] = testing::socketPair();
    auto server = TlsStream::accept(b.get(), f.server_ctx, leaf.get()).value();
    auto client =
        TlsStream::connect(a.get(), *f.client_ctx, "api.example.com", resume ? &sessions : nullptr)
            .value();
    IoResult cr{IoStatus::kWantRead, 0, {}};
    IoResult sr{IoStatus::kWantRead, 0, {}};
    for (int round = 0; round < 16 && !(cr.ok() && sr.ok()); ++round) {
      double t0 = threadCpuSeconds();
      if (!cr.ok()) cr = client->handshake();
      double t1 = threadCpuSeconds();
      if (!sr.ok()) sr = server->handshake();
      double t2 = threadCpuSeconds();
      client_cpu += t1 - t0;
      server_cpu += t2 - t1;
    }
    if (!cr.ok() || !sr.ok()) {
      state.SkipWithError("handshake failed");
      break;
    }
    if (resume) {
      // TLS 1.3 tickets follow the handshake (BoringSSL sends them with the
      // first write): exchange one byte so the client stores a session.
      char buf[16];
      (void)server->write("x", 1);
      (void)client->read(buf, sizeof(buf));
    }
    reused += server->sessionReused() ? 1 : 0;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["server_us"] = server_cpu / n * 1e6;
  state.counters["client_us"] = client_cpu / n * 1e6;
  state.counters["resumed_pct"] = 100.0 * static_cast<double>(reused) / n;
}

void BM_FullHandshake(benchmark::State& state) { runHandshakes(state, false); }
BENCHMARK(BM_FullHandshake)->Unit(benchmark::kMicrosecond);

void BM_ResumedHandshake(benchmark::State& state) { runHandshakes(state, true); }
BENCHMARK(BM_ResumedHandshake)->Unit(benchmark::kMicrosecond);

// One-off: an upstream context with the system trust store (once per config load).
void BM_ClientContextWithSystemStore(benchmark::State& state) {
  for (auto _ : state) {
    auto ctx = ClientContext::create();
    if (!ctx) state.SkipWithError("no system trust store");
    benchmark::DoNotOptimize(ctx);
  }
}
BENCHMARK(BM_ClientContextWithSystemStore)->Unit(benchmark::kMillisecond);

// Encrypt + decrypt of application data in 16 KiB writes (one record each).
void BM_RecordThroughput(benchmark::State& state) {
  testing::TlsWorld& f = fixture();
  auto leaf = *f.leaves.get("api.example.com");
  auto [a, b] = testing::socketPair();
  auto server = TlsStream::accept(b.get(), f.server_ctx, leaf.get()).value();
  auto client = TlsStream::connect(a.get(), *f.client_ctx, "api.example.com").value();
  if (!testing::handshakeBoth(*client, *server).ok()) {
    state.SkipWithError("handshake failed");
    return;
  }
  const std::string chunk(16384, 'x');
  std::vector<char> buf(65536);
  for (auto _ : state) {
    size_t got = 0;
    IoResult w = client->write(chunk.data(), chunk.size());
    while (got < w.bytes) {
      IoResult r = server->read(buf.data(), buf.size());
      if (!r.ok()) break;
      got += r.bytes;
    }
    if (got != chunk.size()) {
      state.SkipWithError("short transfer");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 16384);
}
BENCHMARK(BM_RecordThroughput);

// Heap held per established, idle TLS connection pair (client-facing leg as
// server + upstream leg as client), buffers released: the TLS part of the
// "KiB per idle intercepted connection" figure.
void BM_IdleConnectionHeap(benchmark::State& state) {
  testing::TlsWorld& f = fixture();
  auto leaf = *f.leaves.get("api.example.com");
  constexpr int kConnections = 200;
  for (auto _ : state) {
    std::vector<std::pair<UniqueFd, UniqueFd>> fds;
    std::vector<std::unique_ptr<TlsStream>> streams;
    fds.reserve(kConnections);
    streams.reserve(2 * kConnections);
    const size_t before = mallinfo2().uordblks;
    for (int i = 0; i < kConnections; ++i) {
      fds.push_back(testing::socketPair());
      auto server = TlsStream::accept(fds.back().second.get(), f.server_ctx, leaf.get()).value();
      auto client = TlsStream::connect(fds.back().first.get(), *f.client_ctx, "api.example.com")
                        .value();
      if (!testing::handshakeBoth(*client, *server).ok()) std::abort();
      char buf[16];
      (void)client->read(buf, sizeof(buf));  // consume tickets: idle = nothing pending
      streams.push_back(std::move(server));
      streams.push_back(std::move(client));
    }
    const size_t after = mallinfo2().uordblks;
    state.counters["KiB_per_pair"] =
        static_cast<double>(after - before) / kConnections / 1024.0;
  }
}
BENCHMARK(BM_IdleConnectionHeap)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kitgate::tls
