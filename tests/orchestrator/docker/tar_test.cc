// TarWriter output checked by the real `tar` program: listing, contents,
// modes, owners, long names and refused paths.
#include "orchestrator/docker/tar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kitgate::docker {
namespace {

namespace fs = std::filesystem;

class TarWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "kitgate-tar-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the archive and runs `tar ARGS -f archive`, returning its stdout.
  std::string runTar(const std::string& archive, const std::string& args, int* exit_code = nullptr) {
    const fs::path path = dir_ / "a.tar";
    std::ofstream(path, std::ios::binary) << archive;
    const std::string cmd = "tar " + args + " -f '" + path.string() + "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
    const int status = ::pclose(p);
    if (exit_code) *exit_code = WEXITSTATUS(status);
    return out;
  }

  std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
};

TEST_F(TarWriterTest, TarListsEntriesWithModesAndOwners) {
  TarWriter w;
  ASSERT_TRUE(w.addDirectory("home/agent", 0755, {1000, 1000}).isOk());
  ASSERT_TRUE(w.addFile("home/agent/.bashrc", "export A=1\n", 0644, {1000, 1000}).isOk());
  ASSERT_TRUE(w.addFile("/usr/local/bin/tool", "#!/bin/sh\necho hi\n", 0755).isOk());
  ASSERT_TRUE(w.addSymlink("home/agent/link", ".bashrc", {1000, 1000}).isOk());
  int rc = -1;
  const std::string listing = runTar(w.finish(), "--numeric-owner -tv", &rc);
  ASSERT_EQ(rc, 0) << listing;
  EXPECT_NE(listing.find("drwxr-xr-x 1000/1000"), std::string::npos) << listing;
  EXPECT_THAT(listing, ::testing::ContainsRegex("-rw-r--r-- 1000/1000 +11 .* home/agent/\\.bashrc"));
  EXPECT_NE(listing.find("-rwxr-xr-x 0/0"), std::string::npos) << listing;
  EXPECT_NE(listing.find("usr/local/bin/tool"), std::string::npos) << listing;
  EXPECT_NE(listing.find("home/agent/link -> .bashrc"), std::string::npos) << listing;
}

TEST_F(TarWriterTest, TarExtractsExactContentAndMetadata) {
  std::string binary;
  for (int i = 0; i < 3000; ++i) binary.push_back(static_cast<char>(i * 7));
  TarWriter w;
  ASSERT_TRUE(w.addFile("data.bin", binary, 0600, {1000, 1000}).isOk());
  ASSERT_TRUE(w.addFile("empty", "", 0640).isOk());
  ASSERT_TRUE(w.addFile("exact512", std::string(512, 'z'), 0644).isOk());
  const fs::path out = dir_ / "out";
  fs::create_directory(out);
  int rc = -1;
  const std::string log = runTar(w.finish(), "--numeric-owner --same-owner -xp -C '" + out.string() + "'", &rc);
  ASSERT_EQ(rc, 0) << log;
  EXPECT_EQ(readFile(out / "data.bin"), binary);
  EXPECT_EQ(readFile(out / "empty"), "");
  EXPECT_EQ(readFile(out / "exact512"), std::string(512, 'z'));
  struct stat st{};
  ASSERT_EQ(::stat((out / "data.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((out / "empty").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  if (::geteuid() == 0) {  // only root may give files away
    ASSERT_EQ(::stat((out / "data.bin").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_gid, 1000u);
  }
}

TEST_F(TarWriterTest, LongPathsUseTheUstarPrefix) {
  const std::string deep = std::string(120, 'd') + "/" + std::string(90, 'f');
  TarWriter w;
  ASSERT_TRUE(w.addFile(deep, "x", 0644).isOk());
  const fs::path out = dir_ / "out";
  fs::create_directory(out);
  int rc = -1;
  const std::string log = runTar(w.finish(), "-x -C '" + out.string() + "'", &rc);
  ASSERT_EQ(rc, 0) << log;
  EXPECT_EQ(readFile(out / deep), "x");
}

TEST_F(TarWriterTest, RefusesEscapingAndUnsplittablePaths) {
  TarWriter w;
  EXPECT_FALSE(w.addFile("../etc/passwd", "x", 0644).isOk());
  EXPECT_FALSE(w.addFile("home/../../etc/passwd", "x", 0644).isOk());
  EXPECT_FALSE(w.addFile("a/..", "x", 0644).isOk());
  EXPECT_FALSE(w.addFile("", "x", 0644).isOk());
  EXPECT_FALSE(w.addFile(std::string(101, 'n'), "x", 0644).isOk());  // no '/' to split at
  EXPECT_TRUE(w.addFile("a..b/c", "x", 0644).isOk());                // ".." inside a name is fine
  EXPECT_FALSE(w.addSymlink("link", std::string(101, 't')).isOk());
  // Refused entries leave nothing behind: the archive holds the good one only.
  int rc = -1;
  EXPECT_EQ(runTar(w.finish(), "-t", &rc), "a..b/c\n");
  EXPECT_EQ(rc, 0);
}

TEST_F(TarWriterTest, EmptyArchiveIsValid) {
  TarWriter w;
  const std::string archive = w.finish();
  EXPECT_EQ(archive.size(), 1024u);
  int rc = -1;
  EXPECT_EQ(runTar(archive, "-t", &rc), "");
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace kitgate::docker
