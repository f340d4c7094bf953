// TLS session resumption on both legs of an intercepted connection, through
// the real proxy: a reconnecting sandbox resumes its session with the proxy
// (an abbreviated handshake, also across a reload), the proxy resumes its
// session with the origin, and a session never resumes in another sandbox.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/integration/mitm_fixture.h"

namespace kitgate::testing {
namespace {

// One request on a new intercepted connection to ampcode.test (CONNECT with
// `proxy_auth`, TLS through `sessions`); whether the sandbox-side handshake
// resumed a session.
StatusOr<bool> requestResumed(uint16_t proxy_port, const HttpsOrigin& origin,
                              const tls::ClientContext& ctx, tls::ClientSessionCache& sessions,
                              const std::string& proxy_auth = "") {
  const std::string authority = std::string(kAmpHost) + ":" + std::to_string(origin.port());
  auto t = openTunnel(proxy_port, authority, proxy_auth);
  if (!t) return t.status();
  if (!t->established()) return Status::error("CONNECT answered " + t->response.head);
  auto tls = TlsConn::connect(UniqueFd(::dup(t->client.fd())), ctx, kAmpHost, std::nullopt, 10s,
                              &sessions);
  if (!tls) return tls.status();
  Status w = (*tls)->writeAll("GET /small HTTP/1.1\r\nHost: " + authority +
                              "\r\nConnection: close\r\n\r\n");
  if (!w.isOk()) return w;
  // Read to the close: TLS 1.3 tickets arrive after the handshake.
  std::string all;
  char buf[16384];
  for (;;) {
    auto n = (*tls)->read(buf, sizeof buf);
    if (!n) return n.status();
    if (*n == 0) break;
    all.append(buf, *n);
  }
  if (all.rfind("HTTP/1.1 200", 0) != 0) return Status::error("answered " + all.substr(0, 64));
  return (*tls)->sessionReused();
}

StatusOr<tls::ClientContext> trusting(const std::string& ca_file) {
  tls::ClientContextOptions opts;
  opts.system_trust_file.clear();
  opts.extra_ca_file = ca_file;
  return tls::ClientContext::create(opts);
}

class MitmResumption : public MitmWorld {
  // One worker: the upstream session cache is per worker.
  // The idle upstream pool off: a reconnecting sandbox would otherwise get
  // the pooled upstream connection back and no upstream handshake would
  // happen to resume (the pool's own tests: upstream_pool_test.cc).
  void customize(ProxyOptions& o) override {
    o.workers = 1;
    o.limits["upstream_pool_idle_timeout_ms"] = 0;
  }
};

TEST_F(MitmResumption, AReconnectingSandboxResumesOnBothLegsAcrossAReload) {
  ASSERT_OK_AND_ASSIGN(auto ctx, trusting(sandbox_ca_file_));
  tls::ClientSessionCache sessions;
  ASSERT_OK_AND_ASSIGN(bool first, requestResumed(proxy_->port(), *origin_, ctx, sessions));
  EXPECT_FALSE(first) << "nothing to resume yet";
  EXPECT_EQ(origin_->handshakesResumed(), 0u);
  ASSERT_OK_AND_ASSIGN(bool second, requestResumed(proxy_->port(), *origin_, ctx, sessions));
  EXPECT_TRUE(second) << "the sandbox leg resumed";
  EXPECT_EQ(origin_->handshakesResumed(), 1u) << "the upstream leg resumed";

  // A reload that leaves the sandbox's CA as it is keeps its sessions.
  ASSERT_TRUE(proxy_->reloadViaAdmin().isOk());
  ASSERT_OK_AND_ASSIGN(bool after_reload, requestResumed(proxy_->port(), *origin_, ctx, sessions));
  EXPECT_TRUE(after_reload);
  EXPECT_EQ(origin_->requestsServed(), 3u);
}

// Two sandboxes, each with its CA and the same bound host.
class MitmResumptionTenants : public MitmWorld {
 protected:
  static constexpr const char* kTokenA = "kgt_sessa_0123456789abcdef";
  static constexpr const char* kTokenB = "kgt_sessb_fedcba9876543210";
  void customize(ProxyOptions& o) override { twoSandboxes(o, kTokenA, kTokenB); }
};

TEST_F(MitmResumptionTenants, ASessionNeverResumesInAnotherSandbox) {
  const std::string ca_a = proxy_->stateDir() + "/ca/sa.crt";
  const std::string ca_b = proxy_->stateDir() + "/ca/sb.crt";
  ASSERT_TRUE(waitUntil([&] { return ::access(ca_b.c_str(), R_OK) == 0; }, 10s));
  // A client that trusts both CAs and keeps one session per host name.
  const std::string both = work_->path() + "/both-cas.pem";
  ASSERT_OK(writeFileAtomic(both, readFile(ca_a) + readFile(ca_b)));
  ASSERT_OK_AND_ASSIGN(auto ctx, trusting(both));
  tls::ClientSessionCache sessions;
  const std::string as_a = proxyBasicAuth("sa", kTokenA);
  const std::string as_b = proxyBasicAuth("sb", kTokenB);

  ASSERT_OK_AND_ASSIGN(bool a1, requestResumed(proxy_->port(), *origin_, ctx, sessions, as_a));
  ASSERT_OK_AND_ASSIGN(bool a2, requestResumed(proxy_->port(), *origin_, ctx, sessions, as_a));
  EXPECT_FALSE(a1);
  EXPECT_TRUE(a2) << "control: the same sandbox resumes";
  // sa's session offered on sb's connection: a full handshake with sb's CA.
  ASSERT_OK_AND_ASSIGN(bool b1, requestResumed(proxy_->port(), *origin_, ctx, sessions, as_b));
  EXPECT_FALSE(b1) << "sandbox sb resumed a session of sandbox sa";
  ASSERT_OK_AND_ASSIGN(bool b2, requestResumed(proxy_->port(), *origin_, ctx, sessions, as_b));
  EXPECT_TRUE(b2);
  // And back: sb's session is no good in sa.
  ASSERT_OK_AND_ASSIGN(bool a3, requestResumed(proxy_->port(), *origin_, ctx, sessions, as_a));
  EXPECT_FALSE(a3);
}

}  // namespace
}  // namespace kitgate::testing
