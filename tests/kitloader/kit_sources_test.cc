// Kit sources: directories (symlink escape), ZIPs (zip-slip, absolute paths,
// links, oversize), git+file:// repositories made by the test, and pack.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include "kitloader/kit.h"
#include "kitloader/oci/reference.h"
#include "kitloader/oci/sha256.h"
#include "tests/kitloader/kit_test_util.h"

namespace kitgate::kit {
namespace {

using testing::TempDir;
using testing::writeFile;

const char* kMixin = "schemaVersion: \"2\"\nkind: mixin\nname: zipped\n";

struct ZipItem {
  std::string name;
  std::string content;
  unsigned type = AE_IFREG;
  std::string link;
};

// Writes a ZIP with libarchive exactly as listed (hostile names included).
void writeZip(const std::string& path, const std::vector<ZipItem>& items) {
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& it : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.name.c_str());
    archive_entry_set_filetype(e, it.type);
    archive_entry_set_perm(e, 0644);
    if (it.type == AE_IFLNK) archive_entry_set_symlink(e, it.link.c_str());
    archive_entry_set_size(e, it.type == AE_IFREG ? static_cast<la_int64_t>(it.content.size()) : 0);
    archive_write_header(a, e);
    if (it.type == AE_IFREG) archive_write_data(a, it.content.data(), it.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string firstError(const LoadResult& r) {
  return r.errors().empty() ? "" : r.errors()[0]->message;
}

TEST(DirectorySource, ReadsFilesHomeAndWorkspaceSorted) {
  TempDir t;
  writeFile(t.path() / "spec.yml", kMixin);
  writeFile(t.path() / "files/workspace/b.txt", "b");
  writeFile(t.path() / "files/home/.cfg/a.txt", "a");
  writeFile(t.path() / "files/other/x", "x");
  LoadResult r = load(t.str());
  ASSERT_TRUE(r.ok()) << firstError(r);
  EXPECT_EQ(r.spec_file, "spec.yml");
  ASSERT_EQ(r.kit.files.size(), 2u);
  EXPECT_EQ(r.kit.files[0].relative_path, ".cfg/a.txt");
  EXPECT_EQ(r.kit.files[1].target, FileTarget::kWorkspace);
  EXPECT_EQ(r.warningMessages(),
            std::vector<std::string>{"files/other is ignored: only files/home/** and "
                                     "files/workspace/** are copied into the sandbox"});
}

TEST(DirectorySource, SymlinkEscapingTheKitIsAnError) {
  TempDir outside;
  writeFile(outside.path() / "secret", "s3cr3t");
  TempDir t;
  writeFile(t.path() / "spec.yaml", kMixin);
  std::filesystem::create_directories(t.path() / "files/home");
  std::filesystem::create_symlink(outside.path() / "secret", t.path() / "files/home/link");
  LoadResult r = load(t.str());
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(firstError(r),
            "file files/home/link is a symlink that escapes the artifact directory (resolves to " +
                std::filesystem::canonical(outside.path() / "secret").string() + ")");
}

TEST(DirectorySource, SymlinkInsideTheKitIsFollowed) {
  TempDir t;
  writeFile(t.path() / "spec.yaml", kMixin);
  writeFile(t.path() / "README.md", "docs");
  std::filesystem::create_directories(t.path() / "files/home");
  std::filesystem::create_symlink(t.path() / "README.md", t.path() / "files/home/readme");
  LoadResult r = load(t.str());
  ASSERT_TRUE(r.ok()) << firstError(r);
  EXPECT_EQ(r.kit.files[0].content, "docs");
}

TEST(DirectorySource, MissingSpecSaysSo) {
  TempDir t;
  LoadResult r = load(t.str());
  EXPECT_EQ(firstError(r),
            "artifact: spec.yaml (or spec.yml) is required: " + t.str() + " has neither");
}

TEST(OciSource, ReferencesAreOciNotMissingDirectories) {
  for (const char* ref : {"docker.io/sbx/amp-kit:latest", "127.0.0.1:1/kits/amp:1.0", "sbx/amp-kit",
                          "oci://ghcr.io/org/kit:1.0",
                          "localhost:1/amp@sha256:"
                          "0000000000000000000000000000000000000000000000"
                          "000000000000000000"}) {
    EXPECT_TRUE(isOciReference(ref)) << ref;
  }
  for (const char* ref :
       {"./amp", "/abs/kit", "amp.zip", "kits/amp.zip", "git+https://h/r.git", "claude"}) {
    EXPECT_FALSE(isOciReference(ref)) << ref;
  }
  // Nothing listens on port 1: the error names the registry, never a directory.
  LoadResult r = load("127.0.0.1:1/kits/amp:1.0");
  EXPECT_EQ(r.ref_kind, RefKind::kOci);
  EXPECT_NE(firstError(r).find("registry 127.0.0.1:1: "), std::string::npos) << firstError(r);
}

TEST(SourcePolicy, AllowedSourcesMatchOnASegmentBoundary) {
  SourcePolicy p;
  p.allowed = {"docker.io/acme", "ghcr.io/org/", "github.com/docker/"};
  EXPECT_EQ(sourcePolicyProblem("docker.io/acme/kit:1", p), "");
  EXPECT_EQ(sourcePolicyProblem("acme/kit:1", p), "");  // docker.io/ implied
  EXPECT_EQ(sourcePolicyProblem("ghcr.io/org/kit@sha256:" + std::string(64, 'a'), p), "");
  EXPECT_EQ(sourcePolicyProblem("git+https://github.com/docker/kits.git#dir=amp", p), "");
  for (const char* ref : {"docker.io/acme-evil/kit:1", "ghcr.io/organisation/kit:1",
                          "127.0.0.1:5000/acme/kit:1", "git+https://github.com/dockerx/k.git"}) {
    EXPECT_EQ(sourcePolicyProblem(ref, p),
              "kit \"" + std::string(ref) +
                  "\" cannot be installed — its source is not in your allowlist\n"
                  "hint: add its registry or repository prefix to kit.allowedSources in kitgate's "
                  "settings file (or DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES)")
        << ref;
  }
  p.allowed = {"*"};
  EXPECT_EQ(sourcePolicyProblem("127.0.0.1:5000/anything:1", p), "");
  // Local kits: gated by allowLocalKits alone.
  EXPECT_EQ(sourcePolicyProblem("./kit", p), "");
  p.allow_local = false;
  EXPECT_NE(sourcePolicyProblem("./kit", p).find("local kits are disabled"), std::string::npos);
  EXPECT_NE(sourcePolicyProblem("git+file:///repo#dir=x", p).find("local kits are disabled"),
            std::string::npos);
  LoadOptions options;
  options.source_policy = p;
  LoadResult r = load("./kit", options);
  EXPECT_NE(firstError(r).find("local kits are disabled"), std::string::npos);
}

TEST(ZipSource, LoadsSpecAndFiles) {
  TempDir t;
  std::string zip = (t.path() / "kit.zip").string();
  writeZip(zip, {{"spec.yaml", kMixin}, {"files/home/x.txt", "hello"}, {"README.md", "ignored"}});
  LoadResult r = load(zip);
  ASSERT_TRUE(r.ok()) << firstError(r);
  EXPECT_EQ(r.ref_kind, RefKind::kZip);
  ASSERT_EQ(r.kit.files.size(), 1u);
  EXPECT_EQ(r.kit.files[0].content, "hello");
}

TEST(ZipSource, SingleTopDirectoryLayoutIsAccepted) {
  TempDir t;
  std::string zip = (t.path() / "kit.zip").string();
  writeZip(zip, {{"amp/spec.yaml", kMixin}, {"amp/files/workspace/w", "w"}});
  LoadResult r = load(zip);
  ASSERT_TRUE(r.ok()) << firstError(r);
  EXPECT_EQ(r.kit.files.size(), 1u);
}

TEST(ZipSource, ZipSlipIsRejected) {
  TempDir t;
  std::string zip = (t.path() / "kit.zip").string();
  writeZip(zip, {{"spec.yaml", kMixin}, {"files/home/../../../etc/cron.d/x", "evil"}});
  LoadResult r = load(zip);
  EXPECT_EQ(firstError(r),
            "ZIP entry files/home/../../../etc/cron.d/x has an absolute path or a '..' component "
            "(zip-slip); refusing the kit");
}

TEST(ZipSource, AbsolutePathIsRejected) {
  TempDir t;
  std::string zip = (t.path() / "kit.zip").string();
  writeZip(zip, {{"spec.yaml", kMixin}, {"/etc/passwd", "evil"}});
  LoadResult r = load(zip);
  EXPECT_NE(firstError(r).find("has an absolute path or a '..' component (zip-slip)"),
            std::string::npos)
      << firstError(r);
}

TEST(ZipSource, SymlinkEntryIsRejected) {
  TempDir t;
  std::string zip = (t.path() / "kit.zip").string();
  writeZip(zip, {{"spec.yaml", kMixin}, {"files/home/l", "", AE_IFLNK, "/etc/shadow"}});
  LoadResult r = load(zip);
  EXPECT_EQ(
      firstError(r),
      "ZIP entry files/home/l is a link or special file; a kit ZIP may hold only regular files");
}

TEST(ZipSource, OversizedEntryIsRejected) {
  TempDir t;
  std::string zip = (t.path() / "kit.zip").string();
  writeZip(zip, {{"spec.yaml", kMixin}, {"files/home/big", std::string((16u << 20) + 1, '\0')}});
  LoadResult r = load(zip);
  EXPECT_NE(firstError(r).find("ZIP entry files/home/big is larger than 16 MiB"), std::string::npos)
      << firstError(r);
}

TEST(ZipSource, MissingSpecSaysSo) {
  TempDir t;
  std::string zip = (t.path() / "kit.zip").string();
  writeZip(zip, {{"files/home/x", "x"}});
  EXPECT_EQ(firstError(load(zip)),
            "artifact: spec.yaml (or spec.yml) is required: the ZIP " + zip + " has neither");
}

TEST(Pack, IsReproducibleAndLoadsLikeTheDirectory) {
  TempDir t;
  std::filesystem::copy(testing::corpusKit("tck-args-install"), t.path() / "kit",
                        std::filesystem::copy_options::recursive);
  LoadOptions opts;
  opts.args.push_back(*parseKitArg("token=x"));
  std::string a = (t.path() / "a.zip").string();
  std::string b = (t.path() / "b.zip").string();
  std::string err;
  ASSERT_TRUE(pack((t.path() / "kit").string(), a, opts, &err).ok());
  ASSERT_EQ(err, "");
  // Touch a file: timestamps must not leak into the archive.
  std::filesystem::last_write_time(t.path() / "kit/spec.yaml",
                                   std::filesystem::file_time_type::clock::now());
  ASSERT_TRUE(pack((t.path() / "kit").string(), b, opts, &err).ok());
  EXPECT_EQ(testing::readFile(a), testing::readFile(b));
  LoadResult from_zip = load(a, opts);
  LoadResult from_dir = load((t.path() / "kit").string(), opts);
  ASSERT_TRUE(from_zip.ok()) << firstError(from_zip);
  EXPECT_EQ(from_zip.kit, from_dir.kit);
}

TEST(Pack, InvalidKitWritesNothing) {
  TempDir t;
  writeFile(t.path() / "kit/spec.yaml", "schemaVersion: \"2\"\nkind: nope\n");
  std::string out = (t.path() / "o.zip").string();
  std::string err;
  EXPECT_FALSE(pack((t.path() / "kit").string(), out, {}, &err).ok());
  EXPECT_FALSE(std::filesystem::exists(out));
}

class GitSource : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = repo_dir_.path() / "repo";
    writeFile(repo_ / "kits/amp/spec.yaml",
              testing::readFile(testing::corpusKit("amp--v2") + "/spec.yaml"));
    writeFile(repo_ / "kits/amp/files/home/.amp/x", "x");
    git({"init", "-q", "-b", "main", repo_.string()});
    git({"-C", repo_.string(), "add", "."});
    git({"-C", repo_.string(), "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit",
         "-q", "-m", "kit"});
    git({"-C", repo_.string(), "tag", "v1"});
  }
  void git(std::vector<std::string> args) {
    args.insert(args.begin(), "git");
    ASSERT_EQ(testing::runProgram(args), 0);
  }
  LoadOptions options() {
    LoadOptions o;
    o.cache_dir = (cache_.path() / "git").string();
    return o;
  }
  TempDir repo_dir_;
  TempDir cache_;
  std::filesystem::path repo_;
};

TEST_F(GitSource, ClonesTagAndReadsDir) {
  LoadResult r = load("git+file://" + repo_.string() + "#ref=v1&dir=kits/amp", options());
  ASSERT_TRUE(r.ok()) << firstError(r);
  EXPECT_EQ(r.ref_kind, RefKind::kGit);
  EXPECT_EQ(r.kit.name, "amp");
  ASSERT_EQ(r.kit.files.size(), 1u);
  EXPECT_EQ(r.kit.files[0].relative_path, ".amp/x");
  Kit expected = load(testing::corpusKit("amp--v2")).kit;
  expected.files = r.kit.files;
  EXPECT_EQ(r.kit, expected);
}

TEST_F(GitSource, ClonesCommitSha) {
  std::string head = testing::readFile(repo_ / ".git/refs/heads/main");
  head.erase(head.find_last_not_of("\n") + 1);
  ASSERT_EQ(head.size(), 40u);
  LoadResult r = load("git+file://" + repo_.string() + "#ref=" + head + "&dir=kits/amp", options());
  ASSERT_TRUE(r.ok()) << firstError(r);
  EXPECT_EQ(r.kit.name, "amp");
}

TEST_F(GitSource, UnknownRefFails) {
  LoadResult r =
      load("git+file://" + repo_.string() + "#ref=no-such-branch&dir=kits/amp", options());
  EXPECT_NE(firstError(r).find("git clone of file://"), std::string::npos) << firstError(r);
  EXPECT_NE(firstError(r).find("at no-such-branch failed"), std::string::npos);
}

TEST_F(GitSource, DirEscapingTheRepositoryIsRefused) {
  LoadResult r = load("git+file://" + repo_.string() + "#dir=../..", options());
  EXPECT_EQ(firstError(r), "git reference dir=../.. must be a relative path inside the repository");
}

TEST(GitRef, PlainHttpAndUnknownKeysAreRefused) {
  EXPECT_NE(firstError(load("git+http://example.invalid/r.git")).find("unsupported git reference"),
            std::string::npos);
  EXPECT_EQ(firstError(load("git+https://example.invalid/r.git#branch=x")),
            "git reference fragment key branch is unknown (expected ref= and dir=)");
}

TEST(GitRef, CredentialsInTheUrlAreRefusedAndNeverEchoed) {
  LoadResult r = load("git+https://user:hunter2@example.invalid/r.git#dir=kit");
  EXPECT_EQ(firstError(r),
            "git reference git+https://example.invalid/r.git#dir=kit carries credentials in the "
            "URL; remove "
            "them and use a git credential helper");
  EXPECT_EQ(r.errors()[0]->file.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace kitgate::kit

namespace kitgate::kit {
namespace {

TEST(OciReference, DockerHubDefaultsTagsAndDigests) {
  struct Case {
    const char* text;
    const char* registry;
    const char* repository;
    const char* tag;
    const char* api_host;
  };
  for (const Case& c : {
           Case{"sbx/amp-kit", "docker.io", "sbx/amp-kit", "latest", "registry-1.docker.io"},
           Case{"amp", "docker.io", "library/amp", "latest", "registry-1.docker.io"},
           Case{"docker.io/sbx/amp-kit:v1.2", "docker.io", "sbx/amp-kit", "v1.2",
                "registry-1.docker.io"},
           Case{"index.docker.io/sbx/x:1", "docker.io", "sbx/x", "1", "registry-1.docker.io"},
           Case{"oci://ghcr.io/org/kit:1.0", "ghcr.io", "org/kit", "1.0", "ghcr.io"},
           Case{"localhost:5000/a/b/c:dev", "localhost:5000", "a/b/c", "dev", "localhost:5000"},
           Case{"127.0.0.1:5000/kits/amp", "127.0.0.1:5000", "kits/amp", "latest",
                "127.0.0.1:5000"},
       }) {
    std::string error;
    auto r = oci::parseReference(c.text, &error);
    ASSERT_TRUE(r) << c.text << ": " << error;
    EXPECT_EQ(r->registry, c.registry) << c.text;
    EXPECT_EQ(r->repository, c.repository) << c.text;
    EXPECT_EQ(r->tag, c.tag) << c.text;
    EXPECT_EQ(r->apiHost(), c.api_host) << c.text;
  }
  std::string digest = "sha256:" + std::string(64, 'a');
  std::string error;
  auto pinned = oci::parseReference("ghcr.io/org/kit@" + digest, &error);
  ASSERT_TRUE(pinned) << error;
  EXPECT_EQ(pinned->tag, "");
  EXPECT_EQ(pinned->manifestRef(), digest);
  auto both = oci::parseReference("ghcr.io/org/kit:1@" + digest, &error);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->manifestRef(), digest);  // the digest wins
  EXPECT_EQ(both->str(), "ghcr.io/org/kit:1@" + digest);
}

TEST(OciReference, MalformedReferencesAreRefusedWithTheReason) {
  for (const char* text :
       {"ghcr.io/Org/kit:1", "ghcr.io/org/kit@sha256:abc",
        "ghcr.io/org/kit@md5:"
        "0123",
        "ghcr.io/org//kit", "ghcr.io/org/kit:", "ghcr.io/org/kit:-bad", "ghcr.io/"}) {
    std::string error;
    EXPECT_FALSE(oci::parseReference(text, &error)) << text;
    EXPECT_EQ(error.rfind(std::string("invalid OCI reference \"") + text + "\": ", 0), 0u) << error;
  }
}

TEST(OciReference, CredentialsInAReferenceAreRefusedAndNeverEchoed) {
  for (const char* ref :
       {"alice:hunter2@ghcr.io/org/kit:1", "oci://alice:hunter2@ghcr.io/org/kit"}) {
    LoadResult r = load(ref);
    ASSERT_FALSE(r.ok()) << ref;
    EXPECT_NE(firstError(r).find("credentials do not belong in a kit reference"), std::string::npos)
        << firstError(r);
    for (const Diagnostic& d : r.diagnostics) {
      EXPECT_EQ(d.file.find("hunter2"), std::string::npos) << d.file;
      EXPECT_EQ(d.message.find("hunter2"), std::string::npos) << d.message;
    }
    EXPECT_EQ(redactReference(ref).find("hunter2"), std::string::npos);
  }
}

TEST(OciReference, LoopbackRegistriesAreDockersInsecureDefaults) {
  for (const char* r : {"localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"})
    EXPECT_TRUE(oci::isLoopbackRegistry(r)) << r;
  for (const char* r : {"ghcr.io", "127.0.0.1.nip.io", "10.0.0.1:5000", "localhost.example.com"})
    EXPECT_FALSE(oci::isLoopbackRegistry(r)) << r;
}

TEST(OciDigest, Sha256MatchesKnownVectors) {
  EXPECT_EQ(oci::sha256Digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(oci::sha256Digest("{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(oci::sha256Digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(oci::sha256Digest(std::string(1000000, 'a')),
            "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace kitgate::kit
