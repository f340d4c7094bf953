// The state directory as Kubernetes mounts it from a Secret volume: every
// file a symlink into `..data/`, root-owned (here: ours), mode from
// defaultMode, group = the pod's fsGroup. The proxy's loaders of secret files
// (sandbox tokens, secrets.yaml, CA keys) accept 0400 and 0440-with-our-group
// (proxy/common/private_file.h) and still refuse world-readable files,
// group-writable ones and other groups' 0440.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/sandbox/registry.h"
#include "proxy/secrets/store.h"
#include "proxy/tls/ca.h"
#include "tests/proxy/tls/tls_test_util.h"
#include "tests/support/subprocess.h"

namespace kitgate {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSandbox =
    "name: dev1\nmatch: {token: \"kgt_0123456789abcdefghij\"}\nallow: [\"example.com\"]\n";
constexpr const char* kSecrets =
    "services:\n  - {service: amp, scope: global, value: \"amp-0123456789\"}\n";

// A Secret volume holding sandboxes/dev1.yaml, secrets.yaml and ca/dev1.{crt,key},
// every file with `mode` and group `gid`, laid out as the kubelet's atomic
// writer does: ..<timestamp>/ with the files, ..data -> it, and one symlink
// per top-level entry.
void makeSecretVolume(const std::string& root, mode_t mode, gid_t gid) {
  const std::string data = root + "/..2026_12_07_08_00_00.000000001";
  fs::create_directories(data + "/sandboxes");
  fs::create_directories(data + "/ca");
  std::ofstream(data + "/sandboxes/dev1.yaml") << kSandbox;
  std::ofstream(data + "/secrets.yaml") << kSecrets;
  tls::CertificateAuthority ca = tls::testing::makeCa({"api.example.com"});
  ASSERT_TRUE(ca.save(data + "/ca/dev1.crt", data + "/ca/dev1.key").isOk());
  for (const char* f : {"/sandboxes/dev1.yaml", "/secrets.yaml", "/ca/dev1.crt", "/ca/dev1.key"}) {
    ASSERT_EQ(::chown((data + f).c_str(), ::geteuid(), gid), 0) << f;
    ASSERT_EQ(::chmod((data + f).c_str(), mode), 0) << f;
  }
  fs::create_directory_symlink(fs::path(data).filename(), root + "/..data");
  for (const char* e : {"sandboxes", "ca"})
    fs::create_directory_symlink(std::string("..data/") + e, root + "/" + e);
  fs::create_symlink("..data/secrets.yaml", root + "/secrets.yaml");
}

struct Verdicts {
  bool sandbox, secrets, ca_key;
};

Verdicts load(const std::string& root) {
  return {sandbox::loadRegistry(root).isOk(), secrets::loadStore(root).isOk(),
          tls::CertificateAuthority::load(root + "/ca/dev1.crt", root + "/ca/dev1.key").isOk()};
}

TEST(SecretVolume, ModesAndGroupsDecideWhetherSecretFilesLoad) {
  const gid_t own = ::getegid();
  const gid_t other = own == 54321 ? 54322 : 54321;
  const struct {
    mode_t mode;
    bool own_group;
    bool accepted;
  } cases[] = {
      {0400, true, true},    // defaultMode 0400, no fsGroup
      {0600, true, true},    // kitgate's own files
      {0440, true, true},    // defaultMode 0400/0440 + fsGroup (the proxy's group)
      {0440, false, false},  // group-readable by a group the proxy is not in
      {0444, true, false},   // world-readable
      {0640, true, false},   // owner-writable and group-readable: not a Secret volume's shape
      {0460, true, false},   // group-writable
      {0404, true, false},   // others may read
  };
  for (const auto& c : cases) {
    if (!c.own_group && ::geteuid() != 0) continue;  // only root can give a file another group
    auto dir = testing::TempDir::create("secret-volume");
    ASSERT_TRUE(dir.isOk());
    makeSecretVolume(dir->path(), c.mode, c.own_group ? own : other);
    const Verdicts v = load(dir->path());
    EXPECT_EQ(v.sandbox, c.accepted)
        << "sandbox file, mode " << std::oct << c.mode << " own group " << c.own_group;
    EXPECT_EQ(v.secrets, c.accepted)
        << "secrets.yaml, mode " << std::oct << c.mode << " own group " << c.own_group;
    EXPECT_EQ(v.ca_key, c.accepted)
        << "CA key, mode " << std::oct << c.mode << " own group " << c.own_group;
  }
}

}  // namespace
}  // namespace kitgate
