// kitgate_state's daemon control against the real kitgate-proxy: start,
// status, reload (visible in its metrics), listen changes, stop.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "orchestrator/state/state.h"
#include "tests/support/curl.h"
#include "tests/support/proxy_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace kitgate::state {
namespace {

class ProxyControl : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::create("proxyctl");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    dir_ = std::make_unique<testing::TempDir>(std::move(dir.value()));
    paths_.root = dir_->path() + "/kg";
    ASSERT_TRUE(ensureDirs(paths_).isOk());
    // Loopback port 0 everywhere, admin on a unix socket: never collides with
    // a proxy on 3128/9090.
    const std::string config =
        "listen: [\"127.0.0.1:0\"]\nmetrics_listen: \"127.0.0.1:0\"\n"
        "admin_listen: \"unix:" +
        paths_.adminSocket() + "\"\nstate_dir: \"" + paths_.root + "\"\npolicy_log: {path: \"" +
        paths_.policyLog() + "\"}\n";
    ASSERT_TRUE(writeFileAtomic(paths_.proxyConfig(), config, 0600).isOk());
    auto bin = testing::proxyBinary();
    ASSERT_TRUE(bin.isOk()) << bin.status().message();
    binary_ = *bin;
  }
  void TearDown() override {
    if (paths_.root.empty()) return;
    ProxyStatus s = proxyStatus(paths_);
    if (s.running) ::kill(s.pid, SIGKILL);
  }

  double reloadsOk() {
    ProxyStatus s = proxyStatus(paths_);
    auto r = testing::runCurl({"http://" + s.metrics + "/metrics"}, dir_->path());
    if (!r.isOk() || r->http_code != 200) return -1;
    return testing::metricValue(r->body, "kitgate_reloads_total{result=\"ok\"}").value_or(-1);
  }

  std::unique_ptr<testing::TempDir> dir_;
  Paths paths_;
  std::string binary_;
};

// The credential probe (over libcurl, as an HTTP proxy client): a registered
// sandbox's token is recognised, another name is not, a dead address is
// named; the token never appears in an error.
TEST_F(ProxyControl, ProbeTellsRegisteredSandboxesApart) {
  const std::string token = "kgtPROBEtestToken0123456789";
  ASSERT_TRUE(writeSandbox(paths_, {"dev1", {}, token, {"example.com"}, {}, 0}).isOk());
  Status st = ensureProxy(paths_, binary_);
  ASSERT_TRUE(st.isOk()) << st.message();
  const std::string listen = proxyStatus(paths_).listen.at(0);
  Status ok = probeSandbox(listen, "dev1", token);
  EXPECT_TRUE(ok.isOk()) << ok.message();
  Status unknown = probeSandbox(listen, "dev2", token);
  ASSERT_FALSE(unknown.isOk());
  EXPECT_NE(unknown.message().find("does not recognise sandbox dev2 (407)"), std::string::npos)
      << unknown.message();
  EXPECT_EQ(unknown.message().find(token), std::string::npos);
  ASSERT_TRUE(stopProxy(paths_).isOk());
  Status dead = probeSandbox(listen, "dev1", token);
  ASSERT_FALSE(dead.isOk());
  EXPECT_NE(dead.message().find("does not answer on " + listen), std::string::npos)
      << dead.message();
  EXPECT_EQ(dead.message().find(token), std::string::npos);
}

TEST_F(ProxyControl, StartStatusReloadStop) {
  EXPECT_FALSE(proxyStatus(paths_).running);
  EXPECT_TRUE(reloadProxy(paths_).isOk());  // nothing to reload
  Status st = ensureProxy(paths_, binary_);
  ASSERT_TRUE(st.isOk()) << st.message() << testing::readFile(paths_.proxyOut());
  ProxyStatus s = proxyStatus(paths_);
  ASSERT_TRUE(s.running);
  EXPECT_GT(s.pid, 0);
  ASSERT_EQ(s.listen.size(), 1u);
  EXPECT_EQ(s.listen[0].rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE(s.listen[0], "127.0.0.1:0");
  EXPECT_EQ(s.admin, "unix:" + paths_.adminSocket());
  // Starting again is a no-op: same process.
  ASSERT_TRUE(ensureProxy(paths_, binary_).isOk());
  EXPECT_EQ(proxyStatus(paths_).pid, s.pid);

  // A secret change followed by a reload is visible to the running proxy.
  const double before = reloadsOk();
  ASSERT_GE(before, 0);
  Secrets secrets;
  secrets.custom.push_back(
      {"global", {"ampcode.com"}, "AMP_API_KEY", "sgamp-0123456789abcdef", "sk-value-1"});
  ASSERT_TRUE(saveSecrets(paths_, secrets).isOk());
  st = reloadProxy(paths_);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(reloadsOk(), before + 1);

  ASSERT_TRUE(stopProxy(paths_).isOk());
  EXPECT_FALSE(proxyStatus(paths_).running);
  EXPECT_NE(::kill(s.pid, 0), 0);
  EXPECT_TRUE(stopProxy(paths_).isOk());  // idempotent
}

TEST_F(ProxyControl, ConcurrentStartsShareOneProxy) {
  std::vector<std::thread> threads;
  std::vector<Status> results(4);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = ensureProxy(paths_, binary_); });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.isOk()) << st.message();
  ProxyStatus s = proxyStatus(paths_);
  ASSERT_TRUE(s.running);
  // Exactly one live kitgate-proxy serves this state directory.
  int live = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = testing::readFile(entry.path().string() + "/cmdline");
    const std::string stat = testing::readFile(entry.path().string() + "/stat");
    const size_t paren = stat.rfind(')');
    const bool zombie =
        paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
    if (!zombie && cmdline.find(paths_.readyFile()) != std::string::npos) ++live;
  }
  EXPECT_EQ(live, 1);
  ASSERT_TRUE(stopProxy(paths_).isOk());
  EXPECT_FALSE(proxyStatus(paths_).running);
}

TEST_F(ProxyControl, ReloadReportsTheProxysErrorsAndKeepsRunning) {
  ASSERT_TRUE(ensureProxy(paths_, binary_).isOk());
  ASSERT_TRUE(writeFileAtomic(paths_.policyFile(), "allow: [\"a.**.b\"]\n", 0600).isOk());
  Status st = reloadProxy(paths_);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("policy.yaml:1:"), std::string::npos) << st.message();
  EXPECT_TRUE(proxyStatus(paths_).running);
  ASSERT_TRUE(stopProxy(paths_).isOk());
}

TEST_F(ProxyControl, ListenAddressesAreAddedAndRemovedLive) {
  ASSERT_TRUE(ensureProxy(paths_, binary_).isOk());
  Status st = addProxyListen(paths_, "127.0.0.2:0");
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(*proxyListen(paths_), (std::vector<std::string>{"127.0.0.1:0", "127.0.0.2:0"}));
  st = removeProxyListen(paths_, "127.0.0.2:0");
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_TRUE(proxyStatus(paths_).running);
  ASSERT_TRUE(stopProxy(paths_).isOk());
}

TEST_F(ProxyControl, StartFailureShowsTheProxysOutput) {
  ASSERT_TRUE(
      writeFileAtomic(paths_.proxyConfig(), "listen: [\"127.0.0.1:0\"]\nbogus_key: 1\n", 0600)
          .isOk());
  Status st = ensureProxy(paths_, binary_);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("bogus_key"), std::string::npos) << st.message();
  EXPECT_FALSE(proxyStatus(paths_).running);
}

TEST_F(ProxyControl, RelativePathsInProxyYamlAreRelativeToTheStateDir) {
  // policy log "policy.log" (relative): the proxy runs in the state dir.
  ASSERT_TRUE(
      writeFileAtomic(paths_.proxyConfig(),
                      "listen: [\"127.0.0.1:0\"]\nmetrics_listen: \"\"\nadmin_listen: \"unix:" +
                          paths_.adminSocket() +
                          "\"\nstate_dir: \".\"\npolicy_log: {path: policy.log}\n",
                      0600)
          .isOk());
  Status st = ensureProxy(paths_, binary_);
  ASSERT_TRUE(st.isOk()) << st.message();
  ProxyStatus s = proxyStatus(paths_);
  ASSERT_TRUE(s.running);
  ASSERT_EQ(s.listen.size(), 1u);
  auto r =
      testing::runCurl({"-x", "http://" + s.listen[0], "http://blocked.invalid/"}, dir_->path());
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->http_code, 403);
  EXPECT_TRUE(testing::waitUntil(
      [&] {
        return testing::readFile(paths_.policyLog()).find("blocked.invalid") != std::string::npos;
      },
      std::chrono::seconds(20)));
  ASSERT_TRUE(stopProxy(paths_).isOk());
}

TEST_F(ProxyControl, MissingBinaryIsAClearError) {
  Status st = ensureProxy(paths_, dir_->path() + "/no-such-proxy");
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("KITGATE_PROXY"), std::string::npos);
}

}  // namespace
}  // namespace kitgate::state
