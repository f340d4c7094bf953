// The worker's idle upstream pool (proxy/upstream/idle_pool.h), through the
// real proxy with one worker: a client connection that ends leaves its
// upstream HTTP/1.1 connection (intercepted: with its TLS leg done) to the
// next client connection of the same sandbox to the same host — and never to
// another sandbox, never after a reload, never after a close-delimited body
// or the server's Connection: close (the client's ends only its own hop);
// an idle pooled connection the server closes
// is dropped, a stale one is retried only for a replayable request.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <string>
#include <vector>

#include "tests/integration/mitm_fixture.h"

namespace kitgate::testing {
namespace {

StatusOr<tls::ClientContext> trusting(const std::string& ca_file) {
  tls::ClientContextOptions opts;
  opts.system_trust_file.clear();
  opts.extra_ca_file = ca_file;
  return tls::ClientContext::create(opts);
}

// Reads one response with a Content-Length or chunked body (or, when the connection
// closes first, what came) from `read`.
template <typename ReadFn>
StatusOr<std::string> readOneResponse(ReadFn read) {
  std::string all;
  char buf[16384];
  for (;;) {
    const size_t end = all.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = all.substr(0, end);
      for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      const size_t cl = head.find("content-length:");
      if (cl != std::string::npos) {
        const size_t len = std::stoul(head.substr(cl + 15));
        if (all.size() >= end + 4 + len) return all.substr(0, end + 4 + len);
      } else if (head.find("transfer-encoding: chunked") != std::string::npos) {
        // The scrubbed body is re-framed chunked: to the last chunk.
        const size_t last = all.find("\r\n0\r\n\r\n", end);
        if (last != std::string::npos) return all.substr(0, last + 7);
      }
    }
    auto n = read(buf, sizeof buf);
    if (!n) return Status::error(n.status().message() + " after: " + all.substr(0, 200));
    if (*n == 0) return all;
    all.append(buf, *n);
  }
}

class MitmUpstreamPool : public MitmWorld {
 protected:
  void customize(ProxyOptions& o) override {
    o.workers = 1;  // the pool is per worker
    if (pool_idle_ms_ > 0) o.limits["upstream_pool_idle_timeout_ms"] = pool_idle_ms_;
  }
  int64_t pool_idle_ms_ = 0;  // > 0: limits.upstream_pool_idle_timeout_ms (else the default)

  std::string authority() const {
    return std::string(kAmpHost) + ":" + std::to_string(origin_->port());
  }

  // One request on a new intercepted connection to ampcode.test, then the
  // client closes; the response (head and body).
  StatusOr<std::string> intercepted(const std::string& method, const std::string& path,
                                    const std::string& extra = "",
                                    const std::string& proxy_auth = "",
                                    const std::string& ca_file = "") {
    auto ctx = trusting(ca_file.empty() ? sandbox_ca_file_ : ca_file);
    if (!ctx) return ctx.status();
    auto t = openTunnel(proxy_->port(), authority(), proxy_auth);
    if (!t) return t.status();
    if (!t->established()) return Status::error("CONNECT answered " + t->response.head);
    auto tls = TlsConn::connect(UniqueFd(::dup(t->client.fd())), *ctx, kAmpHost);
    if (!tls) return tls.status();
    Status w = (*tls)->writeAll(method + " " + path + " HTTP/1.1\r\nHost: " + authority() + "\r\n" +
                                (method == "POST" ? "Content-Length: 0\r\n" : "") + extra + "\r\n");
    if (!w.isOk()) return w;
    return readOneResponse([&](char* b, size_t n) { return (*tls)->read(b, n); });
  }

  double metric(const std::string& series) { return proxy_->metric(series).value_or(-1); }
  // The pool holds `n` idle connections (the client's close reached the proxy).
  bool poolHolds(double n) {
    return waitUntil([&] { return metric("kitgate_upstream_pool_idle") == n; }, 5s);
  }
};

bool injected(const std::string& head) {
  return head.find("\r\nX-Api-Key: Key " + std::string(kAmpKey) + "\r\n") != std::string::npos;
}

TEST_F(MitmUpstreamPool, SequentialInterceptedConnectionsShareOneUpstreamTlsConnection) {
  ASSERT_OK_AND_ASSIGN(std::string r1, intercepted("GET", "/small"));
  EXPECT_EQ(r1.rfind("HTTP/1.1 200", 0), 0u) << r1.substr(0, 80);
  EXPECT_TRUE(injected(origin_->lastRequestHead()));
  ASSERT_TRUE(poolHolds(1));
  ASSERT_OK_AND_ASSIGN(std::string r2, intercepted("GET", "/small"));
  EXPECT_EQ(r2.rfind("HTTP/1.1 200", 0), 0u) << r2.substr(0, 80);
  EXPECT_TRUE(injected(origin_->lastRequestHead()))
      << "the reused connection's request is injected";
  ASSERT_OK_AND_ASSIGN(std::string r3, intercepted("GET", "/small"));
  EXPECT_EQ(r3.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(origin_->connectionsAccepted(), 1u) << "one TCP + TLS connection for three CONNECTs";
  EXPECT_EQ(origin_->requestsServed(), 3u);
  EXPECT_EQ(metric("kitgate_upstream_pool_total{result=\"hit\"}"), 2);
}

TEST_F(MitmUpstreamPool, PlainForwardRequestsOnNewClientConnectionsShareOneUpstream) {
  ASSERT_OK_AND_ASSIGN(auto plain, OriginServer::start());
  const std::string a = plain->authority();
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy_->port()));
    ASSERT_OK(c.send("GET http://" + a + "/small HTTP/1.1\r\nHost: " + a + "\r\n\r\n"));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), kSmallBodySize);
    c.shutdownWrite();
    ASSERT_TRUE(poolHolds(1)) << "request " << i;
  }
  EXPECT_EQ(plain->connectionsAccepted(), 1u);
  EXPECT_EQ(plain->requestsServed(), 3u);
}

TEST_F(MitmUpstreamPool, AClientsConnectionCloseStillPoolsButACloseDelimitedBodyDoesNot) {
  ASSERT_OK_AND_ASSIGN(auto plain, OriginServer::start());
  const std::string a = plain->authority();
  auto once = [&](const std::string& path, const std::string& extra) -> StatusOr<int> {
    auto c = RawClient::connect(proxy_->port());
    if (!c) return c.status();
    Status s =
        c->send("GET http://" + a + path + " HTTP/1.1\r\nHost: " + a + "\r\n" + extra + "\r\n");
    if (!s.isOk()) return s;
    auto r = c->readUntilClose();
    if (!r) return r.status();
    return r->rfind("HTTP/1.1 200", 0) == 0 ? 200 : 0;
  };
  // The client asks to close: that ends its own hop only. The upstream was
  // asked to keep alive and did, so the next client connection reuses it.
  ASSERT_OK_AND_ASSIGN(int s1, once("/small", "Connection: close\r\n"));
  EXPECT_EQ(s1, 200);
  ASSERT_TRUE(poolHolds(1));
  ASSERT_OK_AND_ASSIGN(int s2, once("/small", "Connection: close\r\n"));
  EXPECT_EQ(s2, 200);
  EXPECT_EQ(plain->connectionsAccepted(), 1u);
  EXPECT_EQ(metric("kitgate_upstream_pool_total{result=\"hit\"}"), 1);
  // A body delimited by the server's close: that connection is gone.
  ASSERT_OK_AND_ASSIGN(int s3, once("/close", ""));  // the client would keep it
  EXPECT_EQ(s3, 200);
  EXPECT_EQ(metric("kitgate_upstream_pool_idle"), 0);
  EXPECT_EQ(metric("kitgate_upstream_pool_total{result=\"hit\"}"), 2);
  // Control: keep-alive exchanges on new client connections share one.
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(auto c, RawClient::connect(proxy_->port()));
    ASSERT_OK(c.send("GET http://" + a + "/small HTTP/1.1\r\nHost: " + a + "\r\n\r\n"));
    ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
    EXPECT_EQ(r.status, 200);
    c.shutdownWrite();
    ASSERT_TRUE(poolHolds(1));
  }
  EXPECT_EQ(plain->connectionsAccepted(), 2u)
      << "one shared by the closing clients (ended by the close-delimited body), one by the others";
  // Intercepted: Connection: close from the sandbox; the upstream TLS
  // connection is shared all the same.
  ASSERT_OK_AND_ASSIGN(std::string r1, intercepted("GET", "/small", "Connection: close\r\n"));
  ASSERT_OK_AND_ASSIGN(std::string r2, intercepted("GET", "/small", "Connection: close\r\n"));
  EXPECT_EQ(r2.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(origin_->connectionsAccepted(), 1u);
}

TEST_F(MitmUpstreamPool, NotReusedAfterAnUpgradeOrAnAbortedResponse) {
  ASSERT_OK_AND_ASSIGN(auto ctx, trusting(sandbox_ca_file_));
  {
    // WebSocket: 101, then opaque bytes both ways; the client closes.
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), authority()));
    ASSERT_TRUE(t.established());
    ASSERT_OK_AND_ASSIGN(auto tls, TlsConn::connect(UniqueFd(::dup(t.client.fd())), ctx, kAmpHost));
    ASSERT_OK(tls->writeAll("GET /ws HTTP/1.1\r\nHost: " + authority() +
                            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
    std::string got;
    char buf[4096];
    while (got.find("\r\n\r\n") == std::string::npos) {
      ASSERT_OK_AND_ASSIGN(size_t n, tls->read(buf, sizeof buf));
      ASSERT_GT(n, 0u);
      got.append(buf, n);
    }
    ASSERT_EQ(got.rfind("HTTP/1.1 101", 0), 0u) << got;
  }
  // An aborted response: Content-Length 2N, N bytes, then a reset.
  auto aborted = intercepted("GET", "/reset/1000");
  EXPECT_FALSE(aborted.isOk() && aborted->size() > 2000) << "the response was not cut short";
  ASSERT_TRUE(waitUntil([&] { return origin_->connectionsOpen() == 0; }, 5s));
  EXPECT_EQ(metric("kitgate_upstream_pool_idle"), 0);
  ASSERT_OK_AND_ASSIGN(std::string r, intercepted("GET", "/small"));
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(origin_->connectionsAccepted(), 3u);
  EXPECT_EQ(metric("kitgate_upstream_pool_total{result=\"hit\"}"), 0);
  // Control: a plain exchange's connection is reused.
  ASSERT_TRUE(poolHolds(1));
  ASSERT_OK_AND_ASSIGN(std::string r2, intercepted("GET", "/small"));
  EXPECT_EQ(r2.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(origin_->connectionsAccepted(), 3u);
}

TEST_F(MitmUpstreamPool, AReloadDropsPooledConnectionsAndARotatedSecretGoesOutOnANewOne) {
  ASSERT_OK_AND_ASSIGN(std::string r1, intercepted("GET", "/small"));
  ASSERT_TRUE(poolHolds(1));
  ASSERT_TRUE(injected(origin_->lastRequestHead()));
  // `secret set`: the service secret gets a new value.
  const std::string rotated = "REAL-amp-rotated-55aa";
  ASSERT_OK(proxy_->writeStateFile(
      "secrets.yaml",
      "services:\n  - {service: amp, scope: global, value: \"" + rotated + "\"}\n"));
  ASSERT_TRUE(proxy_->reloadViaAdmin().isOk());
  ASSERT_TRUE(poolHolds(0)) << "the reload closed the pooled connection";
  ASSERT_TRUE(waitUntil([&] { return origin_->connectionsOpen() == 0; }, 5s));
  ASSERT_OK_AND_ASSIGN(std::string r2, intercepted("GET", "/small"));
  EXPECT_EQ(r2.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(origin_->lastRequestHead().find("X-Api-Key: Key " + rotated), std::string::npos);
  EXPECT_EQ(origin_->connectionsAccepted(), 2u);
  EXPECT_EQ(metric("kitgate_upstream_pool_total{result=\"hit\"}"), 0);
}

TEST_F(MitmUpstreamPool, AServerClosingAnIdlePooledConnectionIsNoticedAndTheNextRequestWorks) {
  ASSERT_OK_AND_ASSIGN(std::string r1, intercepted("GET", "/small"));
  ASSERT_TRUE(poolHolds(1));
  origin_->closeConnections();
  ASSERT_TRUE(poolHolds(0)) << "the pooled connection's EOF was not noticed";
  ASSERT_OK_AND_ASSIGN(std::string r2, intercepted("GET", "/small"));
  EXPECT_EQ(r2.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(origin_->connectionsAccepted(), 2u);
}

TEST_F(MitmUpstreamPool, AStaleConnectionIsRetriedForAGetButAPostIsNotReplayed) {
  // The server drops the next request on the connection without an answer:
  // the pooled connection looks alive and dies as the request arrives.
  ASSERT_OK_AND_ASSIGN(std::string r1, intercepted("GET", "/small", "X-Drop-Next: 1\r\n"));
  ASSERT_TRUE(poolHolds(1));
  ASSERT_OK_AND_ASSIGN(std::string r2, intercepted("GET", "/small"));
  EXPECT_EQ(r2.rfind("HTTP/1.1 200", 0), 0u) << "retried on a new connection: " << r2.substr(0, 80);
  EXPECT_EQ(origin_->connectionsAccepted(), 2u);
  EXPECT_EQ(metric("kitgate_upstream_pool_total{result=\"stale\"}"), 1);

  // A POST on such a connection is not sent twice: the sandbox gets a 502.
  ASSERT_OK_AND_ASSIGN(std::string r3, intercepted("GET", "/small", "X-Drop-Next: 1\r\n"));
  ASSERT_TRUE(poolHolds(1));
  const size_t served = origin_->requestsServed();
  ASSERT_OK_AND_ASSIGN(std::string r4, intercepted("POST", "/echo-length"));
  EXPECT_EQ(r4.rfind("HTTP/1.1 502", 0), 0u) << r4.substr(0, 80);
  EXPECT_EQ(origin_->connectionsAccepted(), 2u) << "the POST was replayed on a new connection";
  EXPECT_EQ(origin_->requestsServed(), served);
}

// Two sandboxes with the same bound host: never each other's connections.
class MitmUpstreamPoolTenants : public MitmUpstreamPool {
 protected:
  static constexpr const char* kTokenA = "kgt_poola_0123456789abcdef";
  static constexpr const char* kTokenB = "kgt_poolb_fedcba9876543210";
  void customize(ProxyOptions& o) override {
    MitmUpstreamPool::customize(o);
    twoSandboxes(o, kTokenA, kTokenB);
  }
};

TEST_F(MitmUpstreamPoolTenants, NeverSharedAcrossSandboxes) {
  const std::string ca_b = proxy_->stateDir() + "/ca/sb.crt";
  ASSERT_TRUE(waitUntil([&] { return ::access(ca_b.c_str(), R_OK) == 0; }, 10s));
  const std::string as_a = proxyBasicAuth("sa", kTokenA);
  const std::string as_b = proxyBasicAuth("sb", kTokenB);
  ASSERT_OK_AND_ASSIGN(std::string a1, intercepted("GET", "/small", "", as_a));
  EXPECT_EQ(a1.rfind("HTTP/1.1 200", 0), 0u);
  ASSERT_TRUE(poolHolds(1));
  ASSERT_OK_AND_ASSIGN(std::string b1, intercepted("GET", "/small", "", as_b, ca_b));
  EXPECT_EQ(b1.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(origin_->connectionsAccepted(), 2u) << "sandbox sb used sandbox sa's connection";
  ASSERT_TRUE(poolHolds(2));
  ASSERT_OK_AND_ASSIGN(std::string a2, intercepted("GET", "/small", "", as_a));
  ASSERT_OK_AND_ASSIGN(std::string b2, intercepted("GET", "/small", "", as_b, ca_b));
  EXPECT_EQ(b2.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(origin_->connectionsAccepted(), 2u) << "control: each sandbox reuses its own";
}

class MitmUpstreamPoolShortIdle : public MitmUpstreamPool {
 protected:
  void customize(ProxyOptions& o) override {
    pool_idle_ms_ = 400;
    MitmUpstreamPool::customize(o);
  }
};

TEST_F(MitmUpstreamPoolShortIdle, AnIdlePooledConnectionIsClosedAfterTheIdleTimeout) {
  ASSERT_OK_AND_ASSIGN(std::string r1, intercepted("GET", "/small"));
  ASSERT_TRUE(poolHolds(1));
  ASSERT_TRUE(waitUntil([&] { return origin_->connectionsOpen() == 0; }, 5s))
      << "the pooled connection outlived its idle timeout";
  EXPECT_EQ(metric("kitgate_upstream_pool_idle"), 0);
  ASSERT_OK_AND_ASSIGN(std::string r2, intercepted("GET", "/small"));
  EXPECT_EQ(origin_->connectionsAccepted(), 2u);
}

TEST_F(MitmUpstreamPool, AtMostEightIdleConnectionsPerKey) {
  // Ten concurrent intercepted connections, each with a request answered,
  // then all close: eight stay pooled, two are closed.
  ASSERT_OK_AND_ASSIGN(auto ctx, trusting(sandbox_ca_file_));
  std::vector<std::unique_ptr<TlsConn>> conns;
  std::vector<Tunnel> tunnels;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(auto t, openTunnel(proxy_->port(), authority()));
    ASSERT_TRUE(t.established());
    ASSERT_OK_AND_ASSIGN(auto tls, TlsConn::connect(UniqueFd(::dup(t.client.fd())), ctx, kAmpHost));
    ASSERT_OK(tls->writeAll("GET /small HTTP/1.1\r\nHost: " + authority() + "\r\n\r\n"));
    ASSERT_OK_AND_ASSIGN(std::string r,
                         readOneResponse([&](char* b, size_t n) { return tls->read(b, n); }));
    ASSERT_EQ(r.rfind("HTTP/1.1 200", 0), 0u);
    conns.push_back(std::move(tls));
    tunnels.push_back(std::move(t));
  }
  EXPECT_EQ(origin_->connectionsAccepted(), 10u);
  conns.clear();
  tunnels.clear();
  ASSERT_TRUE(poolHolds(8));
  EXPECT_TRUE(waitUntil([&] { return origin_->connectionsOpen() == 8; }, 5s));
}

}  // namespace
}  // namespace kitgate::testing
