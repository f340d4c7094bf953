// `kitgate kit push | pull | inspect` and `run --dry-run --kit` against a real
// registry (docker-registry on loopback): byte-exact round trips for v1 and
// v2 kits, tag and digest references, a tampered layer, TLS + htpasswd auth
// with nothing leaked, and the allowedSources refusal.
#include <optional>

#include "kitloader/kit.h"
#include "kitloader/oci/client.h"
#include "kitloader/oci/sha256.h"
#include "proxy/common/base64.h"
#include "tests/orchestrator/cli/kit_cli_test_util.h"
#include "tests/support/loopback.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace kitgate::testing {
namespace {

using namespace std::chrono_literals;

void run(const std::vector<std::string>& argv, const fs::path& dir) {
  auto r = runProgram(argv, (dir / "cmd").string(), 60s);
  ASSERT_TRUE(r.isOk()) << argv[0];
  ASSERT_TRUE(r->status.exited && r->status.code == 0) << argv[0] << ": " << r->err;
}

constexpr const char* kPassword = "s3cret-Pa55word";

class KitRegistry : public KitCli {
 protected:
  void SetUp() override {
    KitCli::SetUp();
    fs::create_directories(tmp_ / "docker");
    fs::create_directories(tmp_ / "state");
    settings({"*"});
  }
  void TearDown() override {
    if (registry_) registry_->kill();
    registry_.reset();
    KitCli::TearDown();
  }

  // Starts docker-registry on a free loopback port with its own storage.
  void startRegistry(bool tls) {
    port_ = freeLoopbackPort();
    std::string config =
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        "    rootdirectory: " +
        (tmp_ / "store").string() + "\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
    if (tls) {
      fs::path d = tmp_ / "pki";
      fs::create_directories(d);
      std::string ec = "ec_paramgen_curve:P-256";
      run({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout",
           (d / "ca.key").string(), "-out", (d / "ca.crt").string(), "-subj", "/CN=kitgate test CA",
           "-days", "1"},
          d);
      run({"/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout",
           (d / "server.key").string(), "-out", (d / "server.csr").string(), "-subj",
           "/CN=127.0.0.1"},
          d);
      std::ofstream(d / "ext") << "subjectAltName=IP:127.0.0.1\n";
      run({"/usr/bin/openssl", "x509", "-req", "-in", (d / "server.csr").string(), "-CA",
           (d / "ca.crt").string(), "-CAkey", (d / "ca.key").string(), "-CAcreateserial", "-out",
           (d / "server.crt").string(), "-days", "1", "-extfile", (d / "ext").string()},
          d);
      run({"/usr/bin/htpasswd", "-Bbc", (d / "htpasswd").string(), "alice", kPassword}, d);
      config +=
          "  tls:\n    certificate: " + (d / "server.crt").string() +
          "\n    key: " + (d / "server.key").string() +
          "\nauth:\n  htpasswd:\n    realm: kitgate-test\n    path: " + (d / "htpasswd").string() +
          "\n";
      fs::path certs = tmp_ / "docker/certs.d" / registry();
      fs::create_directories(certs);
      fs::copy_file(d / "ca.crt", certs / "ca.crt");
    }
    std::ofstream(tmp_ / "registry.yml") << config;
    auto p =
        Subprocess::spawn({"/usr/bin/docker-registry", "serve", (tmp_ / "registry.yml").string()},
                          (tmp_ / "registry").string());
    ASSERT_TRUE(p.isOk()) << "docker-registry (apt-get install docker-registry; scripts/setup.sh)";
    registry_.emplace(std::move(*p));
    ASSERT_TRUE(waitUntil([&] { return acceptsOnLoopback(port_) || !registry_->running(); }, 20s));
    ASSERT_TRUE(registry_->running()) << registry_->stderrText();
  }

  std::string registry() const { return "127.0.0.1:" + std::to_string(port_); }

  void settings(const std::vector<std::string>& allowed) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "\"" : ",\"") + a + "\"";
    std::ofstream(tmp_ / "settings.json") << "{\"kit.allowedSources\": [" << list << "]}";
  }

  void dockerLogin(const std::string& user, const std::string& password) {
    std::ofstream(tmp_ / "docker/config.json")
        << "{\"auths\":{\"" << registry() << "\":{\"auth\":\""
        << kitgate::base64Encode(user + ":" + password) << "\"}}}";
  }

  CliRun cli(std::vector<std::string> args) {
    return kitgate(std::move(args),
                   {"KITGATE_SETTINGS=" + (tmp_ / "settings.json").string(),
                    "DOCKER_CONFIG=" + (tmp_ / "docker").string(),
                    "KITGATE_STATE_DIR=" + (tmp_ / "state").string(),
                    "DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES=", "DOCKER_SANDBOXES_KIT_ALLOW_LOCAL="});
  }

  // "Pushed REF@sha256:..." -> the digest.
  static std::string pushedDigest(const CliRun& r) {
    size_t at = r.out.find("@sha256:");
    return at == std::string::npos ? "" : r.out.substr(at + 1, 71);
  }

  // A v2 kit with files in home and workspace (one executable).
  fs::path v2Kit() {
    fs::path d = tmp_ / "v2kit";
    fs::create_directories(d / "files/home/.config/tool");
    fs::create_directories(d / "files/workspace/bin");
    std::ofstream(d / "spec.yaml") << "schemaVersion: \"2\"\nkind: sandbox\nname: v2kit\n"
                                      "displayName: V2 Kit\nversion: \"1.2.3\"\n"
                                      "sandbox:\n  image: docker/sandbox-templates:shell\n"
                                      "  entrypoint: [bash]\n"
                                      "permissions:\n  network:\n    allow: [\"example.com\"]\n";
    std::ofstream(d / "files/home/.config/tool/config.toml") << "key = \"value\"\n";
    std::ofstream(d / "files/workspace/bin/run.sh") << "#!/bin/sh\necho hi\n";
    fs::permissions(d / "files/workspace/bin/run.sh", fs::perms::owner_exec, fs::perm_options::add);
    return d;
  }

  // Pushes the seed amp kit (v1) to `ref`, pulls it back: the pack ZIP's bytes.
  void ampRoundTrip(const std::string& ref, CliRun* push, CliRun* pull) {
    *push = cli({"kit", "push", seedAmp(), ref});
    ASSERT_EQ(push->exit_code, 0) << push->err;
    *pull = cli({"kit", "pull", ref, "-o", (tmp_ / "p.zip").string()});
    ASSERT_EQ(pull->exit_code, 0) << pull->err;
    ASSERT_EQ(cli({"kit", "pack", seedAmp(), "-o", (tmp_ / "amp.zip").string()}).exit_code, 0);
    EXPECT_EQ(slurp(tmp_ / "p.zip"), slurp(tmp_ / "amp.zip"));
  }

  // An EC P-256 key pair: tmp/NAME.key (0600) and tmp/NAME.pub.
  std::string newKey(const std::string& name) {
    std::string key = (tmp_ / (name + ".key")).string();
    run({"/usr/bin/openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", key},
        tmp_);
    run({"/usr/bin/openssl", "pkey", "-in", key, "-pubout", "-out", pub(name)}, tmp_);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    return key;
  }
  std::string pub(const std::string& name) { return (tmp_ / (name + ".pub")).string(); }

  // "... with key sha256:..." -> the fingerprint.
  static std::string signerIn(const CliRun& r) {
    size_t at = r.out.find("with key sha256:");
    return at == std::string::npos ? "" : r.out.substr(at + 9, 71);
  }

  std::optional<Subprocess> registry_;
  int port_ = 0;
};

TEST_F(KitRegistry, V1AndV2KitsRoundTripByteExact) {
  startRegistry(false);
  // v1: the pulled layer is the `kit pack` ZIP.
  CliRun push = cli({"kit", "push", seedAmp(), registry() + "/kits/amp:1.0"});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_NE(push.out.find("Pushed " + registry() + "/kits/amp:1.0@sha256:"), std::string::npos);
  EXPECT_NE(push.out.find("(kit amp, v1)"), std::string::npos) << push.out;
  ASSERT_EQ(cli({"kit", "pack", seedAmp(), "-o", (tmp_ / "amp.zip").string()}).exit_code, 0);
  CliRun pull = cli({"kit", "pull", registry() + "/kits/amp:1.0", "-o", (tmp_ / "p.zip").string()});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(slurp(tmp_ / "p.zip"), slurp(tmp_ / "amp.zip"));

  // v2: config = spec.yaml verbatim, layer = the reproducible tar+gzip.
  fs::path v2 = v2Kit();
  push = cli({"kit", "push", v2.string(), registry() + "/kits/v2kit:1.2.3"});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_NE(push.out.find("(kit v2kit, v2)"), std::string::npos) << push.out;
  pull = cli({"kit", "pull", registry() + "/kits/v2kit:1.2.3", "-o", (tmp_ / "p.tgz").string()});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  kit::LoadResult local = kit::load(v2.string());
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(slurp(tmp_ / "p.tgz"), kit::buildV2Layer(local.kit.files));
  // Loaded back from the registry, the kit is the local one (files, modes).
  kit::LoadOptions options;
  kit::LoadResult remote = kit::load(registry() + "/kits/v2kit:1.2.3", options);
  ASSERT_TRUE(remote.ok()) << (remote.errors().empty() ? "" : remote.errors()[0]->message);
  EXPECT_EQ(remote.ref_kind, kit::RefKind::kOci);
  EXPECT_EQ(remote.spec_text, slurp(v2 / "spec.yaml"));
  // Files: same paths and bytes; modes normalised to 0644/0755 (§6.3).
  ASSERT_EQ(remote.kit.files.size(), 2u);
  ASSERT_EQ(local.kit.files.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(remote.kit.files[i].target, local.kit.files[i].target);
    EXPECT_EQ(remote.kit.files[i].relative_path, local.kit.files[i].relative_path);
    EXPECT_EQ(remote.kit.files[i].content, local.kit.files[i].content);
  }
  EXPECT_EQ(remote.kit.files[0].mode, 0644u);  // home/.config/tool/config.toml
  EXPECT_EQ(remote.kit.files[1].mode, 0755u);  // workspace/bin/run.sh
  remote.kit.files.clear();
  local.kit.files.clear();
  EXPECT_EQ(remote.kit, local.kit);
  // Pushing the same kit again gives the same layer (same blob, nothing new).
  CliRun again = cli({"kit", "push", v2.string(), registry() + "/kits/v2kit:again"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  CliRun pulled_again =
      cli({"kit", "pull", registry() + "/kits/v2kit:again", "-o", (tmp_ / "q.tgz").string()});
  ASSERT_EQ(pulled_again.exit_code, 0);
  EXPECT_EQ(slurp(tmp_ / "q.tgz"), slurp(tmp_ / "p.tgz"));
}

TEST_F(KitRegistry, TagAndDigestReferencesAndAWrongDigestIsRefused) {
  startRegistry(false);
  CliRun push = cli({"kit", "push", seedAmp(), registry() + "/kits/amp:1.0"});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  std::string digest = pushedDigest(push);
  ASSERT_EQ(digest.size(), 71u) << push.out;
  for (const std::string& ref : {registry() + "/kits/amp:1.0", registry() + "/kits/amp@" + digest,
                                 "oci://" + registry() + "/kits/amp:1.0"}) {
    CliRun r = cli({"kit", "inspect", ref});
    EXPECT_EQ(r.exit_code, 0) << ref << ": " << r.err;
    EXPECT_NE(r.out.find("Kit: amp (sandbox)"), std::string::npos) << ref;
  }
  CliRun missing = cli({"kit", "inspect", registry() + "/kits/amp:2.0"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("kit " + registry() + "/kits/amp:2.0 not found in registry"),
            std::string::npos)
      << missing.err;
  std::string other = "sha256:" + std::string(64, '0');
  CliRun wrong = cli({"kit", "inspect", registry() + "/kits/amp@" + other});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("not found in registry"), std::string::npos) << wrong.err;
}

TEST_F(KitRegistry, TamperedLayerIsRefused) {
  startRegistry(false);
  fs::path v2 = v2Kit();
  ASSERT_EQ(cli({"kit", "push", v2.string(), registry() + "/kits/v2kit:1"}).exit_code, 0);
  kit::LoadResult local = kit::load(v2.string());
  std::string layer_digest = oci::sha256Digest(kit::buildV2Layer(local.kit.files));
  std::string hex = layer_digest.substr(7);
  fs::path data = tmp_ / "store/docker/registry/v2/blobs/sha256" / hex.substr(0, 2) / hex / "data";
  ASSERT_TRUE(fs::exists(data));
  std::string bytes = slurp(data);
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(data, std::ios::binary | std::ios::trunc) << bytes;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"kit", "pull", registry() + "/kits/v2kit:1", "-o",
                                 (tmp_ / "t.tgz").string()},
        {"kit", "inspect", registry() + "/kits/v2kit:1"}}) {
    CliRun r = cli(args);
    EXPECT_EQ(r.exit_code, 1) << args[1];
    EXPECT_NE(r.err.find("blob " + layer_digest + " of " + registry() +
                         "/kits/v2kit:1 does not match its digest (tampered or corrupt)"),
              std::string::npos)
        << r.err;
  }
  EXPECT_FALSE(fs::exists(tmp_ / "t.tgz"));
}

TEST_F(KitRegistry, TlsWithHtpasswdAuthAndClearFailuresThatLeakNothing) {
  startRegistry(true);
  std::string ref = registry() + "/private/amp:1.0";
  CliRun anonymous = cli({"kit", "push", seedAmp(), ref});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find("registry " + registry() +
                               " requires a login: run 'kitgate secret "
                               "set --registry " +
                               registry() + "' or 'docker login " + registry() + "'"),
            std::string::npos)
      << anonymous.err;

  dockerLogin("alice", "wrong-Pa55word-xyz");
  CliRun wrong = cli({"kit", "push", seedAmp(), ref});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("registry " + registry() + ": authentication failed for user \"alice\""),
            std::string::npos)
      << wrong.err;
  EXPECT_EQ(wrong.err.find("wrong-Pa55word-xyz"), std::string::npos);
  EXPECT_EQ(wrong.out.find("wrong-Pa55word-xyz"), std::string::npos);
  EXPECT_EQ(wrong.err.find(kitgate::base64Encode("alice:wrong-Pa55word-xyz")), std::string::npos);

  dockerLogin("alice", kPassword);
  CliRun push, pull;
  ASSERT_NO_FATAL_FAILURE(ampRoundTrip(ref, &push, &pull));
  for (const CliRun* r : {&push, &pull}) {
    EXPECT_EQ(r->out.find(kPassword), std::string::npos);
    EXPECT_EQ(r->err.find(kPassword), std::string::npos);
  }

  // Without its CA the registry's certificate is refused, never bypassed.
  fs::remove_all(tmp_ / "docker/certs.d");
  CliRun untrusted = cli({"kit", "inspect", ref});
  EXPECT_EQ(untrusted.exit_code, 1);
  EXPECT_NE(untrusted.err.find("its certificate is not trusted"), std::string::npos)
      << untrusted.err;
}

TEST_F(KitRegistry, CredentialHelperThenKitgateLoginWhichWins) {
  startRegistry(true);
  std::string ref = registry() + "/private/amp:1.0";
  // credsStore: docker-credential-kgtest gets the server on stdin.
  fs::create_directories(tmp_ / "bin");
  auto helper = [&](const std::string& password) {
    std::ofstream(tmp_ / "bin/docker-credential-kgtest")
        << "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '%s' \"$server\" > "
        << (tmp_ / "helper-server").string()
        << "\nprintf '{\"Username\":\"alice\",\"Secret\":\"%s\"}' '" << password << "'\n";
    fs::permissions(tmp_ / "bin/docker-credential-kgtest", fs::perms::owner_all);
  };
  helper(kPassword);
  std::ofstream(tmp_ / "docker/config.json") << "{\"credsStore\":\"kgtest\"}";
  std::string path = "PATH=" + (tmp_ / "bin").string() + ":" + envOr("PATH", "/usr/bin:/bin");
  auto with = [&](std::vector<std::string> args) {
    return kitgate(std::move(args), {path, "KITGATE_SETTINGS=" + (tmp_ / "settings.json").string(),
                                     "DOCKER_CONFIG=" + (tmp_ / "docker").string(),
                                     "KITGATE_STATE_DIR=" + (tmp_ / "state").string()});
  };
  CliRun push = with({"kit", "push", seedAmp(), ref});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(slurp(tmp_ / "helper-server"), registry());

  helper("not-the-password");
  CliRun wrong = with({"kit", "inspect", ref});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("authentication failed for user \"alice\" (credential from "
                           "credential helper docker-credential-kgtest)"),
            std::string::npos)
      << wrong.err;
  EXPECT_EQ(wrong.err.find("not-the-password"), std::string::npos);

  // `kitgate secret set --registry` is asked first.
  CliRun login = with({"secret", "set", "--registry", registry(), "-u", "alice", "-t", kPassword});
  ASSERT_EQ(login.exit_code, 0) << login.err;
  EXPECT_EQ(fs::status(tmp_ / "state/registries.json").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  CliRun ok = with({"kit", "inspect", ref});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.find(kPassword), std::string::npos);
}

TEST_F(KitRegistry, BearerTokenDanceForPushAndPull) {
  startRegistry(false);
  int upstream = port_;
  auto front = Subprocess::spawn(
      {"/usr/bin/python3", (source_ / "tests/orchestrator/registry/token_proxy.py").string(),
       std::to_string(upstream), "alice", kPassword, (tmp_ / "scopes").string()},
      (tmp_ / "token-proxy").string());
  ASSERT_TRUE(front.isOk());
  ASSERT_TRUE(waitUntil(
      [&] { return front->stdoutText().find('\n') != std::string::npos || !front->running(); },
      20s));
  port_ = std::stoi(front->stdoutText());
  std::string ref = registry() + "/team/amp:1.0";
  CliRun anonymous = cli({"kit", "pull", ref, "-o", (tmp_ / "x.zip").string()});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find("requires a login"), std::string::npos) << anonymous.err;

  dockerLogin("alice", kPassword);
  CliRun push, pull;
  ASSERT_NO_FATAL_FAILURE(ampRoundTrip(ref, &push, &pull));
  // A push asks for pull,push on the repository; a pull for pull alone.
  EXPECT_EQ(slurp(tmp_ / "scopes"), "repository:team/amp:pull,push\nrepository:team/amp:pull\n");
  front->kill();
}

TEST_F(KitRegistry, AllowedSourcesRefusesOtherRegistriesBeforeAnyFetch) {
  startRegistry(false);
  ASSERT_EQ(cli({"kit", "push", seedAmp(), registry() + "/kits/amp:1.0"}).exit_code, 0);
  settings({"docker.io/", registry() + "/kit"});  // `kit` is not a prefix of `kits`
  std::string ref = registry() + "/kits/amp:1.0";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"kit", "inspect", ref},
        {"run", "--dry-run", "--workspace", tmp_.string(), "--kit", ref, "amp"}}) {
    CliRun r = cli(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_NE(
        r.err.find("kit \"" + ref + "\" cannot be installed — its source is not in your allowlist"),
        std::string::npos)
        << r.err;
  }
  settings({registry() + "/kits"});
  EXPECT_EQ(cli({"kit", "inspect", ref}).exit_code, 0);
  // The environment variable wins over the settings file.
  CliRun env = kitgate({"kit", "inspect", ref},
                       {"KITGATE_SETTINGS=" + (tmp_ / "settings.json").string(),
                        "DOCKER_CONFIG=" + (tmp_ / "docker").string(),
                        "KITGATE_STATE_DIR=" + (tmp_ / "state").string(),
                        "DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES=ghcr.io/org,docker.io/"});
  EXPECT_EQ(env.exit_code, 1);
  EXPECT_NE(env.err.find("its source is not in your allowlist"), std::string::npos) << env.err;
}

TEST_F(KitRegistry, RunDryRunPlansAPushedKit) {
  startRegistry(false);
  fs::path v2 = v2Kit();
  ASSERT_EQ(cli({"kit", "push", v2.string(), registry() + "/kits/v2kit:1"}).exit_code, 0);
  std::string ref = registry() + "/kits/v2kit:1";
  // A project directory beside the state directory (a workspace holding it is refused).
  const fs::path project = tmp_ / "project";
  fs::create_directories(project);
  CliRun r = cli({"run", "--dry-run", "--workspace", project.string(), "--kit", ref, "v2kit"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("docker/sandbox-templates:shell"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("example.com"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[files/workspace] Copy files/workspace"), std::string::npos) << r.out;
}

TEST_F(KitRegistry, SignAndVerifyAPushedKitThroughTheTagSchemaReferrersFallback) {
  startRegistry(false);
  std::string key_a = newKey("a");
  std::string key_b = newKey("b");
  newKey("c");
  fs::path v2 = v2Kit();
  std::string ref = registry() + "/kits/v2kit:1";
  CliRun push = cli({"kit", "push", v2.string(), ref});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  std::string digest = pushedDigest(push);
  CliRun unsigned_kit = cli({"kit", "verify", ref, "--key", pub("a")});
  EXPECT_EQ(unsigned_kit.exit_code, 1);
  EXPECT_NE(unsigned_kit.err.find("is not signed (no signature referrer in the registry)"),
            std::string::npos)
      << unsigned_kit.err;

  CliRun sign = cli({"kit", "sign", ref, "--key", key_a});
  ASSERT_EQ(sign.exit_code, 0) << sign.err;
  std::string fp_a = signerIn(sign);
  ASSERT_EQ(fp_a.size(), 71u) << sign.out;
  EXPECT_NE(sign.out.find("Signature: " + registry() + "/kits/v2kit@sha256:"), std::string::npos)
      << sign.out;
  for (const std::string& r : {ref, registry() + "/kits/v2kit@" + digest}) {
    CliRun v = cli({"kit", "verify", r, "--key", pub("a")});
    EXPECT_EQ(v.exit_code, 0) << r << ": " << v.err;
    EXPECT_NE(v.out.find("signed by " + fp_a), std::string::npos) << v.out;
  }
  // distribution 2.8 has no referrers API: the signature is listed in the
  // image index tagged sha256-<hex of the kit manifest>, with its artifactType.
  std::string error;
  auto parsed = oci::parseReference(registry() + "/kits/v2kit:sha256-" + digest.substr(7), &error);
  ASSERT_TRUE(parsed) << error;
  oci::Client client(*parsed, {});
  oci::Manifest index;
  ASSERT_TRUE(client.getManifest(&index, &error)) << error;
  EXPECT_NE(index.bytes.find("\"artifactType\":\"application/vnd.kitgate.kit.signature.v1+json\""),
            std::string::npos)
      << index.bytes;
  std::vector<std::string> referrers;
  ASSERT_TRUE(
      client.referrers(digest, "application/vnd.kitgate.kit.signature.v1+json", &referrers, &error))
      << error;
  ASSERT_EQ(referrers.size(), 1u);
  oci::Manifest referrer;
  ASSERT_TRUE(client.getManifestByDigest(referrers[0], &referrer, &error)) << error;
  EXPECT_NE(referrer.bytes.find("\"subject\":{\"digest\":\"" + digest + "\""), std::string::npos)
      << referrer.bytes;

  // A second signer joins the first; a third key trusts neither.
  ASSERT_EQ(cli({"kit", "sign", ref, "--key", key_b}).exit_code, 0);
  ASSERT_TRUE(client.referrers(digest, "application/vnd.kitgate.kit.signature.v1+json", &referrers,
                               &error));
  EXPECT_EQ(referrers.size(), 2u);
  EXPECT_EQ(cli({"kit", "verify", ref, "--key", pub("a")}).exit_code, 0);
  EXPECT_EQ(cli({"kit", "verify", ref, "--key", pub("b")}).exit_code, 0);
  CliRun wrong = cli({"kit", "verify", ref, "--key", pub("c")});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("which is not a trusted signer"), std::string::npos) << wrong.err;

  // kit.requireSignature: the signed kit runs, an unsigned one is refused
  // before anything is created; the same tag re-pushed with other content is
  // a new manifest that nobody signed.
  std::ofstream(tmp_ / "settings.json", std::ios::trunc)
      << "{\"kit.allowedSources\": [\"*\"], \"kit.requireSignature\": true, "
         "\"kit.trustedSigners\": [\""
      << fp_a << "\"]}";
  fs::path project = tmp_ / "project";
  fs::create_directories(project);
  auto dryRun = [&](const std::string& r) {
    return cli({"run", "--dry-run", "--workspace", project.string(), "--kit", r, "v2kit"});
  };
  CliRun ok = dryRun(ref);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  std::ofstream(v2 / "spec.yaml", std::ios::app) << "description: changed\n";
  ASSERT_EQ(cli({"kit", "push", v2.string(), ref}).exit_code, 0);
  CliRun refused = dryRun(ref);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("kit \"" + ref +
                             "\" is not signed (no signature referrer in the registry) "
                             "(kit.requireSignature is on)"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(dryRun(registry() + "/kits/v2kit@" + digest).exit_code, 0);
}

TEST_F(KitRegistry, ASignedDirectoryCarriesItsSignatureWhenPushed) {
  startRegistry(false);
  std::string key = newKey("a");
  fs::path dir = tmp_ / "amp";
  fs::copy(seedAmp(), dir, fs::copy_options::recursive);
  CliRun sign = cli({"kit", "sign", dir.string(), "--key", key});
  ASSERT_EQ(sign.exit_code, 0) << sign.err;
  // v1: the pushed layer is the pack ZIP; its content digest is the directory's.
  std::string ref = registry() + "/kits/amp:1.0";
  CliRun push = cli({"kit", "push", dir.string(), ref});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_NE(push.out.find("Attached its signature (kit.sig.bundle) as " + registry() +
                          "/kits/amp@sha256:"),
            std::string::npos)
      << push.out;
  CliRun verify = cli({"kit", "verify", ref, "--key", pub("a")});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("signed by " + signerIn(sign)), std::string::npos) << verify.out;

  // A bundle older than the kit is not attached (and the push still happens).
  std::ofstream(dir / "spec.yaml", std::ios::app) << "# edited after signing\n";
  CliRun stale = cli({"kit", "push", dir.string(), registry() + "/kits/amp:1.1"});
  EXPECT_EQ(stale.exit_code, 0) << stale.err;
  EXPECT_NE(stale.err.find("WARN: kit.sig.bundle was not attached: the kit changed after it was "
                           "signed"),
            std::string::npos)
      << stale.err;
  EXPECT_EQ(cli({"kit", "verify", registry() + "/kits/amp:1.1", "--key", pub("a")}).exit_code, 1);
}

TEST_F(KitRegistry, SigningAKitInAnAuthenticatedTlsRegistry) {
  startRegistry(true);
  std::string key = newKey("a");
  std::string ref = registry() + "/private/amp:1.0";
  dockerLogin("alice", kPassword);
  ASSERT_EQ(cli({"kit", "push", seedAmp(), ref}).exit_code, 0);
  CliRun sign = cli({"kit", "sign", ref, "--key", key});
  ASSERT_EQ(sign.exit_code, 0) << sign.err;
  CliRun verify = cli({"kit", "verify", ref, "--key", pub("a")});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  for (const CliRun* r : {&sign, &verify}) {
    EXPECT_EQ(r->out.find(kPassword), std::string::npos);
    EXPECT_EQ(r->err.find(kPassword), std::string::npos);
  }
  dockerLogin("alice", "wrong-Pa55word-xyz");
  CliRun denied = cli({"kit", "verify", ref, "--key", pub("a")});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.err.find("authentication failed for user \"alice\""), std::string::npos)
      << denied.err;
  EXPECT_EQ(denied.err.find("wrong-Pa55word-xyz"), std::string::npos);
}

}  // namespace
}  // namespace kitgate::testing
