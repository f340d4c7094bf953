// `kitgate policy allow | deny | ls | check | log` with the real binary on a
// temporary state directory; rules are read back by the proxy's registry.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "orchestrator/state/state.h"
#include "proxy/policy/host.h"
#include "proxy/sandbox/registry.h"
#include "tests/orchestrator/cli/state_cli_test_util.h"
#include "tests/support/wait.h"

namespace kitgate::cli::testing {
namespace {

class PolicyCli : public StateCliTest {
 protected:
  void SetUp() override {
    StateCliTest::SetUp();
    ASSERT_TRUE(state::ensureDirs(paths_).isOk());
  }
};

TEST_F(PolicyCli, GlobalAllowAndDenyAreWhatTheProxyEvaluates) {
  CliRun r = kitgate({"policy", "allow", "network", "ampcode.com:443, **.npmjs.org", "github.com"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(kitgate({"policy", "deny", "network", "-g", "bad.npmjs.org"}).exit_code, 0);
  auto reg = sandbox::loadRegistry(paths_.root);
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const sandbox::Sandbox* def = (*reg)->find(sandbox::kDefaultSandboxName);
  ASSERT_NE(def, nullptr);
  EXPECT_TRUE(def->policy().evaluate(*policy::normalizeHost("registry.npmjs.org"), 443).allowed());
  EXPECT_TRUE(def->policy().evaluate(*policy::normalizeHost("bad.npmjs.org"), 443).denied());

  struct Case {
    std::string target;
    int exit_code;
    std::string verdict;
    std::string rule;
  };
  for (const Case& c : std::vector<Case>{{"ampcode.com", 0, "allowed", "ampcode.com:443"},
                                         {"ampcode.com:80", 1, "blocked", ""},
                                         {"registry.npmjs.org", 0, "allowed", "**.npmjs.org"},
                                         {"bad.npmjs.org", 1, "blocked", "bad.npmjs.org"},
                                         {"example.org", 1, "blocked", ""},
                                         {"127.0.0.1:443", 1, "blocked", ""}}) {
    CliRun check = kitgate({"policy", "check", "network", c.target, "--json"});
    EXPECT_EQ(check.exit_code, c.exit_code) << c.target << check.err;
    auto j = nlohmann::json::parse(check.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << check.out;
    EXPECT_EQ(j["decision"], c.verdict) << c.target;
    EXPECT_EQ(j["rule"], c.rule) << c.target;
  }
  CliRun human = kitgate({"policy", "check", "network", "example.org"});
  EXPECT_NE(human.out.find("blocked: example.org:443"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("no matching allow rule - blocked by default deny policy"),
            std::string::npos);
}

TEST_F(PolicyCli, SandboxRulesGoToTheSandboxFile) {
  ASSERT_TRUE(state::writeSandbox(
                  paths_, state::SandboxRecord{"dev1", {"10.88.1.2"}, "", {"github.com:443"}, {}})
                  .isOk());
  CliRun r = kitgate({"policy", "allow", "network", "--sandbox", "dev1", "api.example.com:443"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rec = state::loadSandbox(paths_, "dev1");
  ASSERT_TRUE(rec.isOk());
  EXPECT_EQ(rec->allow, (std::vector<std::string>{"github.com:443", "api.example.com:443"}));
  EXPECT_EQ(rec->sources, std::vector<std::string>{"10.88.1.2"});
  EXPECT_EQ(
      kitgate({"policy", "check", "network", "--sandbox", "dev1", "api.example.com"}).exit_code, 0);
  EXPECT_EQ(kitgate({"policy", "check", "network", "api.example.com"}).exit_code,
            1);  // global rules only
  r = kitgate({"policy", "allow", "network", "--sandbox", "nope", "x.com"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no sandbox named nope"), std::string::npos) << r.err;
  r = kitgate({"policy", "check", "network", "--sandbox", "nope", "x.com"});
  EXPECT_EQ(r.exit_code, 1);

  r = kitgate({"policy", "ls", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["scope"], "sandbox:dev1");
  EXPECT_EQ(j[1]["rule"], "api.example.com:443");
  EXPECT_EQ(j[1]["source"], "sandboxes/dev1.yaml");
}

TEST_F(PolicyCli, RmRemovesRulesOfOneScope) {
  ASSERT_EQ(kitgate({"policy", "allow", "network", "a.example.com,b.example.com"}).exit_code, 0);
  ASSERT_EQ(kitgate({"policy", "deny", "network", "c.example.com"}).exit_code, 0);
  CliRun r = kitgate({"policy", "rm", "network", "--resource", "a.example.com,c.example.com"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("stdin is not a terminal; use --force"), std::string::npos) << r.err;
  r = kitgate({"policy", "rm", "network", "--resource", "a.example.com,c.example.com", "-f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto p = state::loadGlobalPolicy(paths_);
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->allow, std::vector<std::string>{"b.example.com"});
  EXPECT_TRUE(p->deny.empty());
  r = kitgate({"policy", "rm", "network", "--resource", "a.example.com", "-f"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no rule a.example.com in the global policy"), std::string::npos) << r.err;
  r = kitgate({"policy", "rm", "network", "-f"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("at least one selector is required"), std::string::npos) << r.err;
}

TEST_F(PolicyCli, InvalidRulesShowTheColumnAndNothingIsSaved) {
  CliRun r = kitgate({"policy", "allow", "network", "good.com,a.**.b", "*"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("a.**.b\n    ^ column 3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("  *\n"), std::string::npos) << r.err;
  auto p = state::loadGlobalPolicy(paths_);
  ASSERT_TRUE(p.isOk());
  EXPECT_TRUE(p->allow.empty());
  EXPECT_EQ(kitgate({"policy", "allow", "tcp", "x.com"}).exit_code, 2);
  EXPECT_EQ(kitgate({"policy", "allow", "network"}).exit_code, 2);
}

std::string logLine(const std::string& time, const std::string& sandbox, const std::string& host,
                    int port, bool blocked) {
  nlohmann::json j = {
      {"time", time},
      {"sandbox", sandbox},
      {"type", "connect"},
      {"method", "CONNECT"},
      {"host", host},
      {"port", port},
      {"address", ""},
      {"decision", blocked ? "blocked" : "allowed"},
      {"rule", blocked ? "" : host},
      {"reason", blocked ? "no matching allow rule - blocked by default deny policy" : ""},
      {"proxy", blocked ? "" : "forward"},
      {"status", blocked ? 403 : 200},
      {"bytes_up", 10},
      {"bytes_down", 20},
      {"duration_ms", 1.5}};
  return j.dump() + "\n";
}

// spdlog's name for the n-th rotation of `path`: policy.log -> policy.1.log.
std::string rotated(const std::string& path, int n) {
  return path.substr(0, path.rfind('.')) + "." + std::to_string(n) + ".log";
}

// A connection's open or close line (the proxy's canonical format).
std::string eventLine(const std::string& event, const std::string& id, const std::string& time,
                      const std::string& host, bool blocked = false) {
  nlohmann::json j = nlohmann::json::parse(logLine(time, "amp", host, 443, blocked));
  j["event"] = event;
  j["id"] = id;
  j["client"] = "10.0.0.5:40000";
  j["error"] = event == "close" && host == "reset.example" ? "upstream reset" : "";
  j["bytes_up"] = event == "open" ? 0 : 512;
  j["bytes_down"] = event == "open" ? 0 : 4096;
  return j.dump() + "\n";
}

TEST_F(PolicyCli, LogIsAggregatedBlockedFirst) {
  ASSERT_TRUE(state::writeFileAtomic(
                  rotated(paths_.policyLog(), 1),
                  logLine("2026-11-27T08:00:00.000Z", "amp", "evil.example", 443, true), 0600)
                  .isOk());
  ASSERT_TRUE(state::writeFileAtomic(
                  paths_.policyLog(),
                  logLine("2026-11-27T08:00:01.000Z", "amp", "ampcode.com", 443, false) +
                      logLine("2026-11-27T08:00:02.000Z", "amp", "evil.example", 443, true) +
                      logLine("2026-11-27T08:00:03.000Z", "amp", "ampcode.com", 443, false) +
                      logLine("2026-11-27T08:00:04.000Z", "other", "x.example", 443, true) +
                      "{truncated",
                  0600)
                  .isOk());
  CliRun r = kitgate({"policy", "log", "amp"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t blocked = r.out.find("Blocked requests:"), allowed = r.out.find("Allowed requests:");
  ASSERT_NE(blocked, std::string::npos) << r.out;
  ASSERT_NE(allowed, std::string::npos) << r.out;
  EXPECT_LT(blocked, allowed);
  for (const char* col :
       {"SANDBOX", "TYPE", "HOST", "PROXY", "RULE", "REASON", "LAST SEEN", "COUNT"}) {
    EXPECT_NE(r.out.find(col), std::string::npos) << col;
  }
  EXPECT_EQ(r.out.find("x.example"), std::string::npos);  // other sandbox filtered out

  r = kitgate({"policy", "log", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["host"], "x.example:443");
  EXPECT_EQ(j[1]["host"], "evil.example:443");
  EXPECT_EQ(j[1]["count"], 2);  // one line in the rotated file, one in the current
  EXPECT_EQ(j[1]["last_seen"], "2026-11-27T08:00:02.000Z");
  EXPECT_EQ(j[2]["host"], "ampcode.com:443");
  EXPECT_EQ(j[2]["count"], 2);
  EXPECT_EQ(j[2]["proxy"], "forward");

  r = kitgate({"policy", "log", "-q", "--limit", "2"});
  EXPECT_EQ(r.out, "x.example:443\nevil.example:443\n");
  EXPECT_EQ(kitgate({"policy", "log", "--limit", "zero"}).exit_code, 2);
}

TEST_F(PolicyCli, FollowPrintsNewDecisionsAsTheyAreLogged) {
  ASSERT_TRUE(state::writeFileAtomic(paths_.policyLog(),
                                     logLine("t0", "amp", "old.example", 443, true), 0600)
                  .isOk());
  auto follow = kitgate::testing::Subprocess::spawn({binary_, "policy", "log", "amp", "-f"},
                                                    dir_->path() + "/follow", false,
                                                    {"KITGATE_STATE_DIR=" + paths_.root});
  ASSERT_TRUE(follow.isOk()) << follow.status().message();
  ASSERT_TRUE(kitgate::testing::waitUntil(
      [&] { return follow->stderrText().find("Following") != std::string::npos; },
      std::chrono::seconds(20)));
  {
    std::ofstream log(paths_.policyLog(), std::ios::app);
    log << logLine("t1", "other", "skip.example", 443, true)
        << logLine("t2", "amp", "new.example", 8443, true);
  }
  EXPECT_TRUE(kitgate::testing::waitUntil(
      [&] { return follow->stdoutText().find("new.example:8443") != std::string::npos; },
      std::chrono::seconds(20)))
      << follow->stdoutText();
  follow->kill();
  EXPECT_EQ(follow->stdoutText().find("old.example"), std::string::npos);  // starts at the end
  EXPECT_EQ(follow->stdoutText().find("skip.example"), std::string::npos);
}

TEST_F(PolicyCli, LogFiltersByDecisionAndHostAndSummarisesPerHost) {
  ASSERT_TRUE(state::writeFileAtomic(
                  rotated(paths_.policyLog(), 1),
                  logLine("2026-11-27T08:00:00.000Z", "amp", "api.github.com", 443, false), 0600)
                  .isOk());
  ASSERT_TRUE(state::writeFileAtomic(
                  paths_.policyLog(),
                  logLine("2026-11-27T08:00:01.000Z", "amp", "github.com", 443, false) +
                      logLine("2026-11-27T08:00:02.000Z", "other", "evil.example", 443, true) +
                      logLine("2026-11-27T08:00:03.000Z", "amp", "evil.example", 443, true) +
                      logLine("2026-11-27T08:00:04.000Z", "amp", "notgithub.com", 443, true) +
                      // one connection: open + close count once
                      eventLine("open", "c1", "2026-11-27T08:00:05.000Z", "github.com") +
                      eventLine("close", "c1", "2026-11-27T08:00:06.000Z", "github.com"),
                  0600)
                  .isOk());
  CliRun r = kitgate({"policy", "log", "--summary", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u) << j.dump();
  EXPECT_EQ(j[0]["host"], "notgithub.com:443");
  EXPECT_EQ(j[1]["host"], "evil.example:443");
  EXPECT_EQ(j[1]["count"], 2);  // both sandboxes: the summary is per host
  EXPECT_EQ(j[1]["last_seen"], "2026-11-27T08:00:03.000Z");
  EXPECT_EQ(j[2]["host"], "github.com:443");
  EXPECT_EQ(j[2]["count"], 2);  // the one-line record and the paired connection
  EXPECT_EQ(j[2]["last_seen"], "2026-11-27T08:00:06.000Z");
  EXPECT_EQ(j[3]["host"], "api.github.com:443");  // from policy.1.log

  r = kitgate({"policy", "log", "--summary"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* col : {"HOST", "DECISION", "COUNT", "LAST SEEN"}) {
    EXPECT_NE(r.out.find(col), std::string::npos) << col;
  }

  r = kitgate({"policy", "log", "-q", "--decision", "blocked"});
  EXPECT_EQ(r.out, "notgithub.com:443\nevil.example:443\n");
  // --host keeps the host and names below it, not names that merely end alike.
  r = kitgate({"policy", "log", "-q", "--host", "github.com"});
  EXPECT_EQ(r.out, "github.com:443\napi.github.com:443\n");
  r = kitgate({"policy", "log", "-q", "other", "--decision", "allowed"});
  EXPECT_EQ(r.out, "");
  r = kitgate({"policy", "log", "--decision", "maybe"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--decision must be allowed or blocked"), std::string::npos) << r.err;
  EXPECT_EQ(kitgate({"policy", "log", "-f", "--summary"}).exit_code, 2);
}

// -f shows a tunnel while it is open: the ones open when it starts (an open
// line without its close), and each new open, then its close.
TEST_F(PolicyCli, FollowShowsConnectionsWhileOpen) {
  ASSERT_TRUE(state::writeFileAtomic(paths_.policyLog(),
                                     eventLine("open", "done", "t0", "closed.example") +
                                         eventLine("close", "done", "t1", "closed.example") +
                                         eventLine("open", "long", "t2", "still-open.example"),
                                     0600)
                  .isOk());
  auto follow = kitgate::testing::Subprocess::spawn({binary_, "policy", "log", "amp", "-f"},
                                                    dir_->path() + "/follow-open", false,
                                                    {"KITGATE_STATE_DIR=" + paths_.root});
  ASSERT_TRUE(follow.isOk()) << follow.status().message();
  ASSERT_TRUE(kitgate::testing::waitUntil(
      [&] { return follow->stderrText().find("1 connection(s) open") != std::string::npos; },
      std::chrono::seconds(20)))
      << follow->stderrText();
  ASSERT_TRUE(kitgate::testing::waitUntil(
      [&] { return follow->stdoutText().find("still-open.example:443") != std::string::npos; },
      std::chrono::seconds(20)));
  EXPECT_NE(follow->stdoutText().find("t2  open  amp  allowed"), std::string::npos)
      << follow->stdoutText();
  EXPECT_EQ(follow->stdoutText().find("closed.example"), std::string::npos);
  {
    std::ofstream log(paths_.policyLog(), std::ios::app);
    log << eventLine("open", "new", "t3", "reset.example");
  }
  ASSERT_TRUE(kitgate::testing::waitUntil(
      [&] {
        return follow->stdoutText().find("t3  open  amp  allowed  connect  reset.example:443") !=
               std::string::npos;
      },
      std::chrono::seconds(20)))
      << follow->stdoutText();
  {
    std::ofstream log(paths_.policyLog(), std::ios::app);
    log << eventLine("close", "new", "t4", "reset.example");
  }
  ASSERT_TRUE(kitgate::testing::waitUntil(
      [&] { return follow->stdoutText().find("error: upstream reset") != std::string::npos; },
      std::chrono::seconds(20)))
      << follow->stdoutText();
  follow->kill();
  const std::string out = follow->stdoutText();
  EXPECT_NE(out.find("t4  close  amp  allowed  connect  reset.example:443"), std::string::npos)
      << out;
  EXPECT_NE(out.find("from 10.0.0.5:40000  up 512 B, down 4096 B"), std::string::npos) << out;
}

TEST_F(PolicyCli, EmptyLogSaysSo) {
  CliRun r = kitgate({"policy", "log"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("No requests logged"), std::string::npos);
}

TEST_F(PolicyCli, HelpHasExamples) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"policy", "allow", "--help"},
                                             {"policy", "rm", "--help"},
                                             {"policy", "ls", "--help"},
                                             {"policy", "check", "--help"},
                                             {"policy", "log", "--help"},
                                             {"policy", "--help"}}) {
    CliRun r = kitgate(args);
    EXPECT_EQ(r.exit_code, 0) << args[1];
    EXPECT_NE(r.out.find("kitgate policy"), std::string::npos) << args[1];
  }
}

}  // namespace
}  // namespace kitgate::cli::testing
