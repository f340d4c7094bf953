// `kitgate-proxy --validate`: checks proxy.yaml and the state directory,
// prints every problem as file:line:column, and exits non-zero on any.
#include <filesystem>

#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

StatusOr<RunResult> validate(const TempDir& dir, const ProxyOptions& o) {
  auto bin = proxyBinary();
  if (!bin) return bin.status();
  const std::string state = dir.path() + "/state";
  std::error_code ec;
  std::filesystem::create_directories(state + "/sandboxes", ec);
  for (const auto& [rel, text] : o.state_files) {
    Status st = writeFileAtomic(state + "/" + rel, text, 0600);
    if (!st) return st;
  }
  const std::string config = dir.path() + "/proxy.yaml";
  Status st = writeFileAtomic(config, renderProxyConfig(o, dir.path() + "/policy.log", state));
  if (!st) return st;
  return runProgram({*bin, "--validate", "--config", config}, dir.path() + "/validate", 20s);
}

TEST(Validate, GoodConfigPasses) {
  ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("validate"));
  ProxyOptions o = reachOrigin();
  o.state_files["sandboxes/dev1.yaml"] =
      "name: dev1\nmatch:\n  sources: [\"10.88.1.2\"]\nallow: [\"github.com:443\"]\n";
  ASSERT_OK_AND_ASSIGN(auto r, validate(dir, o));
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.toString() << r.err;
  EXPECT_NE(r.out.find("OK"), std::string::npos) << r.out;
}

TEST(Validate, EveryProblemReportedWithLocation) {
  ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("validate"));
  ProxyOptions o;
  o.state_files["sandboxes/dev1.yaml"] =
      "name: dev1\nmatch:\n  sources: [\"10.88.1.2\"]\nallow:\n  - \"*\"\n  - \"ok.example.com\"\n "
      " - \"a.**.example.com\"\n";
  ASSERT_OK_AND_ASSIGN(auto r, validate(dir, o));
  EXPECT_TRUE(r.status.exited && r.status.code != 0) << r.status.toString();
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find("dev1.yaml:5:"), std::string::npos) << all;
  EXPECT_NE(all.find("dev1.yaml:7:"), std::string::npos) << all;
  EXPECT_EQ(all.find("dev1.yaml:6:"), std::string::npos) << all;
}

TEST(Validate, Http2SwitchTakesOnlyTrueOrFalse) {
  for (const std::string value : {"true", "false", "yes", "1"}) {
    SCOPED_TRACE(value);
    ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("validate"));
    ProxyOptions o = reachOrigin();
    o.extra_yaml = "tls: {http2: " + value + "}\n";
    ASSERT_OK_AND_ASSIGN(auto r, validate(dir, o));
    const bool good = value == "true" || value == "false";
    EXPECT_EQ(r.status.exited && r.status.code == 0, good) << r.status.toString() << r.err;
    if (!good) {
      EXPECT_NE((r.out + r.err).find("http2: expected true or false"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace kitgate::testing
