#include "proxy/sandbox/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kitgate::sandbox {
namespace {

namespace fs = std::filesystem;
using policy::IpAddress;

constexpr const char* kToken1 = "tok-aaaaaaaaaaaaaaaa";
constexpr const char* kToken2 = "tok-bbbbbbbbbbbbbbbb";

// A fresh state directory under the test temp dir, removed afterwards.
class StateDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/kitgate-sandbox-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& rel, const std::string& text,
                    fs::perms mode = fs::perms(0600)) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    fs::permissions(p, mode);
    return p.string();
  }
  StatusOr<std::shared_ptr<const Registry>> load(const std::vector<RuleSource>& extra = {}) {
    return loadRegistry(dir_.string(), extra);
  }

  fs::path dir_;
};

IpAddress ip(const char* t) { return *IpAddress::parse(t); }
policy::Host host(const char* t) { return *policy::normalizeHost(t); }

std::string basic(const std::string& user, const std::string& token) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + token;
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = (unsigned char)in[i] << 16;
    out += std::string{kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out +=
        std::string{kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return "Basic " + out;
}

TEST_F(StateDir, NoSandboxFilesMeansSingleTenantDefault) {
  write("policy.yaml", "allow: [\"example.com:443\"]\n");
  auto reg = load();
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  EXPECT_FALSE((*reg)->multiTenant());
  const Sandbox* sb = (*reg)->identify(ip("10.9.9.9"), std::nullopt);
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->name(), "default");
  EXPECT_TRUE(sb->policy().evaluate(host("example.com"), 443).allowed());
  EXPECT_TRUE(sb->policy().evaluate(host("example.com"), 80).denied());
}

TEST_F(StateDir, EmptyStateDirDeniesEverything) {
  auto reg = load();
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const Sandbox* sb = (*reg)->identify(ip("127.0.0.1"), std::nullopt);
  ASSERT_NE(sb, nullptr);
  EXPECT_TRUE(sb->policy().evaluate(host("example.com"), 443).denied());
}

TEST_F(StateDir, MissingStateDirIsAnError) {
  auto reg = loadRegistry((dir_ / "nope").string());
  ASSERT_FALSE(reg.isOk());
  EXPECT_NE(reg.status().message().find("does not exist"), std::string::npos);
}

// A state file that is there but cannot be read fails the load (the reload
// keeps the previous snapshot): never read as absent, which would drop the
// global deny list or a sandbox silently.
TEST_F(StateDir, UnreadableStateFilesFailTheLoad) {
  write("sandboxes/dev1.yaml", "name: dev1\nmatch: { sources: [10.88.2.7] }\nallow: [a.test]\n");
  ASSERT_TRUE(load().isOk());
  fs::create_symlink("gone.yaml", dir_ / "policy.yaml");
  auto dangling_policy = load();
  ASSERT_FALSE(dangling_policy.isOk());
  EXPECT_NE(dangling_policy.status().message().find("policy.yaml"), std::string::npos)
      << dangling_policy.status().message();
  fs::remove(dir_ / "policy.yaml");
  fs::create_directories(dir_ / "policy.yaml");
  EXPECT_FALSE(load().isOk()) << "a directory named policy.yaml";
  fs::remove(dir_ / "policy.yaml");
  fs::create_symlink("gone.yaml", dir_ / "sandboxes/dev2.yaml");
  auto dangling_sandbox = load();
  ASSERT_FALSE(dangling_sandbox.isOk());
  EXPECT_NE(dangling_sandbox.status().message().find("dev2.yaml: error: not a regular file"), std::string::npos)
      << dangling_sandbox.status().message();
}

TEST(SingleTenantRegistry, FromInMemoryRules) {
  RuleSource src{"proxy.yaml", {{"**.example.com", 3, 5}}, {{"bad.example.com", 4, 5}}};
  auto reg = singleTenantRegistry({src});
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const Sandbox* sb = (*reg)->identify(ip("192.0.2.1"), std::string_view("Bearer whatever-token"));
  ASSERT_NE(sb, nullptr);
  EXPECT_TRUE(sb->policy().evaluate(host("a.example.com"), 1).allowed());
  EXPECT_TRUE(sb->policy().evaluate(host("bad.example.com"), 1).denied());
}

TEST(SingleTenantRegistry, ReportsRuleErrorsWithFileLineColumn) {
  RuleSource src{"proxy.yaml", {{"ok.example", 3, 7}, {"a.**.example", 4, 7}}, {{"x:80-90", 6, 9}}};
  auto reg = singleTenantRegistry({src});
  ASSERT_FALSE(reg.isOk());
  const std::string m = reg.status().message();
  EXPECT_NE(m.find("proxy.yaml:4:9: error: invalid rule \"a.**.example\""), std::string::npos) << m;
  EXPECT_NE(m.find("proxy.yaml:6:13: error: invalid rule \"x:80-90\": port ranges"),
            std::string::npos)
      << m;
}

TEST_F(StateDir, LoadsSandboxesAndLayersGlobalRules) {
  write("policy.yaml", "allow:\n  - \"registry.npmjs.org:443\"\ndeny:\n  - evil.example\n");
  write("sandboxes/dev1.yaml",
        "name: dev1\n"
        "match:\n"
        "  sources: [\"10.88.1.0/24\", \"fd00:88::/64\"]\n"
        "allow: [\"github.com:443\", \"evil.example\"]\n"
        "limits: { max_connections: 8 }\n");
  write("sandboxes/dev2.yaml", "name: dev2\nmatch: { sources: [10.88.2.7] }\nallow: []\n");
  auto reg = load();
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  ASSERT_TRUE((*reg)->multiTenant());
  EXPECT_EQ((*reg)->size(), 2u);
  const Sandbox* dev1 = (*reg)->identify(ip("10.88.1.5"), std::nullopt);
  ASSERT_NE(dev1, nullptr);
  EXPECT_EQ(dev1->name(), "dev1");
  ASSERT_TRUE(dev1->limits().max_connections.has_value());
  EXPECT_EQ(*dev1->limits().max_connections, 8u);
  EXPECT_TRUE(dev1->policy().evaluate(host("github.com"), 443).allowed());
  EXPECT_TRUE(dev1->policy().evaluate(host("registry.npmjs.org"), 443).allowed());
  EXPECT_TRUE(dev1->policy().evaluate(host("evil.example"), 443).denied());  // global deny wins
  const Sandbox* dev2 = (*reg)->identify(ip("10.88.2.7"), std::nullopt);
  ASSERT_NE(dev2, nullptr);
  EXPECT_EQ(dev2->name(), "dev2");
  EXPECT_TRUE(dev2->policy().evaluate(host("github.com"), 443).denied());
  EXPECT_TRUE(dev2->policy().evaluate(host("registry.npmjs.org"), 443).allowed());
  EXPECT_EQ((*reg)->find("dev2"), dev2);
}

TEST_F(StateDir, IdentifiesBySourceIncludingMappedAndV6) {
  write("sandboxes/a.yaml", "name: a\nmatch: { sources: [\"10.0.0.0/24\", \"fd00:1::/64\"] }\n");
  write("sandboxes/b.yaml", "name: b\nmatch: { sources: [\"10.0.1.9\"] }\n");
  auto reg = load();
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  struct Case {
    const char* client;
    const char* sandbox;
  };
  for (const Case& c : {Case{"10.0.0.1", "a"}, Case{"::ffff:10.0.0.200", "a"},
                        Case{"fd00:1::5", "a"}, Case{"10.0.1.9", "b"}, Case{"10.0.1.10", nullptr},
                        Case{"fd00:2::5", nullptr}, Case{"127.0.0.1", nullptr}}) {
    const Sandbox* sb = (*reg)->identify(ip(c.client), std::nullopt);
    if (c.sandbox == nullptr) {
      EXPECT_EQ(sb, nullptr) << c.client;
    } else {
      ASSERT_NE(sb, nullptr) << c.client;
      EXPECT_EQ(sb->name(), c.sandbox) << c.client;
    }
  }
}

TEST_F(StateDir, IdentifiesByToken) {
  write("sandboxes/t1.yaml", std::string("name: t1\nmatch: { token: \"") + kToken1 + "\" }\n");
  write("sandboxes/t2.yaml",
        std::string("name: t2\nmatch: { token: \"") + kToken2 + "\", sources: [10.5.0.0/16] }\n");
  auto reg = load();
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const Registry& r = **reg;
  auto name = [](const Sandbox* s) { return s == nullptr ? std::string("<none>") : s->name(); };
  const std::string bearer1 = std::string("Bearer ") + kToken1;
  const std::string bearer2 = std::string("Bearer ") + kToken2;
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), bearer1)), "t1");
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), basic("t1", kToken1))), "t1");
  EXPECT_EQ(name(r.identify(ip("10.5.3.3"), basic("t2", kToken2))), "t2");
  EXPECT_EQ(name(r.identify(ip("10.5.3.3"), bearer2)), "t2");
  // Token sandbox with sources: both factors needed.
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), bearer2)), "<none>");
  EXPECT_EQ(name(r.identify(ip("10.5.3.3"), std::nullopt)), "<none>");
  // Wrong token, wrong name, token of another sandbox, from another's source.
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), std::string("Bearer tok-aaaaaaaaaaaaaaab"))),
            "<none>");
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), basic("t2", kToken1))), "<none>");
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), basic("nobody", kToken1))), "<none>");
  EXPECT_EQ(name(r.identify(ip("10.5.3.3"), bearer1)), "<none>");
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), std::string("Digest x"))), "<none>");
  EXPECT_EQ(name(r.identify(ip("192.0.2.1"), std::nullopt)), "<none>");
}

TEST_F(StateDir, ReportsEveryErrorAtOnceWithFileLineColumn) {
  const std::string policy =
      write("policy.yaml", "allow:\n  - \"*\"\n  - ok.example\ndeny:\n  - a.**.b\n");
  const std::string s1 = write("sandboxes/s1.yaml",
                               "name: s1\n"
                               "match: { sources: [10.1.0.0/16] }\n"
                               "allow:\n"
                               "  - \"example.com:80-443\"\n"
                               "colour: blue\n");
  const std::string s2 =
      write("sandboxes/s2.yaml", "name: other\nmatch: { sources: [10.2.0.1/8] }\n");
  auto reg = load();
  ASSERT_FALSE(reg.isOk());
  const std::string m = reg.status().message();
  for (const std::string& want :
       {policy + ":2:6: error: invalid rule \"*\": bare '*'",
        policy + ":5:7: error: invalid rule \"a.**.b\"",
        s1 + ":4:20: error: invalid rule \"example.com:80-443\": port ranges",
        s1 + ":5:1: error: unknown key \"colour\"",
        s2 + ":1:7: error: sandbox name \"other\" does not match the file name \"s2.yaml\"",
        s2 + ":2:20: error: invalid source \"10.2.0.1/8\": host bits set"}) {
    EXPECT_NE(m.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << m;
  }
}

TEST_F(StateDir, UnknownKeysAreErrorsAtEveryLevel) {
  write("sandboxes/u.yaml",
        "name: u\nmatch: { sources: [10.1.1.1], tokn: x }\nlimits: { max_conn: 3 }\nallow: []\n");
  auto reg = load();
  ASSERT_FALSE(reg.isOk());
  const std::string m = reg.status().message();
  EXPECT_NE(m.find(":2:31: error: unknown key \"tokn\""), std::string::npos) << m;
  EXPECT_NE(m.find(":3:11: error: unknown key \"max_conn\""), std::string::npos) << m;
}

TEST_F(StateDir, OverlappingSourcesAreErrors) {
  write("sandboxes/a.yaml", "name: a\nmatch: { sources: [10.0.0.0/16] }\n");
  write("sandboxes/b.yaml", "name: b\nmatch:\n  sources:\n    - 10.0.3.4\n");
  auto reg = load();
  ASSERT_FALSE(reg.isOk());
  EXPECT_NE(reg.status().message().find("b.yaml:4:1: error: source \"10.0.3.4\" overlaps source "
                                        "\"10.0.0.0/16\" of sandbox \"a\""),
            std::string::npos)
      << reg.status().message();
}

TEST_F(StateDir, TokenNeverAppearsInErrors) {
  write("sandboxes/k.yaml", "name: k\nmatch: { token: \"short-secret\" }\n");
  write("sandboxes/w.yaml", std::string("name: w\nmatch: { token: \"") + kToken1 + "\" }\n",
        fs::perms(0644));
  auto reg = load();
  ASSERT_FALSE(reg.isOk());
  const std::string m = reg.status().message();
  EXPECT_EQ(m.find("short-secret"), std::string::npos) << m;
  EXPECT_EQ(m.find(kToken1), std::string::npos) << m;
  EXPECT_NE(m.find("k.yaml:2:17: error: invalid token"), std::string::npos) << m;
  EXPECT_NE(m.find("w.yaml: error: file holds a token but is readable by group or others"),
            std::string::npos)
      << m;
}

TEST_F(StateDir, SandboxWithoutIdentityIsAnError) {
  write("sandboxes/n.yaml", "name: n\nallow: [example.com]\n");
  auto reg = load();
  ASSERT_FALSE(reg.isOk());
  EXPECT_NE(reg.status().message().find("cannot be identified"), std::string::npos);
}

TEST_F(StateDir, YamlSyntaxErrorHasPosition) {
  write("sandboxes/y.yaml", "name: y\nmatch: { sources: [10.0.0.1 }\n");
  auto reg = load();
  ASSERT_FALSE(reg.isOk());
  EXPECT_NE(reg.status().message().find("y.yaml:2:"), std::string::npos) << reg.status().message();
}

TEST_F(StateDir, IgnoresHiddenAndNonYamlFiles) {
  write("sandboxes/.a.yaml.tmp", "garbage: [");
  write("sandboxes/notes.txt", "garbage: [");
  write("sandboxes/ok.yaml", "name: ok\nmatch: { sources: [10.0.0.1] }\n");
  auto reg = load();
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  EXPECT_EQ((*reg)->size(), 1u);
}

TEST_F(StateDir, ExtraGlobalRulesJoinPolicyFile) {
  write("sandboxes/ok.yaml", "name: ok\nmatch: { sources: [10.0.0.1] }\n");
  RuleSource extra{"proxy.yaml", {{"extra.example", 9, 5}}, {}};
  auto reg = load({extra});
  ASSERT_TRUE(reg.isOk()) << reg.status().message();
  const Sandbox* sb = (*reg)->identify(ip("10.0.0.1"), std::nullopt);
  ASSERT_NE(sb, nullptr);
  EXPECT_TRUE(sb->policy().evaluate(host("extra.example"), 443).allowed());
}

}  // namespace
}  // namespace kitgate::sandbox
