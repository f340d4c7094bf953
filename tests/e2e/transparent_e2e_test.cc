// The transparent path of `kitgate run` end to end, with the real binaries
// and a real Docker engine (issue 9): one sandbox, shared by the checks of
// one test, made from a kit that allows github.com:22 and origin.test:
//
//   - `git clone` over SSH from a local sshd standing in for github.com:22,
//     the name resolved by kitgate's DNS, the key only in the host's agent
//     (forwarded into the sandbox; its private key file deleted before run);
//   - `curl --noproxy '*'` to an allowed HTTPS origin works; a name no rule
//     allows does not resolve (NXDOMAIN, logged `dns`);
//   - `nc` to an address no rule allows is refused, logged `transparent`;
//   - UDP out leaves nothing (a host listener counts zero datagrams);
//   - the transparent and DNS ports dialled directly are refused;
//   - a host service (an HTTP server on the host's 127.0.0.1) is reached as
//     host.docker.internal:PORT, with and without the proxy variables, only
//     while its rule exists (a global deny and a reload take it away);
//   - after `rm`, iptables-save / ip6tables-save hold no rule of it.
//
// The stand-in "internet" is two documentation addresses on the host's lo
// (198.51.100.X allowed by a CIDR rule, X+1 not): the sandbox's packets to
// them leave its network through the host, where the nat rules capture them.
// Needs root (iptables, ip addr, sshd), as Docker does.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "proxy/common/unique_fd.h"
#include "tests/e2e/docker_setup.h"
#include "tests/support/https_origin.h"
#include "tests/support/origin_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace kitgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kSupport = KITGATE_E2E_SUPPORT_DIR;
const std::string kBuildDir = [] {
  const char* v = std::getenv("KITGATE_BUILD_DIR");
  return std::string(v != nullptr && *v != '\0' ? v : KITGATE_E2E_BUILD_DIR);
}();
constexpr char kImage[] = "kitgate-test-agent-ssh:latest";

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

DockerSetup& suiteSetup() {
  static DockerSetup s = [] {
    DockerSetup r =
        dockerSetup(kSupport, {"--tag", kImage, "--with", "git openssh-client netcat-openbsd"},
                    "/tmp/kitgate-e2e-transparent");
    for (const char* tool : {"/usr/sbin/sshd", "/usr/bin/ssh-agent", "/usr/bin/ssh-keygen",
                             "/usr/bin/ssh-add", "/usr/bin/git", "/usr/bin/setpriv"}) {
      if (!fs::exists(tool)) r.error += std::string(tool) + " missing (scripts/setup.sh)\n";
    }
    return r;
  }();
  return s;
}

// Runs argv to completion; the result, or a failed expectation.
RunResult mustRun(const std::vector<std::string>& argv, const std::string& prefix) {
  auto r = runProgram(argv, prefix, 60s);
  EXPECT_TRUE(r.isOk()) << argv[0] << ": " << r.status().message();
  if (!r.isOk()) return {};
  EXPECT_EQ(r->status.code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ": "
                               << r->out << r->err;
  return *r;
}

class TransparentE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!suiteSetup().skip.empty()) GTEST_SKIP() << suiteSetup().skip;
    ASSERT_TRUE(suiteSetup().error.empty()) << suiteSetup().error;
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (iptables, addresses on lo, sshd)";
    auto dir = TempDir::create("kitgate-tp-e2e");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    tmp_ = std::make_unique<TempDir>(std::move(*dir));
    // World-traversable: the sandbox's agent (uid 1000) reaches the agent socket below it.
    fs::permissions(tmp_->path(), fs::perms::owner_all | fs::perms::others_exec);
    state_ = tmp_->path() + "/state";
    workspace_ = tmp_->path() + "/ws";
    fs::create_directories(state_);
    fs::permissions(state_, fs::perms::owner_all);
    fs::create_directories(workspace_);
    name_ = "e2e-tp-" + std::to_string(::getpid());
    const int host = 10 + static_cast<int>(::getpid() % 120) * 2;
    allowed_ = "198.51.100." + std::to_string(host);
    blocked_ = "198.51.100." + std::to_string(host + 1);
    for (const std::string& a : {allowed_, blocked_}) {
      mustRun({"/usr/sbin/ip", "addr", "add", a + "/32", "dev", "lo"}, tmp_->path() + "/ip");
      addresses_.push_back(a);
    }
    ::setenv("KITGATE_STATE_DIR", state_.c_str(), 1);
    ::setenv("KITGATE_PROXY", proxy_bin_.c_str(), 1);
  }

  void TearDown() override {
    if (!tmp_) return;
    (void)kitgate({"rm", "-f", name_});
    (void)kitgate({"proxy", "stop"});
    if (sshd_) sshd_->kill();
    if (agent_) agent_->kill();
    for (const std::string& a : addresses_) {
      (void)runProgram({"/usr/sbin/ip", "addr", "del", a + "/32", "dev", "lo"},
                       tmp_->path() + "/ip-del", 30s);
    }
  }

  RunResult kitgate(const std::vector<std::string>& args) {
    return runKitgate(kitgate_, args, tmp_->path() + "/kitgate-" + std::to_string(++calls_));
  }
  RunResult inSandbox(const std::string& script) {
    return kitgate({"exec", name_, "--", "sh", "-c", script});
  }

  // A bare repository with one commit, and an sshd on allowed_:22 that lets
  // in root with `pubkey` only.
  void startSshd(const std::string& pubkey) {
    const std::string d = tmp_->path() + "/sshd";
    fs::create_directories(d);
    fs::create_directories("/run/sshd");  // sshd's privilege-separation directory
    mustRun({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d + "/host_key"},
            d + "/keygen");
    std::ofstream(d + "/authorized_keys") << pubkey;
    std::ofstream(d + "/sshd_config") << "ListenAddress " << allowed_ << ":22\n"
                                      << "HostKey " << d << "/host_key\n"
                                      << "AuthorizedKeysFile " << d << "/authorized_keys\n"
                                      << "PidFile " << d << "/sshd.pid\n"
                                      << "PermitRootLogin prohibit-password\n"
                                      << "PasswordAuthentication no\n"
                                      << "KbdInteractiveAuthentication no\n"
                                      << "UsePAM no\nStrictModes no\n";
    const std::string repo = d + "/repo.git", work = d + "/work";
    mustRun({"/usr/bin/git", "init", "-q", "--bare", "--initial-branch=main", repo},
            d + "/git-init");
    mustRun({"/usr/bin/git", "init", "-q", work}, d + "/git-init-work");
    std::ofstream(work + "/README") << "cloned through kitgate\n";
    mustRun({"/usr/bin/git", "-C", work, "add", "README"}, d + "/git-add");
    mustRun({"/usr/bin/git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit",
             "-q", "-m", "one"},
            d + "/git-commit");
    mustRun({"/usr/bin/git", "-C", work, "push", "-q", repo, "HEAD:refs/heads/main"},
            d + "/git-push");
    repo_ = repo;
    auto sshd = Subprocess::spawn({"/usr/sbin/sshd", "-D", "-e", "-f", d + "/sshd_config"},
                                  d + "/sshd-out");
    ASSERT_TRUE(sshd.isOk()) << sshd.status().message();
    sshd_ = std::make_unique<Subprocess>(std::move(*sshd));
    ASSERT_TRUE(waitUntil(
        [&] {
          UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
          sockaddr_in sa{};
          sa.sin_family = AF_INET;
          sa.sin_port = htons(22);
          ::inet_pton(AF_INET, allowed_.c_str(), &sa.sin_addr);
          return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        },
        20s))
        << "sshd did not come up: " << sshd_->stderrText();
  }

  // The host's agent, as the desktop user (uid 1000) it would belong to,
  // holding a key made here; the key file is deleted once the agent has it.
  // Returns the public key.
  std::string startAgent() {
    const std::string d = tmp_->path() + "/agent";
    fs::create_directories(d);
    EXPECT_EQ(::chown(d.c_str(), 1000, 1000), 0);
    agent_sock_ = d + "/agent.sock";
    auto agent =
        Subprocess::spawn({"/usr/bin/setpriv", "--reuid=1000", "--regid=1000", "--clear-groups",
                           "/usr/bin/ssh-agent", "-D", "-a", agent_sock_},
                          tmp_->path() + "/agent-out");
    EXPECT_TRUE(agent.isOk()) << agent.status().message();
    if (!agent.isOk()) return "";
    agent_ = std::make_unique<Subprocess>(std::move(*agent));
    EXPECT_TRUE(waitUntil([&] { return fs::is_socket(agent_sock_); }, 20s));
    const std::string key = tmp_->path() + "/id_ed25519";
    mustRun({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key},
            tmp_->path() + "/keygen");
    const std::string pub = readFile(key + ".pub");
    mustRun({"/usr/bin/env", "SSH_AUTH_SOCK=" + agent_sock_, "/usr/bin/ssh-add", "-q", key},
            tmp_->path() + "/ssh-add");
    fs::remove(key);
    fs::remove(key + ".pub");
    return pub;
  }

  void writeConfig(const std::string& ca_file, uint16_t host_port) {
    std::ofstream(state_ + "/proxy.yaml") << "listen:\n  - 127.0.0.1:0\n"
                                          << "metrics_listen: \"\"\n"
                                          << "admin_listen: unix:" << state_ << "/admin.sock\n"
                                          << "state_dir: " << state_ << "\n"
                                          << "policy_log:\n  path: " << state_ << "/policy.log\n"
                                          << "dns:\n  hosts:\n    github.com: " << allowed_
                                          << "\n    origin.test: " << allowed_ << "\n"
                                          << "tls:\n  upstream_ca_file: " << ca_file << "\n";
    fs::permissions(state_ + "/proxy.yaml", fs::perms::owner_read | fs::perms::owner_write);
    // The documentation range is not public: the stand-in needs its CIDR rule.
    std::ofstream(state_ + "/policy.yaml") << "allow:\n  - \"" << allowed_ << "/32\"\n";
    fs::permissions(state_ + "/policy.yaml", fs::perms::owner_read | fs::perms::owner_write);
    const std::string kit = tmp_->path() + "/kit";
    fs::create_directories(kit);
    std::ofstream(kit + "/spec.yaml") << "schemaVersion: \"1\"\nkind: agent\nname: tp\n"
                                      << "agent:\n  image: \"" << kImage << "\"\n"
                                      << "  entrypoint:\n    run: [sleep, infinity]\n"
                                      << "network:\n  allowedDomains:\n"
                                      << "    - \"github.com:22\"\n    - \"origin.test\"\n"
                                      << "    - \"host.docker.internal:" << host_port << "\"\n"
                                      << "  deniedDomains:\n    - \"blocked.test\"\n";
    kit_ = kit;
  }

  std::string policyLog() { return readFile(state_ + "/policy.log"); }

  const std::string kitgate_ = kBuildDir + "/orchestrator/kitgate";
  const std::string proxy_bin_ = kBuildDir + "/proxy/kitgate-proxy";
  std::unique_ptr<TempDir> tmp_;
  std::string state_, workspace_, name_, kit_, allowed_, blocked_, repo_, agent_sock_;
  std::vector<std::string> addresses_;
  std::unique_ptr<Subprocess> sshd_, agent_;
  int calls_ = 0;
};

TEST_F(TransparentE2e, EveryOtherTcpConnectionIsDecidedByPolicyAndNothingElseLeaves) {
  auto ca = makeTestCa({"origin.test"});
  ASSERT_TRUE(ca.isOk()) << ca.status().message();
  auto pem = ca->certPem();
  ASSERT_TRUE(pem.isOk());
  const std::string ca_file = workspace_ + "/origin-ca.pem";  // the sandbox reads it too
  ASSERT_TRUE(writeFileAtomic(ca_file, *pem).isOk());
  auto origin = HttpsOrigin::start({&*ca, {"origin.test"}, allowed_});
  ASSERT_TRUE(origin.isOk()) << origin.status().message();
  // A host service: on the host's loopback only, like a local model runner.
  auto host_service = OriginServer::start();
  ASSERT_TRUE(host_service.isOk()) << host_service.status().message();
  const std::string host_port = std::to_string((*host_service)->port());
  writeConfig(ca_file, (*host_service)->port());
  const std::string pub = startAgent();
  ASSERT_FALSE(pub.empty());
  startSshd(pub);

  // A host UDP listener on the allowed address: nothing may reach it.
  UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in ua{};
  ua.sin_family = AF_INET;
  ::inet_pton(AF_INET, allowed_.c_str(), &ua.sin_addr);
  ASSERT_EQ(::bind(udp.get(), reinterpret_cast<sockaddr*>(&ua), sizeof ua), 0);
  socklen_t ulen = sizeof ua;
  ::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&ua), &ulen);
  const std::string udp_port = std::to_string(ntohs(ua.sin_port));

  ::setenv("SSH_AUTH_SOCK", agent_sock_.c_str(), 1);
  auto run =
      kitgate({"run", "--kit", kit_, "--name", name_, "--workspace", workspace_, "-d", "tp"});
  ::unsetenv("SSH_AUTH_SOCK");
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, Not(HasSubstr("no SSH agent forwarded")));

  // The image has the clients this test drives.
  auto tools = inSandbox("command -v nc.openbsd git ssh ssh-add curl getent");
  ASSERT_EQ(tools.status.code, 0) << tools.out << tools.err;

  // Names: kitgate answers (through Docker's embedded DNS, pinned to the gateway).
  EXPECT_EQ(trim(inSandbox("getent hosts github.com | cut -d' ' -f1").out), allowed_);

  // git over SSH with the forwarded agent; no key file in the sandbox.
  auto clone = inSandbox(
      "ssh-add -l >/dev/null && GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=no -o "
      "UserKnownHostsFile=/dev/null -o BatchMode=yes' git clone -q root@github.com:" +
      repo_ + " /tmp/clone && cat /tmp/clone/README; ls /home/agent/.ssh 2>/dev/null; true");
  EXPECT_EQ(trim(clone.out), "cloned through kitgate") << clone.err;

  // curl ignoring the proxy: the allowed origin works, a name no rule allows does not resolve.
  const std::string port = std::to_string((*origin)->port());
  auto ok = inSandbox("curl -sS --noproxy '*' --max-time 20 --cacert " + ca_file +
                      " https://origin.test:" + port + "/small -o /dev/null -w '%{http_code}'");
  EXPECT_EQ(trim(ok.out), "200") << ok.err;
  auto blocked =
      inSandbox("curl -sS --noproxy '*' --max-time 20 -k https://blocked.test:" + port + "/small");
  EXPECT_NE(blocked.status.code, 0);
  EXPECT_THAT(blocked.out + blocked.err, HasSubstr("resolve")) << blocked.out << blocked.err;

  // A bare address no rule allows: refused (the listener there sees nothing), logged.
  OriginServer::Options on_blocked;
  on_blocked.bind_address = blocked_;
  auto unreachable = OriginServer::start(on_blocked);
  ASSERT_TRUE(unreachable.isOk()) << unreachable.status().message();
  inSandbox("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc.openbsd -w 5 " + blocked_ + " " +
            std::to_string((*unreachable)->port()));
  EXPECT_EQ((*unreachable)->connectionsAccepted(), 0u);

  // The proxy's own transparent and DNS ports, dialled directly: nothing answers.
  const std::string gw = trim(inSandbox("echo \"$HTTP_PROXY\" | sed 's/.*@//; s/:[0-9]*$//'").out);
  ASSERT_FALSE(gw.empty());
  std::string transparent_port;
  {
    std::istringstream ready(readFile(state_ + "/proxy.ready"));
    for (std::string line; std::getline(ready, line);) {
      if (line.rfind("transparent=", 0) == 0) transparent_port = line.substr(line.rfind(':') + 1);
    }
  }
  ASSERT_FALSE(transparent_port.empty()) << readFile(state_ + "/proxy.ready");
  auto direct = inSandbox("nc.openbsd -z -w 3 " + gw + " " + transparent_port + "; echo rc=$?");
  EXPECT_EQ(trim(direct.out), "rc=1") << direct.err;

  // A host service, while its rule exists: transparent and through the proxy.
  const std::string host_url = "http://host.docker.internal:" + host_port + "/small";
  auto host_direct = inSandbox("curl -sS --noproxy '*' --max-time 20 " + host_url +
                               " -o /dev/null -w '%{http_code}'");
  EXPECT_EQ(trim(host_direct.out), "200") << host_direct.err;
  auto host_proxied =
      inSandbox("curl -sS --max-time 20 " + host_url + " -o /dev/null -w '%{http_code}'");
  EXPECT_EQ(trim(host_proxied.out), "200") << host_proxied.err;
  EXPECT_EQ((*host_service)->requestsServed(), 2u);
  // ... and no longer once a rule denies it (global policy, reloaded).
  std::ofstream(state_ + "/policy.yaml") << "allow:\n  - \"" << allowed_ << "/32\"\n"
                                         << "deny:\n  - \"localhost:" << host_port << "\"\n";
  std::string proxy_pid;
  {
    std::istringstream ready(readFile(state_ + "/proxy.ready"));
    for (std::string line; std::getline(ready, line);) {
      if (line.rfind("pid=", 0) == 0) proxy_pid = line.substr(4);
    }
  }
  ASSERT_FALSE(proxy_pid.empty()) << readFile(state_ + "/proxy.ready");
  ASSERT_EQ(::kill(std::stoi(proxy_pid), SIGHUP), 0);
  EXPECT_TRUE(waitUntil(
      [&] {
        return trim(inSandbox("curl -sS --noproxy '*' --max-time 5 " + host_url +
                              " -o /dev/null -w '%{http_code}'")
                        .out) == "000";
      },
      20s));
  auto host_refused =
      inSandbox("curl -sS --max-time 20 " + host_url + " -o /dev/null -w '%{http_code}'");
  EXPECT_EQ(trim(host_refused.out), "403") << host_refused.err;
  EXPECT_EQ((*host_service)->requestsServed(), 2u);

  // UDP leaves nothing.
  auto sent = inSandbox("for i in 1 2 3; do echo x | nc.openbsd -u -w 1 " + allowed_ + " " +
                        udp_port + " || exit 1; done; echo sent");
  EXPECT_EQ(trim(sent.out), "sent") << sent.err;
  char buf[64];
  EXPECT_LT(::recv(udp.get(), buf, sizeof buf, 0), 0) << "a UDP datagram left the sandbox";

  // One line of type transparent refusing the bare address, one of type dns for the denied name.
  auto logged = [&](const std::vector<std::string>& words) {
    std::istringstream log(policyLog());
    for (std::string line; std::getline(log, line);) {
      bool all = true;
      for (const std::string& w : words) all = all && line.find(w) != std::string::npos;
      if (all) return true;
    }
    return false;
  };
  EXPECT_TRUE(waitUntil(
      [&] {
        return logged({"\"type\":\"transparent\"", blocked_, "\"decision\":\"blocked\""}) &&
               logged({"\"type\":\"dns\"", "blocked.test"});
      },
      10s))
      << policyLog();

  // rm leaves no host rule of the sandbox behind (v4 and v6).
  auto rm = kitgate({"rm", "-f", name_});
  ASSERT_EQ(rm.status.code, 0) << rm.err;
  for (const char* tool : {"/usr/sbin/iptables-save", "/usr/sbin/ip6tables-save"}) {
    auto saved = runProgram({tool}, tmp_->path() + "/save", 30s);
    ASSERT_TRUE(saved.isOk());
    EXPECT_THAT(saved->out, Not(HasSubstr("kitgate:" + name_ + "\""))) << tool;
  }
  EXPECT_THAT(readFile(state_ + "/proxy.yaml"), Not(HasSubstr(gw + ":"))) << "listen entries left";
}

}  // namespace
}  // namespace kitgate::testing
