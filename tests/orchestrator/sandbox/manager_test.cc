// SandboxManager against FakeDockerClient, a recording ProxyControl and a
// temporary state directory: what create() makes, in which order, how a
// failure at any step is undone, and what remove() takes away.
#include "orchestrator/sandbox/manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "orchestrator/sandbox/oauth_plan.h"
#include "orchestrator/sandbox/workspace_guard.h"
#include "proxy/secrets/oauth.h"
#include "tests/support/fake_docker.h"

namespace kitgate::sandbox {
namespace {

using docker::testing::FakeDockerClient;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

constexpr char kImage[] = "kitgate-test-agent:latest";

class RecordingProxy final : public ProxyControl {
 public:
  Status ensureRunning() override { return record("ensure"); }
  Status reload() override {
    if (on_reload) on_reload();
    return record("reload");
  }
  Status addListen(const std::string& addr) override {
    listen.push_back(addr);
    return record("add " + addr);
  }
  Status removeListen(const std::string& addr) override {
    listen.erase(std::remove(listen.begin(), listen.end(), addr), listen.end());
    return record("remove " + addr);
  }
  Status addDnsListen(const std::string& addr) override { return record("dns add " + addr); }
  Status removeDnsListen(const std::string& addr) override { return record("dns remove " + addr); }
  StatusOr<int> transparentPort() override { return 40001; }
  std::vector<std::string> calls;
  std::vector<std::string> listen;
  std::string fail_on;              // call that fails
  std::function<void()> on_reload;  // what the proxy does on reload (writes a CA)

 private:
  Status record(const std::string& call) {
    calls.push_back(call);
    if (!fail_on.empty() && call.rfind(fail_on, 0) == 0) return Status::error("proxy said no");
    return Status::ok();
  }
};

class RecordingFirewall final : public HostFirewall {
 public:
  // "<name> <subnet> <gateway> <bridge> proxy/transparent/dns"
  Status isolate(const FirewallSpec& f) override {
    rules.push_back(f.name + " " + f.subnet + " " + f.gateway + " " + f.bridge + " " +
                    std::to_string(f.proxy_port) + "/" + std::to_string(f.transparent_port) + "/" +
                    std::to_string(f.dns_port));
    return Status::ok();
  }
  Status release(const std::string& name) override {
    std::erase_if(rules, [&](const std::string& r) { return r.rfind(name + " ", 0) == 0; });
    return Status::ok();
  }
  std::vector<std::string> rules;
};

std::string sourceDir() {
  const char* dir = std::getenv("KITGATE_SOURCE_DIR");
  return dir ? dir : KITGATE_TEST_SOURCE_DIR;
}

bool isBaseCheck(const docker::ExecSpec& spec) {
  return spec.cmd.size() == 3 && spec.cmd[2].find("/etc/passwd") != std::string::npos;
}

class SandboxManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kitgate-manager-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    paths_.root = root_ + "/state";
    workspace_ = root_ + "/proj";
    fs::create_directories(workspace_);
    docker_.addImage(kImage);
    docker_.setExecHandler(
        [this](const FakeDockerClient::Container&, const docker::ExecSpec& spec) {
          docker::ExecResult r;
          r.exit_code = 0;
          if (isBaseCheck(spec)) {
            r.stdout_text = passwd_answer_;
          } else if (spec.cmd.size() == 3 && spec.cmd[2] == fail_command_) {
            r.exit_code = 3;
            r.stderr_text = "boom: no such package\n";
          }
          return r;
        });
    kit::LoadResult loaded = kit::load(sourceDir() + "/configs/kits/amp-local");
    ASSERT_TRUE(loaded.ok());
    request_.kit = loaded.kit;
    request_.kit_ref = "./amp-local/";
    request_.name = "amp-proj";
    request_.workspace = workspace_;
    request_.agent = "amp";
    request_.token = "kgtTOKENtoken0123456789";
  }
  void TearDown() override { fs::remove_all(root_); }

  SandboxManager manager() { return SandboxManager(docker_, proxy_, firewall_, paths_); }
  Progress progress() {
    Progress p;
    p.step = [this](std::string_view s) { steps_.emplace_back(s); };
    p.warning = [this](std::string_view s) { warnings_.emplace_back(s); };
    p.output = [this](std::string_view s) { output_ += s; };
    return p;
  }
  // Nothing of sandbox amp-proj remains anywhere.
  void expectNothingLeft() {
    EXPECT_TRUE(docker_.nothingLabelled("kitgate.sandbox=amp-proj"));
    EXPECT_TRUE(docker_.networks().empty());
    EXPECT_FALSE(fs::exists(paths_.sandboxFile("amp-proj")));
    EXPECT_FALSE(fs::exists(paths_.credentialsFile("amp-proj")));
    EXPECT_FALSE(fs::exists(paths_.runDir() + "/amp-proj.json"));
    EXPECT_TRUE(proxy_.listen.empty());
    EXPECT_TRUE(firewall_.rules.empty());
  }

  std::string root_, workspace_;
  state::Paths paths_;
  FakeDockerClient docker_;
  RecordingProxy proxy_;
  RecordingFirewall firewall_;
  CreateRequest request_;
  std::string passwd_answer_ = "agent=1000:/home/agent\nsudo=yes\n";
  std::string fail_command_;
  std::vector<std::string> steps_, warnings_;
  std::string output_;
};

TEST_F(SandboxManagerTest, CreateRegistersNetworkProxyAndContainer) {
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_TRUE(rec.isOk()) << rec.status().message();

  ASSERT_EQ(docker_.networks().size(), 1u);
  const docker::NetworkInfo& net = docker_.networks().begin()->second;
  EXPECT_TRUE(net.internal);
  EXPECT_EQ(rec->network, "kitgate-amp-proj");
  EXPECT_EQ(rec->proxy_listen, net.gateway + ":3128");
  EXPECT_THAT(proxy_.calls, ElementsAre("ensure", "add " + net.gateway + ":3128",
                                        "dns add " + net.gateway + ":3153", "reload"));
  EXPECT_THAT(firewall_.rules, ElementsAre("amp-proj " + net.subnet + " " + net.gateway + " br-" +
                                           net.id.substr(0, 12) + " 3128/40001/3153"));

  auto sb = state::loadSandbox(paths_, "amp-proj");
  ASSERT_TRUE(sb.isOk()) << sb.status().message();
  EXPECT_THAT(sb->sources, ElementsAre(net.subnet));
  EXPECT_EQ(sb->token, request_.token);
  EXPECT_THAT(sb->allow, ElementsAre("ampcode.com", "*.ampcode.com"));
  EXPECT_TRUE(fs::exists(paths_.credentialsFile("amp-proj")));

  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->info.state.running);
  EXPECT_EQ(c->spec.user, "1000");
  EXPECT_EQ(c->spec.working_dir, workspace_);
  EXPECT_THAT(c->spec.env, Contains("HTTPS_PROXY=http://amp-proj:" + request_.token + "@" +
                                    net.gateway + ":3128"));
  EXPECT_EQ(rec->container_id, c->info.id);
  EXPECT_TRUE(fs::exists(paths_.runDir() + "/amp-proj.json"));
}

TEST_F(SandboxManagerTest, SetupRunsInOrderAndAgentStartsOnlyOnStart) {
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_TRUE(rec.isOk()) << rec.status().message();
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  ASSERT_NE(c, nullptr);
  ASSERT_GE(c->execs.size(), 3u);
  EXPECT_TRUE(isBaseCheck(c->execs[0]));
  EXPECT_EQ(c->execs[0].user, "0");
  const docker::ExecSpec& install = c->execs[2];
  EXPECT_EQ(install.user, "1000");
  EXPECT_THAT(install.cmd.back(), HasSubstr(".kitgate-install-uid"));
  auto marker = [&] {
    return std::any_of(c->execs.begin(), c->execs.end(), [](const docker::ExecSpec& e) {
      return std::find(e.cmd.begin(), e.cmd.end(), std::string(kStartMarker)) != e.cmd.end();
    });
  };
  EXPECT_FALSE(marker());
  ASSERT_TRUE(m.start(*rec).isOk());
  EXPECT_TRUE(marker());
  ASSERT_FALSE(c->archives.empty());
  EXPECT_EQ(c->archives.back().dir, fs::path(workspace_).parent_path().string());
  EXPECT_THAT(c->archives.back().tar_bytes, HasSubstr("Sandbox environment (amp-local)"));
  EXPECT_THAT(steps_, Contains("install: Install Amp (marker)"));
}

TEST_F(SandboxManagerTest, FailingInstallRemovesEverythingAndReportsExitCode) {
  fail_command_ = request_.kit.setup.install[0].command;
  // As the proxy does: a reload makes a CA for every registered sandbox.
  proxy_.on_reload = [this] {
    if (!fs::exists(paths_.sandboxFile("amp-proj"))) return;
    fs::create_directories(paths_.root + "/ca");
    std::ofstream(paths_.caCert("amp-proj")) << "-----BEGIN CERTIFICATE-----\nTESTCA\n";
    std::ofstream(paths_.root + "/ca/amp-proj.key") << "key";
  };
  auto m = manager();
  CreateFailure failure;
  auto rec = m.create(request_, progress(), &failure);
  ASSERT_FALSE(rec.isOk());
  EXPECT_THAT(rec.status().message(), HasSubstr("install: Install Amp (marker)"));
  EXPECT_EQ(failure.exit_code, 3);
  EXPECT_THAT(failure.output, HasSubstr("boom: no such package"));
  expectNothingLeft();
  EXPECT_FALSE(fs::exists(paths_.caCert("amp-proj")));
  EXPECT_FALSE(fs::exists(paths_.root + "/ca/amp-proj.key"));
  EXPECT_THAT(proxy_.calls, Contains(HasSubstr("remove ")));
}

TEST_F(SandboxManagerTest, FailureAtEachDockerStepRollsBack) {
  for (const char* method : {"createContainer", "startContainer", "putArchive", "createNetwork"}) {
    SCOPED_TRACE(method);
    docker_.failNext(method, std::string(method) + ": injected failure");
    auto m = manager();
    auto rec = m.create(request_, progress());
    ASSERT_FALSE(rec.isOk());
    EXPECT_THAT(rec.status().message(), HasSubstr("injected failure"));
    expectNothingLeft();
  }
}

TEST_F(SandboxManagerTest, CancelBetweenStepsUndoesEverything) {
  Progress p = progress();
  int polls = 0;
  p.cancelled = [&] { return ++polls > 1; };  // after the first setup step
  auto m = manager();
  auto rec = m.create(request_, p);
  ASSERT_FALSE(rec.isOk());
  EXPECT_THAT(rec.status().message(), HasSubstr("interrupted"));
  expectNothingLeft();
}

// The proxy writes ca/<name>.crt on reload when credentials are bound.
void writeProxyCa(const state::Paths& paths, const std::string& name) {
  fs::create_directories(paths.root + "/ca");
  std::ofstream(paths.caCert(name)) << "-----BEGIN CERTIFICATE-----\nTESTCA\n";
  std::ofstream(paths.root + "/ca/" + name + ".key") << "key";
}

TEST_F(SandboxManagerTest, PlannedStepsListEveryStepWithoutTouchingDocker) {
  auto m = manager();
  auto labels = m.plannedSteps(request_);
  ASSERT_TRUE(labels.isOk()) << labels.status().message();
  EXPECT_TRUE(docker_.calls().empty());
  EXPECT_TRUE(proxy_.calls.empty());
  EXPECT_FALSE(fs::exists(paths_.root));
  EXPECT_THAT(*labels,
              ::testing::IsSupersetOf({"network", "host firewall", "proxy listen", "registration",
                                       "proxy reload", "image", "container", "base image check",
                                       "install: Install Amp (marker)", "run record"}));
  // Infrastructure first, in the order it is made.
  auto at = [&](const std::string& l) {
    return std::find(labels->begin(), labels->end(), l) - labels->begin();
  };
  EXPECT_LT(at("proxy"), at("network"));
  EXPECT_LT(at("network"), at("host firewall"));
  EXPECT_LT(at("proxy reload"), at("image"));
  EXPECT_LT(at("container"), at("install: Install Amp (marker)"));
  EXPECT_EQ(labels->back(), "run record");

  request_.persistent_home = true;
  auto with_volume = m.plannedSteps(request_);
  ASSERT_TRUE(with_volume.isOk());
  EXPECT_THAT(*with_volume, Contains(HasSubstr("volume kitgate-amp-proj-")));

  request_.name = "Bad Name";
  EXPECT_FALSE(m.plannedSteps(request_).isOk());
}

TEST_F(SandboxManagerTest, CancelBeforeEachStepNamesItAndUndoesEverything) {
  writeProxyCa(paths_, "amp-proj");
  auto m = manager();
  auto labels = m.plannedSteps(request_);
  ASSERT_TRUE(labels.isOk()) << labels.status().message();
  ASSERT_GT(labels->size(), 10u);
  for (size_t k = 0; k < labels->size(); ++k) {
    SCOPED_TRACE("cancelled before step " + std::to_string(k) + " " + (*labels)[k]);
    Progress p = progress();
    size_t polls = 0;
    p.cancelled = [&] { return polls++ == k; };
    CreateFailure failure;
    auto rec = m.create(request_, p, &failure);
    ASSERT_FALSE(rec.isOk());
    EXPECT_EQ(rec.status().message(), (*labels)[k] + ": interrupted before this step");
    EXPECT_EQ(failure.step, (*labels)[k]);
    EXPECT_EQ(polls, k + 1);  // nothing ran after the cancellation
    expectNothingLeft();
    writeProxyCa(paths_, "amp-proj");
  }
  // And with no cancellation, exactly the planned steps were polled.
  Progress p = progress();
  size_t polls = 0;
  p.cancelled = [&] { return ++polls == 0; };
  ASSERT_TRUE(m.create(request_, p).isOk());
  EXPECT_EQ(polls, labels->size());
}

TEST_F(SandboxManagerTest, FailureInEveryUndoableStepIsNamedAndRolledBack) {
  const std::pair<const char*, const char*> cases[] = {
      {"createNetwork", "network: "},       {"createVolume", "volume kitgate-amp-proj-"},
      {"createContainer", "container: "},   {"startContainer", "container start: "},
      {"putArchive", "agent-file: Write "}, {"exec", "base image check: "},
  };
  request_.persistent_home = true;
  for (const auto& [method, label] : cases) {
    SCOPED_TRACE(method);
    docker_.failNext(method, std::string(method) + ": injected failure");
    auto m = manager();
    CreateFailure failure;
    auto rec = m.create(request_, progress(), &failure);
    ASSERT_FALSE(rec.isOk());
    EXPECT_THAT(rec.status().message(), HasSubstr(label));
    EXPECT_THAT(failure.step + ": ", HasSubstr(label));
    expectNothingLeft();
    EXPECT_TRUE(docker_.volumes().empty());
  }
}

TEST_F(SandboxManagerTest, ProxyListenFailureRemovesNetwork) {
  proxy_.fail_on = "add ";
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_FALSE(rec.isOk());
  EXPECT_THAT(rec.status().message(), HasSubstr("proxy listen"));
  EXPECT_TRUE(docker_.networks().empty());
}

TEST_F(SandboxManagerTest, BaseImageRequirementsAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"sudo=yes\n", "no user `agent`"},
      {"agent=1001:/home/agent\nsudo=yes\n", "uid 1001"},
      {"agent=1000:/home/other\nsudo=yes\n", "home /home/other"},
  };
  for (const auto& [answer, message] : cases) {
    SCOPED_TRACE(answer);
    passwd_answer_ = answer;
    auto m = manager();
    auto rec = m.create(request_, progress());
    ASSERT_FALSE(rec.isOk());
    EXPECT_THAT(rec.status().message(), HasSubstr("base image check"));
    EXPECT_THAT(rec.status().message(), HasSubstr(message));
    expectNothingLeft();
  }
}

TEST_F(SandboxManagerTest, MissingSudoIsOnlyAWarning) {
  passwd_answer_ = "agent=1000:/home/agent\nsudo=no\n";
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  EXPECT_THAT(warnings_, Contains(HasSubstr("no sudo")));
}

TEST_F(SandboxManagerTest, MissingImageIsPulledOrNamedClearly) {
  request_.kit.sandbox->image = "example/agent:2";
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_FALSE(rec.isOk());
  EXPECT_THAT(rec.status().message(), HasSubstr("example/agent:2 is not available locally"));
  expectNothingLeft();

  docker_.allowPull("example/agent:2");
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  EXPECT_THAT(docker_.calls(), Contains("pullImage example/agent:2"));
}

TEST_F(SandboxManagerTest, PlaceholdersOfCustomSecretsReachTheEnvironment) {
  state::Secrets secrets;
  secrets.custom.push_back(
      {"global", {"ampcode.com"}, "AMP_API_KEY", "sgamp-abcdefgh12345678", "real-secret-value-1"});
  ASSERT_TRUE(state::saveSecrets(paths_, secrets).isOk());
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(c->spec.env, Contains("AMP_API_KEY=sgamp-abcdefgh12345678"));
  for (const std::string& e : c->spec.env) EXPECT_THAT(e, Not(HasSubstr("real-secret-value-1")));
}

// The seed's flow: `secret set-custom --host ampcode.com` alone feeds the amp
// route, and run says so; with no secret at all it warns. Never the value.
TEST_F(SandboxManagerTest, RunNamesTheSecretEachRouteUsesNeverItsValue) {
  {
    auto m = manager();
    ASSERT_TRUE(m.create(request_, progress()).isOk());
    EXPECT_THAT(warnings_, Contains(HasSubstr("credential amp (ampcode.com): no secret set")));
    ASSERT_TRUE(m.remove("amp-proj", false, progress()).isOk());
  }
  steps_.clear();
  warnings_.clear();
  state::Secrets secrets;
  secrets.custom.push_back(
      {"global", {"ampcode.com"}, "AMP_API_KEY", "sgamp-abcdefgh12345678", "real-secret-value-2"});
  ASSERT_TRUE(state::saveSecrets(paths_, secrets).isOk());
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  EXPECT_THAT(steps_, Contains("Credential amp (ampcode.com): custom secret AMP_API_KEY (global)"));
  EXPECT_THAT(warnings_, Not(Contains(HasSubstr("no secret set"))));
  for (const std::string& line : steps_) EXPECT_THAT(line, Not(HasSubstr("real-secret-value-2")));
  for (const std::string& line : warnings_)
    EXPECT_THAT(line, Not(HasSubstr("real-secret-value-2")));
}

TEST_F(SandboxManagerTest, SecondSandboxWithSameNameIsRefused) {
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  auto again = m.create(request_, progress());
  ASSERT_FALSE(again.isOk());
  EXPECT_THAT(again.status().message(), HasSubstr("already exists"));
  EXPECT_NE(docker_.findContainer("kitgate-amp-proj"), nullptr);
}

TEST_F(SandboxManagerTest, RemoveTakesEverythingAndOnlySandboxScopedSecrets) {
  request_.persistent_home = true;
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  EXPECT_EQ(docker_.volumes().size(), 1u);
  state::Secrets secrets;
  secrets.services.push_back({"amp", "global", "global-value-123"});
  secrets.services.push_back({"amp", "sandbox:amp-proj", "scoped-value-123"});
  secrets.custom.push_back({"sandbox:amp-proj", {"ampcode.com"}, "K", "kph-12345678", "v-123456"});
  ASSERT_TRUE(state::saveSecrets(paths_, secrets).isOk());

  ASSERT_TRUE(m.remove("amp-proj", false, progress()).isOk());
  expectNothingLeft();
  EXPECT_TRUE(docker_.volumes().empty());
  auto left = state::loadSecrets(paths_);
  ASSERT_TRUE(left.isOk());
  ASSERT_EQ(left->services.size(), 1u);
  EXPECT_EQ(left->services[0].scope, "global");
  EXPECT_TRUE(left->custom.empty());
  // Idempotent: removing again is fine.
  EXPECT_TRUE(m.remove("amp-proj", false, progress()).isOk());
}

TEST_F(SandboxManagerTest, ProxyCaIsInstalledWhenTheProxyMadeOneAndRemovedWithTheSandbox) {
  // The proxy writes ca/<name>.crt on reload when credentials are bound.
  fs::create_directories(paths_.root + "/ca");
  std::ofstream(paths_.caCert("amp-proj")) << "-----BEGIN CERTIFICATE-----\nTESTCA\n";
  std::ofstream(paths_.root + "/ca/amp-proj.key") << "key";
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  ASSERT_NE(c, nullptr);
  ASSERT_FALSE(c->archives.empty());
  EXPECT_EQ(c->archives.front().dir, "/");
  EXPECT_THAT(c->archives.front().tar_bytes, HasSubstr("TESTCA"));
  EXPECT_THAT(c->spec.env, Contains("NODE_EXTRA_CA_CERTS=" + std::string(kCaCertPath)));

  ASSERT_TRUE(m.remove("amp-proj", false, progress()).isOk());
  EXPECT_FALSE(fs::exists(paths_.caCert("amp-proj")));
  EXPECT_FALSE(fs::exists(paths_.root + "/ca/amp-proj.key"));
}

TEST_F(SandboxManagerTest, RemoveCanKeepVolumes) {
  request_.persistent_home = true;
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  ASSERT_TRUE(m.remove("amp-proj", true, progress()).isOk());
  EXPECT_EQ(docker_.volumes().size(), 1u);
  EXPECT_TRUE(docker_.containers().empty());
}

TEST_F(SandboxManagerTest, ListExecAndStop) {
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_TRUE(rec.isOk());
  auto list = m.list();
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].record.name, "amp-proj");
  EXPECT_EQ((*list)[0].state, "running");

  auto code = m.exec("amp-proj", {"id", "-u"}, nullptr);
  ASSERT_TRUE(code.isOk()) << code.status().message();
  EXPECT_EQ(*code, 0);
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  EXPECT_EQ(c->execs.back().user, "1000");
  EXPECT_EQ(c->execs.back().working_dir, workspace_);

  ASSERT_TRUE(m.stop("amp-proj").isOk());
  list = m.list();
  ASSERT_TRUE(list.isOk());
  EXPECT_NE((*list)[0].state, "running");
  EXPECT_FALSE(m.exec("nope", {"true"}, nullptr).isOk());
}

// A kit with a startup command and files/workspace, besides install.
void addStartupAndWorkspaceFiles(CreateRequest& request) {
  kit::StartupStep startup;
  startup.command = {"touch", "/tmp/started"};
  startup.description = "Mark started";
  request.kit.setup.startup.push_back(startup);
  kit::KitFile notes;
  notes.target = kit::FileTarget::kWorkspace;
  notes.relative_path = "NOTES.md";
  notes.content = "kit notes\n";
  request.kit.files.push_back(notes);
}

int countExecs(const FakeDockerClient::Container& c, const std::string& needle) {
  return static_cast<int>(std::count_if(c.execs.begin(), c.execs.end(), [&](const auto& e) {
    return std::any_of(e.cmd.begin(), e.cmd.end(),
                       [&](const std::string& a) { return a.find(needle) != std::string::npos; });
  }));
}

int countArchives(const FakeDockerClient::Container& c, const std::string& needle) {
  return static_cast<int>(std::count_if(c.archives.begin(), c.archives.end(), [&](const auto& a) {
    return a.tar_bytes.find(needle) != std::string::npos;
  }));
}

TEST_F(SandboxManagerTest, RestartRerunsStartupAndWorkspaceFilesButNotInstall) {
  addStartupAndWorkspaceFiles(request_);
  writeProxyCa(paths_, "amp-proj");
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_TRUE(rec.isOk()) << rec.status().message();
  ASSERT_TRUE(m.start(*rec).isOk());
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(countExecs(*c, ".kitgate-install-uid"), 1);
  EXPECT_EQ(countExecs(*c, "/tmp/started"), 1);
  EXPECT_EQ(countArchives(*c, "kit notes"), 1);

  // Running: refused.
  EXPECT_THAT(m.restart("amp-proj", progress()).status().message(), HasSubstr("already running"));

  ASSERT_TRUE(m.stop("amp-proj").isOk());
  // The start removes the stopped sandbox's CA before the reload, so the
  // proxy makes one for its current policy; that is the CA installed.
  bool old_ca_gone = false;
  proxy_.on_reload = [&] {
    old_ca_gone =
        !fs::exists(paths_.caCert("amp-proj")) && !fs::exists(paths_.root + "/ca/amp-proj.key");
    std::ofstream(paths_.caCert("amp-proj")) << "-----BEGIN CERTIFICATE-----\nRENEWEDCA\n";
  };
  steps_.clear();
  auto again = m.restart("amp-proj", progress());
  ASSERT_TRUE(again.isOk()) << again.status().message();
  EXPECT_TRUE(c->info.state.running);
  EXPECT_EQ(again->container_id, rec->container_id);
  EXPECT_EQ(countExecs(*c, ".kitgate-install-uid"), 1) << "install must not rerun";
  EXPECT_EQ(countExecs(*c, "/tmp/started"), 2);
  EXPECT_EQ(countArchives(*c, "kit notes"), 2);
  EXPECT_TRUE(old_ca_gone);
  EXPECT_EQ(countArchives(*c, "RENEWEDCA"), 1);
  EXPECT_THAT(steps_, Contains("startup: Mark started"));
  EXPECT_THAT(steps_, Not(Contains(HasSubstr("install:"))));
  // The agent waits for start() again.
  ASSERT_TRUE(m.start(*again).isOk());
  EXPECT_EQ(countExecs(*c, std::string(kStartMarker)), 2);
}

TEST_F(SandboxManagerTest, RestartSurvivesANewManagerAndFailsCleanly) {
  addStartupAndWorkspaceFiles(request_);
  {
    auto m = manager();
    ASSERT_TRUE(m.create(request_, progress()).isOk());
    ASSERT_TRUE(m.stop("amp-proj").isOk());
  }
  // The restart steps come from the run record, not from the kit.
  auto m = manager();
  docker_.failNext("putArchive", "putArchive: injected failure");
  auto failed = m.restart("amp-proj", progress());
  ASSERT_FALSE(failed.isOk());
  EXPECT_THAT(failed.status().message(), HasSubstr("files/workspace: Copy files/workspace"));
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->info.state.running) << "a failed restart stops the container again";
  auto again = m.restart("amp-proj", progress());
  ASSERT_TRUE(again.isOk()) << again.status().message();
  EXPECT_TRUE(c->info.state.running);

  EXPECT_THAT(m.restart("nope", progress()).status().message(), HasSubstr("no sandbox named"));
  ASSERT_TRUE(docker_.removeContainer(c->info.id, true).isOk());
  EXPECT_THAT(m.restart("amp-proj", progress()).status().message(), HasSubstr("is gone"));
}

TEST_F(SandboxManagerTest, CancelDuringRestartStopsTheContainerAgain) {
  addStartupAndWorkspaceFiles(request_);
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  ASSERT_TRUE(m.stop("amp-proj").isOk());
  Progress p = progress();
  int polls = 0;
  p.cancelled = [&] { return ++polls > 4; };  // after the container started
  auto rec = m.restart("amp-proj", p);
  ASSERT_FALSE(rec.isOk());
  EXPECT_THAT(rec.status().message(), HasSubstr("interrupted"));
  EXPECT_FALSE(docker_.findContainer("kitgate-amp-proj")->info.state.running);
  EXPECT_TRUE(fs::exists(paths_.runDir() + "/amp-proj.json")) << "a restart never removes";
}

TEST_F(SandboxManagerTest, WaitForAgentTellsUpFromExitedWithCodeAndOutput) {
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_TRUE(rec.isOk());
  ASSERT_TRUE(m.start(*rec).isOk());
  auto up = m.waitForAgent(*rec);
  ASSERT_TRUE(up.isOk()) << up.status().message();
  EXPECT_TRUE(up->running);

  // The entrypoint is missing: the container exits while kitgate waits.
  docker_.setExecHandler([this](const FakeDockerClient::Container& c, const docker::ExecSpec& s) {
    docker::ExecResult r;
    r.exit_code = 0;
    if (s.cmd.size() > 1 && s.cmd.back() == std::string(kStartMarker) && s.cmd[0] == "sh" &&
        s.cmd[3] == "kitgate-wait") {
      docker_.exitContainer(c.info.id, 127, "line 1\nkitgate: amp-agent: command not found\n");
      r.exit_code = 137;
    }
    return r;
  });
  auto exited = m.waitForAgent(*rec);
  ASSERT_TRUE(exited.isOk()) << exited.status().message();
  EXPECT_FALSE(exited->running);
  EXPECT_EQ(exited->exit_code, 127);
  EXPECT_THAT(exited->last_output, HasSubstr("amp-agent: command not found"));
}

TEST_F(SandboxManagerTest, ExecPassesEnvAndWorkdirAndTellsNotFoundFromNotExecutable) {
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  docker_.setExecHandler([](const FakeDockerClient::Container&, const docker::ExecSpec& s) {
    docker::ExecResult r;
    r.exit_code = 0;
    if (s.cmd[0] == "nope") {
      r.exit_code = 126;
      r.stdout_text = "OCI runtime exec failed: exec: \"nope\": executable file not found in $PATH";
    } else if (s.cmd[0] == "./script") {
      r.exit_code = 126;
      r.stdout_text = "OCI runtime exec failed: permission denied";
    } else if (s.cmd[0] == "exit3") {
      r.exit_code = 3;
    }
    return r;
  });
  ExecRequest req;
  req.argv = {"env"};
  req.env = {"DEBUG=1"};
  req.working_dir = "/tmp";
  ASSERT_EQ(*m.exec("amp-proj", req, nullptr), 0);
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  EXPECT_THAT(c->execs.back().env, ElementsAre("DEBUG=1"));
  EXPECT_EQ(c->execs.back().working_dir, "/tmp");
  EXPECT_EQ(c->execs.back().user, "1000");
  const std::pair<const char*, int> codes[] = {
      {"nope", kExecNotFound}, {"./script", kExecNotExecutable}, {"exit3", 3}};
  for (const auto& [cmd, code] : codes) {
    auto got = m.exec("amp-proj", {cmd}, nullptr);
    ASSERT_TRUE(got.isOk());
    EXPECT_EQ(*got, code) << cmd;
  }
  ASSERT_TRUE(m.stop("amp-proj").isOk());
  EXPECT_FALSE(m.exec("amp-proj", {"true"}, nullptr).isOk()) << "not running: an engine error";
}

TEST_F(SandboxManagerTest, InteractiveExecRelaysThroughATtyAndReturnsTheCode) {
  auto m = manager();
  ASSERT_TRUE(m.create(request_, progress()).isOk());
  docker_.setExecHandler([](const FakeDockerClient::Container&, const docker::ExecSpec& s) {
    docker::ExecResult r;
    r.exit_code = s.cmd[0] == "bash" ? 7 : 0;
    return r;
  });
  docker_.setExecAttachOutput("$ exit 7\r\n");
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  ExecRequest req;
  req.argv = {"bash"};
  req.working_dir = "/tmp";
  auto code = m.execInteractive("amp-proj", req, in[0], out[1]);
  ::close(out[1]);
  ASSERT_TRUE(code.isOk()) << code.status().message();
  EXPECT_EQ(*code, 7);
  char buf[32] = {};
  EXPECT_EQ(::read(out[0], buf, sizeof buf - 1), 10);
  EXPECT_STREQ(buf, "$ exit 7\r\n");
  ASSERT_EQ(docker_.sessions().size(), 1u);
  const auto& spec = docker_.sessions().begin()->second.spec;
  EXPECT_TRUE(spec.tty);
  EXPECT_TRUE(spec.attach_stdin);
  EXPECT_EQ(spec.user, "1000");
  EXPECT_EQ(spec.working_dir, "/tmp");
  ::close(in[0]);
  ::close(in[1]);
  ::close(out[0]);
}

}  // namespace
}  // namespace kitgate::sandbox

namespace kitgate::sandbox {
namespace {

// A registry that is not the CLI's own state directory (the root kitgate
// daemon's, for a CLI that is not root), here in-process over another directory.
class ElsewhereRegistry final : public RegistrationStore {
 public:
  explicit ElsewhereRegistry(const state::Paths& paths) : local_(makeLocalRegistry(paths)) {}
  bool local() const override { return false; }
  StatusOr<std::vector<std::pair<std::string, std::string>>> placeholders(
      const std::string& name) override {
    return local_->placeholders(name);
  }
  Status write(const std::string& name, const std::string& subnet, const std::string& token,
               const std::vector<std::string>& allow, const std::vector<std::string>& deny,
               const std::vector<state::Route>& routes,
               const std::vector<secrets::OAuthRoute>& oauth) override {
    return local_->write(name, subnet, token, allow, deny, routes, oauth);
  }
  Status remove(const std::string& name) override { return local_->remove(name); }
  Status removeCa(const std::string& name) override { return local_->removeCa(name); }
  StatusOr<bool> removeScopedSecrets(const std::string& name) override {
    return local_->removeScopedSecrets(name);
  }
  std::string caCert(const std::string& name) override { return local_->caCert(name); }
  StatusOr<std::string> token(const std::string& name) override { return local_->token(name); }
  StatusOr<std::string> stateRoot() override { return local_->stateRoot(); }

 private:
  std::unique_ptr<RegistrationStore> local_;
};

TEST_F(SandboxManagerTest, ARegistryElsewhereHoldsTheRegistrationAndItsStateIsGuarded) {
  state::Paths daemon;
  daemon.root = root_ + "/daemon-state";
  ASSERT_TRUE(state::ensureDirs(daemon).isOk());
  ElsewhereRegistry registry(daemon);
  SandboxManager m = manager();
  m.setRegistry(&registry);
  auto record = m.create(request_, progress());
  ASSERT_TRUE(record.isOk()) << record.status().message();
  EXPECT_TRUE(fs::exists(daemon.sandboxFile("amp-proj")));
  EXPECT_FALSE(fs::exists(paths_.sandboxFile("amp-proj")));
  ASSERT_TRUE(m.remove("amp-proj", false, progress()).isOk());
  EXPECT_FALSE(fs::exists(daemon.sandboxFile("amp-proj")));
  EXPECT_FALSE(fs::exists(daemon.credentialsFile("amp-proj")));

  // The CLI's own state directory is not where the secrets are: a workspace
  // inside the registry's is refused too, before anything is created.
  CreateRequest inside = request_;
  inside.name = "amp-inside";
  inside.workspace = daemon.root + "/sandboxes";
  auto refused = m.create(inside, progress());
  ASSERT_FALSE(refused.isOk());
  EXPECT_THAT(refused.status().message(), HasSubstr(daemon.root));
  EXPECT_FALSE(fs::exists(daemon.sandboxFile("amp-inside")));
  EXPECT_TRUE(docker_.networks().empty());
}

// An OAuth kit through a registry elsewhere (the daemon's, for a CLI that
// is not root): its routes land there, none in the CLI's own directory, and
// go with the sandbox.
TEST_F(SandboxManagerTest, AnOAuthKitsRoutesGoToTheRegistryElsewhere) {
  state::Paths daemon;
  daemon.root = root_ + "/daemon-state";
  ASSERT_TRUE(state::ensureDirs(daemon).isOk());
  ElsewhereRegistry registry(daemon);
  kit::Credential oauth;
  oauth.service = "anthropic";
  oauth.oauth.emplace();
  oauth.oauth->token_host = "platform.claude.com";
  oauth.oauth->token_path = "/v1/oauth/token";
  oauth.oauth->resource_hosts = {"api.anthropic.com"};
  oauth.oauth->access_sentinel = "sk-ant-oat01-proxy-managed";
  oauth.oauth->refresh_sentinel = "sk-ant-ort01-proxy-managed";
  request_.kit.credentials.push_back(oauth);
  ASSERT_FALSE(planOAuth(request_.kit).empty());
  SandboxManager m = manager();
  m.setRegistry(&registry);
  auto record = m.create(request_, progress());
  ASSERT_TRUE(record.isOk()) << record.status().message();
  const std::string routes = secrets::oauthRoutesPath(daemon.root, "amp-proj");
  ASSERT_TRUE(fs::exists(routes));
  std::ifstream in(routes);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = secrets::parseOAuthRoutes(text.str(), routes);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
  EXPECT_EQ(*parsed, planOAuth(request_.kit));
  EXPECT_FALSE(fs::exists(secrets::oauthRoutesPath(paths_.root, "amp-proj")));
  ASSERT_TRUE(m.remove("amp-proj", false, progress()).isOk());
  EXPECT_FALSE(fs::exists(routes));
}

TEST(WorkspaceGuard, RefusesWorkspacesHoldingTheStateOrTheDockerSocket) {
  const std::string state = "/srv/kg-state";
  const std::vector<std::string> others = {"/var", "/run", "/var/run/docker.sock",
                                           "/home/me/.docker/run/docker.sock"};
  const std::pair<const char*, const char*> refused[] = {
      {"/", "contains kitgate's state directory /srv/kg-state"},
      {"/srv", "contains kitgate's state directory"},
      {"/srv/kg-state", "contains kitgate's state directory"},
      {"/srv/kg-state/", "contains kitgate's state directory"},
      {"/srv/kg-state/ca", "is inside kitgate's state directory"},
      {"/var", "contains /var"},
      {"/var/run", "contains /"},  // /run or the socket, as symlinks resolve here
      {"/run", "contains /run"},
      {"/home/me", "contains /home/me/.docker/run/docker.sock"},
  };
  for (const auto& [ws, why] : refused) {
    Status s = checkWorkspace(ws, state, others);
    ASSERT_FALSE(s.isOk()) << ws;
    EXPECT_THAT(s.message(), HasSubstr(why)) << ws;
    EXPECT_THAT(s.message(), HasSubstr("--workspace DIR"));
  }
  for (const char* ws : {"/home/me/src/app", "/var/www/site", "/srv/kg-state-other", "/srv/app"}) {
    EXPECT_TRUE(checkWorkspace(ws, state, others).isOk()) << ws;
  }
}

TEST_F(SandboxManagerTest, AWorkspaceHoldingTheStateDirectoryIsRefusedBeforeAnything) {
  request_.workspace = root_;  // holds <root>/state
  auto m = manager();
  auto rec = m.create(request_, progress());
  ASSERT_FALSE(rec.isOk());
  EXPECT_THAT(rec.status().message(), HasSubstr("contains kitgate's state directory"));
  EXPECT_TRUE(docker_.calls().empty());
  EXPECT_TRUE(proxy_.calls.empty());
  EXPECT_FALSE(m.plannedSteps(request_).isOk());
  // A state directory reached through a symlink in the workspace is the same.
  const std::string link_ws = root_ + "/ws";
  fs::create_directories(link_ws);
  fs::create_directories(paths_.root);
  request_.workspace = link_ws;
  state::Paths linked = paths_;
  linked.root = link_ws + "/state-link";
  fs::create_directory_symlink(paths_.root, linked.root);
  SandboxManager via_link(docker_, proxy_, firewall_, linked);
  EXPECT_FALSE(via_link.create(request_, progress()).isOk());
}

}  // namespace
}  // namespace kitgate::sandbox

namespace kitgate::sandbox {
namespace {

class RecordingForwarder final : public PortForwarder {
 public:
  StatusOr<std::vector<PublishedPort>> start(const std::string& name, const std::string& ip,
                                             const std::vector<int>& ports) override {
    calls.push_back("start " + name + " " + ip);
    if (fail) return Status::error("cannot bind");
    running = true;
    std::vector<PublishedPort> out;
    for (int p : ports) out.push_back({p, "127.0.0.1:" + std::to_string(40000 + p)});
    return out;
  }
  Status stop(const std::string& name) override {
    calls.push_back("stop " + name);
    running = false;
    return Status::ok();
  }
  std::vector<std::string> calls;
  bool running = false;
  bool fail = false;
};

TEST_F(SandboxManagerTest, KitPortsArePublishedOnLoopbackWhileTheSandboxRuns) {
  request_.kit.ports = {{8080, "tcp", "web"}, {53, "udp", "dns"}, {9000, "", ""}};
  RecordingForwarder forwarder;
  SandboxManager m(docker_, proxy_, firewall_, paths_, &forwarder);
  auto rec = m.create(request_, progress());
  ASSERT_TRUE(rec.isOk()) << rec.status().message();
  const FakeDockerClient::Container* c = docker_.findContainer("kitgate-amp-proj");
  ASSERT_NE(c, nullptr);
  const std::string ip = c->info.network_ips.at("kitgate-amp-proj");
  ASSERT_FALSE(ip.empty());
  EXPECT_THAT(forwarder.calls, ElementsAre("start amp-proj " + ip));
  EXPECT_THAT(rec->published, ElementsAre(PublishedPort{8080, "127.0.0.1:48080"},
                                          PublishedPort{9000, "127.0.0.1:49000"}));
  EXPECT_THAT(warnings_, Contains(HasSubstr("53/udp is not published")));
  EXPECT_THAT(steps_, Contains("Port 8080 published on 127.0.0.1:48080"));
  // Kept in the run record (ls shows it).
  auto list = m.list();
  ASSERT_TRUE(list.isOk());
  EXPECT_EQ((*list)[0].record.published, rec->published);

  ASSERT_TRUE(m.stop("amp-proj").isOk());
  EXPECT_FALSE(forwarder.running);
  list = m.list();
  ASSERT_TRUE(list.isOk());
  EXPECT_TRUE((*list)[0].record.published.empty());
  ASSERT_TRUE(m.restart("amp-proj", progress()).isOk());
  EXPECT_TRUE(forwarder.running);
  ASSERT_TRUE(m.remove("amp-proj", false, progress()).isOk());
  EXPECT_FALSE(forwarder.running);
  expectNothingLeft();
}

TEST_F(SandboxManagerTest, AForwarderThatFailsUndoesTheCreate) {
  request_.kit.ports = {{8080, "tcp", "web"}};
  RecordingForwarder forwarder;
  forwarder.fail = true;
  SandboxManager m(docker_, proxy_, firewall_, paths_, &forwarder);
  auto rec = m.create(request_, progress());
  ASSERT_FALSE(rec.isOk());
  EXPECT_EQ(rec.status().message(), "ports: cannot bind");
  expectNothingLeft();
  // Without a forwarder, ports are not published and the user is told.
  SandboxManager without(docker_, proxy_, firewall_, paths_);
  ASSERT_TRUE(without.create(request_, progress()).isOk());
  EXPECT_THAT(warnings_, Contains(HasSubstr("ports are not published")));
}

}  // namespace
}  // namespace kitgate::sandbox
