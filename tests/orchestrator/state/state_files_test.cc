// kitgate_state files, read back with the proxy's own loaders.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <set>

#include "orchestrator/state/state.h"
#include "proxy/config/config.h"
#include "proxy/policy/host.h"
#include "proxy/sandbox/registry.h"
#include "proxy/secrets/store.h"
#include "tests/support/subprocess.h"

namespace kitgate::state {
namespace {

mode_t modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

class StateDir : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::create("state");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    dir_ = std::make_unique<testing::TempDir>(std::move(dir.value()));
    paths_.root = dir_->path() + "/kg";
    ASSERT_TRUE(ensureDirs(paths_).isOk());
  }
  std::unique_ptr<testing::TempDir> dir_;
  Paths paths_;
};

TEST(StatePaths, StateDirEnvironmentWins) {
  ::setenv("KITGATE_STATE_DIR", "/tmp/somewhere/kg/", 1);
  Paths p = defaultPaths();
  ::unsetenv("KITGATE_STATE_DIR");
  EXPECT_EQ(p.root, "/tmp/somewhere/kg");
  EXPECT_EQ(p.sandboxFile("dev1"), "/tmp/somewhere/kg/sandboxes/dev1.yaml");
  EXPECT_EQ(p.credentialsFile("dev1"), "/tmp/somewhere/kg/credentials/dev1.yaml");
  EXPECT_EQ(p.caCert("dev1"), "/tmp/somewhere/kg/ca/dev1.crt");
  EXPECT_EQ(p.secretsFile(), "/tmp/somewhere/kg/secrets.yaml");
}

TEST(StatePaths, RelativeStateDirBecomesAbsolute) {
  ::setenv("KITGATE_STATE_DIR", "rel/kg", 1);
  Paths p = defaultPaths();
  ::unsetenv("KITGATE_STATE_DIR");
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  EXPECT_EQ(p.root, std::string(cwd) + "/rel/kg");
}

TEST_F(StateDir, DirectoriesAre0700) {
  EXPECT_EQ(modeOf(paths_.root), 0700u);
  EXPECT_EQ(modeOf(paths_.sandboxesDir()), 0700u);
  EXPECT_EQ(modeOf(paths_.root + "/credentials"), 0700u);
  EXPECT_EQ(modeOf(paths_.runDir()), 0700u);
}

TEST_F(StateDir, AtomicWriteHasExactModeAndLeavesNoTemporary) {
  const mode_t old = ::umask(0);
  Status st = writeFileAtomic(paths_.root + "/x.yaml", "a: 1\n", 0600);
  ::umask(old);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(modeOf(paths_.root + "/x.yaml"), 0600u);
  EXPECT_EQ(testing::readFile(paths_.root + "/x.yaml"), "a: 1\n");
  ASSERT_TRUE(writeFileAtomic(paths_.root + "/x.yaml", "a: 2\n", 0600).isOk());
  EXPECT_EQ(testing::readFile(paths_.root + "/x.yaml"), "a: 2\n");
  EXPECT_FALSE(exists(paths_.root + "/.x.yaml.tmp." + std::to_string(::getpid())));
}

TEST_F(StateDir, SandboxFileLoadsInTheProxyRegistry) {
  SandboxRecord r{"dev1",
                  {"10.88.1.2", "fd00:88::/64"},
                  "kgt_0123456789abcdef",
                  {"github.com:443", "*.npmjs.org"},
                  {"gist.github.com"}};
  ASSERT_TRUE(writeSandbox(paths_, r).isOk());
  EXPECT_EQ(modeOf(paths_.sandboxFile("dev1")), 0600u);
  auto reg = sandbox::loadRegistry(paths_.root);
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const sandbox::Sandbox* sb = (*reg)->find("dev1");
  ASSERT_NE(sb, nullptr);
  EXPECT_TRUE(sb->requiresToken());
  auto host = policy::normalizeHost("github.com");
  EXPECT_TRUE(sb->policy().evaluate(*host, 443).allowed());
  EXPECT_TRUE(sb->policy().evaluate(*host, 80).denied());
  EXPECT_TRUE(sb->policy().evaluate(*policy::normalizeHost("gist.github.com"), 443).denied());

  auto back = loadSandbox(paths_, "dev1");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->sources, r.sources);
  EXPECT_EQ(back->token, r.token);
  EXPECT_EQ(back->allow, r.allow);
  EXPECT_EQ(back->deny, r.deny);
  EXPECT_EQ(listSandboxes(paths_), std::vector<std::string>{"dev1"});
}

TEST_F(StateDir, SandboxNeedsSourcesOrTokenAndAValidName) {
  EXPECT_FALSE(writeSandbox(paths_, SandboxRecord{"dev1", {}, "", {}, {}}).isOk());
  EXPECT_FALSE(writeSandbox(paths_, SandboxRecord{"Dev1", {"10.0.0.1"}, "", {}, {}}).isOk());
  EXPECT_FALSE(writeSandbox(paths_, SandboxRecord{"../x", {"10.0.0.1"}, "", {}, {}}).isOk());
  EXPECT_TRUE(listSandboxes(paths_).empty());
}

TEST_F(StateDir, RemoveSandboxDropsCredentialsAndIsIdempotent) {
  ASSERT_TRUE(writeSandbox(paths_, SandboxRecord{"dev1", {"10.0.0.1"}, "", {}, {}}).isOk());
  ASSERT_TRUE(
      writeRoutes(paths_, "dev1", {Route{"amp", {"ampcode.com"}, "Authorization", "Bearer %s", ""}})
          .isOk());
  ASSERT_TRUE(exists(paths_.credentialsFile("dev1")));
  ASSERT_TRUE(removeSandbox(paths_, "dev1").isOk());
  EXPECT_FALSE(exists(paths_.sandboxFile("dev1")));
  EXPECT_FALSE(exists(paths_.credentialsFile("dev1")));
  EXPECT_TRUE(removeSandbox(paths_, "dev1").isOk());
}

TEST_F(StateDir, RoutesAndServiceSecretsGiveTheProxyAnInjectionPlan) {
  ASSERT_TRUE(writeRoutes(paths_, "dev1",
                          {Route{"amp", {"ampcode.com"}, "Authorization", "Bearer %s", ""},
                           Route{"registry", {"pkgs.example.com"}, "", "", "token"}})
                  .isOk());
  EXPECT_EQ(modeOf(paths_.credentialsFile("dev1")), 0600u);
  Secrets s;
  s.services.push_back({"amp", "global", "sk-global-value-123"});
  s.services.push_back({"amp", "sandbox:dev1", "sk-dev1-value-456"});
  ASSERT_TRUE(saveSecrets(paths_, s).isOk());
  auto store = secrets::loadStore(paths_.root);
  ASSERT_TRUE(store.isOk()) << store.status().message();
  const secrets::SandboxCredentials* creds = (*store)->forSandbox("dev1");
  ASSERT_NE(creds, nullptr);
  auto plan = creds->planFor(*policy::normalizeHost("ampcode.com"));
  ASSERT_NE(plan, nullptr);
  ASSERT_EQ(plan->injections.size(), 1u);
  EXPECT_EQ(plan->injections[0].name, "Authorization");
  EXPECT_EQ(plan->injections[0].value, "Bearer sk-dev1-value-456");  // sandbox scope wins
  EXPECT_EQ(creds->planFor(*policy::normalizeHost("pkgs.example.com")),
            nullptr);  // no value: not bound
  ASSERT_TRUE(writeRoutes(paths_, "dev1", {}).isOk());
  EXPECT_FALSE(exists(paths_.credentialsFile("dev1")));
}

TEST_F(StateDir, SecretsRoundTripAwkwardCharactersAndLoadInTheProxy) {
  Secrets s;
  const std::string tricky = "sk-\"quoted\" #not-a-comment: {x} [y] 'z' \\ é";
  s.services.push_back({"svc.one", "global", tricky});
  s.custom.push_back({"global",
                      {"ampcode.com", "*.example.com"},
                      "AMP_API_KEY",
                      "sgamp-ABCDEFGH12345678",
                      tricky});
  ASSERT_TRUE(saveSecrets(paths_, s).isOk());
  EXPECT_EQ(modeOf(paths_.secretsFile()), 0600u);
  auto back = loadSecrets(paths_);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  ASSERT_EQ(back->services.size(), 1u);
  EXPECT_EQ(back->services[0].value, tricky);
  ASSERT_EQ(back->custom.size(), 1u);
  EXPECT_EQ(back->custom[0].hosts, (std::vector<std::string>{"ampcode.com", "*.example.com"}));
  EXPECT_EQ(back->custom[0].value, tricky);
  auto store = secrets::loadStore(paths_.root);
  ASSERT_TRUE(store.isOk()) << store.status().message();
  const secrets::SandboxCredentials* creds = (*store)->forSandbox("anything");
  ASSERT_NE(creds, nullptr);
  auto plan = creds->planFor(*policy::normalizeHost("ampcode.com"));
  ASSERT_NE(plan, nullptr);
  ASSERT_EQ(plan->substitutions.size(), 1u);
  EXPECT_EQ(plan->substitutions[0].placeholder, "sgamp-ABCDEFGH12345678");
  EXPECT_EQ(plan->substitutions[0].value, tricky);
}

TEST_F(StateDir, AbsentSecretsFileIsEmpty) {
  auto s = loadSecrets(paths_);
  ASSERT_TRUE(s.isOk());
  EXPECT_TRUE(s->services.empty());
  EXPECT_TRUE(s->custom.empty());
}

TEST_F(StateDir, MalformedSecretsErrorNeverQuotesTheFile) {
  ASSERT_TRUE(
      writeFileAtomic(paths_.secretsFile(), "services: [{service: a, value: \"sk-leak-me\"\n", 0600)
          .isOk());
  auto s = loadSecrets(paths_);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.status().message().find("sk-leak-me"), std::string::npos) << s.status().message();
}

TEST(Placeholder, TemplateRandFormat) {
  const std::regex def("kitgate-cs-[A-Za-z0-9]{16}");
  const std::regex tmpl("sgamp-[A-Za-z0-9]{16}-x-[A-Za-z0-9]{16}");
  EXPECT_TRUE(std::regex_match(newPlaceholder(""), def));
  EXPECT_TRUE(std::regex_match(newPlaceholder("sgamp-{rand}-x-{rand}"), tmpl));
  EXPECT_EQ(newPlaceholder("fixed-placeholder"), "fixed-placeholder");
}

TEST(Placeholder, DrawsAreDistinctAndUseTheWholeAlphabet) {
  std::set<std::string> seen;
  std::set<char> chars;
  for (int i = 0; i < 200; ++i) {
    std::string p = newPlaceholder("{rand}");
    seen.insert(p);
    chars.insert(p.begin(), p.end());
  }
  EXPECT_EQ(seen.size(), 200u);
  // 3200 draws from 62 symbols: every symbol shows up (miss chance ~1e-21).
  EXPECT_EQ(chars.size(), 62u);
}

TEST(Placeholders, SandboxScopeWinsOverGlobalPerEnv) {
  Secrets s;
  s.custom.push_back({"global", {"a.com"}, "A_KEY", "ph-global-a", "v1"});
  s.custom.push_back({"global", {"b.com"}, "B_KEY", "ph-global-b", "v2"});
  s.custom.push_back({"sandbox:dev1", {"a.com"}, "A_KEY", "ph-dev1-a", "v3"});
  s.custom.push_back({"sandbox:dev2", {"c.com"}, "C_KEY", "ph-dev2-c", "v4"});
  using V = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(placeholdersFor(s, "dev1"), (V{{"A_KEY", "ph-dev1-a"}, {"B_KEY", "ph-global-b"}}));
  EXPECT_EQ(placeholdersFor(s, "dev3"), (V{{"A_KEY", "ph-global-a"}, {"B_KEY", "ph-global-b"}}));
}

TEST_F(StateDir, GlobalPolicyRoundTripsAndRulesTheDefaultSandbox) {
  ASSERT_TRUE(
      saveGlobalPolicy(paths_, GlobalPolicy{{"**.npmjs.org:443", "10.0.0.0/8"}, {"bad.npmjs.org"}})
          .isOk());
  auto p = loadGlobalPolicy(paths_);
  ASSERT_TRUE(p.isOk()) << p.status().message();
  EXPECT_EQ(p->allow, (std::vector<std::string>{"**.npmjs.org:443", "10.0.0.0/8"}));
  EXPECT_EQ(p->deny, std::vector<std::string>{"bad.npmjs.org"});
  auto reg = sandbox::loadRegistry(paths_.root);
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const sandbox::Sandbox* def = (*reg)->find(sandbox::kDefaultSandboxName);
  ASSERT_NE(def, nullptr);
  EXPECT_TRUE(def->policy().evaluate(*policy::normalizeHost("registry.npmjs.org"), 443).allowed());
  EXPECT_TRUE(def->policy().evaluate(*policy::normalizeHost("bad.npmjs.org"), 443).denied());
}

TEST_F(StateDir, ProxyListenEditsAreIdempotent) {
  ASSERT_TRUE(writeFileAtomic(paths_.proxyConfig(), defaultProxyConfig(paths_), 0600).isOk());
  ASSERT_TRUE(addProxyListen(paths_, "10.88.1.1:3128").isOk());  // no proxy runs: file only
  ASSERT_TRUE(addProxyListen(paths_, "10.88.1.1:3128").isOk());
  auto l = proxyListen(paths_);
  ASSERT_TRUE(l.isOk()) << l.status().message();
  EXPECT_EQ(*l, (std::vector<std::string>{"127.0.0.1:3128", "10.88.1.1:3128"}));
  ASSERT_TRUE(removeProxyListen(paths_, "10.88.1.1:3128").isOk());
  ASSERT_TRUE(removeProxyListen(paths_, "10.88.1.1:3128").isOk());
  EXPECT_EQ(*proxyListen(paths_), std::vector<std::string>{"127.0.0.1:3128"});
}

}  // namespace
}  // namespace kitgate::state

namespace kitgate::state {
namespace {

// proxy.yaml as a user might hand-edit it: extra sections, kitgate's keys
// missing or broken.
class ProxyYamlOwnership : public StateDir {
 protected:
  void write(const std::string& text) {
    ASSERT_TRUE(writeFileAtomic(paths_.proxyConfig(), text, 0600).isOk());
  }
  std::string read() { return testing::readFile(paths_.proxyConfig()); }
};

TEST_F(ProxyYamlOwnership, MissingKitgateKeysArePutBackAndTheUsersKept) {
  write(
      "listen: [\"127.0.0.1:3128\"]\n"
      "dns:\n  hosts:\n    ampcode.com: 127.0.0.1\n"
      "tls:\n  upstream_ca_file: /tmp/origin-ca.pem\n");
  auto repaired = repairProxyConfig(paths_);
  ASSERT_TRUE(repaired.isOk()) << repaired.status().message();
  ASSERT_EQ(repaired->size(), 4u);
  EXPECT_NE((*repaired)[0].find("state_dir: " + paths_.root), std::string::npos);
  EXPECT_NE((*repaired)[1].find("admin_listen"), std::string::npos);
  EXPECT_NE((*repaired)[2].find("policy_log"), std::string::npos);
  EXPECT_NE((*repaired)[3].find("transparent_listen: [0.0.0.0:0]"), std::string::npos);
  const std::string text = read();
  EXPECT_NE(text.find("ampcode.com: 127.0.0.1"), std::string::npos) << text;
  EXPECT_NE(text.find("upstream_ca_file: /tmp/origin-ca.pem"), std::string::npos) << text;
  EXPECT_NE(text.find("state_dir: " + paths_.root), std::string::npos) << text;
  EXPECT_NE(text.find("unix:" + paths_.adminSocket()), std::string::npos) << text;
  // Repaired once; a second pass has nothing to do.
  auto again = repairProxyConfig(paths_);
  ASSERT_TRUE(again.isOk());
  EXPECT_TRUE(again->empty());
}

TEST_F(ProxyYamlOwnership, AStateDirOfAnotherDirectoryIsRefusedAndTheFileKept) {
  const std::string text =
      "listen: [\"127.0.0.1:3128\"]\nstate_dir: /var/lib/elsewhere\nadmin_listen: unix:/x\n";
  write(text);
  auto repaired = repairProxyConfig(paths_);
  ASSERT_FALSE(repaired.isOk());
  EXPECT_NE(repaired.status().message().find("state_dir is \"/var/lib/elsewhere\""),
            std::string::npos)
      << repaired.status().message();
  EXPECT_NE(repaired.status().message().find("set it to " + paths_.root), std::string::npos);
  EXPECT_EQ(read(), text);
  EXPECT_FALSE(addProxyListen(paths_, "10.88.1.1:3128").isOk());
  EXPECT_EQ(read(), text);
}

TEST_F(ProxyYamlOwnership, StateDirMayBeRelativeToTheStateDirectory) {
  write(
      "listen: [\"127.0.0.1:0\"]\nadmin_listen: unix:a.sock\nstate_dir: \".\"\n"
      "policy_log: {path: policy.log}\ntransparent_listen: [\"0.0.0.0:0\"]\n");
  auto repaired = repairProxyConfig(paths_);
  ASSERT_TRUE(repaired.isOk()) << repaired.status().message();
  EXPECT_TRUE(repaired->empty());
}

TEST_F(ProxyYamlOwnership, ListenNeverBecomesEmpty) {
  // A file whose only listen entry is a sandbox's: removing it keeps loopback.
  write("listen: [\"10.88.1.1:3128\"]\nstate_dir: " + paths_.root + "\n");
  ASSERT_TRUE(removeProxyListen(paths_, "10.88.1.1:3128").isOk());
  EXPECT_EQ(*proxyListen(paths_), std::vector<std::string>{"127.0.0.1:3128"});
  // An empty list written by hand (or by an older kitgate) is repaired.
  write("listen: []\nstate_dir: " + paths_.root + "\n");
  auto repaired = repairProxyConfig(paths_);
  ASSERT_TRUE(repaired.isOk()) << repaired.status().message();
  EXPECT_EQ(*proxyListen(paths_), std::vector<std::string>{"127.0.0.1:3128"});
  // Every file kitgate leaves behind is one the proxy accepts.
  auto config = config::loadConfig(paths_.proxyConfig());
  EXPECT_TRUE(config.isOk()) << config.status().message();
}

// The sandboxes' host rules point at the transparent port and at
// <gateway>:3153: the port a first start picked is kept for every restart,
// and the DNS entries come and go with their sandboxes.
TEST_F(ProxyYamlOwnership, TransparentPortIsPinnedAndDnsEntriesComeAndGo) {
  write("listen: [\"127.0.0.1:3128\"]\nstate_dir: " + paths_.root + "\n");
  ASSERT_TRUE(repairProxyConfig(paths_).isOk());
  auto config = config::loadConfig(paths_.proxyConfig());
  ASSERT_TRUE(config.isOk()) << config.status().message();
  EXPECT_EQ(config->transparent_listen, std::vector<std::string>{"0.0.0.0:0"});

  ASSERT_TRUE(pinTransparentListen(paths_, {"0.0.0.0:41234"}).isOk());
  config = config::loadConfig(paths_.proxyConfig());
  ASSERT_TRUE(config.isOk());
  EXPECT_EQ(config->transparent_listen, std::vector<std::string>{"0.0.0.0:41234"});
  ASSERT_TRUE(pinTransparentListen(paths_, {"0.0.0.0:50000"}).isOk());  // pinned stays pinned
  EXPECT_EQ(config::loadConfig(paths_.proxyConfig())->transparent_listen,
            std::vector<std::string>{"0.0.0.0:41234"});

  ASSERT_TRUE(addProxyDnsListen(paths_, "10.88.1.1:3153").isOk());
  ASSERT_TRUE(addProxyDnsListen(paths_, "10.88.2.1:3153").isOk());
  ASSERT_TRUE(removeProxyDnsListen(paths_, "10.88.1.1:3153").isOk());
  ASSERT_TRUE(removeProxyDnsListen(paths_, "10.88.1.1:3153").isOk());  // idempotent
  config = config::loadConfig(paths_.proxyConfig());
  ASSERT_TRUE(config.isOk()) << config.status().message();
  EXPECT_EQ(config->dns_listen, std::vector<std::string>{"10.88.2.1:3153"});
  ASSERT_TRUE(removeProxyDnsListen(paths_, "10.88.2.1:3153").isOk());
  config = config::loadConfig(paths_.proxyConfig());
  ASSERT_TRUE(config.isOk()) << config.status().message();  // an empty list is fine
  EXPECT_TRUE(config->dns_listen.empty());
  EXPECT_EQ(*proxyListen(paths_), std::vector<std::string>{"127.0.0.1:3128"});
}

}  // namespace
}  // namespace kitgate::state
