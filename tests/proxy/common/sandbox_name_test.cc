// The one sandbox-name rule every loader and the CLI share.
#include "proxy/common/sandbox_name.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace kitgate {
namespace {

TEST(SandboxName, AcceptsLowercaseDigitsAndInnerPunctuation) {
  for (const std::string& n : std::initializer_list<std::string>{
           "a", "0", "dev1", "my-box", "my_box", "v1.2", "9lives", std::string(63, 'x')}) {
    EXPECT_TRUE(validSandboxName(n)) << n;
  }
}

TEST(SandboxName, RefusesEmptyLongUppercaseLeadingPunctuationAndPathParts) {
  for (const std::string& n : std::initializer_list<std::string>{
           "", std::string(64, 'x'), "Dev", "-a", "_a", ".a", "..", "a/b", "a b", "a\n",
           std::string("a\0b", 3), "caf\xc3\xa9", "a:b"}) {
    EXPECT_FALSE(validSandboxName(n)) << n;
  }
}

}  // namespace
}  // namespace kitgate
