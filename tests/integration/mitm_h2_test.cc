// HTTP/2 on an intercepted host (tls.http2: true), end to end: a real gRPC
// server (python3-grpcio, TLS, h2 only) behind the real proxy, a real gRPC
// client and curl in front of it. The proxy injects the bound key as the
// `authorization` metadata; every call kind and the trailers (grpc-status,
// custom trailing metadata) must come through intact.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "proxy/secrets/oauth.h"
#include "tests/integration/mitm_fixture.h"
#include "tests/support/subprocess.h"

namespace kitgate::testing {
namespace {

constexpr const char* kGrpcHost = "grpc.test";
constexpr const char* kPython = "/usr/bin/python3";  // Debian's, where python3-grpcio lives

class MitmHttp2 : public MitmWorld {
 protected:
  void customize(ProxyOptions& o) override {
    // The gRPC origin: its own CA (the fixture's is name-constrained to its
    // hosts), trusted by the proxy next to the fixture's.
    auto ca = makeTestCa({kGrpcHost}, "grpc test CA");
    ASSERT_TRUE(ca.isOk()) << ca.status().message();
    auto minter = tls::LeafMinter::create(*ca);
    ASSERT_TRUE(minter.isOk());
    auto leaf = (*minter)->mint(kGrpcHost, std::chrono::system_clock::now());
    ASSERT_TRUE(leaf.isOk()) << leaf.status().message();
    auto cert = tls::certificateToPem(leaf->cert.get());
    auto key = tls::privateKeyToPem(leaf->key.get());
    auto ca_pem = ca->certPem();
    ASSERT_TRUE(cert.isOk() && key.isOk() && ca_pem.isOk());
    const std::string dir = work_->path();
    ASSERT_TRUE(writeFileAtomic(dir + "/grpc.crt", *cert).isOk());
    ASSERT_TRUE(writeFileAtomic(dir + "/grpc.key", *key, 0600).isOk());
    ASSERT_TRUE(
        writeFileAtomic(dir + "/upstream-cas.pem", readFile(origin_ca_file_) + *ca_pem).isOk());

    auto server = Subprocess::spawn(
        {kPython, sourceDir() + "/tests/integration/grpc_peer.py", "server", dir + "/grpc.crt",
         dir + "/grpc.key", dir + "/grpc.port", std::string("Bearer ") + kAmpKey},
        dir + "/grpc-server");
    ASSERT_TRUE(server.isOk()) << server.status().message();
    server_.emplace(std::move(server.value()));
    ASSERT_TRUE(waitUntil([&] { return !readFile(dir + "/grpc.port").empty(); }, 20s))
        << "the gRPC server never started: " << server_->stderrText();
    grpc_port_ = readFile(dir + "/grpc.port");

    o.allow.push_back(kGrpcHost);
    o.dns_hosts[kGrpcHost] = "127.0.0.1";
    o.state_files["credentials/default.yaml"] +=
        "  - {service: amp, domains: [\"" + std::string(kGrpcHost) +
        "\"], header: Authorization, format: \"Bearer %s\"}\n";
    o.extra_yaml = "tls: {upstream_ca_file: \"" + dir + "/upstream-cas.pem\", http2: true}\n";
  }

  void TearDown() override {
    MitmWorld::TearDown();
    if (server_) server_->kill();
  }

  static std::string sourceDir() {
    const char* d = std::getenv("KITGATE_SOURCE_DIR");
    return d != nullptr ? d : ".";
  }

  std::string target() const { return std::string(kGrpcHost) + ":" + grpc_port_; }

  // tests/integration/alpn_origin.py for kGrpcHost: logs each TLS
  // connection's negotiated protocol to <work>/alpn.port.log. `url` is its
  // https:// base.
  void startAlpnOrigin(std::optional<Subprocess>& origin, std::string& url) {
    const std::string dir = work_->path();
    auto spawned = Subprocess::spawn({kPython, sourceDir() + "/tests/integration/alpn_origin.py",
                                      dir + "/grpc.crt", dir + "/grpc.key", dir + "/alpn.port"},
                                     dir + "/alpn-origin");
    ASSERT_TRUE(spawned.isOk()) << spawned.status().message();
    origin.emplace(std::move(spawned.value()));
    ASSERT_TRUE(waitUntil([&] { return !readFile(dir + "/alpn.port").empty(); }, 20s))
        << "the ALPN origin never started: " << origin->stderrText();
    url = "https://" + std::string(kGrpcHost) + ":" + readFile(dir + "/alpn.port");
  }

  std::optional<Subprocess> server_;
  std::string grpc_port_;
};

TEST_F(MitmHttp2, GrpcEveryCallKindWithInjectedAuthorizationAndTrailersIntact) {
  auto run = runProgram({kPython, sourceDir() + "/tests/integration/grpc_peer.py", "client",
                         proxy_->url(), sandbox_ca_file_, target()},
                        work_->path() + "/grpc-client", 60s);
  ASSERT_TRUE(run.isOk()) << run.status().message();
  ASSERT_EQ(run->status.code, 0) << run->err;
  const auto out = nlohmann::json::parse(run->out);
  EXPECT_EQ(out["unary"], "auth-ok:hello");
  EXPECT_EQ(out["unary_trailer"], "unary");
  EXPECT_EQ(out["server_stream"],
            nlohmann::json::array({"auth-ok:s:0", "auth-ok:s:1", "auth-ok:s:2"}));
  EXPECT_EQ(out["client_stream"], "auth-ok:a,b,c");
  EXPECT_EQ(out["bidi"], nlohmann::json::array({"auth-ok:x", "auth-ok:y", "auth-ok:z"}));
  EXPECT_EQ(out["deny"], "PERMISSION_DENIED") << "a non-zero grpc-status relayed intact";
  EXPECT_EQ(out["deny_trailer"], "denied-by-test");
  // One policy line per stream (the five calls), each allowed, none with the key.
  auto http_lines = [&](std::string_view decision) {
    const std::string log = readFile(proxy_->dir() + "/policy.log");
    size_t n = 0;
    for (size_t at = 0, end; (end = log.find('\n', at)) != std::string::npos; at = end + 1) {
      const std::string_view line(log.data() + at, end - at);
      n += line.find("\"type\":\"http\"") != std::string_view::npos &&
           line.find("\"host\":\"grpc.test\"") != std::string_view::npos &&
           line.find(decision) != std::string_view::npos;
    }
    return n;
  };
  EXPECT_TRUE(waitUntil([&] { return http_lines("\"decision\":\"allowed\"") == 5; }, 5s))
      << readFile(proxy_->dir() + "/policy.log");
  EXPECT_EQ(http_lines("\"decision\":\"blocked\""), 0u);
}

TEST_F(MitmHttp2, CurlSpeaksHttp2WhenItOffersItAndHttp11WhenNot) {
  for (const std::string version : {"--http2", "--http1.1"}) {
    SCOPED_TRACE(version);
    auto r = runProgram({"curl", "-sS", "--max-time", "20", "--cacert", sandbox_ca_file_, "-x",
                         proxy_->url(), version, "-o", "/dev/null", "-w", "%{http_version}",
                         "https://" + target() + "/kitgate.Echo/Unary"},
                        work_->path() + "/curl-h2", 30s);
    ASSERT_TRUE(r.isOk()) << r.status().message();
    // The protocol the sandbox spoke with the proxy (what the gRPC origin
    // makes of a plain GET does not matter here).
    EXPECT_EQ(r->out, version == "--http2" ? "2" : "1.1") << r->err;
  }
}

// An HTTP/1 sandbox client costs one upstream TLS connection, not two: the
// proxy reads its ClientHello first and offers the upstream h2 only when
// the client offers it (it once offered h2 regardless, then threw that leg
// away and reconnected with http/1.1 for the first request).
TEST_F(MitmHttp2, AnHttp1ClientCostsOneUpstreamConnectionOfHttp11) {
  const std::string dir = work_->path();
  std::optional<Subprocess> origin;
  std::string url;
  ASSERT_NO_FATAL_FAILURE(startAlpnOrigin(origin, url));
  auto r = runProgram({"curl", "-sS", "--max-time", "20", "--cacert", sandbox_ca_file_, "-x",
                       proxy_->url(), "--http1.1", url + "/one", url + "/two"},
                      dir + "/curl-h1", 30s);
  origin->kill();
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->out, "okok") << r->err;
  EXPECT_EQ(readFile(dir + "/alpn.port.log"), "http/1.1\n")
      << "the origin's TLS connections, one line each, by negotiated protocol";
}

// With http2 on, a pooled HTTP/1.1 upstream never decides an h2 client's
// protocol: after an HTTP/1.1 client left its upstream connection idle, an
// h2 client to the same host still gets its own upstream leg offered h2
// (before, it was handed the pooled one and downgraded to http/1.1 — which
// a gRPC client refuses).
TEST_F(MitmHttp2, AnHttp2ClientIsNotHandedAPooledHttp11Upstream) {
  const std::string dir = work_->path();
  std::optional<Subprocess> origin;
  std::string url;
  ASSERT_NO_FATAL_FAILURE(startAlpnOrigin(origin, url));
  auto h1 = runProgram({"curl", "-sS", "--max-time", "20", "--cacert", sandbox_ca_file_, "-x",
                        proxy_->url(), "--http1.1", url + "/one"},
                       dir + "/curl-h1", 30s);
  ASSERT_TRUE(h1.isOk()) << h1.status().message();
  EXPECT_EQ(h1->out, "ok") << h1->err;
  // The h2 client: this origin closes h2 connections, so the request fails;
  // what counts is that the proxy offered the upstream h2 on a new leg.
  auto h2 = runProgram({"curl", "-sS", "--max-time", "20", "--cacert", sandbox_ca_file_, "-x",
                        proxy_->url(), "--http2", url + "/two"},
                       dir + "/curl-h2", 30s);
  origin->kill();
  ASSERT_TRUE(h2.isOk()) << h2.status().message();
  EXPECT_EQ(readFile(dir + "/alpn.port.log"), "http/1.1\nh2\n")
      << "the origin's TLS connections, one line each, by negotiated protocol";
}

// An OAuth token endpoint's host stays HTTP/1.1 with http2 on: token
// requests are rewritten (refresh sentinel -> real token) by the HTTP/1
// exchange only, so an h2 client is offered http/1.1 there — and the
// upstream is offered http/1.1 alone. Before, the upstream leg offered h2,
// and an h2 client's own refresh would have reached the provider with the
// sentinel.
class MitmHttp2TokenHost : public MitmHttp2 {
 protected:
  void customize(ProxyOptions& o) override {
    MitmHttp2::customize(o);
    secrets::OAuthRoute route;
    route.service = "anthropic";
    route.token_host = kGrpcHost;
    route.token_path = "/v1/oauth/token";
    route.resource_hosts = {"api.anthropic.test"};
    route.access_sentinel = "sk-ant-oat01-proxy-managed";
    route.refresh_sentinel = "sk-ant-ort01-proxy-managed";
    o.state_files["oauth/default.json"] = secrets::renderOAuthRoutes({route});
  }
};

TEST_F(MitmHttp2TokenHost, AnHttp2ClientGetsHttp11OnTheTokenEndpointsHost) {
  const std::string dir = work_->path();
  std::optional<Subprocess> origin;
  std::string url;
  ASSERT_NO_FATAL_FAILURE(startAlpnOrigin(origin, url));
  auto r = runProgram({"curl", "-sS", "--max-time", "20", "--cacert", sandbox_ca_file_, "-x",
                       proxy_->url(), "--http2", "-w", " %{http_version}", url + "/other"},
                      dir + "/curl-h2", 30s);
  origin->kill();
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->out, "ok 1.1") << r->err;
  EXPECT_EQ(readFile(dir + "/alpn.port.log"), "http/1.1\n")
      << "the origin's TLS connections, one line each, by negotiated protocol";
}

}  // namespace
}  // namespace kitgate::testing
