#include "proxy/tls/leaf_cache.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/proxy/tls/tls_test_util.h"

namespace kitgate::tls {
namespace {

using testing::makeCa;

std::shared_ptr<const LeafMinter> minterFor(const CertificateAuthority& ca, LeafOptions options = {}) {
  StatusOr<std::shared_ptr<const LeafMinter>> m = LeafMinter::create(ca, options);
  EXPECT_TRUE(m.isOk()) << m.status().message();
  return *m;
}

// Verifies `leaf` for `host` against a store holding only `ca`, the way a
// TLS client does (purpose sslserver, host name check). Returns X509_V_*.
int verifyWithBackend(const CertificateAuthority& ca, X509* leaf, const std::string& host) {
  X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.cert());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (isIpLiteral(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.data(), host.size());
  }
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

struct VerifyCase {
  const char* host;
  bool inside;
};

// The heart of the CA design: a leaf inside the constraints verifies; a leaf
// for any other host, signed by the same CA key, is rejected by the verifier.
TEST(NameConstrainedCa, VerifierAcceptsOnlyLeavesInsideTheConstraints) {
  CertificateAuthority ca = makeCa({"api.example.com", "*.corp.test", "192.0.2.7"});
  auto minter = minterFor(ca);
  const VerifyCase cases[] = {
      {"api.example.com", true}, {"eu.api.example.com", true}, {"a.corp.test", true},
      {"x.y.corp.test", true},   {"192.0.2.7", true},          {"example.com", false},
      {"evil.com", false},       {"corp.test", false},         {"api.example.com.evil.com", false},
      {"192.0.2.8", false},      {"2001:db8::7", false},
  };
  // BoringSSL does not evaluate iPAddress constraints: it rejects every IP
  // leaf under a CA that has them ("unsupported name constraint type") —
  // fail-closed. OpenSSL (and the CLI test below) check them properly.
  const bool boringssl = compat::backendName() == "boringssl";
  for (const VerifyCase& c : cases) {
    StatusOr<Leaf> leaf = minter->mint(c.host, std::chrono::system_clock::now());
    ASSERT_TRUE(leaf.isOk()) << leaf.status().message();
    const bool ip = isIpLiteral(c.host);
    const int result = verifyWithBackend(ca, leaf->cert.get(), c.host);
    EXPECT_EQ(result == X509_V_OK, c.inside && !(boringssl && ip))
        << c.host << ": " << X509_verify_cert_error_string(result);
    if (result != X509_V_OK) {
      EXPECT_TRUE(result == X509_V_ERR_PERMITTED_VIOLATION ||
                  result == X509_V_ERR_EXCLUDED_VIOLATION ||
                  (boringssl && ip && result == X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE))
          << c.host << ": " << X509_verify_cert_error_string(result);
    }
    EXPECT_EQ(ca.constraints().permits(c.host), c.inside) << c.host;
  }
}

TEST(NameConstrainedCa, OpensslCliAgreesIndependently) {
  testing::TempDir dir;
  CertificateAuthority ca = makeCa({"api.example.com", "192.0.2.7"});
  ASSERT_TRUE(ca.save(dir.file("ca.pem"), dir.file("ca.key")).isOk());
  auto minter = minterFor(ca);
  const VerifyCase cases[] = {{"api.example.com", true}, {"evil.com", false},
                              {"192.0.2.7", true}, {"192.0.2.8", false}};
  for (const VerifyCase& c : cases) {
    StatusOr<Leaf> leaf = minter->mint(c.host, std::chrono::system_clock::now());
    ASSERT_TRUE(leaf.isOk());
    ASSERT_TRUE(writeFileAtomically(dir.file("leaf.pem"), *certificateToPem(leaf->cert.get()), 0644)
                    .isOk());
    int status = -1;
    const std::string out = testing::run("openssl verify -purpose sslserver -CAfile " +
                                             dir.file("ca.pem") + " " + dir.file("leaf.pem"),
                                         &status);
    EXPECT_EQ(status == 0, c.inside) << c.host << ": " << out;
    if (!c.inside) {
      EXPECT_NE(out.find("subtree violation"), std::string::npos) << out;
    }
  }
}

TEST(LeafMinter, LeafCarriesSanEkuAndTheSharedKey) {
  CertificateAuthority ca = makeCa({"api.example.com"});
  auto minter = minterFor(ca);
  StatusOr<Leaf> a = minter->mint("api.example.com", std::chrono::system_clock::now());
  StatusOr<Leaf> b = minter->mint("v2.api.example.com", std::chrono::system_clock::now());
  ASSERT_TRUE(a.isOk() && b.isOk());
  EXPECT_EQ(X509_check_host(a->cert.get(), "api.example.com", 15, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(a->cert.get(), "v2.api.example.com", 18, 0, nullptr), 0);
  EXPECT_EQ(X509_check_purpose(a->cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_ca(a->cert.get()), 0);
  EXPECT_EQ(X509_check_issued(ca.cert(), a->cert.get()), X509_V_OK);  // AKI matches CA SKI
  EXPECT_EQ(a->key.get(), minter->leafKey());
  EXPECT_EQ(b->key.get(), minter->leafKey());
  EXPECT_EQ(X509_check_private_key(a->cert.get(), minter->leafKey()), 1);
}

TEST(LeafMinter, ValidityFollowsTheInjectedClock) {
  CertificateAuthority ca = makeCa({"api.example.com"});
  LeafOptions options;
  options.back_date = std::chrono::hours(1);
  options.lifetime = std::chrono::hours(24);
  auto minter = minterFor(ca, options);
  const SystemTime now = std::chrono::system_clock::from_time_t(1'800'000'000);
  StatusOr<Leaf> leaf = minter->mint("api.example.com", now);
  ASSERT_TRUE(leaf.isOk());
  const time_t t = 1'800'000'000;
  time_t probe = t - 3600 - 1;
  EXPECT_EQ(X509_cmp_time(X509_get0_notBefore(leaf->cert.get()), &probe), 1);
  probe = t - 3600 + 1;
  EXPECT_EQ(X509_cmp_time(X509_get0_notBefore(leaf->cert.get()), &probe), -1);
  probe = t + 24 * 3600 + 1;
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(leaf->cert.get()), &probe), -1);
  probe = t + 24 * 3600 - 1;
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(leaf->cert.get()), &probe), 1);
}

TEST(LeafMinter, SerialsAreRandomPositive128Bit) {
  CertificateAuthority ca = makeCa({"api.example.com"});
  auto minter = minterFor(ca);
  std::set<std::string> serials;
  for (int i = 0; i < 200; ++i) {
    StatusOr<Leaf> leaf = minter->mint("api.example.com", std::chrono::system_clock::now());
    ASSERT_TRUE(leaf.isOk());
    BignumPtr bn(ASN1_INTEGER_to_BN(X509_get_serialNumber(leaf->cert.get()), nullptr));
    EXPECT_FALSE(BN_is_negative(bn.get()));
    EXPECT_EQ(BN_num_bits(bn.get()), 127);
    char* hex = BN_bn2hex(bn.get());
    serials.insert(hex);
    OPENSSL_free(hex);
  }
  EXPECT_EQ(serials.size(), 200u);
}

// One minter serves every worker; each worker has its own cache over it.
TEST(LeafMinter, IsSharedByWorkersEachWithItsOwnCache) {
  CertificateAuthority ca = makeCa({"*.example.com"});
  auto minter = minterFor(ca);
  std::vector<std::shared_ptr<const Leaf>> minted[2];
  std::vector<std::thread> workers;
  for (auto& out : minted) {
    workers.emplace_back([&minter, &out] {
      LeafCache cache(minter);
      for (int i = 0; i < 40; ++i) {
        auto leaf = cache.get("h" + std::to_string(i % 20) + ".example.com");
        if (leaf.isOk()) out.push_back(*leaf);
      }
    });
  }
  for (std::thread& t : workers) t.join();
  for (const auto& out : minted) {
    ASSERT_EQ(out.size(), 40u);
    for (const auto& leaf : out) {
      EXPECT_EQ(verifyWithBackend(ca, leaf->cert.get(), leaf->host), X509_V_OK) << leaf->host;
    }
  }
}

TEST(LeafCache, HitsReturnTheSameLeafAndHostsNormalize) {
  CertificateAuthority ca = makeCa({"api.example.com"});
  LeafCache cache(minterFor(ca));
  auto a = cache.get("api.example.com");
  auto b = cache.get("API.Example.com.");
  ASSERT_TRUE(a.isOk() && b.isOk());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST(LeafCache, EvictsTheLeastRecentlyUsedHost) {
  CertificateAuthority ca = makeCa({"*.example.com"});
  LeafOptions options;
  options.capacity = 2;
  LeafCache cache(minterFor(ca, options));
  auto a1 = cache.get("a.example.com");
  auto b1 = cache.get("b.example.com");
  ASSERT_TRUE(cache.get("a.example.com").isOk());  // a is now the most recent
  ASSERT_TRUE(cache.get("c.example.com").isOk());  // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.get("a.example.com")->get(), a1->get());  // still cached
  EXPECT_NE(cache.get("b.example.com")->get(), b1->get());  // re-minted
  EXPECT_EQ(cache.stats().misses, 4u);
  // An evicted leaf stays valid for whoever still holds it.
  EXPECT_EQ(X509_check_host(b1->get()->cert.get(), "b.example.com", 13, 0, nullptr), 1);
}

TEST(LeafCache, RemintsALeafAboutToExpire) {
  CertificateAuthority ca = makeCa({"api.example.com"});
  SystemTime now = std::chrono::system_clock::now();
  LeafOptions options;
  options.lifetime = std::chrono::hours(24);
  options.renew_before = std::chrono::hours(1);
  options.clock = [&now] { return now; };
  LeafCache cache(minterFor(ca, options));
  auto first = cache.get("api.example.com");
  now += std::chrono::hours(22);
  EXPECT_EQ(cache.get("api.example.com")->get(), first->get());
  now += std::chrono::hours(1) + std::chrono::seconds(1);
  auto renewed = cache.get("api.example.com");
  EXPECT_NE(renewed->get(), first->get());
  EXPECT_EQ(renewed.value()->not_after, now + std::chrono::hours(24));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(LeafCache, RefusesHostsOutsideTheConstraints) {
  CertificateAuthority ca = makeCa({"api.example.com"});
  LeafCache cache(minterFor(ca));
  auto leaf = cache.get("evil.com");
  ASSERT_FALSE(leaf.isOk());
  EXPECT_NE(leaf.status().message().find("outside the CA's name constraints"), std::string::npos);
  EXPECT_FALSE(cache.get("bad host").isOk());
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace kitgate::tls
