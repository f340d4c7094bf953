// The world of the TLS interception tests: a test CA and an HTTPS origin
// serving ampcode.test (bound: a service route and a custom placeholder
// secret) and other.test (allowed, nothing bound: tunnelled), a second origin
// bad.test (bound, but its certificate comes from a CA the proxy does not
// trust), and the real kitgate-proxy in single-tenant mode with the origin
// CA as its extra upstream trust. After every test the policy log, the
// proxy's stdout/stderr and a /metrics scrape are scanned for every secret
// value; finding one fails the test.
// Test code only; one test thread.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/support/curl.h"
#include "tests/support/https_origin.h"

namespace kitgate::testing {

inline constexpr const char* kAmpHost = "ampcode.test";
inline constexpr const char* kOtherHost = "other.test";
inline constexpr const char* kBadHost = "bad.test";
// The service secret (route: X-Api-Key: Key %s on ampcode.test and bad.test).
inline constexpr const char* kAmpKey = "REAL-amp-7f3c9e1d2b";
// The custom secret bound to ampcode.test, and its placeholder.
inline constexpr const char* kPlaceholder = "sgamp-5d2e8a0b41c7";
inline constexpr const char* kCustomValue = "REAL-custom-c0ffee9931";

// Proxy-side Basic forms of the secrets (what a leak in encoded form looks like).
inline std::vector<std::string> secretForms() {
  return {kAmpKey,
          kCustomValue,
          "Key " + std::string(kAmpKey),
          base64(std::string("user:") + kCustomValue),
          base64(kCustomValue),
          base64(kAmpKey)};
}

class MitmWorld : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::create("mitm");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    work_ = std::make_unique<TempDir>(std::move(dir.value()));
    auto ca = makeTestCa({kAmpHost, kOtherHost});
    ASSERT_TRUE(ca.isOk()) << ca.status().message();
    origin_ca_ = std::make_unique<tls::CertificateAuthority>(std::move(ca.value()));
    origin_ca_file_ = work_->path() + "/origin-ca.pem";
    auto pem = origin_ca_->certPem();
    ASSERT_TRUE(pem.isOk());
    ASSERT_OK(writeFileAtomic(origin_ca_file_, *pem));
    auto origin = HttpsOrigin::start({origin_ca_.get(), {kAmpHost, kOtherHost}});
    ASSERT_TRUE(origin.isOk()) << origin.status().message();
    origin_ = std::move(origin.value());

    auto untrusted = makeTestCa({kBadHost}, "untrusted CA");
    ASSERT_TRUE(untrusted.isOk());
    untrusted_ca_ = std::make_unique<tls::CertificateAuthority>(std::move(untrusted.value()));
    auto bad = HttpsOrigin::start({untrusted_ca_.get(), {kBadHost}});
    ASSERT_TRUE(bad.isOk()) << bad.status().message();
    bad_origin_ = std::move(bad.value());

    ProxyOptions o;
    o.allow = {kAmpHost, kOtherHost, kBadHost, "127.0.0.1/32"};
    o.dns_hosts = {{kAmpHost, "127.0.0.1"}, {kOtherHost, "127.0.0.1"}, {kBadHost, "127.0.0.1"}};
    o.state_files["secrets.yaml"] =
        "services:\n"
        "  - {service: amp, scope: global, value: \"" +
        std::string(kAmpKey) +
        "\"}\n"
        "custom:\n"
        "  - {scope: global, hosts: [\"" +
        std::string(kAmpHost) + "\"], env: AMP_API_KEY, placeholder: \"" + kPlaceholder +
        "\", value: \"" + kCustomValue + "\"}\n";
    o.state_files["credentials/default.yaml"] =
        "routes:\n"
        "  - {service: amp, domains: [\"" +
        std::string(kAmpHost) + "\", \"" + kBadHost +
        "\"], header: X-Api-Key, format: \"Key %s\"}\n";
    o.extra_yaml = "tls: {upstream_ca_file: \"" + origin_ca_file_ + "\"}\n";
    customize(o);
    auto proxy = ProxyProcess::start(o);
    ASSERT_TRUE(proxy.isOk()) << proxy.status().message();
    proxy_ = std::move(proxy.value());
    sandbox_ca_file_ = proxy_->stateDir() + "/ca/" + ca_sandbox_ + ".crt";
    ASSERT_TRUE(waitUntil([&] { return ::access(sandbox_ca_file_.c_str(), R_OK) == 0; }, 10s))
        << "the proxy never wrote " << sandbox_ca_file_;
  }

  // Tests that need other proxy options override this (with sandboxes of
  // their own: set ca_sandbox_ to the one whose CA SetUp waits for).
  virtual void customize(ProxyOptions&) {}
  // Two sandboxes, "sa" and "sb" (matched by their proxy tokens), each
  // allowed the bound host and given the default credential route: for
  // tests that something is never shared across sandboxes. SetUp waits for
  // sa's CA.
  void twoSandboxes(ProxyOptions& o, const std::string& token_a, const std::string& token_b) {
    const std::string allow =
        "allow:\n  - \"" + std::string(kAmpHost) + "\"\n  - \"127.0.0.1/32\"\n";
    o.state_files["sandboxes/sa.yaml"] = "name: sa\nmatch:\n  token: \"" + token_a + "\"\n" + allow;
    o.state_files["sandboxes/sb.yaml"] = "name: sb\nmatch:\n  token: \"" + token_b + "\"\n" + allow;
    const std::string route = o.state_files["credentials/default.yaml"];
    o.state_files["credentials/sa.yaml"] = route;
    o.state_files["credentials/sb.yaml"] = route;
    o.state_files.erase("credentials/default.yaml");
    ca_sandbox_ = "sa";
  }
  std::string ca_sandbox_ = "default";

  void TearDown() override {
    if (!proxy_) return;
    // Everything the proxy said: the policy log (flushed every 200 ms — wait
    // until it stops growing), its stdout/stderr, and a metrics scrape.
    const std::string log_path = proxy_->dir() + "/policy.log";
    std::string log = readFile(log_path);
    waitUntil(
        [&] {
          std::string now = readFile(log_path);
          bool same = now.size() == log.size() && !now.empty();
          log = std::move(now);
          return same;
        },
        2s);
    auto metrics = proxy_->metricsText();
    const std::string texts[] = {log, proxy_->stderrText(),
                                 readFile(proxy_->dir() + "/proxy.stdout"),
                                 metrics.isOk() ? *metrics : std::string()};
    const char* names[] = {"policy log", "proxy stderr", "proxy stdout", "/metrics"};
    for (const std::string& secret : secretForms()) {
      for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(texts[i].find(secret), std::string::npos)
            << "a secret value appears in the " << names[i];
      }
    }
    EXPECT_TRUE(metrics.isOk()) << "metrics scrape failed: " << metrics.status().message();
  }

  std::string target(const char* host, const HttpsOrigin& origin, const std::string& path) const {
    return "https://" + std::string(host) + ":" + std::to_string(origin.port()) + path;
  }

  // curl through the proxy, trusting only `ca_file`.
  StatusOr<CurlResult> curlVia(const std::string& ca_file, std::vector<std::string> args) {
    std::vector<std::string> argv = {"--cacert", ca_file, "-x", proxy_->url()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCurl(argv, work_->path());
  }

  StatusOr<HttpsClient> client(const char* host, const HttpsOrigin& origin,
                               std::optional<std::string> sni = std::nullopt) {
    return HttpsClient::open(
        {proxy_->port(), host, origin.port(), sandbox_ca_file_, std::move(sni)});
  }

  std::unique_ptr<TempDir> work_;
  std::unique_ptr<tls::CertificateAuthority> origin_ca_;
  std::unique_ptr<tls::CertificateAuthority> untrusted_ca_;
  std::string origin_ca_file_;
  std::string sandbox_ca_file_;
  std::unique_ptr<HttpsOrigin> origin_;
  std::unique_ptr<HttpsOrigin> bad_origin_;
  std::unique_ptr<ProxyProcess> proxy_;
};

}  // namespace kitgate::testing
