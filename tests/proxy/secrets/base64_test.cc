// Tests of proxy/common/base64 (strict base64 for Basic credentials), kept
// next to their main user, the secrets rewriter.
#include "proxy/common/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace kitgate {
namespace {

struct Vector {
  std::string plain;
  std::string encoded;
};

// RFC 4648 §10 test vectors, plus bytes outside ASCII.
const Vector kVectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    {"token:sgamp-123", "dG9rZW46c2dhbXAtMTIz"},
    {std::string("\x00\xff\xfe", 3), "AP/+"},
};

TEST(Base64, EncodesRfc4648Vectors) {
  for (const Vector& v : kVectors) EXPECT_EQ(base64Encode(v.plain), v.encoded) << v.encoded;
}

TEST(Base64, DecodesRfc4648Vectors) {
  for (const Vector& v : kVectors) {
    auto decoded = base64Decode(v.encoded);
    ASSERT_TRUE(decoded.has_value()) << v.encoded;
    EXPECT_EQ(*decoded, v.plain);
  }
}

TEST(Base64, DecodesUnpaddedInput) {
  EXPECT_EQ(base64Decode("Zg").value_or("?"), "f");
  EXPECT_EQ(base64Decode("Zm8").value_or("?"), "fo");
}

TEST(Base64, RefusesMalformedInput) {
  for (const char* bad : {"Z", "Zg=", "Zm8==", "Zm9v=", "Zm 9v", "Zm9v!", "Zh==", "Zm9=", "Zg===", "-_8="}) {
    EXPECT_FALSE(base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace kitgate
