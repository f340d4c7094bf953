// Policy log parsing and aggregation on a crafted log.
#include "orchestrator/state/policy_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace kitgate::state {
namespace {

std::string line(const std::string& time, const std::string& sandbox, const std::string& host,
                 int port, const std::string& decision, const std::string& rule = "",
                 const std::string& proxy = "forward-bypass") {
  return R"({"time":")" + time + R"(","sandbox":")" + sandbox +
         R"(","type":"connect","method":"CONNECT","host":")" + host + R"(","port":)" +
         std::to_string(port) + R"(,"address":"","decision":")" + decision + R"(","rule":")" +
         rule + R"(","reason":")" +
         (decision == "blocked" ? "no matching allow rule - blocked by default deny policy" : "") +
         R"(","proxy":")" + proxy +
         R"(","status":200,"bytes_up":1,"bytes_down":2,"duration_ms":3})" + "\n";
}

TEST(PolicyLog, ParsesEveryField) {
  LogEntry e;
  ASSERT_TRUE(parseLogLine(
      line("2026-11-27T08:00:00Z", "amp", "ampcode.com", 443, "allowed", "ampcode.com"), &e));
  EXPECT_EQ(e.time, "2026-11-27T08:00:00Z");
  EXPECT_EQ(e.sandbox, "amp");
  EXPECT_EQ(e.type, "connect");
  EXPECT_EQ(e.host, "ampcode.com");
  EXPECT_EQ(e.port, 443u);
  EXPECT_EQ(e.decision, "allowed");
  EXPECT_EQ(e.rule, "ampcode.com");
  EXPECT_EQ(e.proxy, "forward-bypass");
  EXPECT_EQ(e.bytes_down, 2u);
}

TEST(PolicyLog, SkipsGarbageAndTruncatedLines) {
  std::vector<LogEntry> out;
  std::string text = line("t1", "a", "x.com", 443, "allowed") + "not json\n{\"time\":\"t2\"}\n" +
                     line("t3", "a", "y.com", 443, "blocked").substr(0, 40);
  parseLogText(text, "", &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].host, "x.com");
}

TEST(PolicyLog, AggregatesPerHostAndDecisionBlockedFirst) {
  std::vector<LogEntry> out;
  std::string text =
      line("2026-11-27T08:00:01Z", "amp", "ampcode.com", 443, "allowed", "ampcode.com") +
      line("2026-11-27T08:00:02Z", "amp", "evil.com", 443, "blocked") +
      line("2026-11-27T08:00:05Z", "amp", "ampcode.com", 443, "allowed", "ampcode.com") +
      line("2026-11-27T08:00:03Z", "amp", "evil.com", 443, "blocked") +
      line("2026-11-27T08:00:04Z", "amp", "evil.com", 80, "blocked") +
      line("2026-11-27T08:00:06Z", "other", "ampcode.com", 443, "allowed", "ampcode.com") +
      line("2026-11-27T08:00:07Z", "amp", "2001:db8::1", 443, "blocked");
  parseLogText(text, "amp", &out);
  ASSERT_EQ(out.size(), 6u);
  auto groups = aggregatePolicyLog(out);
  ASSERT_EQ(groups.size(), 4u);
  // Blocked first, latest first within a section.
  EXPECT_EQ(groups[0].host, "[2001:db8::1]:443");
  EXPECT_EQ(groups[1].host, "evil.com:80");
  EXPECT_EQ(groups[2].host, "evil.com:443");
  EXPECT_EQ(groups[2].count, 2u);
  EXPECT_EQ(groups[2].last_seen, "2026-11-27T08:00:03Z");
  EXPECT_TRUE(groups[2].blocked());
  EXPECT_EQ(groups[3].host, "ampcode.com:443");
  EXPECT_EQ(groups[3].count, 2u);
  EXPECT_EQ(groups[3].last_seen, "2026-11-27T08:00:05Z");
  EXPECT_EQ(groups[3].rule, "ampcode.com");
  EXPECT_FALSE(groups[3].blocked());
}

TEST(PolicyLog, ReadsRotatedFilesToo) {
  char tmpl[] = "/tmp/kg-policy-log-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/policy.log";
  // spdlog's names: policy.1.log is the newest rotation.
  std::ofstream(std::string(tmpl) + "/policy.2.log") << line("t1", "amp", "a.com", 443, "blocked");
  std::ofstream(std::string(tmpl) + "/policy.1.log") << line("t2", "amp", "a.com", 443, "blocked");
  std::ofstream(path + ".1") << line("wrong-name", "amp", "a.com", 443, "blocked");
  std::ofstream(path) << line("t3", "amp", "a.com", 443, "blocked")
                      << line("t4", "zz", "a.com", 443, "blocked");
  auto entries = readPolicyLog(path, "amp");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries.front().time, "t1");  // oldest rotation first
  EXPECT_EQ(entries.back().time, "t3");
  auto groups = aggregatePolicyLog(entries);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].count, 3u);
  for (const char* f : {"/policy.2.log", "/policy.1.log", "/policy.log.1", "/policy.log"}) {
    std::remove((std::string(tmpl) + f).c_str());
  }
  ::rmdir(tmpl);
}

std::string event(const std::string& ev, const std::string& id, const std::string& time,
                  const std::string& host, const std::string& sandbox = "amp") {
  std::string l = line(time, sandbox, host, 443, "allowed", host);
  l.insert(l.find(",\"sandbox\""),
           ",\"event\":\"" + ev + "\",\"id\":\"" + id + "\",\"client\":\"10.0.0.5:1\"");
  return l;
}

TEST(PolicyLog, PairsOpenAndCloseByIdAndKeepsWhatIsStillOpen) {
  std::vector<LogEntry> raw;
  parseLogText(event("open", "a", "t1", "a.com") + event("open", "b", "t2", "b.com") +
                   line("t3", "amp", "c.com", 443, "blocked") + event("close", "a", "t4", "a.com") +
                   event("close", "zz", "t5", "lost-open.com") + event("open", "d", "t6", "d.com"),
               "", &raw);
  ASSERT_EQ(raw.size(), 6u);
  EXPECT_EQ(raw[0].client, "10.0.0.5:1");
  auto c = pairConnections(raw);
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0].host, "a.com");  // opened first: closed, with its open time
  EXPECT_EQ(c[0].event, "close");
  EXPECT_EQ(c[0].opened, "t1");
  EXPECT_EQ(c[0].time, "t4");
  EXPECT_TRUE(c[1].isOpen());     // b: no close yet
  EXPECT_EQ(c[2].host, "c.com");  // a one-line record
  EXPECT_FALSE(c[2].isOpen());
  EXPECT_EQ(c[3].host, "lost-open.com");  // its open line rotated away
  EXPECT_TRUE(c[4].isOpen());
}

TEST(PolicyLog, FilterBySandboxDecisionAndHostOrBelow) {
  LogEntry e;
  ASSERT_TRUE(parseLogLine(line("t", "amp", "api.github.com", 443, "allowed"), &e));
  EXPECT_TRUE(LogFilter{}.matches(e));
  EXPECT_TRUE((LogFilter{"amp", "allowed", "api.github.com"}.matches(e)));
  EXPECT_TRUE((LogFilter{"", "", "github.com"}.matches(e)));
  EXPECT_FALSE((LogFilter{"", "", "hub.com"}.matches(e)));  // a suffix, not a parent name
  EXPECT_FALSE((LogFilter{"", "", "x.api.github.com"}.matches(e)));
  EXPECT_FALSE((LogFilter{"other", "", ""}.matches(e)));
  EXPECT_FALSE((LogFilter{"", "blocked", ""}.matches(e)));
}

TEST(PolicyLog, RotationNamesFollowSpdlog) {
  char tmpl[] = "/tmp/kg-policy-names-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string d = tmpl;
  for (const char* f :
       {"/p.log", "/p.1.log", "/p.2.log", "/noext", "/noext.1", "/a.b/x", "/a.b/x.1"}) {
    if (std::string(f).rfind("/a.b", 0) == 0) ::mkdir((d + "/a.b").c_str(), 0700);
    std::ofstream(d + f) << "";
  }
  EXPECT_EQ(policyLogFiles(d + "/p.log"),
            (std::vector<std::string>{d + "/p.2.log", d + "/p.1.log", d + "/p.log"}));
  EXPECT_EQ(policyLogFiles(d + "/noext"), (std::vector<std::string>{d + "/noext.1", d + "/noext"}));
  // A dot in a directory name is not an extension.
  EXPECT_EQ(policyLogFiles(d + "/a.b/x"), (std::vector<std::string>{d + "/a.b/x.1", d + "/a.b/x"}));
  EXPECT_EQ(policyLogFiles(d + "/missing.log"), (std::vector<std::string>{d + "/missing.log"}));
  std::filesystem::remove_all(d);
}

TEST(PolicyLog, SummaryIsPerHostAndDecision) {
  std::vector<LogEntry> out;
  parseLogText(line("t1", "a", "x.com", 443, "allowed", "x.com") +
                   line("t2", "b", "x.com", 443, "allowed", "**.com") +
                   line("t3", "a", "x.com", 443, "blocked") +
                   line("t0", "a", "x.com", 80, "allowed"),
               "", &out);
  auto s = summarizePolicyLog(out);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].host, "x.com:443");
  EXPECT_TRUE(s[0].blocked());
  EXPECT_EQ(s[1].host, "x.com:443");
  EXPECT_EQ(s[1].count, 2u);
  EXPECT_EQ(s[1].last_seen, "t2");
  EXPECT_EQ(s[1].rule, "**.com");  // the latest entry's
  EXPECT_EQ(s[2].host, "x.com:80");
}

}  // namespace
}  // namespace kitgate::state
