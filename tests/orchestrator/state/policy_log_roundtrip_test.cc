// The proxy's writer (proxy/admin/policy_log.h) and the CLI's reader
// (orchestrator/state/policy_log.h) agree: lines written with open/close,
// rotated by spdlog, come back paired, with every field, in order.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "orchestrator/state/policy_log.h"
#include "proxy/admin/policy_log.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace kitgate {
namespace {

namespace fs = std::filesystem;

class PolicyLogRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = testing::TempDir::create("policy-rt");
    ASSERT_TRUE(d.isOk());
    tmp_ = std::make_unique<testing::TempDir>(std::move(d.value()));
    dir_ = tmp_->path();
  }
  admin::PolicyRecord record(std::string_view id, std::string_view host) {
    admin::PolicyRecord r;
    r.id = id;
    r.client = "10.0.0.5:51234";
    r.sandbox = "amp";
    r.type = "connect";
    r.method = "CONNECT";
    r.host = host;
    r.port = 443;
    r.address = "93.184.216.34";
    r.allowed = true;
    r.rule = "**.example.com";
    r.reason = "allowed";
    r.proxy = "forward-bypass";
    r.status = 200;
    return r;
  }
  std::unique_ptr<testing::TempDir> tmp_;
  std::string dir_;
};

TEST_F(PolicyLogRoundTrip, OpenThenCloseComeBackAsOneConnection) {
  const std::string path = dir_ + "/policy.log";
  {
    auto log = admin::PolicyLog::open(path, 1 << 20, 3);
    ASSERT_TRUE(log.isOk());
    auto r = record("c-1", "api.example.com");
    r.dns_ms = 1.5;
    r.connect_ms = 0.75;
    (*log)->opened(r);
    (*log)->opened(record("c-2", "still.example.com"));
    r.bytes_up = 512;
    r.bytes_down = 4096;
    r.duration_ms = 912.5;
    r.error = "upstream reset";
    (*log)->closed(r);
    (*log)->flush();
  }
  // The writer is asynchronous: wait for its lines.
  ASSERT_TRUE(testing::waitUntil([&] { return state::readPolicyLog(path, "").size() == 3; },
                                 std::chrono::seconds(20)));
  auto raw = state::readPolicyLog(path, "");
  EXPECT_EQ(raw[0].event, "open");
  EXPECT_EQ(raw[0].bytes_up, 0u);
  auto c = state::pairConnections(raw);
  ASSERT_EQ(c.size(), 2u);
  const auto& done = c[0];
  EXPECT_EQ(done.id, "c-1");
  EXPECT_EQ(done.event, "close");
  EXPECT_EQ(done.client, "10.0.0.5:51234");
  EXPECT_EQ(done.host, "api.example.com");
  EXPECT_EQ(done.decision, "allowed");
  EXPECT_EQ(done.dns_ms, 1.5);
  EXPECT_EQ(done.connect_ms, 0.75);
  EXPECT_EQ(done.tls_ms, -1);  // not intercepted: no TLS step
  EXPECT_EQ(done.error, "upstream reset");
  EXPECT_EQ(done.bytes_up, 512u);
  EXPECT_EQ(done.bytes_down, 4096u);
  EXPECT_EQ(done.duration_ms, 912.5);
  EXPECT_FALSE(done.opened.empty());
  EXPECT_TRUE(c[1].isOpen());
  EXPECT_EQ(c[1].host, "still.example.com");
}

TEST_F(PolicyLogRoundTrip, RotatedFilesAreReadOldestFirst) {
  const std::string path = dir_ + "/policy.log";
  constexpr int kLines = 400;  // ~170 KiB: several rotations of 64 KiB
  {
    auto log = admin::PolicyLog::open(path, 64 << 10, 10);
    ASSERT_TRUE(log.isOk());
    for (int i = 0; i < kLines; ++i) {
      const std::string id = "c-" + std::to_string(i);
      (*log)->closed(record(id, "api.example.com"));
    }
    (*log)->flush();
  }
  ASSERT_TRUE(testing::waitUntil([&] { return state::readPolicyLog(path, "").size() == kLines; },
                                 std::chrono::seconds(20)))
      << state::readPolicyLog(path, "").size();
  ASSERT_TRUE(fs::exists(dir_ + "/policy.1.log")) << "spdlog's rotation name changed?";
  EXPECT_FALSE(fs::exists(dir_ + "/policy.log.1"));
  auto entries = state::readPolicyLog(path, "");
  ASSERT_EQ(entries.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(entries[i].id, "c-" + std::to_string(i));
}

TEST_F(PolicyLogRoundTrip, HostileTextStaysOneParsableLine) {
  std::string out;
  auto r = record("c\"1", "evil.example\n{\"decision\":\"allowed\"}");
  r.error = "bad\\\x01";
  r.event = admin::PolicyEvent::kClose;
  admin::PolicyLog::format(r, &out);
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
  state::LogEntry e;
  ASSERT_TRUE(state::parseLogLine(out, &e));
  EXPECT_EQ(e.id, "c\"1");
  EXPECT_EQ(e.host, "evil.example\n{\"decision\":\"allowed\"}");
  EXPECT_EQ(e.error, "bad\\\x01");
}

TEST(PolicyLogWriter, LegacyRecordsKeepTheirFormat) {
  admin::PolicyRecord r;
  r.sandbox = "amp";
  r.host = "x.com";
  std::string out;
  admin::PolicyLog::format(r, &out);
  auto j = nlohmann::json::parse(out);
  EXPECT_FALSE(j.contains("event"));
  EXPECT_FALSE(j.contains("id"));
  EXPECT_FALSE(j.contains("dns_ms"));
  EXPECT_EQ(j["decision"], "blocked");
}

// Readers (kitgate policy log, jq, log shippers) see the same text the
// printf-based writer produced: numbers, millisecond timings with three
// decimals, -1 for a phase that did not happen, the time with milliseconds.
TEST(PolicyLogWriter, NumbersAndTimeKeepTheirExactForm) {
  admin::PolicyRecord r;
  r.event = admin::PolicyEvent::kClose;
  r.port = 65535;
  r.status = 407;
  r.dns_ms = -1;
  r.connect_ms = 0.8;
  r.tls_ms = 12.3456;
  r.bytes_up = 1ull << 40;
  r.bytes_down = 0;
  r.duration_ms = 1500.5;
  std::string out;
  admin::PolicyLog::format(r, &out);
  EXPECT_NE(out.find("\"port\":65535,"), std::string::npos) << out;
  EXPECT_NE(out.find("\"status\":407,\"dns_ms\":-1.000,\"connect_ms\":0.800,\"tls_ms\":12.346,"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(",\"bytes_up\":1099511627776,\"bytes_down\":0,\"duration_ms\":1500.500}\n"),
            std::string::npos)
      << out;
  EXPECT_TRUE(
      std::regex_search(out, std::regex(R"(^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",)")))
      << out;
  r.status = -1;  // never answered
  out.clear();
  admin::PolicyLog::format(r, &out);
  EXPECT_NE(out.find("\"status\":-1,"), std::string::npos) << out;
}

TEST(PolicyLogWriter, ConnectionIdsDifferPerWorkerAndSequence) {
  const std::string a = admin::PolicyLog::connectionId(0, 1),
                    b = admin::PolicyLog::connectionId(1, 1),
                    c = admin::PolicyLog::connectionId(0, 2);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a, admin::PolicyLog::connectionId(0, 1));  // the process tag is stable
  EXPECT_EQ(a.substr(0, 9), b.substr(0, 9));
}

}  // namespace
}  // namespace kitgate
