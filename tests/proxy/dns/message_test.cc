// The DNS wire format of kitgate's TCP answers: every class of query the
// parser refuses, and the answer's records and echoed question.
#include "proxy/dns/message.h"

#include <gtest/gtest.h>

#include <string>

namespace kitgate::dns {
namespace {

std::string header(uint16_t flags, uint16_t qdcount) {
  return std::string{'\x42',
                     '\x42',
                     static_cast<char>(flags >> 8),
                     static_cast<char>(flags & 0xff),
                     static_cast<char>(qdcount >> 8),
                     static_cast<char>(qdcount & 0xff),
                     0,
                     0,
                     0,
                     0,
                     0,
                     0};
}

const std::string kGithubA = std::string(
    "\x06github\x03"
    "com\x00\x00\x01\x00\x01",
    16);

TEST(DnsMessage, AQueryIsReadWithItsQuestion) {
  Query q;
  const std::string msg = header(0x0100, 1) + kGithubA + "trailing EDNS ignored";
  ASSERT_EQ(parseQuery(msg, &q), ParseResult::kOk);
  EXPECT_EQ(q.id, 0x4242);
  EXPECT_EQ(q.name, "github.com");
  EXPECT_EQ(q.type, kTypeA);
  EXPECT_EQ(q.klass, kClassIn);
  EXPECT_EQ(q.question, kGithubA);
}

struct BadCase {
  const char* what;
  std::string message;
  ParseResult result;
};

TEST(DnsMessage, EveryUnreadableQueryIsNamed) {
  const BadCase cases[] = {
      {"short header", std::string("\x42\x42\x01", 3), ParseResult::kMalformed},
      {"no question", header(0x0100, 0), ParseResult::kMalformed},
      {"a response", header(0x8100, 1) + kGithubA, ParseResult::kNotQuery},
      {"opcode STATUS", header(0x1000, 1) + kGithubA, ParseResult::kNotImplemented},
      {"name cut short", header(0x0100, 1) + std::string("\x06gith", 5), ParseResult::kMalformed},
      {"no type and class",
       header(0x0100, 1) + std::string("\x01"
                                       "a\x00\x00",
                                       4),
       ParseResult::kMalformed},
      {"compression pointer", header(0x0100, 1) + std::string("\xc0\x0c\x00\x01\x00\x01", 6),
       ParseResult::kMalformed},
      {"a dot inside a label",
       header(0x0100, 1) + std::string("\x03"
                                       "a.b\x00\x00\x01\x00\x01",
                                       9),
       ParseResult::kMalformed},
      {"a control byte",
       header(0x0100, 1) + std::string("\x02"
                                       "a\n\x00\x00\x01\x00\x01",
                                       8),
       ParseResult::kMalformed},
      {"name over 255 bytes",
       header(0x0100, 1) +
           [] {
             std::string n;
             for (int i = 0; i < 5; ++i) n += std::string(1, '\x3f') + std::string(63, 'a');
             return n + std::string("\x00\x00\x01\x00\x01", 5);
           }(),
       ParseResult::kMalformed},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    Query q;
    EXPECT_EQ(parseQuery(c.message, &q), c.result);
  }
}

TEST(DnsMessage, AnAnswerCarriesTheQuestionAndTheRecordsOfItsFamily) {
  Query q;
  const std::string msg = header(0x0100, 1) + kGithubA;
  ASSERT_EQ(parseQuery(msg, &q), ParseResult::kOk);
  const std::string a = buildAnswer(
      q, Rcode::kNoError, true,
      {*policy::IpAddress::parse("140.82.121.4"), *policy::IpAddress::parse("2606:50c0:8000::154")},
      60);
  ASSERT_EQ(a.size(), 12 + kGithubA.size() + 16);  // one A record
  EXPECT_EQ(a.substr(0, 2), "\x42\x42");
  EXPECT_EQ(static_cast<uint8_t>(a[2]), 0x85);  // QR, AA, RD
  EXPECT_EQ(static_cast<uint8_t>(a[3]), 0x80);  // RA, NOERROR
  EXPECT_EQ(a[7], 1);                           // one answer
  EXPECT_EQ(a.substr(12, kGithubA.size()), kGithubA);
  EXPECT_EQ(a.substr(a.size() - 4), std::string("\x8c\x52\x79\x04", 4));
  // FORMERR to an unreadable question: the header only.
  Query bad;
  const std::string cut = header(0x0100, 1) + "\x06gith";
  ASSERT_EQ(parseQuery(cut, &bad), ParseResult::kMalformed);
  const std::string f = buildAnswer(bad, Rcode::kFormErr, false, {}, 60);
  ASSERT_EQ(f.size(), 12u);
  EXPECT_EQ(static_cast<uint8_t>(f[3]) & 0xf, 1);
}

}  // namespace
}  // namespace kitgate::dns
