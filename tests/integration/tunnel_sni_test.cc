// The first flight of opaque CONNECT tunnels through the real proxy: a TLS
// client inside an allowed tunnel may name the CONNECT host or another name
// the policy allows — never a name the sandbox may not reach (domain
// fronting). Each class of first flight, end to end: real TLS handshakes
// with an HTTPS origin on loopback that serves every name (so only the proxy
// can refuse), a hello without a name, not-TLS, unreadable TLS, a
// server-first protocol, and the operator's switch.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <memory>
#include <string>

#include "tests/integration/harness.h"
#include "tests/support/https_origin.h"
#include "tests/support/tls_hello.h"
#include "tests/support/wait.h"

namespace kitgate::testing {
namespace {

constexpr const char* kHost = "site.test";         // the CONNECT host (allowed)
constexpr const char* kSibling = "cdn.site.test";  // another allowed name, same origin
constexpr const char* kFront = "evil.test";        // served by the origin, not allowed
// A fatal TLS alert record, access_denied: the proxy's refusal after its 200.
const std::string kAccessDenied("\x15\x03\x01\x00\x02\x02\x31", 7);

class TunnelSni : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::create("tunnel-sni");
    ASSERT_TRUE(dir.isOk());
    work_ = std::make_unique<TempDir>(std::move(dir.value()));
    auto ca = makeTestCa({kHost, kSibling, kFront});
    ASSERT_TRUE(ca.isOk()) << ca.status().message();
    ca_ = std::make_unique<tls::CertificateAuthority>(std::move(ca.value()));
    ASSERT_OK_AND_ASSIGN(std::string pem, ca_->certPem());
    tls::ClientContextOptions opts;
    opts.system_trust_file.clear();
    opts.extra_ca_file = work_->path() + "/origin-ca.pem";
    ASSERT_OK(writeFileAtomic(opts.extra_ca_file, pem));
    ASSERT_OK_AND_ASSIGN(auto ctx, tls::ClientContext::create(opts));
    client_ctx_ = std::make_unique<tls::ClientContext>(std::move(ctx));
    ASSERT_OK_AND_ASSIGN(origin_, HttpsOrigin::start({ca_.get(), {kHost, kSibling, kFront}}));
  }

  void startProxy(const std::string& extra_yaml = "") {
    ProxyOptions o;
    // Loopback origins need an address rule; a fronted name must still be
    // allowed by a name rule of its own.
    o.allow = {kHost, kSibling, "127.0.0.1/32"};
    o.dns_hosts = {{kHost, "127.0.0.1"}};
    o.extra_yaml = extra_yaml;
    auto p = ProxyProcess::start(o);
    ASSERT_TRUE(p.isOk()) << p.status().message();
    proxy_ = std::move(p.value());
  }

  std::string target() const { return std::string(kHost) + ":" + std::to_string(origin_->port()); }

  // CONNECT site.test, then a TLS handshake naming `sni` ("" = no
  // server_name) verified for `verify`, then GET /small.
  StatusOr<std::string> fetchThroughTunnel(const std::string& sni, const std::string& verify) {
    auto t = openTunnel(proxy_->port(), target());
    if (!t) return t.status();
    if (!t->established()) return Status::error("CONNECT answered " + t->response.head);
    auto tls = TlsConn::connect(UniqueFd(::dup(t->client.fd())), *client_ctx_, verify, sni);
    if (!tls) return tls.status();
    Status w = (*tls)->writeAll("GET /small HTTP/1.1\r\nHost: " + verify + "\r\n\r\n");
    if (!w.isOk()) return w;
    char buf[256];
    auto n = (*tls)->read(buf, sizeof buf);
    if (!n) return n.status();
    return std::string(buf, *n);
  }

  double sniCount(const std::string& result) {
    return proxy_->metric("kitgate_tunnel_sni_total{result=\"" + result + "\"}").value_or(-1);
  }

  // The close line of the tunnel to site.test whose ClientHello named `sni`.
  std::optional<nlohmann::json> closeLine(const std::string& sni) {
    return proxy_->waitForLog([sni](const nlohmann::json& j) {
      return j.value("event", "") == "close" && j.value("host", "") == kHost &&
             j.value("sni", "?") == sni;
    });
  }

  std::unique_ptr<TempDir> work_;
  std::unique_ptr<tls::CertificateAuthority> ca_;
  std::unique_ptr<tls::ClientContext> client_ctx_;
  std::unique_ptr<HttpsOrigin> origin_;
  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_F(TunnelSni, TheConnectHostAndOtherAllowedNamesGoThrough) {
  startProxy();
  for (const std::string name : {kHost, kSibling}) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(std::string head, fetchThroughTunnel(name, name));
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  }
  EXPECT_EQ(origin_->requestsServed(), 2u);
  EXPECT_EQ(sniCount("match"), 1);
  EXPECT_EQ(sniCount("other_allowed"), 1);
  EXPECT_EQ(sniCount("refused"), 0);
  auto line = closeLine(kHost);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "allowed");
  EXPECT_EQ((*line)["sni_check"], "match");
  line = closeLine(kSibling);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "allowed");
  EXPECT_EQ((*line)["sni_check"], "other-allowed");
}

TEST_F(TunnelSni, ANameThePolicyDoesNotAllowIsRefusedWithATlsAlert) {
  startProxy();
  auto fronted = fetchThroughTunnel(kFront, kFront);
  ASSERT_FALSE(fronted.isOk()) << "a tunnel to an allowed host fronted " << kFront;
  // The client's TLS stack names the alert ("TLSV1_ALERT_ACCESS_DENIED" /
  // "tlsv1 alert access denied"), not a certificate problem.
  std::string why = fronted.status().message();
  for (char& ch : why) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_NE(why.find("alert"), std::string::npos) << why;
  EXPECT_NE(why.find("access"), std::string::npos) << why;
  EXPECT_EQ(why.find("certificate"), std::string::npos) << why;
  EXPECT_EQ(origin_->requestsServed(), 0u);
  EXPECT_EQ(sniCount("refused"), 1);
  auto line = closeLine(kFront);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["decision"], "blocked");
  EXPECT_EQ((*line)["error"], "tunnel-refused");
  EXPECT_EQ((*line)["sni"], kFront);
  EXPECT_EQ((*line)["sni_check"], "refused");
  EXPECT_NE((*line)["reason"].get<std::string>().find(kFront), std::string::npos);
  EXPECT_EQ(
      proxy_->metric("kitgate_requests_total{type=\"connect\",decision=\"blocked\",mode=\"none\"}")
          .value_or(0),
      1);
}

// A TCP origin that counts the bytes it receives.
class CountingStream final : public Stream {
 public:
  CountingStream(UniqueFd fd, std::atomic<size_t>* received)
      : fd_(std::move(fd)), received_(received) {}
  long read(char* buf, size_t n) override {
    const long r = ::read(fd_.get(), buf, n);
    if (r > 0) *received_ += static_cast<size_t>(r);
    return r;
  }
  bool writeAll(std::string_view) override { return true; }
  void shutdownWrite() override { ::shutdown(fd_.get(), SHUT_WR); }

 private:
  UniqueFd fd_;
  std::atomic<size_t>* received_;
};

// The raw wire: 200, then the alert and the close; nothing of what the
// client sent reaches the origin.
TEST_F(TunnelSni, UnreadableTlsIsRefusedLikeAForeignName) {
  startProxy();
  std::atomic<size_t> received{0};
  OriginServer::Options counting{OriginServer::Mode::kEcho, "127.0.0.1", {}};
  counting.wrap = [&received](UniqueFd fd) -> std::unique_ptr<Stream> {
    return std::make_unique<CountingStream>(std::move(fd), &received);
  };
  ASSERT_OK_AND_ASSIGN(auto sink, OriginServer::start(counting));
  const std::string to_sink = std::string(kHost) + ":" + std::to_string(sink->port());
  std::string huge = clientHelloFor(kHost);
  huge[6] = '\x02';  // the handshake claims more than the proxy will ever read
  const std::string cases[] = {
      clientHelloFor(kFront), huge,
      std::string("\x16\x03\x01\x00\x00", 5),  // an empty handshake record
  };
  for (const std::string& flight : cases) {
    SCOPED_TRACE(flight.size());
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), to_sink));
    ASSERT_TRUE(t.established());
    ASSERT_OK(t.client.send(flight));
    ASSERT_OK_AND_ASSIGN(std::string answer, t.client.readUntilClose());
    EXPECT_EQ(answer, kAccessDenied);
  }
  // A hello cut short by the client's close is refused too.
  ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), to_sink));
  const std::string hello = clientHelloFor(kHost);
  ASSERT_OK(t.client.send(hello.substr(0, hello.size() / 2)));
  t.client.shutdownWrite();
  ASSERT_OK_AND_ASSIGN(std::string answer, t.client.readUntilClose());
  EXPECT_EQ(answer, kAccessDenied);
  EXPECT_EQ(sniCount("refused"), 4);
  // (The origin's accept thread may lag behind the proxy's connects.)
  EXPECT_TRUE(waitUntil([&] { return sink->connectionsAccepted() >= 4; }, 10s))
      << "the upstream was connected before the check";
  EXPECT_EQ(received.load(), 0u) << "no byte of a refused first flight reached the origin";
}

TEST_F(TunnelSni, AHelloWithoutANameGoesThroughAndIsNoted) {
  startProxy();
  // No server_name: the origin answers with its first name's certificate.
  ASSERT_OK_AND_ASSIGN(std::string head, fetchThroughTunnel("", kHost));
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(sniCount("absent"), 1);
  auto line = closeLine("");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["sni_check"], "absent");
}

TEST_F(TunnelSni, OtherProtocolsAndServerFirstProtocolsAreNotChecked) {
  startProxy();
  // Not TLS: relayed as it is (the echo origin sends it back).
  ASSERT_OK_AND_ASSIGN(auto echo,
                       OriginServer::start({OriginServer::Mode::kEcho, "127.0.0.1", {}}));
  ASSERT_OK_AND_ASSIGN(
      auto t, openTunnel(proxy_->port(), std::string(kHost) + ":" + std::to_string(echo->port())));
  ASSERT_TRUE(t.established());
  ASSERT_OK(t.client.send("PING plain protocol\r\n"));
  ASSERT_OK_AND_ASSIGN(std::string echoed, t.client.readExactly(21));
  EXPECT_EQ(echoed, "PING plain protocol\r\n");
  EXPECT_EQ(sniCount("not_tls"), 1);

  // The server speaks first (SSH): its banner reaches a client that has sent nothing.
  OriginServer::Options banner_opts{OriginServer::Mode::kEcho, "127.0.0.1", {}};
  banner_opts.banner = "SSH-2.0-kitgate-test\r\n";
  ASSERT_OK_AND_ASSIGN(auto ssh, OriginServer::start(banner_opts));
  ASSERT_OK_AND_ASSIGN(
      auto s, openTunnel(proxy_->port(), std::string(kHost) + ":" + std::to_string(ssh->port())));
  ASSERT_TRUE(s.established());
  ASSERT_OK_AND_ASSIGN(std::string greeting, s.client.readExactly(banner_opts.banner.size()));
  EXPECT_EQ(greeting, banner_opts.banner);
  ASSERT_OK(s.client.send("after the banner"));
  ASSERT_OK_AND_ASSIGN(std::string back, s.client.readExactly(16));
  EXPECT_EQ(back, "after the banner");
  EXPECT_EQ(sniCount("server_first"), 1);
}

TEST_F(TunnelSni, TheCheckCanBeTurnedOff) {
  startProxy("tls: {tunnel_sni_check: false}\n");
  ASSERT_OK_AND_ASSIGN(std::string head, fetchThroughTunnel(kFront, kFront));
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(sniCount("refused"), 0);
  EXPECT_EQ(sniCount("match"), 0) << "nothing was looked at";
}

}  // namespace
}  // namespace kitgate::testing
