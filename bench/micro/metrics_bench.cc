// Metrics on the data path and at scrape time: a single-writer counter bump,
// a histogram observation, and rendering a whole scrape for N workers.
#include <benchmark/benchmark.h>
#include <prometheus/collectable.h>

#include <chrono>
#include <memory>
#include <vector>

#include "proxy/admin/metrics.h"

namespace {

using namespace kitgate::admin;

void BM_CounterAdd(benchmark::State& state) {
  WorkerMetrics m;
  for (auto _ : state) {
    m.relayed(Direction::kUp, 1500);
    benchmark::DoNotOptimize(m.bytes_up);
  }
}
BENCHMARK(BM_CounterAdd);

void BM_HistogramObserve(benchmark::State& state) {
  WorkerMetrics m;
  auto d = std::chrono::microseconds(state.range(0));
  for (auto _ : state) {
    m.requestDone(ReqType::kHttp, d);
    benchmark::DoNotOptimize(m.request_duration);
  }
}
BENCHMARK(BM_HistogramObserve)->Arg(50)->Arg(20000)->Arg(10000000);

void BM_Scrape(benchmark::State& state) {
  std::vector<std::unique_ptr<WorkerMetrics>> blocks;
  std::vector<const WorkerMetrics*> ptrs;
  for (int i = 0; i < state.range(0); ++i) {
    blocks.push_back(std::make_unique<WorkerMetrics>());
    blocks.back()->tunnels_opened.add(5000);
    ptrs.push_back(blocks.back().get());
  }
  GlobalMetrics g;
  auto c = makeMetricsCollector(ptrs, g);
  size_t bytes = 0;
  for (auto _ : state) bytes = renderPrometheus({c.get()}).size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape)->Arg(2)->Arg(16)->Arg(64);

}  // namespace
