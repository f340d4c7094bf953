#include "proxy/secrets/text.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace kitgate::secrets {
namespace {

using Pair = std::pair<std::string, std::string>;

std::string replaced(const std::string& text, const std::vector<Pair>& pairs) {
  std::string out = "untouched";
  const bool changed = replaceAll(
      text, pairs, [](const Pair& p) -> std::string_view { return p.first; },
      [](const Pair& p) -> std::string_view { return p.second; }, &out);
  return changed ? out : "(no change) " + out;
}

TEST(ReplaceAll, ReplacesEveryOccurrenceInOnePass) {
  const struct {
    std::string text;
    std::vector<Pair> pairs;
    std::string want;
  } cases[] = {
      {"a PH b PH", {{"PH", "v"}}, "a v b v"},
      {"nothing here", {{"PH", "v"}}, "(no change) untouched"},
      {"PHPH", {{"PH", "x"}}, "xx"},
      // earliest match wins, then the longest at the same position
      {"PH-LONG", {{"PH", "short"}, {"PH-LONG", "long"}}, "long"},
      {"xPH-LONG", {{"PH-LONG", "long"}, {"xPH", "x"}}, "x-LONG"},
      // replaced text is never scanned again
      {"A", {{"A", "B"}, {"B", "C"}}, "B"},
      {"A", {{"A", "AA"}}, "AA"},
      {"", {{"A", "B"}}, "(no change) untouched"},
      {"abc", {{"", "x"}}, "(no change) untouched"},
  };
  for (const auto& c : cases) EXPECT_EQ(replaced(c.text, c.pairs), c.want) << c.text;
}

TEST(PercentEncode, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percentEncode("a+b&c=d e/f%"), "a%2Bb%26c%3Dd%20e%2Ff%25");
  EXPECT_EQ(percentEncode("\xff"), "%FF");
}

TEST(HeaderValueSafe, RefusesControlCharactersButTab) {
  EXPECT_TRUE(isHeaderValueSafe("Bearer abc\tdef \x80\xff"));
  for (const char* bad : {"a\rb", "a\nb", "a\x7f", "a\x01"}) EXPECT_FALSE(isHeaderValueSafe(bad)) << bad;
  EXPECT_FALSE(isHeaderValueSafe(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace kitgate::secrets
