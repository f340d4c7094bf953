// `kitgate kit sign | verify` on kit directories and kit.requireSignature
// (kit-spec §6.2, §3.2): the round trip, every kind of change after signing,
// a wrong key, unsafe or unusable key files, and refusals before anything is
// created. Keys are minted at run time with the openssl CLI.
#include <sys/stat.h>

#include <functional>
#include <set>

#include "tests/orchestrator/cli/kit_cli_test_util.h"

namespace kitgate::testing {
namespace {

class KitSign : public KitCli {
 protected:
  void SetUp() override {
    KitCli::SetUp();
    fs::create_directories(tmp_ / "state");
    kit_ = tmp_ / "amp";
    fs::copy(seedAmp(), kit_, fs::copy_options::recursive);
    key_ = newKey("a");
    ASSERT_FALSE(key_.empty());
  }

  // An EC key pair: tmp/NAME.key (0600) and tmp/NAME.pub; "" on failure.
  std::string newKey(const std::string& name, const std::string& curve = "P-256") {
    std::string key = (tmp_ / (name + ".key")).string();
    std::string pub = (tmp_ / (name + ".pub")).string();
    std::string cmd = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:" + curve +
                      " -out " + key + " 2>/dev/null && openssl pkey -in " + key +
                      " -pubout -out " + pub + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) return "";
    ::chmod(key.c_str(), 0600);
    return key;
  }
  std::string pub(const std::string& name) { return (tmp_ / (name + ".pub")).string(); }

  // kitgate with the test's settings file and state directory.
  CliRun cli(std::vector<std::string> args, std::vector<std::string> env = {}) {
    env.push_back("KITGATE_STATE_DIR=" + (tmp_ / "state").string());
    env.push_back("KITGATE_SETTINGS=" + (tmp_ / "settings.json").string());
    for (const char* v :
         {"DOCKER_SANDBOXES_KIT_REQUIRE_SIGNATURE=", "DOCKER_SANDBOXES_KIT_TRUSTED_SIGNERS=",
          "DOCKER_SANDBOXES_KIT_ALLOW_LOCAL="})
      env.push_back(v);
    return kitgate(std::move(args), env);
  }

  // "... signed by sha256:..." / "with key sha256:..." -> the fingerprint.
  static std::string fingerprintIn(const std::string& text) {
    size_t at = text.find(
        "sha256:", text.find(" by ") != std::string::npos ? text.find(" by ") : text.find("key "));
    return at == std::string::npos ? "" : text.substr(at, 71);
  }

  std::string signKit() {
    CliRun r = cli({"kit", "sign", kit_.string(), "--key", key_});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return fingerprintIn(r.out);
  }

  fs::path kit_;
  std::string key_;
};

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(e.path().string());
  return out;
}

TEST_F(KitSign, SignThenVerifyADirectoryWithTheKeyOrATrustedFingerprint) {
  CliRun sign = cli({"kit", "sign", kit_.string(), "--key", key_});
  ASSERT_EQ(sign.exit_code, 0) << sign.err;
  std::string fp = fingerprintIn(sign.out);
  ASSERT_EQ(fp.size(), 71u) << sign.out;
  EXPECT_NE(sign.out.find("Signature: " + fs::canonical(kit_).string() + "/kit.sig.bundle"),
            std::string::npos)
      << sign.out;
  std::string bundle = slurp(kit_ / "kit.sig.bundle");
  EXPECT_NE(bundle.find("\"mediaType\": \"application/vnd.kitgate.kit.signature.v1+json\""),
            std::string::npos)
      << bundle;
  EXPECT_EQ(bundle.find("PRIVATE KEY"), std::string::npos);

  // --key takes the public key or the private key's public half.
  for (const std::string& key : {pub("a"), key_}) {
    CliRun v = cli({"kit", "verify", kit_.string(), "--key", key});
    EXPECT_EQ(v.exit_code, 0) << v.err;
    EXPECT_NE(v.out.find("Verified: " + kit_.string() + " signed by " + fp), std::string::npos)
        << v.out;
  }
  // Without --key: the settings file's or the environment's trusted signers.
  std::ofstream(tmp_ / "settings.json") << "{\"kit\": {\"trustedSigners\": [\"" << fp << "\"]}}";
  EXPECT_EQ(cli({"kit", "verify", kit_.string()}).exit_code, 0);
  std::ofstream(tmp_ / "settings.json", std::ios::trunc) << "{}";
  CliRun none = cli({"kit", "verify", kit_.string()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("it is signed by " + fp + ", which is not a trusted signer"),
            std::string::npos)
      << none.err;
  EXPECT_NE(none.err.find("hint: pass --key"), std::string::npos);
  EXPECT_EQ(cli({"kit", "verify", kit_.string()}, {"DOCKER_SANDBOXES_KIT_TRUSTED_SIGNERS=" + fp})
                .exit_code,
            0);

  // The signature covers the content, not its packaging: a signed kit packs
  // to the same ZIP as before (the bundle is not part of it).
  ASSERT_EQ(cli({"kit", "pack", kit_.string(), "-o", (tmp_ / "signed.zip").string()}).exit_code, 0);
  ASSERT_EQ(cli({"kit", "pack", seedAmp(), "-o", (tmp_ / "plain.zip").string()}).exit_code, 0);
  EXPECT_EQ(slurp(tmp_ / "signed.zip"), slurp(tmp_ / "plain.zip"));
}

TEST_F(KitSign, EveryChangeAfterSigningFailsVerification) {
  struct Change {
    const char* what;
    std::function<void(const fs::path&)> apply;
    const char* expected;
  };
  const char* changed = "is not what was signed";
  std::vector<Change> changes = {
      {"spec.yaml edited",
       [](const fs::path& d) { std::ofstream(d / "spec.yaml", std::ios::app) << "# edited\n"; },
       changed},
      {"a files/ file edited",
       [](const fs::path& d) {
         fs::create_directories(d / "files/home");
         std::ofstream(d / "files/home/.extra", std::ios::app) << "x";
       },
       changed},
      {"a file made executable",
       [](const fs::path& d) {
         fs::permissions(d / "files/workspace/tool.sh", fs::perms::owner_exec,
                         fs::perm_options::add);
       },
       changed},
      {"a file renamed",
       [](const fs::path& d) {
         fs::rename(d / "files/workspace/tool.sh", d / "files/workspace/tool2.sh");
       },
       changed},
      {"the signature altered",
       [](const fs::path& d) {
         std::string b = slurp(d / "kit.sig.bundle");
         size_t at = b.find("\"signature\": \"") + 20;
         b[at] = b[at] == 'A' ? 'B' : 'A';
         std::ofstream(d / "kit.sig.bundle", std::ios::trunc) << b;
       },
       "its signature does not verify"},
      {"the bundle replaced by junk",
       [](const fs::path& d) { std::ofstream(d / "kit.sig.bundle", std::ios::trunc) << "{}"; },
       "is not a application/vnd.kitgate.kit.signature.v1+json document"},
  };
  for (const Change& c : changes) {
    fs::remove_all(kit_);
    fs::copy(seedAmp(), kit_, fs::copy_options::recursive);
    fs::create_directories(kit_ / "files/workspace");
    std::ofstream(kit_ / "files/workspace/tool.sh") << "#!/bin/sh\n";
    fs::permissions(kit_ / "files/workspace/tool.sh",
                    fs::perms::owner_read | fs::perms::owner_write);
    signKit();
    ASSERT_EQ(cli({"kit", "verify", kit_.string(), "--key", pub("a")}).exit_code, 0) << c.what;
    c.apply(kit_);
    CliRun v = cli({"kit", "verify", kit_.string(), "--key", pub("a")});
    EXPECT_EQ(v.exit_code, 1) << c.what;
    EXPECT_NE(v.err.find(c.expected), std::string::npos) << c.what << ": " << v.err;
  }
}

TEST_F(KitSign, AnotherKeyIsUntrusted) {
  std::string fp = signKit();
  ASSERT_FALSE(newKey("b").empty());
  CliRun v = cli({"kit", "verify", kit_.string(), "--key", pub("b")});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("it is signed by " + fp + ", which is not a trusted signer"),
            std::string::npos)
      << v.err;
  std::ofstream(tmp_ / "settings.json") << "{\"kit.requireSignature\": true}";
  CliRun inspect = cli({"kit", "add", "some-sandbox", kit_.string()},
                       {"DOCKER_SANDBOXES_KIT_TRUSTED_SIGNERS=sha256:" + std::string(64, 'a')});
  EXPECT_EQ(inspect.exit_code, 1);
  EXPECT_NE(inspect.err.find("which is not a trusted signer (kit.requireSignature is on)"),
            std::string::npos)
      << inspect.err;
}

TEST_F(KitSign, UnsafeOrUnusableKeyFilesAreRefusedAndNothingIsWritten) {
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ::chmod(key_.c_str(), mode);
    CliRun r = cli({"kit", "sign", kit_.string(), "--key", key_});
    EXPECT_EQ(r.exit_code, 1) << mode;
    EXPECT_NE(r.err.find("the signing key " + key_ + " is readable by group or others"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("chmod 600"), std::string::npos);
    EXPECT_FALSE(fs::exists(kit_ / "kit.sig.bundle"));
  }
  std::string p384 = newKey("c", "P-384");
  ASSERT_FALSE(p384.empty());
  std::string encrypted = (tmp_ / "enc.key").string();
  ASSERT_EQ(std::system(("openssl pkey -in " + key_ + " -aes256 -passout pass:pw -out " +
                         encrypted + " 2>/dev/null")
                            .c_str()),
            0);
  ::chmod(encrypted.c_str(), 0600);
  std::string junk = (tmp_ / "junk.key").string();
  std::ofstream(junk) << "not a key\n";
  ::chmod(junk.c_str(), 0600);
  for (const auto& [key, expected] : std::vector<std::pair<std::string, std::string>>{
           {p384, "is not an ECDSA P-256 key"},
           {encrypted, "is not an unencrypted PEM private key"},
           {junk, "is not an unencrypted PEM private key"},
           {(tmp_ / "missing.key").string(), "cannot read the signing key"}}) {
    CliRun r = cli({"kit", "sign", kit_.string(), "--key", key});
    EXPECT_EQ(r.exit_code, 1) << key;
    EXPECT_NE(r.err.find(expected), std::string::npos) << key << ": " << r.err;
    EXPECT_EQ(r.err.find("BEGIN"), std::string::npos);
    EXPECT_FALSE(fs::exists(kit_ / "kit.sig.bundle"));
  }
  CliRun no_key = cli({"kit", "sign", kit_.string()});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.err.find("sign needs --key KEY.pem"), std::string::npos);
}

TEST_F(KitSign, RequireSignatureRefusesUnsignedKitsBeforeAnythingIsCreated) {
  std::string fp;
  {
    fs::path signed_kit = tmp_ / "signed";
    fs::copy(seedAmp(), signed_kit, fs::copy_options::recursive);
    CliRun r = cli({"kit", "sign", signed_kit.string(), "--key", key_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    fp = fingerprintIn(r.out);
  }
  std::ofstream(tmp_ / "settings.json") << "{\"kit.requireSignature\": true, "
                                           "\"kit.trustedSigners\": [\""
                                        << fp << "\"]}";
  ASSERT_EQ(cli({"kit", "pack", seedAmp(), "-o", (tmp_ / "amp.zip").string()}).exit_code, 0);
  fs::path project = tmp_ / "project";
  fs::create_directories(project);
  // No daemon behind this socket: anything past the kit check would fail on it.
  std::vector<std::string> env = {"DOCKER_HOST=unix://" + (tmp_ / "no-docker.sock").string()};
  const auto before = listing(tmp_ / "state");
  struct Case {
    std::string ref;
    std::string expected;
  };
  for (const Case& c :
       {Case{kit_.string(), "kit \"" + kit_.string() +
                                "\" is not signed (no kit.sig.bundle next to its spec.yaml) "
                                "(kit.requireSignature is on)"},
        Case{(tmp_ / "amp.zip").string(), "is a ZIP, which cannot carry a signature"}}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"run", "--workspace", project.string(), "--kit", c.ref, "amp"},
          {"run", "--dry-run", "--workspace", project.string(), "--kit", c.ref, "amp"},
          {"kit", "add", "amp-project", c.ref},
          {"k8s", "render", "--kit", c.ref, "amp", "--gateway-ip", "10.96.0.50"}}) {
      CliRun r = cli(args, env);
      EXPECT_EQ(r.exit_code, 1) << args[0] << " " << c.ref;
      EXPECT_NE(r.err.find(c.expected), std::string::npos) << args[0] << ": " << r.err;
      EXPECT_EQ(r.err.find("no-docker.sock"), std::string::npos) << r.err;
      if (args[0] == "run") {
        EXPECT_NE(r.err.find("was not loaded (see above); nothing was created"), std::string::npos)
            << r.err;
      }
    }
  }
  EXPECT_EQ(listing(tmp_ / "state"), before);
  // The same settings let the signed kit through (to the missing daemon).
  CliRun ok = cli({"run", "--dry-run", "--workspace", project.string(), "--kit",
                   (tmp_ / "signed").string(), "amp"},
                  env);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  CliRun to_docker = cli(
      {"run", "--workspace", project.string(), "--kit", (tmp_ / "signed").string(), "amp"}, env);
  EXPECT_NE(to_docker.exit_code, 0);
  EXPECT_EQ(to_docker.err.find("requireSignature"), std::string::npos) << to_docker.err;

  // validate gains no error, only a warning; inspect shows the kit with it.
  CliRun validate = cli({"kit", "validate", kit_.string()}, env);
  EXPECT_EQ(validate.exit_code, 0) << validate.err;
  EXPECT_NE(validate.out.find("VALID:"), std::string::npos);
  EXPECT_NE(validate.out.find("WARN: kit \"" + kit_.string() + "\" is not signed"),
            std::string::npos)
      << validate.out;
  CliRun json = cli({"kit", "validate", kit_.string(), "--json"}, env);
  EXPECT_EQ(json.exit_code, 0) << json.out;
  CliRun inspect = cli({"kit", "inspect", kit_.string()}, env);
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE((inspect.out + inspect.err).find("is not signed"), std::string::npos) << inspect.out;

  // The environment variable switches it off (and on) like the other kit.* keys.
  EXPECT_EQ(
      cli({"run", "--dry-run", "--workspace", project.string(), "--kit", kit_.string(), "amp"},
          {"DOCKER_SANDBOXES_KIT_REQUIRE_SIGNATURE=false"})
          .exit_code,
      0);
  CliRun bad = cli({"kit", "inspect", kit_.string()}, {"DOCKER_SANDBOXES_KIT_REQUIRE_SIGNATURE=x"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("DOCKER_SANDBOXES_KIT_REQUIRE_SIGNATURE must be true or false"),
            std::string::npos);
  std::ofstream(tmp_ / "settings.json", std::ios::trunc)
      << "{\"kit.trustedSigners\": [\"my-laptop-key\"]}";
  CliRun bad_signer = cli({"kit", "inspect", kit_.string()});
  EXPECT_NE(bad_signer.exit_code, 0);
  EXPECT_NE(bad_signer.err.find("kit.trustedSigners entry \"my-laptop-key\" is not a key "
                                "fingerprint"),
            std::string::npos)
      << bad_signer.err;
}

}  // namespace
}  // namespace kitgate::testing
