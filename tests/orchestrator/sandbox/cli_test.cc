// `kitgate run | ls | exec | stop | rm` in-process against FakeDockerClient,
// a recording proxy control and a no-op firewall (the hooks of
// sandbox_cli.h), over a temporary state directory: argument handling, exit
// codes, what the user reads, and that a failed run leaves nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "orchestrator/cli/app.h"
#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/sandbox/plan.h"
#include "orchestrator/sandbox/ssh_agent.h"
#include "orchestrator/state/state.h"
#include "proxy/common/unique_fd.h"
#include "tests/support/fake_docker.h"

namespace kitgate::cli {
namespace {

using docker::testing::FakeDockerClient;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

class NullProxy final : public sandbox::ProxyControl {
 public:
  Status ensureRunning() override { return Status::ok(); }
  Status reload() override { return Status::ok(); }
  Status addListen(const std::string& addr) override {
    listen.push_back(addr);
    return Status::ok();
  }
  Status removeListen(const std::string& addr) override {
    listen.erase(std::remove(listen.begin(), listen.end(), addr), listen.end());
    return Status::ok();
  }
  Status addDnsListen(const std::string&) override { return Status::ok(); }
  Status removeDnsListen(const std::string&) override { return Status::ok(); }
  StatusOr<int> transparentPort() override { return 40001; }
  std::vector<std::string> listen;
};

class NullFirewall final : public sandbox::HostFirewall {
 public:
  Status isolate(const sandbox::FirewallSpec& spec) override {
    names.insert(spec.name);
    isolated = static_cast<int>(names.size());
    return Status::ok();
  }
  Status release(const std::string& name) override {
    names.erase(name);
    isolated = static_cast<int>(names.size());
    return Status::ok();
  }
  std::set<std::string> names;  // sandboxes with rules
  int isolated = 0;
};

struct Result {
  int code = -1;
  std::string out, err;
};

class SandboxCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kitgate-cli-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    workspace_ = root_ + "/proj";
    fs::create_directories(workspace_);
    ::setenv("KITGATE_STATE_DIR", (root_ + "/state").c_str(), 1);
    const char* src = std::getenv("KITGATE_SOURCE_DIR");
    kit_ = std::string(src ? src : KITGATE_TEST_SOURCE_DIR) + "/configs/kits/amp-local";
    docker_ = std::make_shared<FakeDockerClient>();
    docker_->addImage("kitgate-test-agent:latest");
    docker_->setExecHandler(
        [this](const FakeDockerClient::Container&, const docker::ExecSpec& spec) {
          docker::ExecResult r;
          r.exit_code = 0;
          const std::string last = spec.cmd.empty() ? "" : spec.cmd.back();
          if (last.find("/etc/passwd") != std::string::npos)
            r.stdout_text = "agent=1000:/home/agent\nsudo=yes\n";
          if (!fail_install_.empty() && last.find(fail_install_) != std::string::npos) {
            r.exit_code = 5;
            r.stdout_text = "E: unable to locate package\n";
          }
          if (spec.cmd.size() == 2 && spec.cmd[0] == "echo") r.stdout_text = spec.cmd[1] + "\n";
          if (spec.cmd.size() == 1 && spec.cmd[0] == "false") r.exit_code = 1;
          return r;
        });
    proxy_ = std::make_shared<NullProxy>();
    firewall_ = std::make_shared<NullFirewall>();
    setDockerFactoryForTesting([this]() -> StatusOr<std::shared_ptr<docker::DockerClient>> {
      return std::shared_ptr<docker::DockerClient>(docker_);
    });
    setProxyControlFactoryForTesting([this](const state::Paths&) { return proxy_; });
    setFirewallFactoryForTesting([this]() { return firewall_; });
  }
  void TearDown() override {
    setDockerFactoryForTesting(nullptr);
    setProxyControlFactoryForTesting(nullptr);
    setFirewallFactoryForTesting(nullptr);
    ::unsetenv("KITGATE_STATE_DIR");
    fs::remove_all(root_);
  }

  Result cli(std::vector<std::string> args) {
    args.insert(args.begin(), "kitgate");
    std::ostringstream out, err;
    Io io{out, err};
    Result r;
    r.code = runCli(args, io);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  Result run(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", "--kit",       kit_,       "--name",
                                     name,  "--workspace", workspace_, "-d"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("amp");
    return cli(args);
  }

  std::string root_, workspace_, kit_, fail_install_;
  std::shared_ptr<FakeDockerClient> docker_;
  std::shared_ptr<NullProxy> proxy_;
  std::shared_ptr<NullFirewall> firewall_;
};

TEST_F(SandboxCliTest, RunDetachedPrintsNextStepsAndStartsTheAgent) {
  Result r = run("amp-a");
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Sandbox amp-a is running"));
  EXPECT_THAT(r.out, HasSubstr("kitgate rm amp-a"));
  EXPECT_THAT(r.err, HasSubstr("install: Install Amp (marker)"));
  const FakeDockerClient::Container* c = docker_->findContainer("kitgate-amp-a");
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(c->execs.back().cmd, ::testing::Contains("/tmp/.kitgate-start"));
  EXPECT_EQ(firewall_->isolated, 1);
}

// --command secrets resolve again when a sandbox starts (on-demand ones
// always, duration ones when due); a failing helper is a warning and the last
// value stays, the sandbox still starts.
TEST_F(SandboxCliTest, RunAndStartResolveOnDemandSecretsAndSurviveAFailingHelper) {
  const std::string token = root_ + "/token";
  std::ofstream(token) << "first-value-0123456789\n";
  Result set = cli({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                    "--command", "cat '" + token + "'"});
  ASSERT_EQ(set.code, kExitOk) << set.err;
  auto value = [&] {
    auto s = state::loadSecrets(state::Paths{root_ + "/state"});
    return s.isOk() && s->custom.size() == 1 ? s->custom[0].value : std::string();
  };
  ASSERT_EQ(value(), "first-value-0123456789");

  std::ofstream(token) << "second-value-0123456789\n";
  Result r = run("amp-s");
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(value(), "second-value-0123456789");
  EXPECT_THAT(r.err, HasSubstr("Credential amp (ampcode.com): custom secret AMP_API_KEY (global)"));

  ASSERT_EQ(cli({"stop", "amp-s"}).code, kExitOk);
  fs::remove(token);
  Result start = cli({"start", "amp-s"});
  ASSERT_EQ(start.code, kExitOk) << start.err;
  EXPECT_THAT(start.err, HasSubstr("WARN: secret AMP_API_KEY (global): command 'cat '" + token +
                                   "'': exited with status 1"));
  EXPECT_THAT(start.err, HasSubstr("keeping the last value"));
  EXPECT_EQ(value(), "second-value-0123456789");
  for (const std::string& out : {set.out, set.err, r.out, r.err, start.out, start.err}) {
    EXPECT_THAT(out, Not(HasSubstr("value-0123456789")));
  }
}

TEST_F(SandboxCliTest, DefaultNameIsAgentAndWorkspaceBasename) {
  Result r = cli({"run", "--kit", kit_, "--workspace", workspace_, "-d", "amp"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(docker_->findContainer("kitgate-amp-proj"), nullptr);
}

TEST_F(SandboxCliTest, UsageErrorsExitTwoAndCreateNothing) {
  const std::vector<std::vector<std::string>> cases = {
      {"run", "amp"},                           // no --kit
      {"run", "--kit", "x"},                    // no AGENT
      {"run", "--kit", "x", "--bogus", "amp"},  // unknown option
      {"run", "--kit", "x", "amp", "extra"},    // stray positional
      {"exec", "amp-a"},                        // no command
      {"rm"},                                   // no name
      {"rm", "amp-a", "--all"},                 // both
      {"stop"},
  };
  for (const auto& args : cases) {
    Result r = cli(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << " " << (args.size() > 1 ? args[1] : "") << r.err;
    EXPECT_THAT(r.err, HasSubstr("Usage: kitgate " + args[0]));
  }
  EXPECT_TRUE(docker_->calls().empty());
}

TEST_F(SandboxCliTest, AgentMustBeTheKitsName) {
  Result r = cli({"run", "--kit", kit_, "--workspace", workspace_, "-d", "claude"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("is named \"amp\""));
  EXPECT_TRUE(docker_->calls().empty());
}

TEST_F(SandboxCliTest, InvalidKitStopsBeforeAnythingIsCreated) {
  const std::string bad = root_ + "/bad-kit";
  fs::create_directories(bad);
  std::ofstream(bad + "/spec.yaml")
      << "schemaVersion: \"2\"\nkind: sandbox\nname: amp\nsandbox: {}\n";
  Result r = cli({"run", "--kit", bad, "--workspace", workspace_, "-d", "amp"});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.err, HasSubstr("spec.yaml"));
  EXPECT_THAT(r.err, HasSubstr("invalid"));
  EXPECT_TRUE(docker_->calls().empty());
}

TEST_F(SandboxCliTest, FailingInstallExitsWithItsCodeShowsOutputAndCleansUp) {
  fail_install_ = ".kitgate-install-uid";
  Result r = run("amp-a");
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_THAT(r.err, HasSubstr("install: Install Amp (marker)"));
  EXPECT_THAT(r.err, HasSubstr("E: unable to locate package"));
  EXPECT_THAT(r.err, HasSubstr("everything this run created has been removed"));
  EXPECT_TRUE(docker_->nothingLabelled("kitgate.sandbox=amp-a"));
  EXPECT_TRUE(docker_->networks().empty());
  EXPECT_TRUE(proxy_->listen.empty());
  EXPECT_EQ(firewall_->isolated, 0);
  EXPECT_THAT(cli({"ls"}).out, HasSubstr("No sandboxes"));
}

TEST_F(SandboxCliTest, DaemonUnreachableIsAClearError) {
  setDockerFactoryForTesting([]() -> StatusOr<std::shared_ptr<docker::DockerClient>> {
    return Status::error(
        "cannot reach the Docker daemon at unix:///var/run/docker.sock: "
        "connection refused. Is dockerd running?");
  });
  Result r = run("amp-a");
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.err, HasSubstr("Is dockerd running?"));
}

TEST_F(SandboxCliTest, LsTableAndJson) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  ASSERT_EQ(run("amp-b").code, kExitOk);
  Result table = cli({"ls"});
  ASSERT_EQ(table.code, kExitOk);
  EXPECT_THAT(table.out, HasSubstr("NAME"));
  EXPECT_THAT(table.out, HasSubstr("amp-a"));
  EXPECT_THAT(table.out, HasSubstr("running"));
  Result json = cli({"ls", "--json"});
  ASSERT_EQ(json.code, kExitOk);
  auto parsed = nlohmann::json::parse(json.out);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0]["name"], "amp-a");
  EXPECT_EQ(parsed[1]["name"], "amp-b");
  EXPECT_EQ(parsed[0]["workspace"], workspace_);
  EXPECT_EQ(parsed[0]["image"], "kitgate-test-agent:latest");
}

TEST_F(SandboxCliTest, ExecStreamsOutputAndReturnsTheCommandsCode) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  Result r = cli({"exec", "amp-a", "--", "echo", "hello"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(cli({"exec", "amp-a", "--", "false"}).code, 1);
  Result missing = cli({"exec", "nope", "--", "true"});
  EXPECT_EQ(missing.code, kExitFailed);
  EXPECT_THAT(missing.err, HasSubstr("no sandbox named \"nope\""));
}

TEST_F(SandboxCliTest, StopThenRmAllRemovesEverything) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  ASSERT_EQ(run("amp-b").code, kExitOk);
  Result stop = cli({"stop", "amp-a"});
  EXPECT_EQ(stop.code, kExitOk) << stop.err;
  EXPECT_THAT(cli({"ls"}).out, HasSubstr("exited"));
  Result rm = cli({"rm", "-f", "--all"});
  EXPECT_EQ(rm.code, kExitOk) << rm.err;
  EXPECT_THAT(rm.out, HasSubstr("Removed amp-a"));
  EXPECT_THAT(rm.out, HasSubstr("Removed amp-b"));
  EXPECT_TRUE(docker_->containers().empty());
  EXPECT_TRUE(docker_->networks().empty());
  EXPECT_TRUE(proxy_->listen.empty());
  EXPECT_EQ(firewall_->isolated, 0);
  EXPECT_THAT(cli({"ls"}).out, HasSubstr("No sandboxes"));
}

TEST_F(SandboxCliTest, MissingImageIsPulledWithProgressOrRefusedWithAHint) {
  auto fresh = std::make_shared<FakeDockerClient>();
  fresh->setExecHandler([](const FakeDockerClient::Container&, const docker::ExecSpec&) {
    docker::ExecResult r;
    r.exit_code = 0;
    r.stdout_text = "agent=1000:/home/agent\nsudo=yes\n";
    return r;
  });
  docker_ = fresh;
  Result refused = run("amp-a");
  EXPECT_EQ(refused.code, kExitFailed);
  EXPECT_THAT(refused.err, HasSubstr("kitgate-test-agent:latest is not available locally"));
  EXPECT_THAT(refused.err, HasSubstr("docker build / docker load"));

  docker_->allowPull("kitgate-test-agent:latest", {}, 2);
  Result pulled = run("amp-a");
  ASSERT_EQ(pulled.code, kExitOk) << pulled.err;
  EXPECT_THAT(pulled.err, HasSubstr("Pulling image kitgate-test-agent:latest"));
  EXPECT_THAT(pulled.err, HasSubstr("layer0: Downloading 50%"));
  EXPECT_THAT(pulled.err, HasSubstr("layer1: Pull complete"));
}

TEST_F(SandboxCliTest, HomeVolumeSurvivesRmWithKeepVolumes) {
  ASSERT_EQ(run("amp-a", {"--home-volume"}).code, kExitOk);
  ASSERT_EQ(docker_->volumes().count("kitgate-amp-a-home-agent"), 1u);
  const FakeDockerClient::Container* c = docker_->findContainer("kitgate-amp-a");
  ASSERT_NE(c, nullptr);
  bool mounted =
      std::any_of(c->spec.mounts.begin(), c->spec.mounts.end(), [](const docker::Mount& m) {
        return m.type == docker::MountType::kVolume && m.target == "/home/agent";
      });
  EXPECT_TRUE(mounted);
  ASSERT_EQ(cli({"rm", "-f", "--keep-volumes", "amp-a"}).code, kExitOk);
  EXPECT_EQ(docker_->volumes().count("kitgate-amp-a-home-agent"), 1u);
  EXPECT_TRUE(docker_->containers().empty());
}

TEST_F(SandboxCliTest, RmCleansUpAHalfCreatedSandbox) {
  // What an interrupted run leaves: network + container, no run record.
  auto net = docker_->createNetwork(sandbox::planNetwork("amp-a"));
  ASSERT_TRUE(net.isOk());
  proxy_->listen.push_back(net->gateway + ":3128");
  docker::ContainerSpec spec;
  spec.name = "kitgate-amp-a";
  spec.image = "kitgate-test-agent:latest";
  spec.labels["kitgate.sandbox"] = "amp-a";
  ASSERT_TRUE(docker_->createContainer(spec).isOk());
  Result rm = cli({"rm", "-f", "amp-a"});
  EXPECT_EQ(rm.code, kExitOk) << rm.err;
  EXPECT_TRUE(docker_->nothingLabelled("kitgate.sandbox=amp-a"));
  EXPECT_TRUE(docker_->networks().empty());
  EXPECT_TRUE(proxy_->listen.empty());
}

TEST_F(SandboxCliTest, HelpHasUsageAndExamples) {
  for (const char* cmd : {"run", "ls", "exec", "stop", "rm"}) {
    Result r = cli({cmd, "--help"});
    EXPECT_EQ(r.code, kExitOk) << cmd;
    EXPECT_THAT(r.out, HasSubstr(std::string("Usage: kitgate ") + cmd)) << cmd;
    EXPECT_THAT(r.out, HasSubstr("Examples:")) << cmd;
  }
}

TEST_F(SandboxCliTest, RunDetachedReportsAnAgentThatExitsAtOnce) {
  docker_->setExecHandler([this](const FakeDockerClient::Container& c, const docker::ExecSpec& s) {
    docker::ExecResult r;
    r.exit_code = 0;
    const std::string last = s.cmd.empty() ? "" : s.cmd.back();
    if (last.find("/etc/passwd") != std::string::npos) {
      r.stdout_text = "agent=1000:/home/agent\nsudo=yes\n";
    }
    if (s.cmd.size() > 3 && s.cmd[3] == "kitgate-wait") {
      docker_->exitContainer(c.info.id, 127, "kitgate: sleep: command not found\n");
      r.exit_code = 137;
    }
    return r;
  });
  Result r = run("amp-a");
  EXPECT_EQ(r.code, 127) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("is running")));
  EXPECT_THAT(r.err, HasSubstr("exited at once with code 127"));
  EXPECT_THAT(r.err, HasSubstr("kitgate: sleep: command not found"));
  EXPECT_THAT(cli({"ls"}).out, HasSubstr("exited"));  // kept, as docker keeps it
}

TEST_F(SandboxCliTest, RunNameRestartsAStoppedSandboxAndKitIsRefused) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  ASSERT_EQ(cli({"stop", "-t", "0", "amp-a"}).code, kExitOk);
  const FakeDockerClient::Container* c = docker_->findContainer("kitgate-amp-a");
  ASSERT_NE(c, nullptr);
  ASSERT_FALSE(c->info.state.running);
  const size_t execs = c->execs.size();

  // --kit on an existing sandbox: sbx's message, nothing touched.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "--kit", kit_, "--name", "amp-a", "-d", "amp"},
        std::vector<std::string>{"run", "--kit", kit_, "-d", "amp-a"}}) {
    Result refused = cli(args);
    EXPECT_EQ(refused.code, kExitFailed);
    EXPECT_THAT(refused.err, HasSubstr("--kit can only be used when creating a new sandbox"));
    EXPECT_EQ(c->execs.size(), execs);
    EXPECT_FALSE(c->info.state.running);
  }

  Result again = cli({"run", "-d", "amp-a"});
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_THAT(again.out, HasSubstr("Sandbox amp-a is running"));
  EXPECT_TRUE(c->info.state.running);
  bool reinstalled = false;
  for (size_t i = execs; i < c->execs.size(); ++i) {
    for (const std::string& a : c->execs[i].cmd) {
      reinstalled = reinstalled || a.find(".kitgate-install-uid") != std::string::npos;
    }
  }
  EXPECT_FALSE(reinstalled);
  EXPECT_THAT(c->execs.back().cmd, ::testing::Contains("/tmp/.kitgate-start"));
  // Already running with -d: says so, changes nothing.
  Result running = cli({"run", "-d", "amp-a"});
  EXPECT_EQ(running.code, kExitOk);
  EXPECT_THAT(running.out, HasSubstr("is running"));
}

TEST_F(SandboxCliTest, StartStartsStoppedSandboxesAndNamesProblems) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  ASSERT_EQ(cli({"stop", "amp-a"}).code, kExitOk);
  Result started = cli({"start", "amp-a"});
  ASSERT_EQ(started.code, kExitOk) << started.err;
  EXPECT_THAT(started.out, HasSubstr("Sandbox amp-a is running"));
  EXPECT_THAT(cli({"ls"}).out, HasSubstr("running"));
  Result twice = cli({"start", "amp-a"});
  EXPECT_EQ(twice.code, kExitFailed);
  EXPECT_THAT(twice.err, HasSubstr("already running"));
  Result missing = cli({"start", "nope"});
  EXPECT_EQ(missing.code, kExitFailed);
  EXPECT_THAT(missing.err, HasSubstr("no sandbox named \"nope\""));
  EXPECT_EQ(cli({"start"}).code, kExitUsage);
  EXPECT_THAT(cli({"start", "--help"}).out, HasSubstr("Usage: kitgate start"));
}

TEST_F(SandboxCliTest, StopTakesAGracePeriod) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  for (const char* bad : {"-1", "x", "3601"}) {
    Result r = cli({"stop", "-t", bad, "amp-a"});
    EXPECT_EQ(r.code, kExitUsage) << bad;
    EXPECT_THAT(r.err, HasSubstr("-t needs a number of seconds"));
  }
  EXPECT_EQ(cli({"stop", "-t"}).code, kExitUsage);
  Result ok = cli({"stop", "--time", "0", "amp-a"});
  EXPECT_EQ(ok.code, kExitOk) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("Stopped amp-a"));
}

TEST_F(SandboxCliTest, ExecEnvWorkdirAndDockerExitCodes) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  Result r = cli({"exec", "-e", "A=1", "--env", "B=2", "-w", "/tmp", "amp-a", "--", "echo", "x"});
  EXPECT_EQ(r.code, 0) << r.err;
  const FakeDockerClient::Container* c = docker_->findContainer("kitgate-amp-a");
  EXPECT_EQ(c->execs.back().env, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(c->execs.back().working_dir, "/tmp");
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"exec", "-e", "=1", "amp-a", "--", "true"},
        std::vector<std::string>{"exec", "-e", "A", "amp-a", "--", "true"},
        std::vector<std::string>{"exec", "-w", "rel", "amp-a", "--", "true"},
        std::vector<std::string>{"exec", "-i", "amp-a", "--", "true"}}) {
    EXPECT_EQ(cli(bad).code, kExitUsage) << bad[1] << " " << bad[2];
  }
  // Not on a terminal: -it is refused with docker's words.
  if (::isatty(STDIN_FILENO) == 0) {
    Result tty = cli({"exec", "-it", "amp-a", "--", "sh"});
    EXPECT_EQ(tty.code, kExitUsage);
    EXPECT_THAT(tty.err, HasSubstr("not a TTY"));
  }
  // The engine fails (the sandbox is stopped): 125.
  ASSERT_EQ(cli({"stop", "amp-a"}).code, kExitOk);
  Result stopped = cli({"exec", "amp-a", "--", "true"});
  EXPECT_EQ(stopped.code, 125);
  EXPECT_THAT(stopped.err, HasSubstr("not running"));
}

TEST_F(SandboxCliTest, RmWithoutATerminalNeedsForce) {
  if (::isatty(STDIN_FILENO) != 0) GTEST_SKIP() << "stdin is a terminal here";
  ASSERT_EQ(run("amp-a").code, kExitOk);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"rm", "amp-a"}, std::vector<std::string>{"rm", "--all"}}) {
    Result r = cli(args);
    EXPECT_EQ(r.code, kExitFailed);
    EXPECT_THAT(r.err, HasSubstr("stdin is not a terminal; pass -f"));
    EXPECT_NE(docker_->findContainer("kitgate-amp-a"), nullptr);
  }
  EXPECT_EQ(cli({"rm", "--force", "amp-a"}).code, kExitOk);
  EXPECT_EQ(docker_->findContainer("kitgate-amp-a"), nullptr);
}

TEST_F(SandboxCliTest, LsQuietAndFormatSelectFields) {
  ASSERT_EQ(run("amp-a").code, kExitOk);
  ASSERT_EQ(run("amp-b").code, kExitOk);
  EXPECT_EQ(cli({"ls", "-q"}).out, "amp-a\namp-b\n");
  Result f = cli({"ls", "--format", "{{.Name}}\\t{{ .State }} {{.Image}}"});
  ASSERT_EQ(f.code, kExitOk) << f.err;
  EXPECT_EQ(f.out,
            "amp-a\trunning kitgate-test-agent:latest\namp-b\trunning kitgate-test-agent:latest\n");
  EXPECT_EQ(cli({"ls", "--format={{.Workspace}}"}).out, workspace_ + "\n" + workspace_ + "\n");
  const std::pair<std::vector<std::string>, const char*> bad[] = {
      {{"ls", "--format", "{{.Nope}}"}, "unknown field {{.Nope}}; known: {{.Name}}"},
      {{"ls", "--format", "{{.Name"}, "unclosed {{"},
      {{"ls", "--format"}, "--format needs a TEMPLATE"},
      {{"ls", "-q", "--json"}, "use one of"},
  };
  for (const auto& [args, message] : bad) {
    Result r = cli(args);
    EXPECT_EQ(r.code, kExitUsage) << message;
    EXPECT_THAT(r.err, HasSubstr(message));
  }
}

TEST_F(SandboxCliTest, HelpCommandVersionAndCompletion) {
  Result help = cli({"help", "stop"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_EQ(help.out, cli({"stop", "--help"}).out);
  EXPECT_THAT(help.out, HasSubstr("Usage: kitgate stop [-t SECONDS]"));
  Result unknown = cli({"help", "frobnicate"});
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command 'frobnicate'"));
  EXPECT_THAT(cli({"help"}).out, HasSubstr("Commands:"));

  Result version = cli({"version"});
  EXPECT_EQ(version.code, kExitOk);
  EXPECT_THAT(version.out, ::testing::MatchesRegex("kitgate [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  EXPECT_EQ(cli({"--version"}).out, version.out);

  for (const char* shell : {"bash", "zsh"}) {
    Result script = cli({"completion", shell});
    ASSERT_EQ(script.code, kExitOk) << shell;
    // Every command of the table completes, and sandbox names come from ls -q.
    for (const Command& c : commands()) {
      EXPECT_THAT(script.out, HasSubstr(std::string(c.name))) << shell << " " << c.name;
    }
    EXPECT_THAT(script.out, HasSubstr("kitgate ls -q"));
    // The shell accepts it (syntax only).
    const std::string file = root_ + "/completion." + shell;
    std::ofstream(file) << script.out;
    const std::string check = std::string(shell) + " -n " + file;
    if (std::system(("command -v " + std::string(shell) + " >/dev/null").c_str()) == 0) {
      EXPECT_EQ(std::system(check.c_str()), 0) << script.out;
    }
  }
  EXPECT_EQ(cli({"completion", "fish"}).code, kExitUsage);
  EXPECT_EQ(cli({"completion"}).code, kExitUsage);
}

}  // namespace
}  // namespace kitgate::cli

namespace kitgate::cli {
namespace {

// The host's SSH agent goes in by default (the socket, SSH_AUTH_SOCK set);
// --no-ssh-agent keeps it out; no agent is a note, never a failure.
TEST_F(SandboxCliTest, SshAgentIsForwardedByDefaultAndNoSshAgentKeepsItOut) {
  auto agentMounts = [&](const std::string& sandbox) {
    const FakeDockerClient::Container* c = docker_->findContainer("kitgate-" + sandbox);
    EXPECT_NE(c, nullptr);
    int n = 0;
    for (const docker::Mount& m : c ? c->spec.mounts : std::vector<docker::Mount>{}) {
      if (m.target == sandbox::kSshAgentPath) ++n;
    }
    return n;
  };
  ::unsetenv("SSH_AUTH_SOCK");
  Result none = run("amp-n");
  ASSERT_EQ(none.code, kExitOk) << none.err;
  EXPECT_THAT(none.err,
              HasSubstr("no SSH agent forwarded into the sandbox (SSH_AUTH_SOCK is not set)"));
  EXPECT_EQ(agentMounts("amp-n"), 0);

  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a socket owned by uid 1000)";
  const std::string sock = root_ + "/agent.sock";
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::chown(sock.c_str(), sandbox::kAgentUid, sandbox::kAgentUid), 0);
  ::setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
  Result with = run("amp-w");
  Result without = run("amp-o", {"--no-ssh-agent"});
  ::unsetenv("SSH_AUTH_SOCK");
  ASSERT_EQ(with.code, kExitOk) << with.err;
  ASSERT_EQ(without.code, kExitOk) << without.err;
  EXPECT_THAT(with.err, Not(HasSubstr("no SSH agent")));
  EXPECT_EQ(agentMounts("amp-w"), 1);
  EXPECT_THAT(docker_->findContainer("kitgate-amp-w")->spec.env,
              ::testing::Contains("SSH_AUTH_SOCK=" + std::string(sandbox::kSshAgentPath)));
  EXPECT_EQ(agentMounts("amp-o"), 0);
  EXPECT_THAT(docker_->findContainer("kitgate-amp-o")->spec.env,
              ::testing::Not(::testing::Contains(HasSubstr("SSH_AUTH_SOCK"))));
}

}  // namespace
}  // namespace kitgate::cli
