// The sandbox DNS responder on a real event loop and a real UDP socket on
// loopback, with a scripted resolver: allowed names answered (addresses the
// address check refuses dropped) and remembered, denied names NXDOMAIN and
// logged, host.docker.internal the gateway, strangers refused.
#include "proxy/dns/responder.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/fake_clock.h"
#include "tests/support/scripted_resolver.h"
#include "tests/support/subprocess.h"

namespace kitgate::dns {
namespace {

using testing::ScriptedResolver;

policy::IpAddress ip(const std::string& text) { return *policy::IpAddress::parse(text); }

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAAAA = 28;
constexpr uint16_t kTypeMX = 15;

std::string query(const std::string& name, uint16_t type) {
  std::string q{'\x12', '\x34', '\x01', '\x00', '\x00', '\x01', 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<char>(dot - start));
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q.push_back('\0');
  q += std::string{static_cast<char>(type >> 8), static_cast<char>(type & 0xff), '\0', '\x01'};
  return q;
}

struct Reply {
  int rcode = -1;
  std::vector<std::string> addresses;  // A and AAAA answers, as text
};

// Parses what the tests need of a response (answers follow one question).
std::optional<Reply> parse(const std::string& r) {
  if (r.size() < 12) return std::nullopt;
  auto u16 = [&r](size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(r[at]) << 8) |
                                 static_cast<uint8_t>(r[at + 1]));
  };
  Reply out;
  out.rcode = u16(2) & 0xf;
  const uint16_t ancount = u16(6);
  size_t pos = 12;
  auto skipName = [&] {
    while (pos < r.size()) {
      const auto len = static_cast<uint8_t>(r[pos]);
      if (len == 0) {
        ++pos;
        return;
      }
      if ((len & 0xc0) == 0xc0) {
        pos += 2;
        return;
      }
      pos += 1 + len;
    }
  };
  skipName();
  pos += 4;
  for (uint16_t i = 0; i < ancount && pos < r.size(); ++i) {
    skipName();
    if (pos + 10 > r.size()) return std::nullopt;
    const uint16_t type = u16(pos);
    const uint16_t len = u16(pos + 8);
    pos += 10;
    if (pos + len > r.size()) return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    if (type == kTypeA && len == 4) inet_ntop(AF_INET, r.data() + pos, text, sizeof text);
    if (type == kTypeAAAA && len == 16) inet_ntop(AF_INET6, r.data() + pos, text, sizeof text);
    if (text[0] != '\0') out.addresses.push_back(text);
    pos += len;
  }
  return out;
}

class ResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::create("dns-responder");
    ASSERT_TRUE(dir.isOk());
    dir_ = std::make_unique<testing::TempDir>(std::move(*dir));
    std::filesystem::create_directories(dir_->path() + "/sandboxes");
    ASSERT_TRUE(testing::writeFileAtomic(
                    dir_->path() + "/sandboxes/sb.yaml",
                    "name: sb\nmatch: {sources: [\"127.0.0.2\"]}\n"
                    "allow: [\"github.com:22\", \"*.allowed.test\", \"10.0.0.0/8:5432\"]\n"
                    "deny: [\"bad.allowed.test\"]\n",
                    0600)
                    .isOk());
    auto reg = sandbox::loadRegistry(dir_->path());
    ASSERT_TRUE(reg.isOk()) << reg.status().message();
    registry_ = *reg;
    hosts_ = std::make_shared<tunnel::HostMap>();
    base_ = event_base_new();
    responder_ = std::make_unique<Responder>(
        base_, resolver_, memory_, clock_,
        [this] {
          Inputs in;
          in.registry = registry_;
          in.static_hosts = hosts_;
          return in;
        },
        [this](const admin::PolicyRecord& r) {
          logged_.push_back(std::string(r.type) + "|" + std::string(r.sandbox) + "|" +
                            std::string(r.host) + "|" + (r.allowed ? "allowed" : "blocked"));
        });
    std::vector<std::string> addrs{"127.0.0.1:0"};
    Status st = responder_->listen(addrs);
    ASSERT_TRUE(st.isOk()) << st.message();
    port_ = static_cast<uint16_t>(std::stoi(addrs[0].substr(addrs[0].rfind(':') + 1)));
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    responder_.reset();
    if (base_) event_base_free(base_);
  }

  // Sends one question from `source` and runs the loop until its answer.
  std::optional<Reply> ask(const std::string& name, uint16_t type,
                           const char* source = "127.0.0.2") {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    const std::string q = query(name, type);
    EXPECT_EQ(::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(q.size()));
    struct Wait {
      event_base* base;
      std::string got;
      bool timed_out = false;
    } w{base_, {}, false};
    event* rev = event_new(
        base_, fd, EV_READ,
        [](evutil_socket_t s, short, void* arg) {
          auto* wait = static_cast<Wait*>(arg);
          char buf[2048];
          ssize_t n = ::recv(s, buf, sizeof buf, 0);
          if (n > 0) wait->got.assign(buf, static_cast<size_t>(n));
          event_base_loopbreak(wait->base);
        },
        &w);
    event* tev = evtimer_new(
        base_,
        [](evutil_socket_t, short, void* arg) {
          auto* wait = static_cast<Wait*>(arg);
          wait->timed_out = true;
          event_base_loopbreak(wait->base);
        },
        &w);
    timeval limit{10, 0};
    event_add(rev, nullptr);
    event_add(tev, &limit);
    event_base_dispatch(base_);
    event_free(rev);
    event_free(tev);
    ::close(fd);
    EXPECT_FALSE(w.timed_out) << "no answer to " << name;
    return parse(w.got);
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::shared_ptr<const sandbox::Registry> registry_;
  std::shared_ptr<tunnel::HostMap> hosts_;
  event_base* base_ = nullptr;
  ScriptedResolver resolver_;
  testing::FakeClock clock_;
  NameMemory memory_{std::chrono::seconds(600), 64};
  std::unique_ptr<Responder> responder_;
  std::vector<std::string> logged_;
  uint16_t port_ = 0;
};

TEST_F(ResponderTest, AnAllowedNameIsAnsweredAndRemembered) {
  resolver_.answers["github.com"] = {{ip("140.82.121.4"), ip("2606:50c0:8000::154")}, {}};
  auto a = ask("github.com", kTypeA);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->rcode, 0);
  EXPECT_EQ(a->addresses, std::vector<std::string>{"140.82.121.4"});
  auto aaaa = ask("GitHub.com.", kTypeAAAA);
  ASSERT_TRUE(aaaa.has_value());
  EXPECT_EQ(aaaa->addresses, std::vector<std::string>{"2606:50c0:8000::154"});
  EXPECT_EQ(memory_.lookup("sb", ip("140.82.121.4"), clock_.now()), "github.com");
  EXPECT_EQ(memory_.lookup("sb", ip("2606:50c0:8000::154"), clock_.now()), "github.com");
  EXPECT_TRUE(logged_.empty()) << "an answer is not a decision: connections are logged";
}

TEST_F(ResponderTest, StaticNamesAreAnsweredWithoutTheResolver) {
  (*hosts_)["www.allowed.test"] = {ip("93.184.216.34")};
  auto a = ask("www.allowed.test", kTypeA);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->addresses, std::vector<std::string>{"93.184.216.34"});
  EXPECT_TRUE(resolver_.asked.empty());
}

TEST_F(ResponderTest, AddressesTheAddressCheckRefusesAreNotAnswered) {
  resolver_.answers["in.allowed.test"] = {{ip("192.168.1.5"), ip("93.184.216.34")}, {}};
  resolver_.answers["db.allowed.test"] = {{ip("10.1.2.3")}, {}};  // allowed by 10.0.0.0/8:5432
  auto a = ask("in.allowed.test", kTypeA);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->addresses, std::vector<std::string>{"93.184.216.34"});
  EXPECT_FALSE(memory_.lookup("sb", ip("192.168.1.5"), clock_.now()));
  auto db = ask("db.allowed.test", kTypeA);
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(db->addresses, std::vector<std::string>{"10.1.2.3"});
}

TEST_F(ResponderTest, ADeniedNameIsNxdomainAndLogged) {
  // No address rule in this policy: a name no name rule allows is denied.
  ASSERT_TRUE(
      testing::writeFileAtomic(dir_->path() + "/sandboxes/sb.yaml",
                               "name: sb\nmatch: {sources: [\"127.0.0.2\"]}\n"
                               "allow: [\"*.allowed.test\"]\ndeny: [\"bad.allowed.test\"]\n",
                               0600)
          .isOk());
  auto reg = sandbox::loadRegistry(dir_->path());
  ASSERT_TRUE(reg.isOk());
  registry_ = *reg;  // the next question reads it
  for (const std::string name : {"bad.allowed.test", "example.com", "a.b.allowed.test"}) {
    SCOPED_TRACE(name);
    auto a = ask(name, kTypeA);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->rcode, 3);
    EXPECT_TRUE(a->addresses.empty());
    ASSERT_FALSE(logged_.empty());
    EXPECT_EQ(logged_.back(), "dns|sb|" + name + "|blocked");
  }
  EXPECT_TRUE(resolver_.asked.empty()) << "a denied name is never looked up";
}

TEST_F(ResponderTest, WithAddressRulesAnUnnamedHostGetsOnlyTheAddressesTheyAllow) {
  resolver_.answers["example.com"] = {{ip("93.184.216.34"), ip("10.9.9.9")}, {}};
  auto a = ask("example.com", kTypeA);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->rcode, 0);
  EXPECT_EQ(a->addresses, std::vector<std::string>{"10.9.9.9"});
}

TEST_F(ResponderTest, HostDockerInternalIsTheGatewayItWasAskedOn) {
  for (const std::string name : {"host.docker.internal", "gateway.docker.internal"}) {
    auto a = ask(name, kTypeA);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->rcode, 0);
    EXPECT_EQ(a->addresses, std::vector<std::string>{"127.0.0.1"});
  }
}

TEST_F(ResponderTest, OtherRecordTypesOfAnAllowedNameAreEmpty) {
  resolver_.answers["github.com"] = {{ip("140.82.121.4")}, {}};
  auto mx = ask("github.com", kTypeMX);
  ASSERT_TRUE(mx.has_value());
  EXPECT_EQ(mx->rcode, 0);
  EXPECT_TRUE(mx->addresses.empty());
}

TEST_F(ResponderTest, AClientNoSandboxHasIsRefused) {
  resolver_.answers["github.com"] = {{ip("140.82.121.4")}, {}};
  auto a = ask("github.com", kTypeA, "127.0.0.3");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->rcode, 5);
  EXPECT_TRUE(a->addresses.empty());
  EXPECT_FALSE(memory_.lookup("sb", ip("140.82.121.4"), clock_.now()));
}

TEST_F(ResponderTest, ListenReplacesTheServedAddresses) {
  std::vector<std::string> none;
  ASSERT_TRUE(responder_->listen(none).isOk());
  EXPECT_TRUE(responder_->addresses().empty());
  std::vector<std::string> bad{"not-an-address"};
  EXPECT_FALSE(responder_->listen(bad).isOk());
}

}  // namespace
}  // namespace kitgate::dns
