// The daemon's actions: what it derives itself (subnet and gateway from the
// sandbox's Docker network, listen entries only on kitgate gateways), the
// registration it writes with root's state code, and what it refuses.
#include "orchestrator/privd/actions.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "orchestrator/sandbox/plan.h"
#include "tests/orchestrator/privd/oauth_route.h"
#include "tests/support/fake_docker.h"

namespace kitgate::privd {
namespace {

class RecordingFirewall final : public sandbox::HostFirewall {
 public:
  Status isolate(const sandbox::FirewallSpec& f) override {
    calls.push_back("isolate " + f.name + " " + f.subnet + " " + f.gateway + " " + f.bridge + " " +
                    std::to_string(f.proxy_port) + " " + std::to_string(f.transparent_port) + " " +
                    std::to_string(f.dns_port));
    return Status::ok();
  }
  Status release(const std::string& name) override {
    calls.push_back("release " + name);
    return Status::ok();
  }
  std::vector<std::string> calls;
};

class RecordingProxy final : public sandbox::ProxyControl {
 public:
  Status ensureRunning() override { return record("ensure"); }
  Status reload() override { return record("reload"); }
  Status addListen(const std::string& addr) override { return record("add " + addr); }
  Status removeListen(const std::string& addr) override { return record("remove " + addr); }
  Status addDnsListen(const std::string& addr) override { return record("add dns " + addr); }
  Status removeDnsListen(const std::string& addr) override { return record("remove dns " + addr); }
  StatusOr<int> transparentPort() override { return 3129; }
  std::vector<std::string> takeRepairs() override { return {"listen"}; }
  Status record(std::string call) {
    calls.push_back(std::move(call));
    return Status::ok();
  }
  std::vector<std::string> calls;
};

class PrivdActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kitgate-privd-actions-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    paths_.root = tmpl;
    ASSERT_TRUE(state::ensureDirs(paths_).isOk());
    auto net = docker_.createNetwork(sandbox::planNetwork("amp"));
    ASSERT_TRUE(net.isOk());
    net_ = *net;
    actions_ = std::make_unique<PrivilegedActions>(docker_, firewall_, proxy_, paths_);
  }
  void TearDown() override { std::filesystem::remove_all(paths_.root); }

  Response run(Request r) { return actions_->handle(r, PeerCred{1, 1000, 1000}); }
  Request named(Verb verb, std::string name = "amp") {
    Request r;
    r.verb = verb;
    r.name = std::move(name);
    return r;
  }

  state::Paths paths_;
  docker::testing::FakeDockerClient docker_;
  RecordingFirewall firewall_;
  RecordingProxy proxy_;
  std::unique_ptr<PrivilegedActions> actions_;
  docker::NetworkInfo net_;
};
using PrivdActions = PrivdActionsTest;

TEST_F(PrivdActions, FirewallRulesUseTheNetworksOwnSubnetGatewayAndTheDaemonsProxyPorts) {
  Response r = run(named(Verb::kFirewallIsolate));
  ASSERT_TRUE(r.ok) << r.error;
  r = run(named(Verb::kFirewallRelease));
  ASSERT_TRUE(r.ok) << r.error;
  const std::string expect = "amp " + net_.subnet + " " + net_.gateway + " " +
                             sandbox::bridgeName(net_.id) + " 3128 3129 3153";
  EXPECT_EQ(firewall_.calls, (std::vector<std::string>{"isolate " + expect, "release amp"}));
}

TEST_F(PrivdActions, ReleaseIsByNameWhateverAddressesTheClientSends) {
  Request r = named(Verb::kFirewallRelease);
  r.subnet = "10.0.0.0/8";
  r.gateway = "10.0.0.1";
  ASSERT_TRUE(run(r).ok);
  // With the network gone too: the rules carry the sandbox's tag.
  ASSERT_TRUE(run(named(Verb::kFirewallRelease, "gone")).ok);
  EXPECT_EQ(firewall_.calls, (std::vector<std::string>{"release amp", "release gone"}));
}

TEST_F(PrivdActions, DnsListenEntriesOnlyOnAKitgateGatewaysDnsPort) {
  Request add;
  add.verb = Verb::kDnsListenAdd;
  add.listen = net_.gateway + ":3153";
  ASSERT_TRUE(run(add).ok);
  for (const std::string& bad :
       std::vector<std::string>{"192.168.77.1:3153", net_.gateway + ":3128"}) {
    add.listen = bad;
    EXPECT_FALSE(run(add).ok) << bad;
  }
  Request rm;
  rm.verb = Verb::kDnsListenRemove;
  rm.listen = net_.gateway + ":3153";
  ASSERT_TRUE(run(rm).ok);
  EXPECT_EQ(proxy_.calls, (std::vector<std::string>{"add dns " + net_.gateway + ":3153",
                                                    "remove dns " + net_.gateway + ":3153"}));
  Request port;
  port.verb = Verb::kTransparentPort;
  Response r = run(port);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "3129");
}

TEST_F(PrivdActions, NoRulesForANetworkThatIsNotTheSandboxes) {
  Response r = run(named(Verb::kFirewallIsolate, "other"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no sandbox network kitgate-other"), std::string::npos) << r.error;
  // A network with kitgate's name but not kitgate's label (someone else made it).
  docker::NetworkSpec spec;
  spec.name = sandbox::networkName("squat");
  ASSERT_TRUE(docker_.createNetwork(spec).isOk());
  r = run(named(Verb::kFirewallIsolate, "squat"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("is not kitgate's network"), std::string::npos) << r.error;
  EXPECT_TRUE(firewall_.calls.empty());
}

TEST_F(PrivdActions, ListenEntriesOnlyOnAKitgateGateway) {
  Request add;
  add.verb = Verb::kListenAdd;
  add.listen = net_.gateway + ":3128";
  ASSERT_TRUE(run(add).ok);
  add.listen = "192.168.77.1:3128";
  Response r = run(add);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("not the gateway of a kitgate sandbox network"), std::string::npos);
  EXPECT_EQ(proxy_.calls, (std::vector<std::string>{"add " + net_.gateway + ":3128"}));
}

TEST_F(PrivdActions, TheRegistrationIsWrittenWithTheNetworksSubnetAnd0600) {
  Request w = named(Verb::kSandboxWrite);
  w.token = "kgtABCDEFGHabcdefgh01";
  w.allow = {"ampcode.com"};
  w.routes = {state::Route{"amp", {"ampcode.com"}, "Authorization", "Bearer %s", ""}};
  Response r = run(w);
  ASSERT_TRUE(r.ok) << r.error;
  auto record = state::loadSandbox(paths_, "amp");
  ASSERT_TRUE(record.isOk()) << record.status().message();
  EXPECT_EQ(record->sources, (std::vector<std::string>{net_.subnet}));
  EXPECT_EQ(record->token, w.token);
  struct stat info {};
  ASSERT_EQ(::stat(paths_.sandboxFile("amp").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(paths_.credentialsFile("amp").c_str(), &info), 0);

  Response token = run(named(Verb::kSandboxToken));
  ASSERT_TRUE(token.ok);
  EXPECT_EQ(token.text, w.token);

  ASSERT_TRUE(run(named(Verb::kSandboxRemove)).ok);
  EXPECT_NE(::stat(paths_.sandboxFile("amp").c_str(), &info), 0);
  EXPECT_NE(::stat(paths_.credentialsFile("amp").c_str(), &info), 0);
}

TEST_F(PrivdActions, NoRegistrationWithoutTheSandboxesNetwork) {
  Request w = named(Verb::kSandboxWrite, "nonet");
  w.token = "kgtABCDEFGHabcdefgh01";
  EXPECT_FALSE(run(w).ok);
  struct stat info {};
  EXPECT_NE(::stat(paths_.sandboxFile("nonet").c_str(), &info), 0);
}

TEST_F(PrivdActions, PlaceholdersButNeverSecretValuesComeBack) {
  state::Secrets secrets;
  secrets.custom.push_back(
      {state::sandboxScope("amp"), {"api.example"}, "EX_TOKEN", "kitgate-cs-abc", "s3cr3t-value"});
  secrets.services.push_back({"amp", std::string(state::kGlobalScope), "another-s3cr3t"});
  ASSERT_TRUE(state::saveSecrets(paths_, secrets).isOk());
  Response r = run(named(Verb::kPlaceholders));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.pairs,
            (std::vector<std::pair<std::string, std::string>>{{"EX_TOKEN", "kitgate-cs-abc"}}));
  EXPECT_EQ(encodeResponse(r).find("s3cr3t"), std::string::npos);

  Response removed = run(named(Verb::kSecretsRemove));
  ASSERT_TRUE(removed.ok) << removed.error;
  EXPECT_EQ(removed.text, "removed");
  auto left = state::loadSecrets(paths_);
  ASSERT_TRUE(left.isOk());
  EXPECT_TRUE(left->custom.empty());
  EXPECT_EQ(left->services.size(), 1u);  // global: kept
  EXPECT_EQ(run(named(Verb::kSecretsRemove)).text, "");
}

TEST_F(PrivdActions, TheCaCertificateComesBackAndIsRemovedWithItsKey) {
  const std::string crt = paths_.caCert("amp");
  std::filesystem::create_directories(std::filesystem::path(crt).parent_path());
  std::ofstream(crt) << "-----BEGIN CERTIFICATE-----\n";
  const std::string key = crt.substr(0, crt.size() - 4) + ".key";
  std::ofstream(key) << "key";
  Response r = run(named(Verb::kSandboxCa));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.text, "-----BEGIN CERTIFICATE-----\n");
  ASSERT_TRUE(run(named(Verb::kCaRemove)).ok);
  EXPECT_FALSE(std::filesystem::exists(crt));
  EXPECT_FALSE(std::filesystem::exists(key));
}

TEST_F(PrivdActions, ProxyVerbsDriveTheLocalProxyControl) {
  Request ensure;
  ensure.verb = Verb::kProxyEnsure;
  Response r = run(ensure);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"listen"}));
  Request reload;
  reload.verb = Verb::kProxyReload;
  ASSERT_TRUE(run(reload).ok);
  Request hello;
  EXPECT_EQ(run(hello).text, paths_.root);
  EXPECT_EQ(proxy_.calls, (std::vector<std::string>{"ensure", "reload"}));
}

TEST_F(PrivdActions, TheKitsOAuthRoutesAreWrittenWithTheRegistrationAndRemovedWithIt) {
  Request w = named(Verb::kSandboxWrite);
  w.token = "kgtABCDEFGHabcdefgh01";
  w.oauth = {testing::claudeOAuthRoute()};
  Response r = run(w);
  ASSERT_TRUE(r.ok) << r.error;
  const std::string file = secrets::oauthRoutesPath(paths_.root, "amp");
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto routes = secrets::parseOAuthRoutes(text.str(), file);
  ASSERT_TRUE(routes.isOk()) << routes.status().message();
  EXPECT_EQ(*routes, w.oauth);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_TRUE(run(named(Verb::kSandboxRemove)).ok);
  EXPECT_FALSE(std::filesystem::exists(file));
}

class PrivdStateVerbs : public PrivdActionsTest {
 protected:
  // The change's whole answer, as it goes on the socket.
  Response runChecked(Request r, const std::string& secret) {
    Response out = run(std::move(r));
    EXPECT_EQ(encodeResponse(out).find(secret), std::string::npos)
        << "the value came back: " << encodeResponse(out);
    return out;
  }
};

TEST_F(PrivdStateVerbs, SecretSetStoresTheValue0600AndNeverAnswersWithIt) {
  const std::string value = "sk-ant-api03-TOPSECRET-0123456789";
  Request set;
  set.verb = Verb::kSecretSet;
  set.scope = "sandbox:amp";
  set.service = "anthropic";
  set.value = value;
  Response r = runChecked(set, value);
  ASSERT_TRUE(r.ok) << r.error;
  auto secrets = state::loadSecrets(paths_);
  ASSERT_TRUE(secrets.isOk());
  ASSERT_EQ(secrets->services.size(), 1u);
  EXPECT_EQ(secrets->services[0].service, "anthropic");
  EXPECT_EQ(secrets->services[0].scope, "sandbox:amp");
  EXPECT_EQ(secrets->services[0].value, value);
  struct stat info {};
  ASSERT_EQ(::stat(paths_.secretsFile().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  // No sandbox amp is registered yet: said, without the value.
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("no sandbox named amp exists yet"), std::string::npos);

  Request custom;
  custom.verb = Verb::kSecretSetCustom;
  custom.scope = "global";
  custom.env = "AMP_API_KEY";
  custom.hosts = {"AmpCode.com", "ampcode.com", "*.ampcode.com"};
  custom.placeholder = "sgamp-0123456789abcdef";
  custom.value = "amp-TOPSECRET-value";
  r = runChecked(custom, custom.value);
  ASSERT_TRUE(r.ok) << r.error;
  secrets = state::loadSecrets(paths_);
  ASSERT_TRUE(secrets.isOk());
  ASSERT_EQ(secrets->custom.size(), 1u);
  EXPECT_EQ(secrets->custom[0].hosts, (std::vector<std::string>{"ampcode.com", "*.ampcode.com"}));
  EXPECT_EQ(secrets->custom[0].value, custom.value);

  // The listing: masked values only.
  Request ls;
  ls.verb = Verb::kSecretList;
  Response listing = runChecked(ls, value);
  ASSERT_TRUE(listing.ok) << listing.error;
  EXPECT_EQ(listing.text.find(custom.value), std::string::npos);
  auto j = nlohmann::json::parse(listing.text);
  ASSERT_EQ(j["secrets"].size(), 1u);
  EXPECT_EQ(j["secrets"][0]["name"], "anthropic");
  EXPECT_EQ(j["custom_secrets"][0]["placeholder"], custom.placeholder);
}

TEST_F(PrivdStateVerbs, AnOverlappingPlaceholderIsRefusedAndTheErrorHasNoValue) {
  Request custom;
  custom.verb = Verb::kSecretSetCustom;
  custom.scope = "global";
  custom.env = "EX";
  custom.hosts = {"api.example"};
  custom.placeholder = "kitgate-cs-0123456789";
  custom.value = "xx-kitgate-cs-0123456789-yy";
  Response r = runChecked(custom, custom.value);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("overlap"), std::string::npos) << r.error;
  EXPECT_FALSE(std::filesystem::exists(paths_.secretsFile()) &&
               state::loadSecrets(paths_)->custom.size() > 0);
}

TEST_F(PrivdStateVerbs, SecretRmChecksFirstThenRemoves) {
  state::Secrets secrets;
  secrets.services.push_back({"github", "global", "ghp_TOPSECRET"});
  ASSERT_TRUE(state::saveSecrets(paths_, secrets).isOk());
  Request rm;
  rm.verb = Verb::kSecretRemove;
  rm.scope = "global";
  rm.service = "github";
  rm.check = true;
  Response r = run(rm);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(state::loadSecrets(paths_)->services.size(), 1u);  // only checked
  rm.check = false;
  r = run(rm);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "Removed secret for service \"github\" (global).");
  EXPECT_TRUE(state::loadSecrets(paths_)->services.empty());
  r = run(rm);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no secret found for service \"github\""), std::string::npos);
}

TEST_F(PrivdStateVerbs, PolicyRulesAreAddedListedCheckedAndRemoved) {
  Request allow;
  allow.verb = Verb::kPolicyAllow;
  allow.rules = {"registry.npmjs.org:443", "**.githubusercontent.com"};
  Response r = run(allow);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text,
            "Allowed in the global policy: registry.npmjs.org:443, **.githubusercontent.com");
  r = run(allow);
  EXPECT_NE(r.text.find("(2 already present)"), std::string::npos) << r.text;
  Request deny;
  deny.verb = Verb::kPolicyDeny;
  deny.rules = {"gist.githubusercontent.com"};
  ASSERT_TRUE(run(deny).ok);
  auto global = state::loadGlobalPolicy(paths_);
  ASSERT_TRUE(global.isOk());
  EXPECT_EQ(global->allow, allow.rules);
  EXPECT_EQ(global->deny, deny.rules);
  // A sandbox's rules need the sandbox.
  deny.name = "nosuch";
  r = run(deny);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("nosuch"), std::string::npos) << r.error;

  Request ls;
  ls.verb = Verb::kPolicyList;
  r = run(ls);
  ASSERT_TRUE(r.ok) << r.error;
  auto rows = nlohmann::json::parse(r.text);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["decision"], "deny");
  EXPECT_EQ(rows[2]["source"], "policy.yaml");

  Request check;
  check.verb = Verb::kPolicyCheck;
  check.target = "raw.githubusercontent.com";
  r = run(check);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(nlohmann::json::parse(r.text)["decision"], "allowed");
  check.target = "gist.githubusercontent.com:443";
  EXPECT_EQ(nlohmann::json::parse(run(check).text)["decision"], "blocked");

  Request rm;
  rm.verb = Verb::kPolicyRemove;
  rm.rules = {"registry.npmjs.org:443", "not-there.example"};
  r = run(rm);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no rule not-there.example"), std::string::npos) << r.error;
  rm.rules = {"registry.npmjs.org:443"};
  rm.check = true;
  ASSERT_TRUE(run(rm).ok);
  EXPECT_EQ(state::loadGlobalPolicy(paths_)->allow.size(), 2u);
  rm.check = false;
  ASSERT_TRUE(run(rm).ok);
  EXPECT_EQ(state::loadGlobalPolicy(paths_)->allow,
            (std::vector<std::string>{"**.githubusercontent.com"}));
}

TEST_F(PrivdStateVerbs, PolicyLogAnswersWithTheGroups) {
  std::ofstream(paths_.policyLog())
      << R"({"time":"2026-12-07T10:00:00Z","sandbox":"amp","type":"connect","host":"evil.example","port":443,"decision":"blocked","rule":"","reason":"no rule"})"
      << "\n"
      << R"({"time":"2026-12-07T10:00:01Z","sandbox":"amp","type":"connect","host":"ampcode.com","port":443,"decision":"allowed","rule":"ampcode.com","reason":"allow rule"})"
      << "\n";
  Request log;
  log.verb = Verb::kPolicyLog;
  Response r = run(log);
  ASSERT_TRUE(r.ok) << r.error;
  auto j = nlohmann::json::parse(r.text);
  EXPECT_EQ(j["path"], paths_.policyLog());
  ASSERT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(j["groups"][0]["host"], "evil.example:443");
  log.decision = "allowed";
  j = nlohmann::json::parse(run(log).text);
  ASSERT_EQ(j["groups"].size(), 1u);
  EXPECT_EQ(j["groups"][0]["host"], "ampcode.com:443");
}

}  // namespace
}  // namespace kitgate::privd
