// The response body scrub's matcher over 16 KiB of random bytes (a TLS
// record's worth, as an intercepted download delivers it) and of JSON-ish
// text, for one sandbox secret in all its forms — the per-byte cost the
// scrub adds to an intercepted response.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "proxy/secrets/scrub.h"

namespace {

const kitgate::secrets::ScrubMatcher& benchMatcher() {
  static const kitgate::secrets::ScrubMatcher m(
      kitgate::secrets::scrubForms("bench-secret-value-0123456789", "proxy-managed"));
  return m;
}

std::string randomBytes(size_t n) {
  std::mt19937 rng(1);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string jsonText(size_t n) {
  std::string s;
  while (s.size() < n)
    s +=
        R"({"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"delta":{"content":"hello "}}]})";
  s.resize(n);
  return s;
}

void scan(benchmark::State& state, const std::string& text) {
  const auto& m = benchMatcher();
  for (auto _ : state) {
    auto match = m.find(text);
    benchmark::DoNotOptimize(match);
    benchmark::DoNotOptimize(m.partialTail(text));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
}

void BM_ScrubFind_Random16K(benchmark::State& state) { scan(state, randomBytes(16384)); }
void BM_ScrubFind_Json16K(benchmark::State& state) { scan(state, jsonText(16384)); }
BENCHMARK(BM_ScrubFind_Random16K);
BENCHMARK(BM_ScrubFind_Json16K);

}  // namespace
