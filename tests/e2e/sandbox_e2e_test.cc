// The seed flow end to end, with the real binaries and a real Docker engine:
//
//   kitgate secret set-custom -g --host ampcode.com --env AMP_API_KEY
//       --placeholder "sgamp-{rand}" --value "$AMP_API_KEY"   (one line)
//   kitgate kit validate ./amp-local/
//   kitgate run --kit ./amp-local/ amp        (-d here: the test execs in)
//   kitgate policy log
//   kitgate rm <name>
//   kitgate secret rm -g --host ampcode.com
//
// An HTTPS origin on 127.0.0.1 stands in for ampcode.com: the proxy maps the
// name (proxy.yaml dns.hosts) and trusts the origin's test CA
// (tls.upstream_ca_file); the global policy allows 127.0.0.1/32 so the
// sandbox may reach it — only through the proxy. Each TEST is its own
// process (gtest_discover_tests): its own state directory, proxy and sandbox
// name, all removed in TearDown even after a failed assertion.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "orchestrator/docker/engine_client.h"
#include "tests/e2e/docker_setup.h"
#include "tests/support/https_origin.h"
#include "tests/support/origin_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace kitgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kSupport = KITGATE_E2E_SUPPORT_DIR;

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

const std::string kSourceDir = envOr("KITGATE_SOURCE_DIR", KITGATE_E2E_SOURCE_DIR);
const std::string kBuildDir = envOr("KITGATE_BUILD_DIR", KITGATE_E2E_BUILD_DIR);

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// 24 random alphanumerics, so the key is unique to this run.
std::string randomKey() {
  static const char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string out = "sk-e2e-";
  for (int i = 0; i < 24; ++i) out += kAlnum[rd() % (sizeof(kAlnum) - 1)];
  return out;
}

// A regex that matches `key` without containing it (grep runs inside the
// sandbox; its argv must not hold the key).
std::string keyPattern(const std::string& key) {
  return key.substr(0, key.size() - 1) + "[" + key.back() + "]";
}

DockerSetup& suiteSetup() {
  static DockerSetup s = dockerSetup(kSupport, {}, "/tmp/kitgate-e2e");
  return s;
}

class SandboxE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!suiteSetup().skip.empty()) GTEST_SKIP() << suiteSetup().skip;
    ASSERT_TRUE(suiteSetup().error.empty()) << suiteSetup().error;
    ASSERT_TRUE(fs::exists(kitgate_)) << kitgate_ << " not built";
    ASSERT_TRUE(fs::exists(proxy_bin_)) << proxy_bin_ << " not built";

    auto made = makeE2eState("kitgate-e2e", proxy_bin_);
    ASSERT_TRUE(made.isOk()) << made.status().message();
    tmp_ = std::move(made->tmp);
    state_ = made->state;
    workspace_ = made->workspace;
    name_ = "e2e-" + std::to_string(::getpid());

    // The stand-in for ampcode.com.
    auto ca = makeTestCa({"ampcode.com"});
    ASSERT_TRUE(ca.isOk()) << ca.status().message();
    origin_ca_ = std::make_unique<tls::CertificateAuthority>(std::move(*ca));
    auto pem = origin_ca_->certPem();
    ASSERT_TRUE(pem.isOk());
    const std::string ca_file = tmp_->path() + "/origin-ca.pem";
    ASSERT_TRUE(writeFileAtomic(ca_file, *pem).isOk());
    auto origin = HttpsOrigin::start({origin_ca_.get(), {"ampcode.com"}});
    ASSERT_TRUE(origin.isOk()) << origin.status().message();
    origin_ = std::move(*origin);

    writeProxyYaml(state_,
                   "dns:\n  hosts:\n    ampcode.com: 127.0.0.1\n    blocked.example: 127.0.0.2\n"
                   "tls:\n  upstream_ca_file: " +
                       ca_file + "\n");
    writePrivateFile(state_ + "/policy.yaml", "allow:\n  - \"127.0.0.1/32\"\n");
  }

  void TearDown() override {
    if (!tmp_) return;
    (void)kitgate({"rm", "-f", name_});
    (void)kitgate({"proxy", "stop"});
  }

  RunResult kitgate(const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = 300s) {
    std::vector<std::string> argv = {kitgate_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runProgram(argv, tmp_->path() + "/kitgate-" + std::to_string(++calls_), timeout);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : RunResult{};
  }
  // A command in the sandbox (as the agent).
  RunResult inSandbox(const std::string& script) {
    return kitgate({"exec", name_, "--", "sh", "-c", script}, 60s);
  }
  RunResult runSandbox(const std::string& kit_dir, const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args = {"run", "--kit",       kit_dir,    "--name",
                                     name_, "--workspace", workspace_, "-d"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("amp");
    return kitgate(args);
  }
  std::string kitDir() const { return kSourceDir + "/configs/kits/amp-local"; }
  std::string ampUrl(const std::string& path) const {
    return "https://ampcode.com:" + std::to_string(origin_->port()) + path;
  }

  // Nothing of the sandbox is left: Docker objects, proxy files, firewall.
  void expectNothingLeft() {
    auto docker = docker::connectDocker();
    ASSERT_TRUE(docker.isOk()) << docker.status().message();
    const docker::LabelFilter label = {"kitgate.sandbox=" + name_};
    auto containers = (*docker)->listContainers(label);
    ASSERT_TRUE(containers.isOk());
    EXPECT_TRUE(containers->empty()) << "container left";
    auto networks = (*docker)->listNetworks(label);
    ASSERT_TRUE(networks.isOk());
    EXPECT_TRUE(networks->empty()) << "network left";
    auto volumes = (*docker)->listVolumes(label);
    ASSERT_TRUE(volumes.isOk());
    EXPECT_TRUE(volumes->empty()) << "volume left";
    EXPECT_FALSE(fs::exists(state_ + "/sandboxes/" + name_ + ".yaml"));
    EXPECT_FALSE(fs::exists(state_ + "/credentials/" + name_ + ".yaml"));
    EXPECT_FALSE(fs::exists(state_ + "/run/" + name_ + ".json"));
    EXPECT_FALSE(fs::exists(state_ + "/ca/" + name_ + ".crt"));
    EXPECT_FALSE(fs::exists(state_ + "/ca/" + name_ + ".key"));
    EXPECT_THAT(readFile(state_ + "/secrets.yaml"), Not(HasSubstr("sandbox:" + name_)));
    std::string yaml = readFile(state_ + "/proxy.yaml");
    EXPECT_THAT(yaml, Not(HasSubstr(":3128"))) << yaml;
    auto rules = runProgram({"/bin/sh", "-c", "iptables -w -S INPUT 2>/dev/null || true"},
                            tmp_->path() + "/iptables", 30s);
    ASSERT_TRUE(rules.isOk());
    EXPECT_THAT(rules->out, Not(HasSubstr("kitgate:" + name_)));
  }

  const std::string kitgate_ = kBuildDir + "/orchestrator/kitgate";
  const std::string proxy_bin_ = kBuildDir + "/proxy/kitgate-proxy";
  std::unique_ptr<TempDir> tmp_;
  std::string state_, workspace_, name_;
  std::unique_ptr<tls::CertificateAuthority> origin_ca_;
  std::unique_ptr<HttpsOrigin> origin_;
  int calls_ = 0;
};

TEST_F(SandboxE2e, SeedFlowInjectsRealKeyOnlyOnTheWayOut) {
  const std::string key = randomKey();
  auto set = kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                      "--placeholder", "sgamp-{rand}", "--value", key});
  ASSERT_EQ(set.status.code, 0) << set.err;
  auto valid = kitgate({"kit", "validate", kitDir()});
  ASSERT_EQ(valid.status.code, 0) << valid.err;
  EXPECT_THAT(valid.out, HasSubstr("VALID"));

  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("install: Install Amp (marker)"));
  EXPECT_THAT(run.err, HasSubstr("installed as agent"));  // streamed install output

  // Install ran as uid 1000; the agent file holds the kit's memory.
  EXPECT_EQ(trim(inSandbox("cat /home/agent/.kitgate-install-uid").out), "1000");
  auto agents = inSandbox("cat " + fs::path(workspace_).parent_path().string() + "/AGENTS.md");
  EXPECT_THAT(agents.out, HasSubstr("Sandbox environment (amp-local)"));
  EXPECT_THAT(inSandbox("id -u; pwd").out, HasSubstr("1000\n" + workspace_));

  // Inside: the placeholder, never the key (env, process list, files).
  std::string placeholder = trim(inSandbox("printf %s \"$AMP_API_KEY\"").out);
  EXPECT_THAT(placeholder, StartsWith("sgamp-"));
  EXPECT_EQ(placeholder.size(), 6u + 16u);
  auto env = inSandbox("env; cat /proc/1/environ | tr '\\0' '\\n'");
  EXPECT_THAT(env.out, HasSubstr("AMP_API_KEY=" + placeholder));
  EXPECT_THAT(env.out, Not(HasSubstr(key)));
  auto ps = inSandbox("ps auxww");
  EXPECT_THAT(ps.out, HasSubstr("sleep infinity"));
  EXPECT_THAT(ps.out, Not(HasSubstr(key)));
  auto files = inSandbox("grep -rlsE '" + keyPattern(key) + "' /home /etc /tmp /usr/local " +
                         workspace_ + "; echo scanned");
  EXPECT_EQ(trim(files.out), "scanned") << files.out;

  // Through the proxy: the origin sees the real key; the reply is scrubbed.
  auto curl = inSandbox(
      "curl -sS --max-time 20 -D - -o /dev/null -H \"Authorization: Bearer $AMP_API_KEY\" " +
      ampUrl("/echo-auth"));
  ASSERT_EQ(curl.status.code, 0) << curl.out << curl.err;
  EXPECT_THAT(curl.out, HasSubstr("200"));
  EXPECT_THAT(origin_->lastSpecialHead(), HasSubstr("Authorization: Bearer " + key));
  EXPECT_THAT(curl.out, Not(HasSubstr(key)));
  EXPECT_THAT(curl.out, HasSubstr(placeholder));

  // A host the policy does not allow: 403 with the proxy's text, logged.
  auto blocked = inSandbox("curl -sS --max-time 20 -w '\\n%{http_code}' http://blocked.example/");
  EXPECT_THAT(blocked.out, HasSubstr("403")) << blocked.err;
  EXPECT_THAT(blocked.out, HasSubstr("blocked")) << blocked.err;
  // The proxy writes its log line when the connection ends.
  RunResult log;
  EXPECT_TRUE(waitUntil(
      [&] {
        log = kitgate({"policy", "log", "--json"});
        return log.out.find("blocked.example") != std::string::npos;
      },
      10s))
      << log.out << log.err;
  auto log_table = kitgate({"policy", "log"});
  EXPECT_THAT(log_table.out, HasSubstr("blocked.example"));
  EXPECT_THAT(log_table.out, HasSubstr(name_));

  // No way around the proxy: the origin on the host's loopback, and a host
  // listener on 0.0.0.0 reached through the network's gateway.
  OriginServer::Options any;
  any.bind_address = "0.0.0.0";
  auto host_service = OriginServer::start(any);
  ASSERT_TRUE(host_service.isOk()) << host_service.status().message();
  const std::string gw = trim(inSandbox("echo \"$HTTP_PROXY\" | sed 's/.*@//; s/:[0-9]*$//'").out);
  ASSERT_FALSE(gw.empty());
  auto direct_host = inSandbox("curl -sS --noproxy '*' --max-time 5 http://" + gw + ":" +
                               std::to_string((*host_service)->port()) + "/small");
  EXPECT_NE(direct_host.status.code, 0) << direct_host.out;
  EXPECT_EQ((*host_service)->connectionsAccepted(), 0u);
  auto direct_origin = inSandbox("curl -sS --noproxy '*' --max-time 5 -k https://" + gw + ":" +
                                 std::to_string(origin_->port()) +
                                 "/small; curl -sS --noproxy '*' "
                                 "--max-time 5 -k https://127.0.0.1:" +
                                 std::to_string(origin_->port()) + "/small");
  EXPECT_NE(direct_origin.status.code, 0) << direct_origin.out;
  auto no_proxy_env =
      inSandbox("env -u HTTPS_PROXY -u https_proxy curl -sS --max-time 5 " + ampUrl("/small"));
  EXPECT_NE(no_proxy_env.status.code, 0) << no_proxy_env.out;

  // ls shows it; rm leaves nothing behind; the global secret stays until
  // `secret rm`.
  auto ls = kitgate({"ls"});
  EXPECT_THAT(ls.out, HasSubstr(name_));
  EXPECT_THAT(ls.out, HasSubstr("running"));
  auto rm = kitgate({"rm", "-f", name_});
  ASSERT_EQ(rm.status.code, 0) << rm.err;
  expectNothingLeft();
  EXPECT_THAT(readFile(state_ + "/secrets.yaml"), HasSubstr("ampcode.com"));
  auto srm = kitgate({"secret", "rm", "-g", "--host", "ampcode.com", "-f"});
  EXPECT_EQ(srm.status.code, 0) << srm.err;
  EXPECT_THAT(readFile(state_ + "/secrets.yaml"), Not(HasSubstr("ampcode.com")));
}

// A kit asking for security.privileged under runc (root on the host) is
// refused before anything is created, naming both ways out; with
// --allow-host-root it runs privileged (root has every capability).
TEST_F(SandboxE2e, PrivilegedKitIsRefusedUnderRuncUnlessHostRootIsAllowed) {
  const std::string kit = tmp_->path() + "/privileged-kit";
  fs::create_directories(kit);
  std::ofstream(kit + "/spec.yaml")
      << readFile(kitDir() + "/spec.yaml") << "security:\n  privileged: true\n";
  auto refused = runSandbox(kit);
  EXPECT_NE(refused.status.code, 0);
  EXPECT_THAT(refused.err, HasSubstr("security.privileged"));
  EXPECT_THAT(refused.err, HasSubstr("--allow-host-root"));
  EXPECT_THAT(refused.err, HasSubstr("--runtime runsc"));
  expectNothingLeft();

  auto run = runSandbox(kit, {"--allow-host-root"});
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("root on this host"));
  // Root holds CAP_SYS_ADMIN (bit 21), which Docker's default set for an
  // unprivileged container's root (CapEff 00000000a80425fb) leaves out.
  const std::string caps = trim(inSandbox("sudo grep CapEff /proc/self/status | cut -f2").out);
  ASSERT_FALSE(caps.empty());
  EXPECT_NE(std::stoull(caps, nullptr, 16) & (1ull << 21), 0u) << caps;
  ASSERT_EQ(kitgate({"rm", "-f", name_}).status.code, 0);
  expectNothingLeft();
}

TEST_F(SandboxE2e, ServiceSecretIsInjectedByTheKitsServiceAuth) {
  const std::string key = randomKey();
  auto set = kitgate({"secret", "set", "amp", "-g", "-t", key});
  ASSERT_EQ(set.status.code, 0) << set.err;
  // A sandbox-scoped secret wins over the global one, and goes with the sandbox.
  const std::string scoped = randomKey();
  auto set_scoped = kitgate({"secret", "set", "amp", "--sandbox", name_, "-t", scoped});
  ASSERT_EQ(set_scoped.status.code, 0) << set_scoped.err;
  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  auto curl = inSandbox("curl -sS --max-time 20 -D - -o /dev/null " + ampUrl("/echo-auth"));
  ASSERT_EQ(curl.status.code, 0) << curl.out << curl.err;
  EXPECT_THAT(origin_->lastSpecialHead(), HasSubstr("Authorization: Bearer " + scoped));
  EXPECT_THAT(curl.out, Not(HasSubstr(scoped)));
  auto inside = inSandbox("env; ps auxww");
  EXPECT_THAT(inside.out, Not(HasSubstr(key)));
  EXPECT_THAT(inside.out, Not(HasSubstr(scoped)));
  EXPECT_TRUE(fs::exists(state_ + "/ca/" + name_ + ".crt"));
  auto rm = kitgate({"rm", "-f", name_});
  ASSERT_EQ(rm.status.code, 0) << rm.err;
  expectNothingLeft();
  EXPECT_THAT(readFile(state_ + "/secrets.yaml"), HasSubstr("global"));  // kept
}

// Every sandbox trusts its interception CA from creation on: a secret set
// while it runs is injected at once, no restart.
TEST_F(SandboxE2e, SecretSetAfterRunIsInjectedInTheRunningSandbox) {
  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("credential amp (ampcode.com): no secret set"));
  EXPECT_TRUE(fs::exists(state_ + "/ca/" + name_ + ".crt"));
  const std::string echo = "curl -sS --max-time 20 -D - -o /dev/null " + ampUrl("/echo-auth");
  // No secret: an opaque tunnel to the origin, whose test CA the sandbox does
  // not trust (-k here); the origin sees no credential.
  auto before = inSandbox("curl -k -sS --max-time 20 -D - -o /dev/null " + ampUrl("/echo-auth"));
  ASSERT_EQ(before.status.code, 0) << before.out << before.err;
  EXPECT_THAT(origin_->lastSpecialHead(), Not(HasSubstr("Authorization:")));

  const std::string key = randomKey();
  auto set = kitgate({"secret", "set-custom", "-g", "--host", "ampcode.com", "--env", "AMP_API_KEY",
                      "--placeholder", "sgamp-{rand}", "--value", key});
  ASSERT_EQ(set.status.code, 0) << set.err;
  EXPECT_THAT(set.err, Not(HasSubstr("restart")));
  auto after = inSandbox(echo);
  ASSERT_EQ(after.status.code, 0) << after.out << after.err;
  EXPECT_THAT(origin_->lastSpecialHead(), HasSubstr("Authorization: Bearer " + key));
  EXPECT_THAT(after.out, Not(HasSubstr(key)));
  EXPECT_THAT(inSandbox("env; ps auxww").out, Not(HasSubstr(key)));

  // A host allowed only now lies outside the CA the sandbox trusts: said.
  auto allow = kitgate({"policy", "allow", "network", "--sandbox", name_, "api.other.example"});
  ASSERT_EQ(allow.status.code, 0) << allow.err;
  auto other = kitgate({"secret", "set-custom", "--sandbox", name_, "--host", "api.other.example",
                        "--env", "OTHER_KEY", "--value", randomKey()});
  ASSERT_EQ(other.status.code, 0) << other.err;
  EXPECT_THAT(other.err, HasSubstr("sandbox " + name_ +
                                   " trusts an interception CA made before api.other.example was "
                                   "allowed"));
}

// `secret set amp --command …`: resolved on the host, injected, refreshed
// when the command's output changes (`secret refresh` reloads the proxy),
// and a failing command keeps the last good value. Never inside the sandbox.
TEST_F(SandboxE2e, CommandSecretIsInjectedRefreshedAndItsFailureHandled) {
  const std::string token_file = tmp_->path() + "/amp-token";
  const std::string first = randomKey(), second = randomKey();
  std::ofstream(token_file) << first << "\n";
  auto set =
      kitgate({"secret", "set", "amp", "--command", "cat '" + token_file + "'", "--refresh", "1h"});
  ASSERT_EQ(set.status.code, 0) << set.err;
  EXPECT_THAT(set.out + set.err, Not(HasSubstr(first)));
  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("Credential amp (ampcode.com): service secret amp (global)"));
  const std::string echo = "curl -sS --max-time 20 -D - -o /dev/null " + ampUrl("/echo-auth");
  ASSERT_EQ(inSandbox(echo).status.code, 0);
  EXPECT_THAT(origin_->lastSpecialHead(), HasSubstr("Authorization: Bearer " + first));

  std::ofstream(token_file) << second << "\n";
  auto refresh = kitgate({"secret", "refresh", "amp"});
  ASSERT_EQ(refresh.status.code, 0) << refresh.err;
  ASSERT_EQ(inSandbox(echo).status.code, 0);
  EXPECT_THAT(origin_->lastSpecialHead(), HasSubstr("Authorization: Bearer " + second));

  fs::remove(token_file);
  auto failing = kitgate({"secret", "refresh", "amp"});
  EXPECT_EQ(failing.status.code, 1);
  EXPECT_THAT(failing.err, HasSubstr("exited with status 1"));
  EXPECT_THAT(failing.err, HasSubstr("keeping the last value until it expires"));
  ASSERT_EQ(inSandbox(echo).status.code, 0);
  EXPECT_THAT(origin_->lastSpecialHead(), HasSubstr("Authorization: Bearer " + second));
  auto ls = kitgate({"secret", "ls"});
  EXPECT_THAT(ls.out, HasSubstr("failing: command"));
  EXPECT_THAT(ls.out, Not(HasSubstr(second)));
  auto inside = inSandbox("env; ps auxww");
  EXPECT_THAT(inside.out, Not(HasSubstr(first)));
  EXPECT_THAT(inside.out, Not(HasSubstr(second)));
}

TEST_F(SandboxE2e, FailingInstallCleansUpAndReportsTheStep) {
  const std::string kit = tmp_->path() + "/failing-kit";
  fs::create_directories(kit);
  std::string spec = readFile(kitDir() + "/spec.yaml");
  const std::string install = "    - command: \"id -u > /home/agent/.kitgate-install-uid";
  ASSERT_NE(spec.find(install), std::string::npos);
  spec.insert(spec.find(install),
              "    - command: \"echo about to fail; exit 7\"\n      description: Broken step\n");
  std::ofstream(kit + "/spec.yaml") << spec;
  auto run = runSandbox(kit);
  EXPECT_EQ(run.status.code, 7) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("install: Broken step"));
  EXPECT_THAT(run.err, HasSubstr("about to fail"));
  EXPECT_THAT(run.err, HasSubstr("removed"));
  expectNothingLeft();
}

// amp-local plus: a second install step and a startup command that each
// append a line to a counter in the agent's home, and files/workspace.
std::string lifecycleKit(const std::string& dir, const std::string& base_spec) {
  fs::create_directories(dir + "/files/workspace");
  std::string spec = base_spec;
  const std::string install = "  install:\n";
  spec.insert(spec.find(install) + install.size(),
              "    - command: \"echo run >> /home/agent/.installs\"\n"
              "      user: \"1000\"\n"
              "      description: Count installs\n");
  // Right after install, before the memory block.
  spec.insert(spec.find("\nmemory:"),
              "  startup:\n"
              "    - command: [\"sh\", \"-c\", \"echo run >> /home/agent/.startups\"]\n"
              "      description: Count starts\n");
  std::ofstream(dir + "/spec.yaml") << spec;
  std::ofstream(dir + "/files/workspace/KIT.md") << "from the kit\n";
  return dir;
}

TEST_F(SandboxE2e, StopAndStartKeepTheHomeAndRerunStartupButNotInstall) {
  const std::string kit =
      lifecycleKit(tmp_->path() + "/lifecycle-kit", readFile(kitDir() + "/spec.yaml"));
  auto run = runSandbox(kit);
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("is running"));
  EXPECT_EQ(trim(inSandbox("cat /home/agent/.installs | wc -l").out), "1");
  EXPECT_EQ(trim(inSandbox("cat /home/agent/.startups | wc -l").out), "1");
  ASSERT_EQ(inSandbox("echo mine > /home/agent/mine.txt").status.code, 0);
  ASSERT_TRUE(fs::exists(workspace_ + "/KIT.md"));
  fs::remove(workspace_ + "/KIT.md");

  auto stop = kitgate({"stop", "-t", "1", name_});
  ASSERT_EQ(stop.status.code, 0) << stop.err;
  EXPECT_THAT(kitgate({"ls"}).out, HasSubstr("exited"));
  // --kit on the existing sandbox: refused with sbx's message.
  auto again_kit = runSandbox(kit);
  EXPECT_EQ(again_kit.status.code, 1);
  EXPECT_THAT(again_kit.err, HasSubstr("--kit can only be used when creating a new sandbox"));

  auto start = kitgate({"start", name_});
  ASSERT_EQ(start.status.code, 0) << start.out << start.err;
  EXPECT_THAT(start.out, HasSubstr("Sandbox " + name_ + " is running"));
  EXPECT_THAT(start.err, HasSubstr("startup: Count starts"));
  EXPECT_THAT(start.err, Not(HasSubstr("install:")));
  EXPECT_EQ(trim(inSandbox("cat /home/agent/mine.txt").out), "mine");
  EXPECT_EQ(trim(inSandbox("cat /home/agent/.installs | wc -l").out), "1");
  EXPECT_EQ(trim(inSandbox("cat /home/agent/.startups | wc -l").out), "2");
  EXPECT_EQ(readFile(workspace_ + "/KIT.md"), "from the kit\n");
  // The agent itself runs again.
  EXPECT_THAT(inSandbox("ps auxww").out, HasSubstr("sleep infinity"));

  // `run NAME` on a stopped sandbox does the same (detached here).
  ASSERT_EQ(kitgate({"stop", "-t", "1", name_}).status.code, 0);
  auto rerun = kitgate({"run", "-d", name_});
  ASSERT_EQ(rerun.status.code, 0) << rerun.out << rerun.err;
  EXPECT_EQ(trim(inSandbox("cat /home/agent/.startups | wc -l").out), "3");
  EXPECT_EQ(trim(inSandbox("cat /home/agent/.installs | wc -l").out), "1");

  ASSERT_EQ(kitgate({"rm", "-f", name_}).status.code, 0);
  expectNothingLeft();
}

TEST_F(SandboxE2e, RunDetachedFailsWithTheExitCodeOfAMissingEntrypoint) {
  const std::string kit = tmp_->path() + "/missing-entrypoint";
  fs::create_directories(kit);
  std::string spec = readFile(kitDir() + "/spec.yaml");
  const std::string entry = "run: [sleep, infinity]";
  ASSERT_NE(spec.find(entry), std::string::npos);
  spec.replace(spec.find(entry), entry.size(), "run: [kitgate-no-such-agent]");
  std::ofstream(kit + "/spec.yaml") << spec;
  auto run = runSandbox(kit);
  EXPECT_EQ(run.status.code, 127) << run.out << run.err;
  EXPECT_THAT(run.out, Not(HasSubstr("is running")));
  EXPECT_THAT(run.err, HasSubstr("exited at once with code 127"));
  EXPECT_THAT(run.err, HasSubstr("kitgate-no-such-agent: command not found"));
  EXPECT_THAT(kitgate({"ls"}).out, HasSubstr("exited"));
}

TEST_F(SandboxE2e, ExecExitCodesEnvAndWorkdirFollowDocker) {
  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  auto env = kitgate({"exec", "-e", "KG_E2E=yes", "-w", "/tmp", name_, "--", "sh", "-c",
                      "echo $KG_E2E; pwd; exit 3"});
  EXPECT_EQ(env.status.code, 3) << env.err;
  EXPECT_EQ(env.out, "yes\n/tmp\n");
  auto missing = kitgate({"exec", name_, "--", "kitgate-no-such-command"});
  EXPECT_EQ(missing.status.code, 127) << missing.out << missing.err;
  auto not_exec = kitgate({"exec", name_, "--", "/etc/hostname"});
  EXPECT_EQ(not_exec.status.code, 126) << not_exec.out << not_exec.err;
  auto unknown = kitgate({"exec", "kitgate-no-such-sandbox", "--", "true"});
  EXPECT_EQ(unknown.status.code, 1);
  ASSERT_EQ(kitgate({"stop", "-t", "0", name_}).status.code, 0);
  auto stopped = kitgate({"exec", name_, "--", "true"});
  EXPECT_EQ(stopped.status.code, 125) << stopped.err;
}

// Runs `argv` on a new pseudo-terminal of `rows` x `cols`, types `input`,
// and collects everything it prints until it exits (bounded).
struct PtyRun {
  int code = -1;
  std::string output;
};
PtyRun runOnPty(const std::vector<std::string>& argv, const std::string& input, int rows,
                int cols) {
  PtyRun r;
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
  if (pid < 0) return r;
  if (pid == 0) {
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(126);
  }
  bool typed = false;
  char buf[4096];
  for (int rounds = 0; rounds < 600; ++rounds) {  // at most 600 x 100 ms
    pollfd p{master, POLLIN, 0};
    int n = ::poll(&p, 1, 100);
    if (n > 0) {
      ssize_t got = ::read(master, buf, sizeof buf);
      if (got <= 0) break;  // EIO: the child side closed
      r.output.append(buf, static_cast<size_t>(got));
    }
    // Type once the command shows its prompt.
    if (!typed && r.output.find("ready>") != std::string::npos) {
      (void)!::write(master, input.data(), input.size());
      typed = true;
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST_F(SandboxE2e, InteractiveExecHasATerminalOfTheCallersSize) {
  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  PtyRun pty = runOnPty({kitgate_, "exec", "-it", name_, "--", "sh", "-c",
                         "stty size; [ -t 0 ] && echo tty-in; printf 'ready>'; read line; "
                         "echo \"got:$line\"; exit 5"},
                        "hello\r", 33, 101);
  EXPECT_EQ(pty.code, 5) << pty.output;
  EXPECT_THAT(pty.output, HasSubstr("33 101"));
  EXPECT_THAT(pty.output, HasSubstr("tty-in"));
  EXPECT_THAT(pty.output, HasSubstr("got:hello"));
}

TEST_F(SandboxE2e, HandEditedProxyYamlIsRepairedAndTheSandboxServed) {
  // As a new user might write it: dns and tls added, kitgate's keys missing.
  const std::string ca_file = tmp_->path() + "/origin-ca.pem";
  std::ofstream(state_ + "/proxy.yaml") << "listen:\n  - 127.0.0.1:0\n"
                                        << "metrics_listen: \"\"\n"
                                        << "dns:\n  hosts:\n    ampcode.com: 127.0.0.1\n"
                                        << "tls:\n  upstream_ca_file: " << ca_file << "\n";
  const std::string key = randomKey();
  ASSERT_EQ(kitgate({"secret", "set", "amp", "-g", "-t", key}).status.code, 0);
  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("kitgate put back state_dir"));
  const std::string yaml = readFile(state_ + "/proxy.yaml");
  EXPECT_THAT(yaml, HasSubstr("state_dir: " + state_));
  EXPECT_THAT(yaml, HasSubstr("ampcode.com: 127.0.0.1"));
  // The proxy serves this sandbox: its route injects the key.
  auto curl =
      inSandbox("curl -sS --max-time 20 -o /dev/null -w '%{http_code}' " + ampUrl("/echo-auth"));
  EXPECT_EQ(curl.out, "200") << curl.err;
  EXPECT_THAT(origin_->lastSpecialHead(), HasSubstr("Authorization: Bearer " + key));
  // rm leaves a file the proxy still accepts.
  ASSERT_EQ(kitgate({"rm", "-f", name_}).status.code, 0);
  auto reload = kitgate({"proxy", "reload"});
  EXPECT_EQ(reload.status.code, 0) << reload.err;

  // A state_dir of another directory is refused before anything is made.
  std::ofstream(state_ + "/proxy.yaml")
      << "listen:\n  - 127.0.0.1:0\nstate_dir: /var/lib/elsewhere\n";
  auto refused = runSandbox(kitDir());
  EXPECT_EQ(refused.status.code, 1);
  EXPECT_THAT(refused.err, HasSubstr("kitgate owns state_dir"));
  expectNothingLeft();
}

TEST_F(SandboxE2e, KitPortIsReachableFromTheHostLoopback) {
  // A kit port with a TLS server behind it (openssl is in the image), started
  // by a background startup command.
  const std::string kit = tmp_->path() + "/ports-kit";
  fs::create_directories(kit);
  std::string spec = readFile(kitDir() + "/spec.yaml");
  spec.insert(spec.find("\nmemory:"),
              "  startup:\n"
              "    - command: [\"sh\", \"-c\", \"cd /tmp && openssl req -x509 -newkey rsa:2048 "
              "-nodes -subj /CN=kg -keyout k.pem -out c.pem -days 1 >/dev/null 2>&1 && exec "
              "openssl s_server -quiet -accept 8443 -cert c.pem -key k.pem -www\"]\n"
              "      background: true\n"
              "      description: Serve 8443\n");
  spec += "publishedPorts:\n  - container: 8443\n    protocol: tcp\n";
  std::ofstream(kit + "/spec.yaml") << spec;
  auto run = runSandbox(kit);
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("Port 8443 published on 127.0.0.1:"));
  auto ls = kitgate({"ls", "--format", "{{.Ports}}"});
  ASSERT_EQ(ls.status.code, 0) << ls.err;
  const std::string ports = trim(ls.out);
  ASSERT_THAT(ports, ::testing::MatchesRegex("127\\.0\\.0\\.1:[0-9]+->8443/tcp"));
  const std::string host = ports.substr(0, ports.find("->"));
  RunResult curl;
  EXPECT_TRUE(waitUntil(
      [&] {
        auto r = runProgram({"curl", "-sk", "--max-time", "5", "https://" + host + "/"},
                            tmp_->path() + "/curl-port", 20s);
        if (r.isOk()) curl = *r;
        return r.isOk() && curl.status.code == 0;
      },
      60s))
      << curl.err;
  EXPECT_THAT(curl.out, HasSubstr("s_server"));
  // Stopped: the binding goes; started again: it comes back.
  ASSERT_EQ(kitgate({"stop", "-t", "1", name_}).status.code, 0);
  auto gone = runProgram({"curl", "-sk", "--max-time", "5", "https://" + host + "/"},
                         tmp_->path() + "/curl-gone", 20s);
  ASSERT_TRUE(gone.isOk());
  EXPECT_NE(gone->status.code, 0);
  ASSERT_EQ(kitgate({"start", name_}).status.code, 0);
  EXPECT_THAT(kitgate({"ls", "--format", "{{.Ports}}"}).out, HasSubstr("->8443/tcp"));
  ASSERT_EQ(kitgate({"rm", "-f", name_}).status.code, 0);
  expectNothingLeft();
}

// A DNS responder on one host address, port 53 (UDP): answers A queries for
// `name` with 192.0.2.53 and records every name it is asked, so a forward
// from the sandbox is both visible to the agent and counted here.
class DnsRecorder {
 public:
  static StatusOr<std::unique_ptr<DnsRecorder>> start(const std::string& address,
                                                      const std::string& name) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return Status::error("socket: " + std::string(std::strerror(errno)));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(53);
    if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1)
      return Status::error("not an IPv4 address: " + address);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
      return Status::error("bind " + address + ":53: " + std::strerror(errno));
    std::unique_ptr<DnsRecorder> r(new DnsRecorder);
    r->fd_ = std::move(fd);
    r->name_ = name;
    r->thread_ = std::thread([p = r.get()] { p->loop(); });
    return r;
  }
  ~DnsRecorder() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mu_);
    return names_;
  }

 private:
  DnsRecorder() = default;
  void loop() {
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      unsigned char buf[512];
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      ssize_t n =
          ::recvfrom(fd_.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&peer), &len);
      if (n < 17) {  // not a DNS query; still something the sandbox sent
        std::lock_guard<std::mutex> lock(mu_);
        names_.push_back("(" + std::to_string(n) + " bytes)");
        continue;
      }
      std::string qname;
      size_t i = 12;
      while (i < static_cast<size_t>(n) && buf[i] != 0 && i + 1 + buf[i] < static_cast<size_t>(n)) {
        if (!qname.empty()) qname += '.';
        qname.append(reinterpret_cast<const char*>(buf + i + 1), buf[i]);
        i += 1 + buf[i];
      }
      const size_t question_end = i + 5;
      if (question_end > static_cast<size_t>(n)) continue;
      for (char& c : qname) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      {
        std::lock_guard<std::mutex> lock(mu_);
        names_.push_back(qname);
      }
      const bool known = qname == name_;
      std::string reply(reinterpret_cast<const char*>(buf), question_end);
      reply[2] = static_cast<char>(0x81);
      reply[3] = static_cast<char>(known ? 0x80 : 0x83);  // NOERROR / NXDOMAIN
      reply[6] = 0;
      reply[7] = known ? 1 : 0;  // ANCOUNT
      reply[8] = reply[9] = reply[10] = reply[11] = 0;
      if (known) {
        const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53};
        reply.append(reinterpret_cast<const char*>(answer), sizeof(answer));
      }
      ::sendto(fd_.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
    }
  }

  UniqueFd fd_;
  std::string name_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> names_;
};

// Asks `server`:53 for `name` from the host (the recorder's own check).
bool hostQueryAnswered(const std::string& server, const std::string& name) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  if (!fd.valid() || ::inet_pton(AF_INET, server.c_str(), &sa.sin_addr) != 1) return false;
  std::string q("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q += static_cast<char>(dot - start);
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q.append("\x00\x00\x01\x00\x01", 5);
  if (::sendto(fd.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0)
    return false;
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0) return false;
  unsigned char buf[512];
  const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
  return n > 12 && (buf[3] & 0x0f) == 0 && buf[7] == 1;
}

// Docker's embedded DNS (127.0.0.11 in the sandbox) must not be a way out:
// a name only a resolver on the host knows stays unresolved, and no resolver
// the test runs on the host — on the sandbox's gateway (where kitgate pins
// the embedded DNS's forwards) or on the host's loopback (where Moby before
// 26 forwards through the host's namespace) — is asked. Never the internet:
// the name is under a reserved test label and only these recorders know it.
TEST_F(SandboxE2e, EmbeddedDnsForwardsNothingOutOfTheSandbox) {
  auto run = runSandbox(kitDir());
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  const std::string gw = trim(inSandbox("echo \"$HTTP_PROXY\" | sed 's/.*@//; s/:[0-9]*$//'").out);
  ASSERT_FALSE(gw.empty());
  const std::string name = "exfil-" + std::to_string(::getpid()) + ".kitgate.test";

  std::vector<std::unique_ptr<DnsRecorder>> recorders;
  for (const std::string& address : {gw, std::string("127.0.0.1")}) {
    auto r = DnsRecorder::start(address, name);
    ASSERT_TRUE(r.isOk()) << r.status().message() << " (is a DNS server on port 53 there?)";
    // The recorder answers the host, so a forward would reach the agent.
    ASSERT_TRUE(hostQueryAnswered(address, name)) << address;
    recorders.push_back(std::move(*r));
  }
  auto lookup = inSandbox("cat /etc/resolv.conf; getent hosts " + name + " || echo unresolved");
  EXPECT_THAT(lookup.out, HasSubstr("nameserver 127.0.0.11"));
  EXPECT_THAT(lookup.out, HasSubstr("unresolved"));
  EXPECT_THAT(lookup.out, Not(HasSubstr("192.0.2.53")));
  // Asked straight, the gateway's port 53 is closed to the sandbox too.
  auto direct = inSandbox("bash -c 'printf x > /dev/udp/" + gw + "/53' && echo sent");
  EXPECT_THAT(direct.out, HasSubstr("sent"));
  // A second query from the host, after everything the sandbox sent: each
  // recorder has then seen exactly the host's two.
  for (size_t i = 0; i < recorders.size(); ++i) {
    const std::string address = i == 0 ? gw : "127.0.0.1";
    EXPECT_TRUE(hostQueryAnswered(address, name)) << address;
    EXPECT_THAT(recorders[i]->names(), ::testing::ElementsAre(name, name))
        << "the sandbox reached the resolver on " << address;
  }
}

}  // namespace
}  // namespace kitgate::testing
