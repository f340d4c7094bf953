// Hostile spec.yaml input fails fast with a clear error.
#include <gtest/gtest.h>

#include "kitloader/kit.h"
#include "kitloader/yaml_tree.h"

namespace kitgate::kit {
namespace {

std::string billionLaughs() {
  std::string y =
      "schemaVersion: \"2\"\nkind: mixin\nname: t\nx:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, "
      "lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    y += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) y += (j ? ", *a" : "*a") + std::to_string(i - 1);
    y += "]\n";
  }
  return y;
}

TEST(Limits, BillionLaughsFailsWithAClearError) {
  LoadResult r = loadSpecBytes(billionLaughs());
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_NE(r.errors()[0]->message.find("expands to more than 100000 nodes"), std::string::npos)
      << r.errors()[0]->message;
  EXPECT_NE(r.errors()[0]->message.find("billion laughs"), std::string::npos);
  EXPECT_GT(r.errors()[0]->line, 4);
}

TEST(Limits, DeepNestingIsRefused) {
  std::string y = "a: " + std::string(200, '[') + std::string(200, ']') + "\n";
  LoadResult r = loadSpecBytes(y);
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_NE(r.errors()[0]->message.find("nesting is deeper than 64 levels"), std::string::npos);
}

TEST(Limits, NonUtf8IsRejectedWithItsPosition) {
  LoadResult r =
      loadSpecBytes("schemaVersion: \"2\"\nkind: mixin\nname: t\ndescription: caf\xe9!\n");
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(r.errors()[0]->message, "spec.yaml is not valid UTF-8: byte 0xe9 at line 4, column 17");
  EXPECT_EQ(r.errors()[0]->line, 4);
  EXPECT_EQ(r.errors()[0]->column, 17);
}

TEST(Limits, ValidMultibyteUtf8IsAccepted) {
  LoadResult r =
      loadSpecBytes("schemaVersion: \"2\"\nkind: mixin\nname: t\ndescription: \"café — ok\"\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit.description, "café — ok");
}

TEST(Limits, OverlongEncodingAndNulAreRejected) {
  EXPECT_TRUE(findInvalidUtf8("a\xc0\xaf"));
  EXPECT_TRUE(findInvalidUtf8(std::string("a\0b", 3)));
  EXPECT_TRUE(findInvalidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(findInvalidUtf8("\xf0\x9f\x98\x80"));
}

TEST(Limits, OversizedSpecIsRefused) {
  std::string y = "schemaVersion: \"2\"\nkind: mixin\nname: t\ndescription: \"" +
                  std::string((1 << 20) + 10, 'x') + "\"\n";
  LoadResult r = loadSpecBytes(y);
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(r.errors()[0]->message, "spec.yaml is larger than 1024 KiB; refusing to load it");
}

TEST(Limits, RecursiveAliasIsAnError) {
  YamlParse p = parseYaml("a: &x\n  b: *x\n");
  ASSERT_TRUE(p.error.has_value());
}

TEST(YamlTree, MergeKeysCopyMissingEntries) {
  YamlParse p = parseYaml("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n");
  ASSERT_TRUE(p.root);
  const YamlNode* d = p.root->find("d");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->find("x")->text, "1");
  EXPECT_EQ(d->find("y")->text, "3");
  EXPECT_EQ(d->find("<<"), nullptr);
}

TEST(YamlTree, QuotedScalarsAreMarked) {
  YamlParse p = parseYaml("a: \"1\"\nb: 1\nc: |\n  text\n");
  ASSERT_TRUE(p.root);
  EXPECT_TRUE(p.root->find("a")->quoted);
  EXPECT_FALSE(p.root->find("b")->quoted);
  EXPECT_TRUE(p.root->find("c")->quoted);
  EXPECT_EQ(p.root->find("b")->line, 2);
  EXPECT_EQ(p.root->find("b")->column, 4);
}

}  // namespace
}  // namespace kitgate::kit
