// Policy micro-benchmarks: evaluate() against 10,000 rules (exact, *.x, **.x,
// globs, CIDRs) for hit and miss hosts, the address check, and
// normalizeHost(). Also compares one RE2::Set against per-rule RE2 for globs.
#include <benchmark/benchmark.h>
#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/policy/policy.h"

namespace {

using namespace kitgate::policy;

constexpr int kRules = 10000;

// 40% exact, 20% *.x, 20% **.x, 10% globs, 10% CIDRs (about 1% of them deny rules).
const Policy& bigPolicy() {
  static const Policy policy = [] {
    std::vector<std::string> allow;
    std::vector<std::string> deny;
    for (int i = 0; i < kRules; ++i) {
      const std::string n = std::to_string(i);
      std::string rule;
      switch (i % 10) {
        case 0:
        case 1:
        case 2:
        case 3:
          rule = "host" + n + ".example.com";
          break;
        case 4:
        case 5:
          rule = "*.single" + n + ".example.org:443";
          break;
        case 6:
        case 7:
          rule = "**.multi" + n + ".example.net";
          break;
        case 8:
          rule = "api" + n + "-?.glob.example";
          break;
        default:
          rule = "10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".0/24";
          break;
      }
      (i % 97 == 0 ? deny : allow).push_back(rule);
    }
    auto set = RuleSet::compileText(allow, deny);
    if (!set.isOk()) std::abort();
    return Policy({*set});
  }();
  return policy;
}

Host host(const char* text) { return *normalizeHost(text); }

using V = Decision::Verdict;

void evaluateHost(benchmark::State& state, const char* text, uint16_t port, V want) {
  const Policy& p = bigPolicy();
  const Host h = host(text);
  if (p.evaluate(h, port).verdict != want) {
    state.SkipWithError("unexpected verdict");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(p.evaluate(h, port));
}

void BM_EvaluateExactHit(benchmark::State& s) {
  evaluateHost(s, "host4000.example.com", 443, V::kAllow);
}
void BM_EvaluateSingleWildcardHit(benchmark::State& s) {
  evaluateHost(s, "api.single4.example.org", 443, V::kAllow);
}
void BM_EvaluateMultiWildcardHit(benchmark::State& s) {
  evaluateHost(s, "a.b.c.multi6.example.net", 443, V::kAllow);
}
void BM_EvaluateGlobHit(benchmark::State& s) {
  evaluateHost(s, "api5008-x.glob.example", 443, V::kAllow);
}
void BM_EvaluateDenyHit(benchmark::State& s) {
  evaluateHost(s, "host970.example.com", 443, V::kDeny);
}
// A name no rule matches: the CIDR allows make the resolved address decide.
void BM_EvaluateMissShort(benchmark::State& s) {
  evaluateHost(s, "unknown.example", 443, V::kCheckAddress);
}
void BM_EvaluateMissDeep(benchmark::State& s) {
  evaluateHost(s, "a.b.c.d.e.f.unknown.example.com", 443, V::kCheckAddress);
}
void BM_EvaluateIpLiteralCidrHit(benchmark::State& s) {
  evaluateHost(s, "10.0.9.5", 5432, V::kAllow);
}
void BM_EvaluateIpLiteralMiss(benchmark::State& s) { evaluateHost(s, "192.0.2.1", 443, V::kDeny); }

void BM_CheckAddressPublic(benchmark::State& state) {
  const Policy& p = bigPolicy();
  const Decision d = p.evaluate(host("host4000.example.com"), 443);
  const IpAddress ip = *IpAddress::parse("93.184.216.34");
  const SelfAddresses self;
  for (auto _ : state) benchmark::DoNotOptimize(p.checkAddress(ip, 443, d, self));
}

void BM_NormalizeHostName(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(normalizeHost("API.Registry.NPMJS.org."));
}
void BM_NormalizeHostNumericIpv4(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(normalizeHost("0x7f.1"));
}
void BM_NormalizeHostIpv6(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(normalizeHost("[2001:db8::ffff:1]"));
}

// Glob strategy: 1,000 globs in one RE2::Set (what RuleSet does) vs one RE2
// per rule tried in turn, on a host matching none of them.
void BM_Glob1000SetMiss(benchmark::State& state) {
  std::vector<std::string> allow;
  for (int i = 0; i < 1000; ++i) allow.push_back("api" + std::to_string(i) + "-?.glob.example");
  const Policy p({*RuleSet::compileText(allow, {})});
  const Host h = host("nothing-here.glob.example");
  for (auto _ : state) benchmark::DoNotOptimize(p.evaluate(h, 443));
}
void BM_Glob1000PerRuleRe2Miss(benchmark::State& state) {
  std::vector<std::unique_ptr<re2::RE2>> res;
  for (int i = 0; i < 1000; ++i) {
    res.push_back(std::make_unique<re2::RE2>("api" + std::to_string(i) + "-[^.]\\.glob\\.example"));
  }
  const std::string h = "nothing-here.glob.example";
  for (auto _ : state) {
    bool any = false;
    for (const auto& re : res) any = any || re2::RE2::FullMatch(h, *re);
    benchmark::DoNotOptimize(any);
  }
}

BENCHMARK(BM_EvaluateExactHit);
BENCHMARK(BM_EvaluateSingleWildcardHit);
BENCHMARK(BM_EvaluateMultiWildcardHit);
BENCHMARK(BM_EvaluateGlobHit);
BENCHMARK(BM_EvaluateDenyHit);
BENCHMARK(BM_EvaluateMissShort);
BENCHMARK(BM_EvaluateMissDeep);
BENCHMARK(BM_EvaluateIpLiteralCidrHit);
BENCHMARK(BM_EvaluateIpLiteralMiss);
BENCHMARK(BM_CheckAddressPublic);
BENCHMARK(BM_NormalizeHostName);
BENCHMARK(BM_NormalizeHostNumericIpv4);
BENCHMARK(BM_NormalizeHostIpv6);
BENCHMARK(BM_Glob1000SetMiss);
BENCHMARK(BM_Glob1000PerRuleRe2Miss);

}  // namespace
