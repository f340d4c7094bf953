// peekClientHello over real ClientHellos written by the TLS backend (with and
// without SNI, whole, cut short, split across records) and over bytes that
// are not TLS (SSH and HTTP banners, a corrupted hello).
#include "proxy/tls/client_hello.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/tls_hello.h"

namespace kitgate::tls {
namespace {

using Result = ClientHelloPeek::Result;

std::string realClientHello(const std::string& sni) {
  return kitgate::testing::clientHelloFor(sni);
}

// The same handshake message re-framed in records of at most `chunk` bytes.
std::string reframe(const std::string& hello, size_t chunk) {
  const std::string message = hello.substr(5);
  std::string out;
  for (size_t off = 0; off < message.size(); off += chunk) {
    const size_t n = std::min(chunk, message.size() - off);
    out +=
        std::string{'\x16', '\x03', '\x01', static_cast<char>(n >> 8), static_cast<char>(n & 0xff)};
    out += message.substr(off, n);
  }
  return out;
}

TEST(ClientHelloPeek, ReadsTheServerNameOfARealHello) {
  for (const std::string name : {"github.com", "api.allowed.test", "x-1.example.org"}) {
    auto p = peekClientHello(realClientHello(name));
    EXPECT_EQ(p.result, Result::kHello) << name;
    EXPECT_EQ(p.sni, name);
  }
}

// The intercept path offers the upstream h2 only when the sandbox's hello
// does (an HTTP/1 client never costs a second upstream handshake).
TEST(ClientHelloPeek, KnowsWhetherTheClientOffersHttp2) {
  using kitgate::testing::clientHelloFor;
  const std::string h2_h1("\x02h2\x08http/1.1", 12);
  const std::string h1_only("\x08http/1.1", 9);
  const std::string h2_last("\x08http/1.1\x02h2", 12);
  const std::string h2c_only("\x03h2c", 4);
  EXPECT_TRUE(peekClientHello(clientHelloFor("a.test", h2_h1)).offers_h2);
  EXPECT_TRUE(peekClientHello(clientHelloFor("a.test", h2_last)).offers_h2);
  EXPECT_FALSE(peekClientHello(clientHelloFor("a.test", h1_only)).offers_h2);
  EXPECT_FALSE(peekClientHello(clientHelloFor("a.test", h2c_only)).offers_h2);
  EXPECT_FALSE(peekClientHello(clientHelloFor("a.test")).offers_h2) << "no ALPN at all";
  auto p = peekClientHello(clientHelloFor("b.test", h2_h1));
  EXPECT_EQ(p.result, Result::kHello);
  EXPECT_EQ(p.sni, "b.test");
}

TEST(ClientHelloPeek, AHelloWithoutServerNameHasAnEmptyName) {
  auto p = peekClientHello(realClientHello(""));
  EXPECT_EQ(p.result, Result::kHello);
  EXPECT_EQ(p.sni, "");
}

TEST(ClientHelloPeek, EveryProperPrefixIsIncomplete) {
  const std::string hello = realClientHello("github.com");
  for (size_t n = 0; n < hello.size(); ++n) {
    ASSERT_EQ(peekClientHello(hello.substr(0, n)).result, Result::kIncomplete) << n;
  }
}

TEST(ClientHelloPeek, AHelloSplitAcrossRecordsIsGathered) {
  const std::string hello = realClientHello("split.example.com");
  for (size_t chunk : {1u, 7u, 100u, 4096u}) {
    const std::string framed = reframe(hello, chunk);
    auto p = peekClientHello(framed);
    EXPECT_EQ(p.result, Result::kHello) << chunk;
    EXPECT_EQ(p.sni, "split.example.com");
    EXPECT_EQ(peekClientHello(framed.substr(0, framed.size() - 1)).result, Result::kIncomplete);
  }
}

TEST(ClientHelloPeek, OtherProtocolsAreNotTls) {
  const std::vector<std::string> cases = {
      "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string("\x16\x02", 2),               // a handshake record of no TLS version
      std::string("\x17\x03\x03\x00\x10", 5)};  // application data first
  for (const std::string& bytes : cases) {
    EXPECT_EQ(peekClientHello(bytes).result, Result::kNotTls) << bytes;
  }
  EXPECT_EQ(peekClientHello("\x16").result, Result::kIncomplete)
      << "one byte of a record header may still be TLS";
}

// A TLS handshake record that holds no readable ClientHello names nothing a
// caller could check: kMalformed, never mistaken for "another protocol".
TEST(ClientHelloPeek, TlsRecordsWithoutAReadableHelloAreMalformed) {
  const std::vector<std::string> cases = {
      std::string("\x16\x03\x01\x00\x00", 5),      // an empty record
      std::string("\x16\x03\x01\x00\x05\x02", 6),  // a handshake message that is no ClientHello
      std::string("\x16\x03\x01\x48\x01", 5) + std::string(0x4801, 'x'),  // record over the bound
  };
  for (const std::string& bytes : cases) {
    EXPECT_EQ(peekClientHello(bytes).result, Result::kMalformed) << bytes.size();
  }
  // A hello that claims more than the largest one looked at: padded to hide
  // its name beyond the peek.
  std::string huge = realClientHello("github.com");
  huge[6] = '\x02';  // handshake length 0x02xxxx > kMaxClientHelloBytes
  EXPECT_EQ(peekClientHello(huge).result, Result::kMalformed);
  // A hello under the bound, cut into fragments so small that the record
  // headers push the bytes past the bound before the hello completes.
  std::string body = std::string("\x01\x00\xff\xf0", 4) + std::string(0xfff0, 'a');
  std::string fragmented;
  for (size_t at = 0; at < body.size(); at += 0x100) {
    const std::string frag = body.substr(at, 0x100);
    fragmented += std::string("\x16\x03\x01", 3) + static_cast<char>(frag.size() >> 8) +
                  static_cast<char>(frag.size() & 0xff) + frag;
  }
  ASSERT_GT(fragmented.size(), kMaxClientHelloBytes);
  EXPECT_EQ(peekClientHello(fragmented).result, Result::kMalformed);
}

TEST(ClientHelloPeek, ACorruptedHelloIsMalformed) {
  const std::string hello = realClientHello("github.com");
  // Not a ClientHello message (a ServerHello type byte).
  std::string wrong_type = hello;
  wrong_type[5] = '\x02';
  EXPECT_EQ(peekClientHello(wrong_type).result, Result::kMalformed);
  // A host name with a byte no DNS name has.
  std::string bad_name = hello;
  const size_t at = bad_name.find("github.com");
  ASSERT_NE(at, std::string::npos);
  bad_name[at + 6] = '\0';
  EXPECT_EQ(peekClientHello(bad_name).result, Result::kMalformed);
  // The handshake length claims more than the record chain can hold.
  std::string long_len = hello;
  long_len[6] = '\x7f';
  auto p = peekClientHello(long_len);
  EXPECT_NE(p.result, Result::kHello);
  // Trailing bytes inside the hello's record.
  std::string extra = hello;
  extra += "x";
  const size_t len = hello.size() - 5 + 1;
  extra[3] = static_cast<char>(len >> 8);
  extra[4] = static_cast<char>(len & 0xff);
  EXPECT_EQ(peekClientHello(extra).result, Result::kMalformed);
}

TEST(ClientHelloPeek, ANameIsLowerCased) {
  auto p = peekClientHello(realClientHello("GitHub.COM"));
  EXPECT_EQ(p.result, Result::kHello);
  EXPECT_EQ(p.sni, "github.com");
}

TEST(ClientHelloPeek, BytesAfterTheHelloDoNotMatter) {
  const std::string hello = realClientHello("github.com");
  auto p = peekClientHello(hello + std::string("\x14\x03\x03\x00\x01\x01", 6));
  EXPECT_EQ(p.result, Result::kHello);
  EXPECT_EQ(p.sni, "github.com");
}

}  // namespace
}  // namespace kitgate::tls
