#include "proxy/tls/tls_stream.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "tests/proxy/tls/tls_test_util.h"

namespace kitgate::tls {
namespace {

using testing::handshakeBoth;
using testing::socketPair;
using testing::transfer;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The interception set-up of tls_test_util.h for two intercepted routes.
class TlsStreamTest : public ::testing::Test {
 protected:
  TlsStreamTest()
      : world_({"api.example.com", "*.corp.test"}),
        minter_(world_.minter),
        leaves_(world_.leaves),
        server_ctx_(world_.server_ctx),
        client_ctx_(*world_.client_ctx) {
    reconnect();
  }

  // The interception pattern: the leaf is chosen for the CONNECT host before
  // the handshake, and the SNI hook insists that SNI names the same host.
  std::unique_ptr<TlsStream> acceptFor(const std::string& connect_host) {
    StatusOr<std::shared_ptr<const Leaf>> leaf = leaves_.get(connect_host);
    EXPECT_TRUE(leaf.isOk()) << leaf.status().message();
    auto stream = TlsStream::accept(
        server_fd_.get(), server_ctx_, leaf->get(),
        [connect_host](std::string_view sni, TlsStream&) {
          if (sni == connect_host) return Status::ok();
          return Status::error("SNI \"" + std::string(sni) + "\" does not match CONNECT host");
        });
    EXPECT_TRUE(stream.isOk()) << stream.status().message();
    return std::move(*stream);
  }

  std::unique_ptr<TlsStream> connectTo(const std::string& host, const ClientContext& ctx,
                                       ClientSessionCache* sessions = nullptr) {
    auto stream = TlsStream::connect(client_fd_.get(), ctx, host, sessions);
    EXPECT_TRUE(stream.isOk()) << stream.status().message();
    return std::move(*stream);
  }

  void reconnect() {
    auto [a, b] = socketPair();
    client_fd_ = std::move(a);
    server_fd_ = std::move(b);
  }

  testing::TlsWorld world_;
  std::shared_ptr<const LeafMinter>& minter_;
  LeafCache& leaves_;
  ServerContext& server_ctx_;
  ClientContext& client_ctx_;
  UniqueFd client_fd_;
  UniqueFd server_fd_;
};

TEST_F(TlsStreamTest, HandshakeWithMintedLeafReadsSniAndNegotiatesHttp11) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  auto r = handshakeBoth(*client, *server);
  ASSERT_TRUE(r.ok()) << r.client.error << " / " << r.server.error;
  EXPECT_EQ(server->sni(), "api.example.com");
  EXPECT_EQ(server->alpn(), "http/1.1");
  EXPECT_EQ(client->alpn(), "http/1.1");
  EXPECT_EQ(client->verifyResult(), X509_V_OK);
  EXPECT_EQ(transfer(*client, *server, "GET / HTTP/1.1\r\n\r\n"), "GET / HTTP/1.1\r\n\r\n");
  const std::string big(200'000, 'x');
  EXPECT_EQ(transfer(*server, *client, big), big);
}

// A client that pipelines its ClientHello behind CONNECT: the server has
// already read those bytes with the request head and hands them over.
TEST_F(TlsStreamTest, HandshakeConsumesBytesTheServerAlreadyRead) {
  auto client = connectTo("api.example.com", client_ctx_);
  ASSERT_EQ(client->handshake().status, IoStatus::kWantRead);  // ClientHello sent
  char hello[16384];
  const ssize_t n = ::recv(server_fd_.get(), hello, sizeof(hello), 0);
  ASSERT_GT(n, 0);
  auto leaf = leaves_.get("api.example.com");
  ASSERT_TRUE(leaf.isOk());
  auto server = TlsStream::accept(server_fd_.get(), server_ctx_, leaf->get(), {},
                                  std::string_view(hello, static_cast<size_t>(n)));
  ASSERT_TRUE(server.isOk());
  auto r = handshakeBoth(*client, **server);
  ASSERT_TRUE(r.ok()) << r.client.error << " / " << r.server.error;
  EXPECT_EQ((*server)->sni(), "api.example.com");
  EXPECT_EQ(transfer(*client, **server, "ping"), "ping");
}

TEST_F(TlsStreamTest, SniHookCanChooseTheLeaf) {
  auto stream = TlsStream::accept(server_fd_.get(), server_ctx_, nullptr,
                                  [this](std::string_view sni, TlsStream& s) {
                                    StatusOr<std::shared_ptr<const Leaf>> leaf = leaves_.get(sni);
                                    if (!leaf) return leaf.status();
                                    return s.useLeaf(**leaf);
                                  });
  ASSERT_TRUE(stream.isOk());
  auto client = connectTo("eu.corp.test", client_ctx_);
  auto r = handshakeBoth(*client, **stream);
  ASSERT_TRUE(r.ok()) << r.client.error << " / " << r.server.error;
  EXPECT_EQ((*stream)->sni(), "eu.corp.test");
}

TEST_F(TlsStreamTest, SniOtherThanConnectHostIsRefused) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("eu.corp.test", client_ctx_);
  auto r = handshakeBoth(*client, *server);
  ASSERT_EQ(r.server.status, IoStatus::kError);
  EXPECT_EQ(r.server.error, "SNI \"eu.corp.test\" does not match CONNECT host");
  EXPECT_EQ(r.client.status, IoStatus::kError);
}

TEST_F(TlsStreamTest, ThrowingSniHookFailsTheHandshakeWithoutUnwinding) {
  auto stream = TlsStream::accept(
      server_fd_.get(), server_ctx_, nullptr,
      [](std::string_view, TlsStream&) -> Status { throw std::runtime_error("boom"); });
  ASSERT_TRUE(stream.isOk());
  auto client = connectTo("api.example.com", client_ctx_);
  auto r = handshakeBoth(*client, **stream);
  EXPECT_EQ(r.server.status, IoStatus::kError);
  EXPECT_EQ(r.server.error, "SNI hook threw");
}

TEST_F(TlsStreamTest, SelfSignedUpstreamFailsWithAClearError) {
  // A context with only the system trust store must refuse a self-signed server.
  Leaf self_signed = testing::selfSignedLeaf("api.example.com");
  auto server = TlsStream::accept(server_fd_.get(), server_ctx_, &self_signed);
  ASSERT_TRUE(server.isOk()) << server.status().message();
  StatusOr<ClientContext> system_only = ClientContext::create();
  ASSERT_TRUE(system_only.isOk()) << system_only.status().message();
  auto client = connectTo("api.example.com", *system_only);
  auto r = handshakeBoth(*client, **server);
  ASSERT_EQ(r.client.status, IoStatus::kError);
  EXPECT_EQ(r.client.error.rfind("upstream certificate verify failed: ", 0), 0u) << r.client.error;
  EXPECT_NE(lower(r.client.error).find("self"), std::string::npos) << r.client.error;
  EXPECT_NE(client->verifyResult(), X509_V_OK);
}

TEST_F(TlsStreamTest, HostnameMismatchIsRejected) {
  auto leaf = leaves_.get("api.example.com");
  ASSERT_TRUE(leaf.isOk());
  auto server = TlsStream::accept(server_fd_.get(), server_ctx_, leaf->get());
  ASSERT_TRUE(server.isOk());
  auto client = connectTo("eu.corp.test", client_ctx_);  // trusted CA, wrong name
  auto r = handshakeBoth(*client, **server);
  ASSERT_EQ(r.client.status, IoStatus::kError);
  EXPECT_EQ(client->verifyResult(), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(lower(r.client.error), "upstream certificate verify failed: hostname mismatch");
}

TEST_F(TlsStreamTest, ClientRejectsALeafOutsideTheNameConstraints) {
  // Signed by the trusted CA key, but for a host the CA may not vouch for.
  StatusOr<Leaf> forged = minter_->mint("bank.example.org", std::chrono::system_clock::now());
  ASSERT_TRUE(forged.isOk());
  auto server = TlsStream::accept(server_fd_.get(), server_ctx_, &*forged);
  ASSERT_TRUE(server.isOk());
  auto client = connectTo("bank.example.org", client_ctx_);
  auto r = handshakeBoth(*client, **server);
  ASSERT_EQ(r.client.status, IoStatus::kError);
  EXPECT_EQ(client->verifyResult(), X509_V_ERR_PERMITTED_VIOLATION) << r.client.error;
}

TEST_F(TlsStreamTest, CloseNotifyIsCleanAndBareEofIsTruncation) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  EXPECT_TRUE(client->shutdown().ok());
  char buf[64];
  EXPECT_EQ(server->read(buf, sizeof(buf)).status, IoStatus::kClosed);

  reconnect();
  server = acceptFor("api.example.com");
  client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  ::shutdown(client_fd_.get(), SHUT_WR);  // transport EOF without close_notify
  IoResult r = server->read(buf, sizeof(buf));
  EXPECT_EQ(r.status, IoStatus::kTruncated) << r.error;
}

// SIGPIPE is not ignored in this test binary: a plain write(2) would kill it.
TEST_F(TlsStreamTest, WriteToAVanishedPeerIsAnErrorNotASignal) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  client.reset();
  client_fd_.reset();
  IoResult r;
  const std::string data(4096, 'x');
  for (int i = 0; i < 64 && r.status != IoStatus::kError; ++i)
    r = server->write(data.data(), data.size());
  ASSERT_EQ(r.status, IoStatus::kError);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(server->write(data.data(), data.size()).status, IoStatus::kError);  // stays failed
}

TEST_F(TlsStreamTest, ReadWithNothingBufferedWantsRead) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  char buf[64];
  EXPECT_EQ(client->read(buf, sizeof(buf)).status, IoStatus::kWantRead);
  EXPECT_EQ(server->read(buf, sizeof(buf)).status, IoStatus::kWantRead);
}

// The socket read-ahead: records that arrive together are taken in one
// recv() and kept in user space. Each class of arrival must still come out
// whole, in order, and never sit where fd readiness cannot announce it.
bool fdReadable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

// Reads until kWantRead; the reader never waits in between.
std::string drain(TlsStream& s, size_t chunk, IoStatus* last) {
  std::string out;
  std::string buf(chunk, '\0');
  for (;;) {
    IoResult r = s.read(buf.data(), buf.size());
    if (r.status != IoStatus::kOk) {
      *last = r.status;
      return out;
    }
    out.append(buf.data(), r.bytes);
  }
}

TEST_F(TlsStreamTest, RecordsThatArriveTogetherAreAllReadBeforeTheReaderWaits) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  // Many small records (one write each), one large record, records that
  // straddle the read-ahead, all queued before the server reads a byte.
  std::string sent;
  // (A socketpair's buffer counts each send's overhead: 100 small ones fit.)
  for (int i = 0; i < 100; ++i) {
    const std::string piece = "record " + std::to_string(i) + ";";
    ASSERT_EQ(client->write(piece.data(), piece.size()).bytes, piece.size());
    sent += piece;
  }
  const std::string big(16 * 1024, 'B');
  ASSERT_EQ(client->write(big.data(), big.size()).bytes, big.size());
  sent += big;
  for (size_t size : {4000u, 4090u, 5000u, 700u}) {
    const std::string piece(size, static_cast<char>('a' + size % 26));
    ASSERT_EQ(client->write(piece.data(), piece.size()).bytes, piece.size());
    sent += piece;
  }
  IoStatus last = IoStatus::kOk;
  EXPECT_EQ(drain(*server, 16 * 1024, &last), sent);
  EXPECT_EQ(last, IoStatus::kWantRead);
  EXPECT_EQ(server->pending(), 0u);
  // After "would block", the next bytes are read as soon as they come.
  ASSERT_EQ(client->write("next", 4).bytes, 4u);
  EXPECT_EQ(drain(*server, 64, &last), "next");
}

TEST_F(TlsStreamTest, BytesReadAheadButNotYetTakenCountAsPending) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client->write("0123456789", 10).bytes, 10u);
  char buf[10];
  ASSERT_EQ(server->read(buf, sizeof(buf)).bytes, 10u);
  // The other two records are announced by the fd's readiness or, where
  // they left the socket with the first (the read-ahead), by pending().
  EXPECT_TRUE(fdReadable(server_fd_.get()) || server->pending() > 0);
  IoStatus last = IoStatus::kOk;
  EXPECT_EQ(drain(*server, 64, &last), "01234567890123456789");
  EXPECT_EQ(server->pending(), 0u);
}

TEST_F(TlsStreamTest, AnEndBehindBufferedRecordsComesAfterThem) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  ASSERT_EQ(client->write("last words", 10).bytes, 10u);
  EXPECT_TRUE(client->shutdown().ok());
  IoStatus last = IoStatus::kOk;
  EXPECT_EQ(drain(*server, 4, &last), "last words");
  // The reader may have been told "would block" once for a drained socket;
  // the end is still there when it comes back.
  if (last == IoStatus::kWantRead) drain(*server, 4, &last);
  EXPECT_EQ(last, IoStatus::kClosed);

  reconnect();
  server = acceptFor("api.example.com");
  client = connectTo("api.example.com", client_ctx_);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  ASSERT_EQ(client->write("cut off", 7).bytes, 7u);
  ::shutdown(client_fd_.get(), SHUT_WR);
  EXPECT_EQ(drain(*server, 64, &last), "cut off");
  if (last == IoStatus::kWantRead) drain(*server, 64, &last);
  EXPECT_EQ(last, IoStatus::kTruncated);
}

TEST_F(TlsStreamTest, ClientWithoutHttp11GetsNoAlpn) {
  auto server = acceptFor("api.example.com");
  auto client = connectTo("api.example.com", client_ctx_);
  static const unsigned char kH2[] = {2, 'h', '2'};
  ASSERT_EQ(SSL_set_alpn_protos(client->ssl(), kH2, sizeof(kH2)), 0);
  ASSERT_TRUE(handshakeBoth(*client, *server).ok());
  EXPECT_EQ(server->alpn(), "");
}

// h2 is selected only where both ends of one connection offer it; every
// other combination falls back to http/1.1 (the client offers both).
TEST_F(TlsStreamTest, Http2IsNegotiatedOnlyWhereBothSidesOfferIt) {
  struct Case {
    bool server_h2, client_h2;
    std::string_view want;
  };
  for (const Case& c : {Case{true, true, "h2"}, Case{true, false, "http/1.1"},
                        Case{false, true, "http/1.1"}, Case{false, false, "http/1.1"}}) {
    SCOPED_TRACE(std::to_string(c.server_h2) + std::to_string(c.client_h2));
    reconnect();
    auto server = acceptFor("api.example.com");
    auto client = connectTo("api.example.com", client_ctx_);
    EXPECT_TRUE(!c.server_h2 || server->offerHttp2().isOk());
    EXPECT_TRUE(!c.client_h2 || client->offerHttp2().isOk());
    ASSERT_TRUE(handshakeBoth(*client, *server).ok());
    EXPECT_EQ(server->alpn(), c.want);
    EXPECT_EQ(client->alpn(), c.want);
  }
}

// The second connection resumes even though the first one was just dropped
// (no close_notify), as the proxy drops idle upstream connections.
TEST_F(TlsStreamTest, UpstreamSessionIsResumedFromTheCache) {
  ClientSessionCache sessions;
  for (int i = 0; i < 2; ++i) {
    reconnect();
    auto server = acceptFor("api.example.com");
    auto client = connectTo("api.example.com", client_ctx_, &sessions);
    ASSERT_TRUE(handshakeBoth(*client, *server).ok());
    // TLS 1.3 tickets arrive after the handshake: read some data to take them.
    EXPECT_EQ(transfer(*server, *client, "hello"), "hello");
    EXPECT_EQ(client->sessionReused(), i == 1) << "connection " << i;
    EXPECT_EQ(server->sessionReused(), i == 1) << "connection " << i;
    EXPECT_EQ(sessions.size(), 1u);
  }
}

TEST(ClientContext, MissingExtraCaFileIsAnError) {
  StatusOr<ClientContext> ctx = ClientContext::create({.extra_ca_file = "/nonexistent/ca.pem"});
  ASSERT_FALSE(ctx.isOk());
  EXPECT_NE(ctx.status().message().find("/nonexistent/ca.pem"), std::string::npos);
}

}  // namespace
}  // namespace kitgate::tls
