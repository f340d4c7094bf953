// The kit content digest (what a kit signature covers, kit.h "signatures"):
// the same for a directory and its pack ZIP, indifferent to what a signature
// must not depend on (timestamps, read/write mode bits, the bundle itself),
// and different after every change a signature must catch.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "kitloader/kit.h"
#include "tests/kitloader/kit_test_util.h"

namespace kitgate::kit {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::writeFile;

void writeKit(const fs::path& dir) {
  fs::remove_all(dir);
  writeFile(dir / "spec.yaml",
            "schemaVersion: \"2\"\nkind: sandbox\nname: digest\n"
            "sandbox:\n  image: example/image:1\n  entrypoint: [bash]\n");
  writeFile(dir / "files/home/.config/a.txt", "a\n");
  writeFile(dir / "files/workspace/run.sh", "#!/bin/sh\n");
  fs::permissions(dir / "files/home/.config/a.txt", fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(dir / "files/workspace/run.sh", fs::perms::owner_all);
}

std::string digestOf(const fs::path& ref) {
  KitContent c;
  std::string error;
  EXPECT_TRUE(readKitContent(ref.string(), {}, &c, &error)) << error;
  return c.content_digest;
}

TEST(KitContent, DirectoryAndItsZipHaveOneDigest) {
  TempDir t;
  writeKit(t.path() / "kit");
  std::string dir = digestOf(t.path() / "kit");
  EXPECT_EQ(dir.rfind("sha256:", 0), 0u);
  EXPECT_EQ(dir.size(), 71u);
  std::string err;
  ASSERT_TRUE(pack((t.path() / "kit").string(), (t.path() / "kit.zip").string(), {}, &err).ok());
  EXPECT_EQ(digestOf(t.path() / "kit.zip"), dir);
}

TEST(KitContent, WhatASignatureMustNotDependOnLeavesTheDigestAlone) {
  TempDir t;
  fs::path kit = t.path() / "kit";
  writeKit(kit);
  const std::string before = digestOf(kit);
  std::vector<std::pair<const char*, std::function<void()>>> neutral = {
      {"timestamps",
       [&] { fs::last_write_time(kit / "spec.yaml", fs::file_time_type::clock::now()); }},
      {"read/write bits",
       [&] {
         fs::permissions(kit / "files/home/.config/a.txt",
                         fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                             fs::perms::group_write | fs::perms::others_read);
       }},
      {"a bundle beside spec.yaml", [&] { writeFile(kit / "kit.sig.bundle", "{}"); }},
      {"files/ outside home and workspace", [&] { writeFile(kit / "files/other/x", "x"); }},
  };
  for (const auto& [what, change] : neutral) {
    change();
    EXPECT_EQ(digestOf(kit), before) << what;
  }
  KitContent c;
  std::string error;
  ASSERT_TRUE(readKitContent(kit.string(), {}, &c, &error)) << error;
  ASSERT_TRUE(c.bundle.has_value());
  EXPECT_EQ(*c.bundle, "{}");
  EXPECT_EQ(c.directory, fs::canonical(kit).string());
}

TEST(KitContent, EveryContentChangeChangesTheDigest) {
  TempDir t;
  fs::path kit = t.path() / "kit";
  writeKit(kit);
  const std::string original = digestOf(kit);
  std::vector<std::pair<const char*, std::function<void()>>> changes = {
      {"a spec byte",
       [&] { writeFile(kit / "spec.yaml", testing::readFile(kit / "spec.yaml") + " "); }},
      {"a file's bytes", [&] { writeFile(kit / "files/home/.config/a.txt", "b\n"); }},
      {"a file renamed",
       [&] { fs::rename(kit / "files/home/.config/a.txt", kit / "files/home/.config/b.txt"); }},
      {"a file moved from home to workspace",
       [&] {
         fs::create_directories(kit / "files/workspace/.config");
         fs::rename(kit / "files/home/.config/a.txt", kit / "files/workspace/.config/a.txt");
       }},
      {"an execute bit",
       [&] { fs::permissions(kit / "files/workspace/run.sh", fs::perms::owner_read); }},
      {"a file added", [&] { writeFile(kit / "files/home/new", ""); }},
      {"a file removed", [&] { fs::remove(kit / "files/workspace/run.sh"); }},
  };
  std::set<std::string> seen = {original};
  for (const auto& [what, change] : changes) {
    writeKit(kit);
    change();
    std::string d = digestOf(kit);
    EXPECT_NE(d, original) << what;
    EXPECT_TRUE(seen.insert(d).second) << what << " gives a digest another change gave";
  }
}

TEST(KitContent, AMissingKitIsAnErrorNotADigest) {
  TempDir t;
  KitContent c;
  std::string error;
  EXPECT_FALSE(readKitContent((t.path() / "nope").string(), {}, &c, &error));
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
}

}  // namespace
}  // namespace kitgate::kit
