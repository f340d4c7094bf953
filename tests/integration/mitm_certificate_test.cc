// Certificates on both legs of an intercepted connection: the minted leaf
// chains to the sandbox CA, that CA's name constraints hold even with its
// key in hand, Host/SNI must equal the CONNECT target, and an upstream with
// an untrusted certificate is refused with a clear 502.
#include <cstring>

#include "proxy/tls/compat.h"
#include "tests/integration/mitm_fixture.h"

namespace kitgate::testing {
namespace {

using MitmCertificates = MitmWorld;

TEST_F(MitmCertificates, MintedLeafChainsToSandboxCa) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));  // verified against the sandbox CA only
  tls::X509Ptr leaf = c.conn().peerCertificate();
  ASSERT_TRUE(leaf);
  ASSERT_OK_AND_ASSIGN(auto ca, tls::CertificateAuthority::load(
                                    sandbox_ca_file_, proxy_->stateDir() + "/ca/default.key"));
  EXPECT_EQ(X509_check_issued(ca.cert(), leaf.get()), X509_V_OK);
  EXPECT_EQ(X509_verify(leaf.get(), ca.key()), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), kAmpHost, std::strlen(kAmpHost), 0, nullptr), 1);
  // Not the origin's certificate: the origin CA did not sign it.
  EXPECT_NE(X509_check_issued(origin_ca_->cert(), leaf.get()), X509_V_OK);
  // And curl (system OpenSSL) accepts the chain too.
  ASSERT_OK_AND_ASSIGN(auto r, curlVia(sandbox_ca_file_, {target(kAmpHost, *origin_, "/small")}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.body, patternBytes(0, kSmallBodySize));
}

TEST_F(MitmCertificates, SandboxCaKeyCannotSignOutsideItsNameConstraints) {
  // Whoever holds the CA key can sign anything; verifiers must refuse names
  // outside the constraints. evil.test is outside, ampcode.test inside (the
  // control: the same CA, the same minting, accepted).
  ASSERT_OK_AND_ASSIGN(auto ca, tls::CertificateAuthority::load(
                                    sandbox_ca_file_, proxy_->stateDir() + "/ca/default.key"));
  ASSERT_OK_AND_ASSIGN(auto rogue, HttpsOrigin::start({&ca, {"evil.test", kAmpHost}}));
  const std::string port = std::to_string(rogue->port());
  auto curl_direct = [&](const char* host) {
    return runCurl(
        {"--cacert", sandbox_ca_file_, "--resolve", std::string(host) + ":" + port + ":127.0.0.1",
         "https://" + std::string(host) + ":" + port + "/small"},
        work_->path());
  };
  ASSERT_OK_AND_ASSIGN(auto inside, curl_direct(kAmpHost));
  EXPECT_EQ(inside.exit_code, 0) << inside.err;
  ASSERT_OK_AND_ASSIGN(auto outside, curl_direct("evil.test"));
  EXPECT_EQ(outside.exit_code, 60) << outside.err;  // peer certificate cannot be authenticated
  EXPECT_NE(outside.err.find("subtree"), std::string::npos)
      << outside.err;  // "permitted subtree violation"

  // The project's own TLS client (this build's backend) refuses it too.
  tls::ClientContextOptions opts;
  opts.system_trust_file.clear();
  opts.extra_ca_file = sandbox_ca_file_;
  ASSERT_OK_AND_ASSIGN(auto ctx, tls::ClientContext::create(opts));
  auto dial = [&](const char* host) -> StatusOr<std::unique_ptr<TlsConn>> {
    auto raw = RawClient::connect(rogue->port());
    if (!raw) return raw.status();
    return TlsConn::connect(UniqueFd(::dup(raw->fd())), ctx, host);
  };
  EXPECT_TRUE(dial(kAmpHost).isOk());
  auto refused = dial("evil.test");
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("certificate verify failed"), std::string::npos)
      << refused.status().message();
}

TEST_F(MitmCertificates, HostHeaderNotMatchingConnectIs421AndLogged) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  ASSERT_OK(c.send("GET /headers HTTP/1.1\r\nHost: other.test:" + std::to_string(origin_->port()) +
                   "\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(auto resp, c.readResponse());
  EXPECT_EQ(resp.status, 421);
  EXPECT_NE(resp.body.find("Host header does not match"), std::string::npos) << resp.body;
  EXPECT_EQ(origin_->requestsServed(), 0u);
  EXPECT_TRUE(proxy_->waitForLog(logLine(kAmpHost, 421)).has_value());
}

TEST_F(MitmCertificates, SniNotMatchingConnectIs421AndLogged) {
  // CONNECT ampcode.test, ClientHello SNI other.test (the leaf is still the
  // one for the CONNECT host, so the client's verification passes).
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_, std::string(kOtherHost)));
  ASSERT_OK(c.send(c.request("GET", "/headers")));
  ASSERT_OK_AND_ASSIGN(auto resp, c.readResponse());
  EXPECT_EQ(resp.status, 421);
  EXPECT_NE(resp.body.find("SNI does not match"), std::string::npos) << resp.body;
  EXPECT_EQ(origin_->requestsServed(), 0u);
  auto line = proxy_->waitForLog(logLine(kAmpHost, 421));
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->value("reason", "").find("SNI"), std::string::npos) << line->dump();
}

TEST_F(MitmCertificates, UntrustedUpstreamCertificateIs502WithClearBody) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kBadHost, *bad_origin_));
  ASSERT_OK(c.send(c.request("GET", "/small")));
  ASSERT_OK_AND_ASSIGN(auto resp, c.readResponse());
  EXPECT_EQ(resp.status, 502);
  EXPECT_NE(resp.body.find("upstream certificate verify failed"), std::string::npos) << resp.body;
  EXPECT_EQ(bad_origin_->requestsServed(), 0u);
  EXPECT_TRUE(proxy_->waitForLog(logLine(kBadHost, 502)).has_value());
  // curl sees the same answer.
  ASSERT_OK_AND_ASSIGN(auto r,
                       curlVia(sandbox_ca_file_, {target(kBadHost, *bad_origin_, "/small")}));
  EXPECT_EQ(r.http_code, 502);
  EXPECT_NE(r.body.find("upstream certificate verify failed"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace kitgate::testing
