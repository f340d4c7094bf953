// `kitgate proxy start | status | reload | stop` against the real
// kitgate-proxy, and a secret change reaching the running proxy.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "orchestrator/state/state.h"
#include "tests/orchestrator/cli/state_cli_test_util.h"
#include "tests/support/curl.h"
#include "tests/support/proxy_process.h"

namespace kitgate::cli::testing {
namespace {

constexpr const char* kKey = "sk-proxy-test-VALUE-0123456789";

// Ended: no such process, or a zombie its (non-reaping) new parent keeps.
bool processGone(int pid) {
  if (::kill(pid, 0) != 0) return true;
  const std::string stat = kitgate::testing::readFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

class ProxyCli : public StateCliTest {
 protected:
  void SetUp() override {
    StateCliTest::SetUp();
    ASSERT_TRUE(state::ensureDirs(paths_).isOk());
    writeTestProxyConfig();
    registerSecret(kKey);
  }
  double reloadsOk() {
    state::ProxyStatus s = state::proxyStatus(paths_);
    auto r = kitgate::testing::runCurl({"http://" + s.metrics + "/metrics"}, dir_->path());
    if (!r.isOk() || r->http_code != 200) return -1;
    return kitgate::testing::metricValue(r->body, "kitgate_reloads_total{result=\"ok\"}")
        .value_or(-1);
  }
};

TEST_F(ProxyCli, StartStatusReloadStop) {
  CliRun r = kitgate({"proxy", "status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("not running"), std::string::npos);

  r = kitgate({"proxy", "start"});
  ASSERT_EQ(r.exit_code, 0) << r.err << kitgate::testing::readFile(paths_.proxyOut());
  EXPECT_NE(r.out.find("kitgate-proxy started"), std::string::npos) << r.out;
  r = kitgate({"proxy", "status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["running"]);
  const int pid = j["pid"];
  EXPECT_EQ(j["admin"], "unix:" + paths_.adminSocket());
  ASSERT_EQ(j["listen"].size(), 1u);
  r = kitgate({"proxy", "start"});
  EXPECT_NE(r.out.find("already running (pid " + std::to_string(pid) + ")"), std::string::npos)
      << r.out;

  // A secret change reloads the running proxy.
  const double before = reloadsOk();
  ASSERT_GE(before, 0);
  r = kitgate(
      {"secret", "set-custom", "--host", "ampcode.com", "--env", "AMP_API_KEY", "--value", kKey});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(reloadsOk(), before + 1);
  r = kitgate({"policy", "allow", "network", "ampcode.com"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(reloadsOk(), before + 2);
  // The value is nowhere in the proxy's argv.
  const std::string cmdline =
      kitgate::testing::readFile("/proc/" + std::to_string(pid) + "/cmdline");
  EXPECT_NE(cmdline.find("--config"), std::string::npos);
  EXPECT_EQ(cmdline.find(kKey), std::string::npos);

  r = kitgate({"proxy", "reload"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(reloadsOk(), before + 3);

  r = kitgate({"proxy", "stop"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stopped (pid " + std::to_string(pid) + ")"), std::string::npos);
  EXPECT_TRUE(processGone(pid));
  EXPECT_EQ(kitgate({"proxy", "status"}).exit_code, 1);
  EXPECT_EQ(kitgate({"proxy", "reload"}).exit_code, 1);
  EXPECT_NE(kitgate::testing::readFile(paths_.proxyOut()).size(), 0u);
  EXPECT_EQ(kitgate::testing::readFile(paths_.proxyOut()).find(kKey), std::string::npos);
}

TEST_F(ProxyCli, ReloadShowsWhereTheStateIsWrong) {
  ASSERT_EQ(kitgate({"proxy", "start"}).exit_code, 0);
  ASSERT_TRUE(state::writeFileAtomic(paths_.sandboxFile("dev1"),
                                     "name: dev1\nmatch: {sources: [\"10.0.0.1\"]}\n"
                                     "allow: [\"a.**.b\"]\n",
                                     0600)
                  .isOk());
  CliRun r = kitgate({"proxy", "reload"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("dev1.yaml:3:"), std::string::npos) << r.err;
  EXPECT_EQ(kitgate({"proxy", "status"}).exit_code, 0);  // keeps running on the previous state
  ASSERT_EQ(kitgate({"proxy", "stop"}).exit_code, 0);
}

TEST_F(ProxyCli, SecretChangeTheProxyWouldRefuseIsNotSaved) {
  // A credentials route whose header the proxy owns makes every secrets.yaml
  // unloadable; kitgate checks with the proxy's loader before saving.
  ASSERT_TRUE(state::writeFileAtomic(
                  paths_.credentialsFile("dev1"),
                  "routes:\n  - {service: amp, domains: [x.com], header: Host, format: \"%s\"}\n",
                  0600)
                  .isOk());
  CliRun r = kitgate({"secret", "set", "amp", "-t", kKey});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nothing saved"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("credentials/dev1.yaml:2:"), std::string::npos) << r.err;
  auto s = state::loadSecrets(paths_);
  ASSERT_TRUE(s.isOk());
  EXPECT_TRUE(s->services.empty());
}

}  // namespace
}  // namespace kitgate::cli::testing
