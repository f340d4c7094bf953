#include "proxy/tls/ca.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/proxy/tls/tls_test_util.h"

namespace kitgate::tls {
namespace {

namespace fs = std::filesystem;
using testing::run;
using testing::TempDir;

unsigned fileMode(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

TEST(CertificateAuthority, IsAConstrainedP256CaWithPathLenZero) {
  CertificateAuthority ca = testing::makeCa({"api.example.com", "*.corp.test"});
  X509* cert = ca.cert();
  EXPECT_EQ(X509_check_ca(cert), 1);
  EXPECT_EQ(EVP_PKEY_id(ca.key()), EVP_PKEY_EC);
  int critical = -1;
  std::unique_ptr<BASIC_CONSTRAINTS, FreeWith<BASIC_CONSTRAINTS_free>> bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert, NID_basic_constraints, &critical, nullptr)));
  ASSERT_TRUE(bc);
  EXPECT_EQ(critical, 1);
  EXPECT_TRUE(bc->ca);
  EXPECT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
  NameConstraintsPtr nc(static_cast<NAME_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_name_constraints, &critical, nullptr)));
  ASSERT_TRUE(nc);
  EXPECT_EQ(critical, 1);
  EXPECT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 2u);
  EXPECT_EQ(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees), 2u);  // 0.0.0.0/0 and ::/0
  EXPECT_EQ(ca.constraints().permitted_dns, (std::vector<std::string>{".corp.test", "api.example.com"}));
}

TEST(CertificateAuthority, RefusesAnUnconstrainablePattern) {
  CaOptions options;
  options.permitted_hosts = {"**"};
  EXPECT_FALSE(CertificateAuthority::create(options).isOk());
}

TEST(CertificateAuthority, SaveWritesKey0600AndLoadRoundTrips) {
  TempDir dir;
  CertificateAuthority ca = testing::makeCa({"api.example.com"});
  ASSERT_TRUE(ca.save(dir.file("ca.pem"), dir.file("ca.key")).isOk());
  EXPECT_EQ(fileMode(dir.file("ca.key")), 0600u);
  EXPECT_EQ(fileMode(dir.file("ca.pem")), 0644u);
  StatusOr<CertificateAuthority> loaded =
      CertificateAuthority::load(dir.file("ca.pem"), dir.file("ca.key"));
  ASSERT_TRUE(loaded.isOk()) << loaded.status().message();
  EXPECT_EQ(loaded->fingerprint(), ca.fingerprint());
  EXPECT_EQ(loaded->constraints(), ca.constraints());
  EXPECT_TRUE(compat::sameKey(loaded->key(), ca.key()));
}

TEST(CertificateAuthority, LoadRefusesKeyReadableByGroupOrOthers) {
  TempDir dir;
  CertificateAuthority ca = testing::makeCa({"api.example.com"});
  ASSERT_TRUE(ca.save(dir.file("ca.pem"), dir.file("ca.key")).isOk());
  for (unsigned mode : {0640u, 0604u, 0644u}) {
    ASSERT_EQ(::chmod(dir.file("ca.key").c_str(), mode), 0);
    StatusOr<CertificateAuthority> loaded =
        CertificateAuthority::load(dir.file("ca.pem"), dir.file("ca.key"));
    ASSERT_FALSE(loaded.isOk()) << std::oct << mode;
    EXPECT_NE(loaded.status().message().find("chmod 600"), std::string::npos);
    // The refusal names the file, never its contents.
    EXPECT_EQ(loaded.status().message().find("PRIVATE KEY"), std::string::npos);
  }
}

TEST(CertificateAuthority, LoadRefusesAKeyOfAnotherCa) {
  TempDir dir;
  CertificateAuthority a = testing::makeCa({"a.example.com"});
  CertificateAuthority b = testing::makeCa({"b.example.com"});
  ASSERT_TRUE(a.save(dir.file("a.pem"), dir.file("a.key")).isOk());
  ASSERT_TRUE(b.save(dir.file("b.pem"), dir.file("b.key")).isOk());
  StatusOr<CertificateAuthority> mixed =
      CertificateAuthority::load(dir.file("a.pem"), dir.file("b.key"));
  ASSERT_FALSE(mixed.isOk());
  EXPECT_NE(mixed.status().message().find("does not match"), std::string::npos);
}

TEST(CertificateAuthority, FingerprintMatchesOpensslCli) {
  TempDir dir;
  CertificateAuthority ca = testing::makeCa({"api.example.com"});
  ASSERT_TRUE(ca.save(dir.file("ca.pem"), dir.file("ca.key")).isOk());
  int status = -1;
  const std::string out =
      run("openssl x509 -noout -fingerprint -sha256 -in " + dir.file("ca.pem"), &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out.substr(out.find('=') + 1), ca.fingerprint() + "\n");
}

TEST(WriteFileAtomically, ReplacesContentsAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("f");
  ASSERT_TRUE(writeFileAtomically(path, "one", 0600).isOk());
  ASSERT_TRUE(writeFileAtomically(path, "two", 0600).isOk());
  std::ifstream in(path);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, "two");
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(path).parent_path()),
                          fs::directory_iterator()),
            1);
}

}  // namespace
}  // namespace kitgate::tls
