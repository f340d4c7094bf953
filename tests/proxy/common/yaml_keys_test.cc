// The key check every YAML loader shares: each class of bad key is reported
// once with where it is, and only good keys reach the loader.
#include "proxy/common/yaml_keys.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kitgate {
namespace {

struct KeyRun {
  std::vector<std::string> errors;  // "line:column: message"
  std::vector<std::string> keys;
};

KeyRun check(const std::string& yaml, const KeyCheck& c) {
  KeyRun r;
  forEachKey(
      YAML::Load(yaml), c,
      [&](const YAML::Mark& m, const std::string& msg) {
        r.errors.push_back(std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " +
                           msg);
      },
      [&](const std::string& k, const YAML::Node&) { r.keys.push_back(k); });
  return r;
}

TEST(YamlKeys, KnownKeysReachTheLoaderInOrder) {
  KeyRun r = check("b: 1\na: 2\n", {{"a", "b"}});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.keys, (std::vector<std::string>{"b", "a"}));
}

TEST(YamlKeys, UnknownKeyNamedWithTheExpectedOnesAndWhere) {
  KeyRun r = check("a: 1\ncolour: red\n", {{"a", "b"}, "limits"});
  EXPECT_EQ(
      r.errors,
      (std::vector<std::string>{"2:1: unknown key \"colour\" in limits (expected one of: a, b)"}));
  EXPECT_EQ(r.keys, (std::vector<std::string>{"a"}));
}

TEST(YamlKeys, UnknownKeyHiddenWhereItMayBeASecret) {
  KeyRun r = check("sk-live-123: x\n", {{"services"}, {}, false});
  EXPECT_EQ(r.errors, (std::vector<std::string>{"1:1: unknown key (expected one of: services)"}));
}

TEST(YamlKeys, ControlCharactersInAKeyAreNotEchoed) {
  KeyRun r = check("\"a\\x1b[2Jb\": 1\n", {{"a"}});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("\"a?[2Jb\""), std::string::npos) << r.errors[0];
}

TEST(YamlKeys, DuplicateAndNonStringKeysAreErrors) {
  KeyRun r = check("a: 1\n[x, y]: 2\na: 3\n", {{"a"}});
  EXPECT_EQ(r.errors,
            (std::vector<std::string>{"2:1: expected a string key", "3:1: duplicate key \"a\""}));
  EXPECT_EQ(r.keys, (std::vector<std::string>{"a"}));  // the first one only
}

TEST(YamlKeys, LoaderMayAskForTheKeysPosition) {
  std::vector<int> lines;
  forEachKey(
      YAML::Load("a: 1\nb: 2\n"), {{"a", "b"}}, [](const YAML::Mark&, const std::string&) {},
      [&](const std::string&, const YAML::Node&, const YAML::Mark& m) {
        lines.push_back(m.line + 1);
      });
  EXPECT_EQ(lines, (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace kitgate
