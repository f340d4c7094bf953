// Policy log parsing and aggregation on a crafted log.
#include "orchestrator/state/policy_log.h"

#include <gtest/gtest.h>

#include <cstdio>
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
  std::ofstream(path + ".2") << line("t1", "amp", "a.com", 443, "blocked");
  std::ofstream(path + ".1") << line("t2", "amp", "a.com", 443, "blocked");
  std::ofstream(path) << line("t3", "amp", "a.com", 443, "blocked")
                      << line("t4", "zz", "a.com", 443, "blocked");
  auto entries = readPolicyLog(path, "amp");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries.front().time, "t1");  // oldest rotation first
  EXPECT_EQ(entries.back().time, "t3");
  auto groups = aggregatePolicyLog(entries);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].count, 3u);
  for (const char* f : {".2", ".1", ""}) std::remove((path + f).c_str());
  ::rmdir(tmpl);
}

}  // namespace
}  // namespace kitgate::state
