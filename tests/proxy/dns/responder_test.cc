// The sandbox DNS responder on a real event loop and a real UDP socket on
// loopback, with a scripted resolver: allowed names answered (addresses the
// address check refuses dropped) and remembered, denied names NXDOMAIN and
// logged, host.docker.internal the gateway, strangers refused.
#include "proxy/dns/responder.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/unique_fd.h"
#include "tests/support/dns_wire.h"
#include "tests/support/fake_clock.h"
#include "tests/support/scripted_resolver.h"
#include "tests/support/subprocess.h"

namespace kitgate::dns {
namespace {

using testing::ScriptedResolver;

policy::IpAddress ip(const std::string& text) { return *policy::IpAddress::parse(text); }

constexpr uint16_t kTypeA = testing::kDnsA;
constexpr uint16_t kTypeAAAA = testing::kDnsAAAA;
constexpr uint16_t kTypeMX = testing::kDnsMX;

using Reply = testing::DnsReply;
std::string query(const std::string& name, uint16_t type, uint16_t id = 0x1234) {
  return testing::dnsQuery(name, type, id);
}
std::optional<Reply> parse(const std::string& r) { return testing::parseDnsReply(r); }

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
    TcpLimits limits;
    limits.idle = std::chrono::seconds(5);
    start(limits);
  }

  // (Re)starts the responder on a new port with these TCP limits.
  void start(const TcpLimits& limits) {
    responder_.reset();
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
        },
        Responder::Options{limits, &metrics_});
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

  // A TCP connection from `source` to the responder (non-blocking).
  UniqueFd connectTcp(const char* source = "127.0.0.2") {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    evutil_make_socket_nonblocking(fd.get());
    return fd;
  }

  struct TcpRead {
    std::vector<std::string> messages;  // answers, without their length prefix
    bool closed = false;                // the responder closed the connection
    bool timed_out = false;
  };

  // Runs the loop until `want` answers arrived on `fd`, it closed, or
  // `limit` passed.
  TcpRead readTcp(int fd, size_t want, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    struct Wait {
      event_base* base;
      size_t want;
      std::string buf;
      TcpRead out;
    } w{base_, want, {}, {}};
    event* rev = event_new(
        base_, fd, EV_READ | EV_PERSIST,
        [](evutil_socket_t s, short, void* arg) {
          auto* wait = static_cast<Wait*>(arg);
          char buf[4096];
          ssize_t n = ::recv(s, buf, sizeof buf, 0);
          if (n <= 0) {
            if (n < 0 && errno == EAGAIN) return;
            wait->out.closed = true;
            event_base_loopbreak(wait->base);
            return;
          }
          wait->buf.append(buf, static_cast<size_t>(n));
          while (wait->buf.size() >= 2) {
            const size_t len = (static_cast<size_t>(static_cast<uint8_t>(wait->buf[0])) << 8) |
                               static_cast<uint8_t>(wait->buf[1]);
            if (wait->buf.size() < 2 + len) break;
            wait->out.messages.push_back(wait->buf.substr(2, len));
            wait->buf.erase(0, 2 + len);
          }
          if (wait->out.messages.size() >= wait->want) event_base_loopbreak(wait->base);
        },
        &w);
    event* tev = evtimer_new(
        base_,
        [](evutil_socket_t, short, void* arg) {
          auto* wait = static_cast<Wait*>(arg);
          wait->out.timed_out = true;
          event_base_loopbreak(wait->base);
        },
        &w);
    timeval tv{static_cast<time_t>(limit.count() / 1000),
               static_cast<suseconds_t>((limit.count() % 1000) * 1000)};
    event_add(rev, nullptr);
    event_add(tev, &tv);
    event_base_dispatch(base_);
    event_free(rev);
    event_free(tev);
    return w.out;
  }

  static std::string framed(const std::string& message) {
    return std::string{static_cast<char>(message.size() >> 8),
                       static_cast<char>(message.size() & 0xff)} +
           message;
  }

  uint64_t counted(admin::DnsTransport t, admin::DnsResult r) const {
    return metrics_.queries[admin::idx(t)][admin::idx(r)].load();
  }

  std::unique_ptr<testing::TempDir> dir_;
  admin::DnsMetrics metrics_;
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

// DNS over TCP: what a client falls back to (and what the host rules
// redirect TCP 53 to). Several questions on one connection, each answered
// as over UDP.
TEST_F(ResponderTest, TcpAnswersSeveralQuestionsOnOneConnectionAsUdpDoes) {
  resolver_.answers["github.com"] = {{ip("140.82.121.4"), ip("2606:50c0:8000::154")}, {}};
  (*hosts_)["www.allowed.test"] = {ip("93.184.216.34")};
  const std::vector<std::pair<std::string, uint16_t>> questions = {
      {"github.com", kTypeA},       {"github.com", kTypeAAAA},        {"bad.allowed.test", kTypeA},
      {"www.allowed.test", kTypeA}, {"host.docker.internal", kTypeA}, {"github.com", kTypeMX}};
  std::vector<Reply> over_udp;
  for (const auto& [name, type] : questions) over_udp.push_back(ask(name, type).value());
  const size_t logged_udp = logged_.size();

  UniqueFd fd = connectTcp();
  std::string all;
  for (size_t i = 0; i < questions.size(); ++i) {
    all += framed(query(questions[i].first, questions[i].second, static_cast<uint16_t>(0x100 + i)));
  }
  ASSERT_EQ(::send(fd.get(), all.data(), all.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(all.size()));
  TcpRead got = readTcp(fd.get(), questions.size());
  ASSERT_FALSE(got.timed_out);
  ASSERT_EQ(got.messages.size(), questions.size());
  for (const std::string& m : got.messages) {
    auto r = parse(m);
    ASSERT_TRUE(r.has_value());
    ASSERT_GE(r->id, 0x100);
    const size_t i = r->id - 0x100;
    ASSERT_LT(i, questions.size());
    SCOPED_TRACE(questions[i].first);
    EXPECT_EQ(r->rcode, over_udp[i].rcode);
    EXPECT_EQ(r->addresses, over_udp[i].addresses);
  }
  EXPECT_EQ(over_udp[0].addresses, std::vector<std::string>{"140.82.121.4"});
  EXPECT_EQ(over_udp[2].rcode, 3);
  // Blocked names are logged over TCP too.
  EXPECT_EQ(logged_.size(), logged_udp * 2);
  using admin::DnsResult;
  using admin::DnsTransport;
  for (DnsTransport t : {DnsTransport::kUdp, DnsTransport::kTcp}) {
    EXPECT_EQ(counted(t, DnsResult::kAnswered), 5u);
    EXPECT_EQ(counted(t, DnsResult::kBlocked), 1u);
  }
}

TEST_F(ResponderTest, TcpRefusesStrangersAndAnswersMalformedQuestionsWithFormerr) {
  resolver_.answers["github.com"] = {{ip("140.82.121.4")}, {}};
  UniqueFd stranger = connectTcp("127.0.0.3");
  const std::string q = framed(query("github.com", kTypeA));
  ASSERT_EQ(::send(stranger.get(), q.data(), q.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(q.size()));
  TcpRead refused = readTcp(stranger.get(), 1);
  ASSERT_EQ(refused.messages.size(), 1u);
  EXPECT_EQ(parse(refused.messages[0])->rcode, 5);

  // A question cut short inside its name, then a good one: FORMERR, then
  // the answer — the connection goes on.
  UniqueFd fd = connectTcp();
  std::string cut = query("github.com", kTypeA, 0x0777).substr(0, 17);
  const std::string both = framed(cut) + framed(query("github.com", kTypeA, 0x0778));
  ASSERT_EQ(::send(fd.get(), both.data(), both.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(both.size()));
  TcpRead got = readTcp(fd.get(), 2);
  ASSERT_EQ(got.messages.size(), 2u);
  EXPECT_EQ(parse(got.messages[0])->id, 0x0777);
  EXPECT_EQ(parse(got.messages[0])->rcode, 1);
  EXPECT_EQ(parse(got.messages[1])->addresses, std::vector<std::string>{"140.82.121.4"});
  EXPECT_EQ(counted(admin::DnsTransport::kTcp, admin::DnsResult::kRefused), 1u);
  EXPECT_EQ(counted(admin::DnsTransport::kTcp, admin::DnsResult::kError), 1u);
}

TEST_F(ResponderTest, TcpIsBoundedByMessageSizeIdleTimeAndConnectionsPerSource) {
  TcpLimits limits;
  limits.idle = std::chrono::milliseconds(200);
  limits.max_message = 512;
  limits.max_per_source = 2;
  start(limits);
  resolver_.answers["github.com"] = {{ip("140.82.121.4")}, {}};
  // A length beyond max_message: closed, nothing answered.
  {
    UniqueFd fd = connectTcp();
    const std::string huge = std::string{'\x02', '\x01'} + std::string(513, 'x');
    ASSERT_EQ(::send(fd.get(), huge.data(), huge.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(huge.size()));
    TcpRead got = readTcp(fd.get(), 1);
    EXPECT_TRUE(got.closed);
    EXPECT_TRUE(got.messages.empty());
  }
  // Idle: closed after the timeout, without a question.
  {
    UniqueFd fd = connectTcp();
    const auto t0 = std::chrono::steady_clock::now();
    TcpRead got = readTcp(fd.get(), 1, std::chrono::seconds(5));
    EXPECT_TRUE(got.closed);
    EXPECT_FALSE(got.timed_out);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  }
  // Two connections from one source are served; a third is closed at once.
  UniqueFd a = connectTcp();
  UniqueFd b = connectTcp();
  UniqueFd c = connectTcp();
  const std::string q = framed(query("github.com", kTypeA));
  for (int fd : {a.get(), b.get(), c.get()}) ::send(fd, q.data(), q.size(), MSG_NOSIGNAL);
  TcpRead third = readTcp(c.get(), 1);
  EXPECT_TRUE(third.closed);
  EXPECT_TRUE(third.messages.empty());
  for (int fd : {a.get(), b.get()}) {
    TcpRead got = readTcp(fd, 1);
    ASSERT_EQ(got.messages.size(), 1u);
    EXPECT_EQ(parse(got.messages[0])->addresses, std::vector<std::string>{"140.82.121.4"});
  }
  // Another source still gets its connection.
  UniqueFd other = connectTcp("127.0.0.4");
  ::send(other.get(), q.data(), q.size(), MSG_NOSIGNAL);
  TcpRead got = readTcp(other.get(), 1);
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(parse(got.messages[0])->rcode, 5) << "no sandbox has 127.0.0.4: refused, but answered";
}

TEST_F(ResponderTest, TcpAnswersQuestionsWaitingForTheResolverInAnyOrder) {
  // The first question waits (the resolver has no answer yet); the second
  // is answered at once. Answers carry their ids.
  UniqueFd fd = connectTcp();
  (*hosts_)["www.allowed.test"] = {ip("93.184.216.34")};
  const std::string both =
      framed(query("slow.allowed.test", kTypeA, 1)) + framed(query("www.allowed.test", kTypeA, 2));
  ASSERT_EQ(::send(fd.get(), both.data(), both.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(both.size()));
  TcpRead got = readTcp(fd.get(), 1);
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(parse(got.messages[0])->id, 2);
  EXPECT_EQ(parse(got.messages[0])->addresses, std::vector<std::string>{"93.184.216.34"});
}

TEST_F(ResponderTest, LocalhostIsTheSandboxItselfAndNeverRemembered) {
  auto a = ask("localhost", kTypeA);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->rcode, 0);
  EXPECT_EQ(a->addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_FALSE(memory_.lookup("sb", ip("127.0.0.1"), clock_.now()));
  EXPECT_TRUE(resolver_.asked.empty());
}

}  // namespace
}  // namespace kitgate::dns
