// Kit arguments: declaration, --kit-arg values, substitution in spec.yaml and
// files/ text, the $${{ escape (the tck-args-install corpus kit).
#include <gtest/gtest.h>

#include "kitloader/kit.h"
#include "tests/kitloader/kit_test_util.h"

namespace kitgate::kit {
namespace {

using testing::corpusKit;

LoadOptions withArgs(std::initializer_list<const char*> args) {
  LoadOptions o;
  for (const char* a : args) o.args.push_back(*parseKitArg(a));
  return o;
}

TEST(KitArgs, TckKitWithoutRequiredArgNamesIt) {
  LoadResult r = load(corpusKit("tck-args-install"));
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(r.errors()[0]->message,
            "args[\"token\"] is required but no value was given (pass --kit-arg token=VALUE)");
  EXPECT_EQ(r.errors()[0]->line, 8);  // the `args:` key
  EXPECT_EQ(r.errors()[0]->column, 1);
}

TEST(KitArgs, TckKitWithItsTckValuesIsValidAndSubstituted) {
  LoadResult r = load(corpusKit("tck-args-install"),
                      withArgs({"greeting=supplied by tck.yaml", "token=dummy-for-ci"}));
  ASSERT_TRUE(r.ok()) << (r.errors().empty() ? "" : r.errors()[0]->message);
  EXPECT_EQ(r.kit.environment.at("ARGS_FIXTURE_VERSION"), "1.20");
  EXPECT_EQ(r.kit.environment.at("ARGS_FIXTURE_TOKEN"), "dummy-for-ci");
  EXPECT_EQ(r.kit.setup.install[0].command,
            "test \"supplied by tck.yaml\" = \"supplied by tck.yaml\"");
  ASSERT_EQ(r.kit.files.size(), 1u);
  EXPECT_EQ(r.kit.files[0].relative_path, ".args-install/config.txt");
  EXPECT_EQ(r.kit.files[0].content, "version=1.20\nliteral=${{ kit.args.version }}\n");
  EXPECT_EQ(r.kit.args.size(), 3u);
  EXPECT_TRUE(r.kit.args.at("token").required);
}

TEST(KitArgs, ScopedValueWinsOverUnscoped) {
  LoadResult r =
      load(corpusKit("tck-args-install"),
           withArgs({"args-install.token=scoped", "token=plain", "other-kit.token=ignored"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit.environment.at("ARGS_FIXTURE_TOKEN"), "scoped");
}

TEST(KitArgs, ValueMustMatchThePattern) {
  LoadResult r = load(corpusKit("tck-args-install"), withArgs({"token=t", "version=latest"}));
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(r.errors()[0]->message,
            "--kit-arg version: args[\"version\"]: \"latest\" does not match pattern "
            "\"^[0-9]+\\.[0-9]+$\"");
}

TEST(KitArgs, UndeclaredArgIsAnError) {
  LoadResult r = load(corpusKit("tck-args-install"), withArgs({"token=t", "colour=red"}));
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(r.errors()[0]->message,
            "--kit-arg \"colour\": kit \"args-install\" declares no argument \"colour\"");
}

TEST(KitArgs, EnumValueChecked) {
  const char* spec =
      "schemaVersion: \"2\"\nkind: mixin\nname: t\nargs:\n  ch: {default: stable, enum: [stable, "
      "beta]}\n"
      "environment:\n  variables:\n    CH: ${{ kit.args.ch }}\n";
  EXPECT_EQ(loadSpecBytes(spec).kit.environment.at("CH"), "stable");
  LoadResult bad = loadSpecBytes(spec, withArgs({"ch=nightly"}));
  ASSERT_EQ(bad.errors().size(), 1u);
  EXPECT_EQ(bad.errors()[0]->message,
            "--kit-arg ch: args[\"ch\"]: \"nightly\" is not one of \"stable\", \"beta\"");
}

TEST(KitArgs, UnquotedSubstitutionIsRetypedForTypedFields) {
  const char* spec =
      "schemaVersion: \"2\"\nkind: mixin\nname: t\nargs:\n  port: {default: \"8080\"}\n"
      "ports:\n  - container: ${{ kit.args.port }}\n";
  LoadResult r = loadSpecBytes(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit.ports[0].container, 8080);
}

TEST(KitArgs, OtherNamespacesAndEscapesStayLiteral) {
  const char* spec =
      "schemaVersion: \"2\"\nkind: mixin\nname: t\nargs:\n  a: {default: A}\n"
      "environment:\n  variables:\n    X: \"${{ github.sha }} $${{ kit.args.a }} "
      "${{kit.args.a}}\"\n";
  LoadResult r = loadSpecBytes(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit.environment.at("X"), "${{ github.sha }} ${{ kit.args.a }} A");
}

TEST(KitArgs, UnterminatedReferenceIsAnError) {
  LoadResult r = loadSpecBytes(
      "schemaVersion: \"2\"\nkind: mixin\nname: t\nargs:\n  a: {default: A}\n"
      "description: \"${{ kit.args.a\"\n");
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(r.errors()[0]->message, "spec.yaml: unterminated ${{ kit.args. reference");
  EXPECT_EQ(r.errors()[0]->line, 6);
}

TEST(KitArgs, ArgsAreNotAcceptedByV1Kits) {
  LoadResult r = loadSpecBytes("schemaVersion: \"1\"\nkind: mixin\nname: t\nargs: {}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors()[0]->message, "field args not found in type spec.SpecFile");
}

TEST(KitArgs, ParseKitArgForms) {
  auto a = parseKitArg("kit.name=v=w");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kit, "kit");
  EXPECT_EQ(a->name, "name");
  EXPECT_EQ(a->value, "v=w");
  EXPECT_FALSE(parseKitArg("novalue"));
  EXPECT_FALSE(parseKitArg("=x"));
}

}  // namespace
}  // namespace kitgate::kit
