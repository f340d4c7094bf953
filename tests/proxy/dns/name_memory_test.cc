// NameMemory: per sandbox, TTL-bounded and size-bounded, latest answer wins.
#include "proxy/dns/name_memory.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/fake_clock.h"

namespace kitgate::dns {
namespace {

policy::IpAddress ip(const std::string& text) { return *policy::IpAddress::parse(text); }

TEST(NameMemory, RemembersPerSandbox) {
  testing::FakeClock clock;
  NameMemory m(std::chrono::seconds(600), 16);
  m.remember("a", ip("203.0.113.7"), "github.com", clock.now());
  EXPECT_EQ(m.lookup("a", ip("203.0.113.7"), clock.now()), "github.com");
  EXPECT_FALSE(m.lookup("b", ip("203.0.113.7"), clock.now())) << "another sandbox never asked";
  EXPECT_FALSE(m.lookup("a", ip("203.0.113.8"), clock.now()));
  m.remember("a", ip("2001:db8::7"), "github.com", clock.now());
  EXPECT_EQ(m.lookup("a", ip("2001:db8::7"), clock.now()), "github.com");
  m.forget("a");
  EXPECT_FALSE(m.lookup("a", ip("203.0.113.7"), clock.now()));
}

TEST(NameMemory, AnEntryExpiresAfterItsTtl) {
  testing::FakeClock clock;
  NameMemory m(std::chrono::seconds(600), 16);
  m.remember("a", ip("203.0.113.7"), "github.com", clock.now());
  clock.advance(std::chrono::seconds(599));
  EXPECT_TRUE(m.lookup("a", ip("203.0.113.7"), clock.now()));
  clock.advance(std::chrono::seconds(1));
  EXPECT_FALSE(m.lookup("a", ip("203.0.113.7"), clock.now()));
  // Answering again renews it.
  m.remember("a", ip("203.0.113.7"), "github.com", clock.now());
  EXPECT_TRUE(m.lookup("a", ip("203.0.113.7"), clock.now()));
}

TEST(NameMemory, TheLatestAnswerForAnAddressWins) {
  testing::FakeClock clock;
  NameMemory m(std::chrono::seconds(600), 16);
  m.remember("a", ip("203.0.113.7"), "one.example", clock.now());
  m.remember("a", ip("203.0.113.7"), "two.example", clock.now());
  EXPECT_EQ(m.lookup("a", ip("203.0.113.7"), clock.now()), "two.example");
  EXPECT_EQ(m.size("a"), 1u);
}

TEST(NameMemory, EachSandboxKeepsAtMostItsBoundOldestFirstOut) {
  testing::FakeClock clock;
  NameMemory m(std::chrono::seconds(600), 3);
  for (int i = 1; i <= 10; ++i) {
    m.remember("a", ip("203.0.113." + std::to_string(i)), "n" + std::to_string(i), clock.now());
    EXPECT_LE(m.size("a"), 3u);
  }
  EXPECT_FALSE(m.lookup("a", ip("203.0.113.7"), clock.now()));
  EXPECT_EQ(m.lookup("a", ip("203.0.113.8"), clock.now()), "n8");
  EXPECT_EQ(m.lookup("a", ip("203.0.113.10"), clock.now()), "n10");
  m.remember("b", ip("203.0.113.1"), "b1", clock.now());
  EXPECT_EQ(m.size("a"), 3u) << "another sandbox's answers do not evict";
}

}  // namespace
}  // namespace kitgate::dns
