// Loading + validating kits: the whole corpus from disk, and one spec from
// memory (parse + v1 fold + checks, no I/O).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kitloader/compose.h"
#include "kitloader/kit.h"

namespace {

std::vector<std::string> corpusDirs() {
  std::vector<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(KITGATE_KIT_CORPUS)) {
    if (e.is_directory() && std::filesystem::exists(e.path() / "spec.yaml"))
      dirs.push_back(e.path().string());
  }
  return dirs;
}

std::string readSpec(const std::string& kit) {
  std::ifstream in(std::string(KITGATE_KIT_CORPUS) + "/docker__sbx-kits-contrib__" + kit +
                   "/spec.yaml");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void BM_LoadCorpusFromDisk(benchmark::State& state) {
  std::vector<std::string> dirs = corpusDirs();
  kitgate::kit::LoadOptions options;
  options.args.push_back(*kitgate::kit::parseKitArg("token=bench"));
  for (auto _ : state) {
    for (const auto& d : dirs) benchmark::DoNotOptimize(kitgate::kit::load(d, options));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(dirs.size()));
}
BENCHMARK(BM_LoadCorpusFromDisk);

void BM_LoadSpecBytes(benchmark::State& state, const char* kit) {
  std::string spec = readSpec(kit);
  for (auto _ : state) benchmark::DoNotOptimize(kitgate::kit::loadSpecBytes(spec));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(spec.size()));
}
BENCHMARK_CAPTURE(BM_LoadSpecBytes, v1_full, "testdata-v1-full");
BENCHMARK_CAPTURE(BM_LoadSpecBytes, v2_sample, "testdata-sample-agent-v2");
BENCHMARK_CAPTURE(BM_LoadSpecBytes, amp_v1, "amp--v1-agent");

// A mixin composed onto a built-in agent (the built-in's embedded spec is
// loaded each time, as `run` does), and onto a corpus sandbox kit.
void BM_ComposeMixinOnBuiltin(benchmark::State& state) {
  kitgate::kit::LoadResult mixin =
      kitgate::kit::loadSpecBytes(readSpec("claude-mem--v2-mixin-requires"));
  std::vector<kitgate::kit::ComposeKit> kits{{mixin.kit, "./claude-mem"}};
  for (auto _ : state) benchmark::DoNotOptimize(kitgate::kit::compose(kits, "claude"));
}
BENCHMARK(BM_ComposeMixinOnBuiltin);

void BM_ComposeSandboxKitAndMixin(benchmark::State& state) {
  std::vector<kitgate::kit::ComposeKit> kits{
      {kitgate::kit::loadSpecBytes(readSpec("testdata-sample-agent-v1-renamed")).kit, "./agent"},
      {kitgate::kit::loadSpecBytes(readSpec("testdata-sample-mixin-v1")).kit, "./mixin"}};
  for (auto _ : state) benchmark::DoNotOptimize(kitgate::kit::compose(kits, "sample-agent"));
}
BENCHMARK(BM_ComposeSandboxKitAndMixin);

}  // namespace
