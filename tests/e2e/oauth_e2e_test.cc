// Proxy-managed OAuth end to end (issue 13): `kitgate run` of a kit with an
// OAuth credential on a real dockerd, and the agent's login from inside the
// sandbox, as the corpus's openclaw--v2-oauth declares it:
//
//   credentials[].oauth: token endpoint platform.claude.com/v1/oauth/token,
//   resource host api.anthropic.com, sentinels sk-ant-o{a,r}t01-proxy-managed,
//   credentialFile ~/.claude/.credentials.json (structure)
//
// A stand-in provider (tests/support/oauth_origin.h: HTTPS with a test CA,
// token endpoint + resource server, real tokens "REAL-…") listens on
// 127.0.0.1; the proxy maps both names to it (proxy.yaml dns.hosts) and
// trusts its CA. Everything the sandbox does runs inside it through
// `kitgate exec`. The point of the suite: no real token ever reaches the
// sandbox — every response the in-sandbox client got, the container's
// environment, its whole filesystem (`docker export`) and the memory of its
// processes (read from the host through /proc/<pid>/mem) are scanned for every
// token the provider issued, and so are the proxy's output, policy log and
// metrics. The passthrough test runs the same scans over a kit that lets the
// real tokens in (a v1 standalone `oauth:` block), and expects them to find
// the tokens: the scans can fail.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "proxy/common/unique_fd.h"
#include "tests/e2e/docker_setup.h"
#include "tests/support/https_origin.h"
#include "tests/support/oauth_origin.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace kitgate::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kTokenHost = "platform.claude.com";
constexpr const char* kApiHost = "api.anthropic.com";
constexpr const char* kAccessSentinel = "sk-ant-oat01-proxy-managed";
constexpr const char* kRefreshSentinel = "sk-ant-ort01-proxy-managed";
// In every token answer (tests/support/oauth_origin.h), real or scrubbed.
constexpr const char* kAnswerMark = "\"token_type\"";

std::string buildDir() {
  const char* v = std::getenv("KITGATE_BUILD_DIR");
  return v != nullptr && *v != '\0' ? v : KITGATE_E2E_BUILD_DIR;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool holdsAny(const std::string& text, const std::vector<std::string>& tokens) {
  for (const std::string& t : tokens) {
    if (text.find(t) != std::string::npos) return true;
  }
  return false;
}

// Streams `command`'s stdout, reporting which of `needles` occur in it (a
// needle split across two reads is found too) and how many bytes it wrote.
struct StreamScan {
  std::vector<bool> found;
  size_t bytes = 0;
  int exit_code = -1;
};
StreamScan scanCommandOutput(const std::string& command, const std::vector<std::string>& needles) {
  StreamScan r;
  r.found.assign(needles.size(), false);
  size_t keep = 0;
  for (const std::string& n : needles) keep = std::max(keep, n.size());
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return r;
  std::string window;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) {
    r.bytes += got;
    window.append(buf, got);
    for (size_t i = 0; i < needles.size(); ++i) {
      if (!r.found[i] && window.find(needles[i]) != std::string::npos) r.found[i] = true;
    }
    if (window.size() > keep) window.erase(0, window.size() - keep);
  }
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The readable memory of host process `pid` (/proc/PID/maps + /proc/PID/mem,
// as root), regions that cannot be read skipped.
std::string processMemory(int pid) {
  std::string memory;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  UniqueFd mem(::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (!maps || !mem.valid()) return memory;
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long start = 0, end = 0;
    char perms[5] = "";
    if (std::sscanf(line.c_str(), "%lx-%lx %4s", &start, &end, perms) != 3) continue;
    if (perms[0] != 'r' || line.find("[vvar") != std::string::npos) continue;
    std::string region(end - start, '\0');
    const ssize_t n = ::pread(mem.get(), region.data(), region.size(), static_cast<off_t>(start));
    if (n > 0) memory.append(region, 0, static_cast<size_t>(n));
  }
  return memory;
}

// Host PIDs of the processes in the PID namespace of host process `init`.
std::vector<int> pidsInNamespaceOf(int init) {
  std::vector<int> out;
  std::error_code ec;
  const fs::path ns = fs::read_symlink("/proc/" + std::to_string(init) + "/ns/pid", ec);
  if (ec) return out;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code link_ec;
    if (fs::read_symlink(e.path() / "ns/pid", link_ec) == ns && !link_ec)
      out.push_back(std::stoi(name));
  }
  return out;
}

// The PID of host process `pid` inside its own namespace (last NSpid field).
int namespacedPid(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int last = -1;
    for (int v; fields >> v;) last = v;
    return last;
  }
  return -1;
}

DockerSetup& suiteSetup() {
  static DockerSetup s = dockerSetup(KITGATE_E2E_SUPPORT_DIR, {}, "/tmp/kitgate-oauth-e2e");
  return s;
}

class OAuthE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!suiteSetup().skip.empty()) GTEST_SKIP() << suiteSetup().skip;
    ASSERT_TRUE(suiteSetup().error.empty()) << suiteSetup().error;
    ASSERT_TRUE(fs::exists(kitgate_)) << kitgate_ << " not built";
    ASSERT_TRUE(fs::exists(proxy_bin_)) << proxy_bin_ << " not built";
    auto made = makeE2eState("kitgate-oauth-e2e", proxy_bin_);
    ASSERT_TRUE(made.isOk()) << made.status().message();
    tmp_ = std::move(made->tmp);
    state_ = made->state;
    workspace_ = made->workspace;
    name_ = "oauth-e2e-" + std::to_string(::getpid());

    auto ca = makeTestCa({kTokenHost, kApiHost});
    ASSERT_TRUE(ca.isOk()) << ca.status().message();
    origin_ca_ = std::make_unique<tls::CertificateAuthority>(std::move(*ca));
    auto pem = origin_ca_->certPem();
    ASSERT_TRUE(pem.isOk());
    const std::string ca_file = tmp_->path() + "/origin-ca.pem";
    ASSERT_TRUE(writeFileAtomic(ca_file, *pem).isOk());
    auto origin = OAuthOrigin::start({origin_ca_.get(), {kTokenHost, kApiHost}});
    ASSERT_TRUE(origin.isOk()) << origin.status().message();
    origin_ = std::move(*origin);

    writeProxyYaml(state_, "dns:\n  hosts:\n    " + std::string(kTokenHost) + ": 127.0.0.1\n    " +
                               kApiHost + ": 127.0.0.1\n" + "tls:\n  upstream_ca_file: " + ca_file +
                               "\n");
    writePrivateFile(state_ + "/policy.yaml", "allow:\n  - \"127.0.0.1/32\"\n");
  }

  void TearDown() override {
    if (!tmp_) return;
    (void)kitgate({"rm", "-f", name_});
    (void)kitgate({"proxy", "stop"});
  }

  RunResult kitgate(const std::vector<std::string>& args) {
    return runKitgate(kitgate_, args, tmp_->path() + "/kitgate-" + std::to_string(++calls_));
  }
  RunResult inSandbox(const std::string& script) {
    return runKitgate(kitgate_, {"exec", name_, "--", "sh", "-c", script},
                      tmp_->path() + "/exec-" + std::to_string(++calls_), 90s);
  }
  // A request from the agent; what it received is kept for the final scan.
  RunResult agentCall(const std::string& script) {
    RunResult r = inSandbox(script);
    received_.push_back(r.out + r.err);
    return r;
  }

  // A v2 kit shaped like openclaw--v2-oauth, on the local test image.
  std::string writeV2Kit() {
    const std::string dir = tmp_->path() + "/oauth-kit";
    fs::create_directories(dir);
    std::ofstream(dir + "/spec.yaml")
        << "schemaVersion: \"2\"\nkind: sandbox\nname: openclaw\n"
        << "displayName: OpenClaw (OAuth e2e)\n"
        << "description: An OAuth login kit on the local test image.\n"
        << "sandbox:\n  image: kitgate-test-agent:latest\n"
        << "  entrypoint: [sleep, infinity]\n"
        << "permissions:\n  network:\n    allow:\n      - " << kApiHost << "\n      - "
        << kTokenHost << "\n"
        << "credentials:\n  - service: anthropic\n    oauth:\n"
        << "      tokenEndpoint:\n        host: " << kTokenHost
        << "\n        path: /v1/oauth/token\n"
        << "      resourceHosts:\n        - " << kApiHost << "\n"
        << "      sentinels:\n        accessToken: " << kAccessSentinel
        << "\n        refreshToken: " << kRefreshSentinel << "\n"
        << "      credentialFile:\n        path: ~/.claude/.credentials.json\n"
        << "        structure:\n          claudeAiOauth:\n"
        << "            accessToken: \"{{.AccessToken}}\"\n"
        << "            refreshToken: \"{{.RefreshToken}}\"\n"
        << "            expiresAt: \"{{.ExpiresAt}}\"\n"
        << "            scopes: \"{{.Scopes}}\"\n";
    return dir;
  }
  // The same credential as a v1 kit's standalone `oauth:` block (the
  // routing-only serviceDomains entry becomes its resource host), with
  // `passthroughResponse: true`.
  std::string writeV1PassthroughKit() {
    const std::string dir = tmp_->path() + "/oauth-v1-kit";
    fs::create_directories(dir);
    std::ofstream(dir + "/spec.yaml")
        << "schemaVersion: \"1\"\nkind: agent\nname: claude-login\n"
        << "displayName: Claude (OAuth e2e, v1)\n"
        << "description: A v1 standalone oauth block on the local test image.\n"
        << "agent:\n  image: kitgate-test-agent:latest\n  aiFilename: AGENTS.md\n"
        << "  entrypoint:\n    run: [sleep, infinity]\n"
        << "network:\n  serviceDomains:\n    " << kApiHost << ": anthropic\n"
        << "  allowedDomains:\n    - " << kApiHost << "\n    - " << kTokenHost << "\n"
        << "oauth:\n  service: anthropic\n"
        << "  tokenEndpoint:\n    host: " << kTokenHost << "\n    path: /v1/oauth/token\n"
        << "  sentinels:\n    accessToken: " << kAccessSentinel
        << "\n    refreshToken: " << kRefreshSentinel << "\n"
        << "  credentialFile:\n    path: \"~/.claude/.credentials.json\"\n"
        << "    template: '{\"accessToken\":\"{{.AccessToken}}\"}'\n"
        << "  passthroughResponse: true\n";
    return dir;
  }
  RunResult runKit(const std::string& kit_dir, const std::string& agent) {
    return kitgate(
        {"run", "--kit", kit_dir, "--name", name_, "--workspace", workspace_, "-d", agent});
  }

  std::string url(const char* host, const std::string& path) const {
    return "https://" + std::string(host) + ":" + std::to_string(origin_->port()) + path;
  }
  // The agent's authorization_code exchange, as one curl line (no single
  // quote: it goes inside one).
  std::string loginCurl() const {
    return "curl -sS --max-time 30 -D - -H \"Content-Type: application/x-www-form-urlencoded\" "
           "--data \"grant_type=authorization_code&code=e2e-code&code_verifier=e2e-verifier\" " +
           url(kTokenHost, "/v1/oauth/token");
  }
  std::string resourceCurl() const {
    return "curl -sS --max-time 30 -D - -w \"\\nstatus=%{http_code}\\n\" "
           "-H 'Authorization: Bearer " +
           std::string(kAccessSentinel) + "' " + url(kApiHost, "/v1/me");
  }

  // The login done by a process that stays: a bash that keeps the answer in
  // a variable (and in /tmp/login.out) until the sandbox goes. Returns what it
  // received.
  std::string loginFromLongLivedProcess() {
    auto start = inSandbox("nohup bash -c 'r=$(" + loginCurl() +
                           "); printf %s \"$r\" > /tmp/login.part; mv /tmp/login.part "
                           "/tmp/login.out; echo $$ > /tmp/login.pid; "
                           "while sleep 1; do :; done' >/dev/null 2>&1 &");
    EXPECT_EQ(start.status.code, 0) << start.err;
    RunResult got;
    EXPECT_TRUE(waitUntil(
        [&] {
          got = inSandbox("cat /tmp/login.pid >/dev/null 2>&1 && cat /tmp/login.out");
          return got.status.code == 0;
        },
        30s))
        << got.err;
    holder_pid_ = std::atoi(trim(inSandbox("cat /tmp/login.pid").out).c_str());
    received_.push_back(got.out);
    return got.out;
  }

  std::string containerId() {
    auto ps = runProgram(
        {"docker", "ps", "-q", "--no-trunc", "--filter", "label=kitgate.sandbox=" + name_},
        tmp_->path() + "/docker-ps", 30s);
    EXPECT_TRUE(ps.isOk());
    return ps.isOk() ? trim(ps->out) : "";
  }
  // The value of one sample in Prometheus text; -1 when absent.
  static int metric(const std::string& text, const std::string& sample) {
    const size_t at = text.find("\n" + sample + " ");
    return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + 2 + sample.size());
  }
  std::string metrics() {
    auto m = runProgram({"curl", "-sS", "--max-time", "10", "--unix-socket", state_ + "/admin.sock",
                         "http://kitgate-proxy/metrics"},
                        tmp_->path() + "/metrics", 20s);
    return m.isOk() ? m->out : "";
  }

  // Every place a token of `tokens` was found: in the sandbox (responses,
  // environment, filesystem, process memory) and on the proxy's side (its
  // output, the policy log, metrics). Each source is checked to have been
  // read (it holds what it must), so an empty answer means "looked, found
  // nothing". After loginFromLongLivedProcess().
  std::vector<std::string> whereTokensAre(const std::vector<std::string>& tokens) {
    std::vector<std::string> where;
    auto check = [&](const std::string& source, const std::string& text) {
      if (holdsAny(text, tokens)) where.push_back(source);
    };
    for (size_t i = 0; i < received_.size(); ++i) {
      check("response " + std::to_string(i), received_[i]);
    }

    const std::string id = containerId();
    EXPECT_FALSE(id.empty()) << "no container for " << name_;
    auto inspect = runProgram({"docker", "inspect", id}, tmp_->path() + "/inspect", 30s);
    EXPECT_TRUE(inspect.isOk());
    const std::string inspected = inspect.isOk() ? inspect->out : "";
    EXPECT_THAT(inspected, HasSubstr("HTTPS_PROXY="));
    check("docker inspect", inspected);
    const std::string environ = inSandbox("tr '\\0' '\\n' < /proc/1/environ").out;
    EXPECT_THAT(environ, HasSubstr("HTTPS_PROXY="));
    check("/proc/1/environ", environ);

    // The whole filesystem, as a tar stream; the token answer the login
    // process saved (/tmp/login.out) must be in it.
    std::vector<std::string> needles = tokens;
    needles.push_back(kAnswerMark);
    StreamScan tar = scanCommandOutput("docker export " + id, needles);
    EXPECT_EQ(tar.exit_code, 0);
    EXPECT_GT(tar.bytes, 10u << 20) << "docker export wrote too little";
    EXPECT_TRUE(tar.found.back()) << "the exported filesystem lacks /tmp/login.out";
    for (size_t i = 0; i + 1 < needles.size(); ++i) {
      if (tar.found[i]) where.push_back("container filesystem");
    }

    // The memory of every process in the container; the login holder's
    // holds the token answer it received.
    json state = json::parse(inspected, nullptr, false);
    const int init = state.is_array() && !state.empty() ? state[0]["State"].value("Pid", 0) : 0;
    EXPECT_GT(init, 0) << "no State.Pid for the container";
    bool holder_read = false;
    for (int pid : pidsInNamespaceOf(init)) {
      const std::string memory = processMemory(pid);
      if (namespacedPid(pid) == holder_pid_ && memory.find(kAnswerMark) != std::string::npos)
        holder_read = true;
      check("memory of " + std::to_string(pid), memory);
    }
    EXPECT_TRUE(holder_read) << "the memory of the login process (" << holder_pid_
                             << " in the sandbox) was not read";

    const std::string out = readFile(state_ + "/proxy.out");
    EXPECT_FALSE(out.empty());
    check("proxy.out", out);
    const std::string log = readFile(state_ + "/policy.log");
    EXPECT_THAT(log, HasSubstr(kTokenHost));
    check("policy.log", log);
    const std::string m = metrics();
    EXPECT_THAT(m, HasSubstr("kitgate_oauth_refresh_total"));
    check("metrics", m);
    return where;
  }

  const std::string kitgate_ = buildDir() + "/orchestrator/kitgate";
  const std::string proxy_bin_ = buildDir() + "/proxy/kitgate-proxy";
  std::unique_ptr<TempDir> tmp_;
  std::string state_, workspace_, name_;
  std::unique_ptr<tls::CertificateAuthority> origin_ca_;
  std::unique_ptr<OAuthOrigin> origin_;
  std::vector<std::string> received_;  // what the in-sandbox client got
  int holder_pid_ = -1;                // the login process, in the sandbox
  int calls_ = 0;
};

TEST_F(OAuthE2e, LoginRefreshAndRevocationFromInsideTheSandboxKeepRealTokensOnTheHost) {
  auto run = runKit(writeV2Kit(), "openclaw");
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, Not(HasSubstr("passthrough")));

  // At creation: the credential file, with the sentinels only.
  auto file = inSandbox("cat ~/.claude/.credentials.json");
  ASSERT_EQ(file.status.code, 0) << file.err;
  json cred = json::parse(file.out, nullptr, false);
  ASSERT_TRUE(cred.is_object()) << file.out;
  EXPECT_EQ(cred["claudeAiOauth"]["accessToken"], kAccessSentinel) << file.out;
  EXPECT_EQ(cred["claudeAiOauth"]["refreshToken"], kRefreshSentinel) << file.out;
  EXPECT_THAT(file.out, Not(HasSubstr("REAL-")));

  // Before any login the sentinel goes out as it is: the provider refuses it.
  auto anonymous = agentCall(resourceCurl());
  EXPECT_THAT(anonymous.out, HasSubstr("status=401"));
  EXPECT_EQ(origin_->authorized(), 0);

  // The login: the sandbox gets the sentinels, the host keeps the real tokens.
  const std::string login = loginFromLongLivedProcess();
  ASSERT_EQ(origin_->logins(), 1) << login;
  const std::string body = login.substr(login.rfind("\r\n\r\n") + 4);  // after CONNECT
  json answer = json::parse(body, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << login;
  EXPECT_EQ(answer["access_token"], kAccessSentinel);
  EXPECT_EQ(answer["refresh_token"], kRefreshSentinel);
  EXPECT_EQ(answer["expires_in"], 3600);
  const std::string tokens_file = state_ + "/oauth/" + name_ + ".tokens.json";
  json stored = json::parse(readFile(tokens_file), nullptr, false);
  ASSERT_TRUE(stored.is_object()) << "no tokens file";
  EXPECT_EQ(stored["anthropic"]["access_token"], origin_->currentAccess());
  EXPECT_EQ(stored["anthropic"]["refresh_token"], origin_->currentRefresh());
  struct stat st {};
  ASSERT_EQ(::stat(tokens_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A resource call: the origin sees the real token, its echo comes back as
  // the sentinel.
  auto me = agentCall(resourceCurl());
  EXPECT_THAT(me.out, HasSubstr("status=200"));
  EXPECT_THAT(me.out, HasSubstr(std::string("you_sent\":\"Bearer ") + kAccessSentinel));
  EXPECT_THAT(me.out, HasSubstr(std::string("Bearer ") + kAccessSentinel));
  EXPECT_EQ(origin_->authorized(), 1);

  // A second login whose token lives 2 s: the proxy refreshes it itself
  // (at half its lifetime). The provider takes 7 s to answer the refresh, so
  // 30 requests made once the token has expired reach the proxy while the
  // refresh is in flight: they wait for it, then all carry the new token.
  origin_->setExpiresIn(2);
  origin_->setRefreshDelay(7000ms);
  auto relogin = agentCall(loginCurl());
  const auto logged_in = std::chrono::steady_clock::now();
  origin_->setExpiresIn(3600);
  ASSERT_EQ(origin_->logins(), 2) << relogin.out << relogin.err;
  const std::string second_access = origin_->currentAccess();
  std::this_thread::sleep_until(logged_in + 2500ms);
  ASSERT_EQ(origin_->refreshAttempts(), 1) << "the proxy did not refresh before expiry";
  ASSERT_EQ(origin_->refreshes(), 0) << "the refresh answered early: nothing was held";
  constexpr int kConcurrent = 30;
  auto burst = agentCall("for i in $(seq " + std::to_string(kConcurrent) + "); do " +
                         resourceCurl() + " > /tmp/burst.$i 2>&1 & done; wait; cat /tmp/burst.*");
  EXPECT_EQ(count(burst.out, "status=200"), static_cast<size_t>(kConcurrent)) << burst.out;
  EXPECT_EQ(origin_->refreshAttempts(), 1);
  EXPECT_EQ(origin_->refreshes(), 1);
  EXPECT_EQ(origin_->authorized(), 1 + kConcurrent);
  EXPECT_NE(origin_->currentAccess(), second_access);
  stored = json::parse(readFile(tokens_file), nullptr, false);
  ASSERT_TRUE(stored.is_object());
  EXPECT_EQ(stored["anthropic"]["access_token"], origin_->currentAccess());
  EXPECT_EQ(stored["anthropic"]["refresh_token"], origin_->currentRefresh());
  // The requests that met the expired token waited for the refresh (most
  // or all of them: those that reached the proxy after it went straight on).
  const std::string m = metrics();
  EXPECT_EQ(metric(m, "kitgate_oauth_refresh_total{result=\"ok\"}"), 1);
  const int held = metric(m, "kitgate_oauth_waits_total{outcome=\"refresh_ended\"}");
  EXPECT_GE(held, 1) << "no request was held for the refresh";
  EXPECT_LE(held, kConcurrent);
  EXPECT_EQ(metric(m, "kitgate_oauth_waits_total{outcome=\"timed_out\"}"), 0);
  std::printf("OAuthE2e: %d of %d requests were held for the refresh\n", held, kConcurrent);

  // `secret ls`: the login with its state and expiry, never a value.
  auto ls = kitgate({"secret", "ls", "--sandbox", name_, "--json"});
  ASSERT_EQ(ls.status.code, 0) << ls.err;
  json listed = json::parse(ls.out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << ls.out;
  ASSERT_EQ(listed["oauth"].size(), 1u) << ls.out;
  EXPECT_EQ(listed["oauth"][0]["name"], "anthropic");
  EXPECT_EQ(listed["oauth"][0]["secret"], "(stored)");
  EXPECT_EQ(listed["oauth"][0]["state"], "ok");
  EXPECT_THAT(listed["oauth"][0].value("expires", ""), Not(IsEmpty()));
  auto table = kitgate({"secret", "ls"});
  EXPECT_THAT(table.out, HasSubstr("sandbox:" + name_ + "  oauth  anthropic"));
  EXPECT_FALSE(holdsAny(ls.out + table.out, origin_->issued()));

  // `secret rm`: the next resource call goes out without a real token.
  auto rm = kitgate({"secret", "rm", "anthropic", "--sandbox", name_, "-f"});
  ASSERT_EQ(rm.status.code, 0) << rm.err;
  EXPECT_FALSE(fs::exists(tokens_file) && readFile(tokens_file).find("REAL-") != std::string::npos);
  auto revoked = agentCall(resourceCurl());
  EXPECT_THAT(revoked.out, HasSubstr("status=401"));
  EXPECT_EQ(origin_->authorized(), 1 + kConcurrent);
  EXPECT_THAT(kitgate({"secret", "ls", "--sandbox", name_}).out, HasSubstr("not logged in"));

  // Nothing real ever reached the sandbox (nor the proxy's output).
  ASSERT_EQ(origin_->issued().size(), 6u);  // two logins and one rotation
  EXPECT_THAT(whereTokensAre(origin_->issued()), IsEmpty());
}

// Passthrough (v2 `passthrough: true`; here a v1 kit's standalone `oauth:`
// with `passthroughResponse: true`): `run` warns, no credential file is
// written (the agent writes its own), and the real tokens do reach the
// sandbox — which the scans above must then find (they can fail).
TEST_F(OAuthE2e, PassthroughV1KitLetsTheRealTokensInAndTheScansFindThem) {
  auto run = runKit(writeV1PassthroughKit(), "claude-login");
  ASSERT_EQ(run.status.code, 0) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("credential anthropic: oauth passthrough is on: the real OAuth "
                                 "tokens from " +
                                 std::string(kTokenHost) + " enter the sandbox"));
  EXPECT_EQ(inSandbox("test -e ~/.claude/.credentials.json").status.code, 1);
  const std::string login = loginFromLongLivedProcess();
  ASSERT_EQ(origin_->logins(), 1) << login;
  EXPECT_THAT(login, HasSubstr(origin_->currentAccess()));
  EXPECT_THAT(login, HasSubstr(origin_->currentRefresh()));
  const std::vector<std::string> where = whereTokensAre(origin_->issued());
  EXPECT_THAT(where, ::testing::Contains("response 0"));
  EXPECT_THAT(where, ::testing::Contains("container filesystem"));  // /tmp/login.out
  EXPECT_THAT(where, ::testing::Contains(::testing::StartsWith("memory of ")));
  // The proxy itself still never logs a token.
  for (const char* proxy_side : {"proxy.out", "policy.log", "metrics"}) {
    EXPECT_THAT(where, Not(::testing::Contains(proxy_side)));
  }
}

}  // namespace
}  // namespace kitgate::testing
