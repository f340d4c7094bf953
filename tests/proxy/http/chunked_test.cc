#include "proxy/http/chunked.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/proxy/http/case_name.h"

namespace kitgate::http {
namespace {

struct Decoded {
  DecodeResult last = DecodeResult::kNeedMore;
  std::string body;
  size_t consumed = 0;  // of the whole input, up to the end of the message
  std::string error;
};

// Feeds `input` in pieces of `step` bytes (0: all at once), as a server
// would from successive reads.
Decoded decodeAll(std::string_view input, size_t step, ChunkedDecoder::Limits limits = {}) {
  ChunkedDecoder decoder(limits);
  Decoded out;
  size_t offset = 0;
  while (offset < input.size()) {
    const size_t piece_size = step == 0 ? input.size() - offset : std::min(step, input.size() - offset);
    std::string_view piece = input.substr(offset, piece_size);
    while (!piece.empty()) {
      size_t consumed = 0;
      std::string_view data;
      out.last = decoder.decode(piece, &consumed, &data);
      piece.remove_prefix(consumed);
      offset += consumed;
      if (out.last == DecodeResult::kData) out.body.append(data);
      if (out.last == DecodeResult::kDone || out.last == DecodeResult::kError) {
        out.consumed = offset;
        out.error = std::string(decoder.error());
        return out;
      }
    }
    offset += piece.size();
  }
  out.consumed = offset;
  return out;
}

TEST(ChunkedDecoder, DecodesAtEverySplitPoint) {
  const std::string input =
      "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
  const std::string expected = "helloabcdefghijklmnopqrstuvwxyz";
  for (size_t step = 0; step <= input.size(); ++step) {
    const Decoded d = decodeAll(input, step);
    ASSERT_EQ(d.last, DecodeResult::kDone) << "step " << step << ": " << d.error;
    EXPECT_EQ(d.body, expected) << step;
    EXPECT_EQ(d.consumed, input.size() - 4) << step;
  }
}

TEST(ChunkedDecoder, SplitAtEveryByteIntoTwoReads) {
  const std::string input = "3\r\nabc\r\n0\r\n\r\n";
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    ChunkedDecoder decoder;
    std::string body;
    std::string_view parts[2] = {std::string_view(input).substr(0, cut),
                                 std::string_view(input).substr(cut)};
    DecodeResult last = DecodeResult::kNeedMore;
    for (std::string_view part : parts) {
      while (!part.empty() && last != DecodeResult::kDone) {
        size_t consumed = 0;
        std::string_view data;
        last = decoder.decode(part, &consumed, &data);
        ASSERT_NE(last, DecodeResult::kError) << cut;
        if (last == DecodeResult::kData) body.append(data);
        part.remove_prefix(consumed);
      }
    }
    EXPECT_EQ(last, DecodeResult::kDone) << cut;
    EXPECT_TRUE(decoder.done());
    EXPECT_EQ(body, "abc") << cut;
  }
}

TEST(ChunkedDecoder, UppercaseHexAndWhitespaceBeforeExtension) {
  const Decoded d = decodeAll("A \t;ext\r\n0123456789\r\n0\r\n\r\n", 0);
  ASSERT_EQ(d.last, DecodeResult::kDone) << d.error;
  EXPECT_EQ(d.body, "0123456789");
}

TEST(ChunkedDecoder, MaxSizeDigitsWithoutOverflow) {
  // 16 hex digits are accepted (size 1 with leading zeros).
  const Decoded d = decodeAll("0000000000000001\r\nx\r\n0\r\n\r\n", 0);
  EXPECT_EQ(d.last, DecodeResult::kDone) << d.error;
  EXPECT_EQ(d.body, "x");
}

struct BadChunked {
  const char* name;
  std::string input;
};

class ChunkedRejects : public ::testing::TestWithParam<BadChunked> {};

TEST_P(ChunkedRejects, WithError) {
  for (size_t step : {size_t{0}, size_t{1}}) {
    const Decoded d = decodeAll(GetParam().input, step, {.max_size_line_bytes = 64,
                                                         .max_trailer_bytes = 64});
    EXPECT_EQ(d.last, DecodeResult::kError) << GetParam().name << " step " << step;
    EXPECT_FALSE(d.error.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ChunkedRejects,
    ::testing::Values(
        BadChunked{"empty_size", "\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"bad_hex", "g\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"sign", "+3\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"hex_prefix", "0x3\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"overflow", "10000000000000000\r\n"},
        BadChunked{"seventeen_digits", "00000000000000001\r\nx\r\n0\r\n\r\n"},
        BadChunked{"bare_lf_after_size", "3\nabc\r\n0\r\n\r\n"},
        BadChunked{"cr_without_lf", "3\rabc\r\n0\r\n\r\n"},
        BadChunked{"data_without_crlf", "3\r\nabcd\r\n0\r\n\r\n"},
        BadChunked{"data_lf_only", "3\r\nabc\n0\r\n\r\n"},
        BadChunked{"space_then_garbage", "3 x\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"ctl_in_extension", "3;a\x01\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"lf_in_extension", "3;a\nb\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"extension_too_long", "3;" + std::string(100, 'e') + "\r\nabc\r\n0\r\n\r\n"},
        BadChunked{"trailers_too_large", "0\r\nX: " + std::string(100, 't') + "\r\n\r\n"},
        BadChunked{"trailer_bare_lf", "0\r\nX: 1\n\r\n"},
        BadChunked{"trailer_nul", std::string("0\r\nX: \0\r\n\r\n", 11)},
        BadChunked{"final_cr_without_lf", "0\r\n\rX"}),
    test::CaseName());

TEST(ChunkedDecoder, ErrorIsSticky) {
  ChunkedDecoder decoder;
  size_t consumed = 0;
  std::string_view data;
  ASSERT_EQ(decoder.decode("z", &consumed, &data), DecodeResult::kError);
  EXPECT_EQ(decoder.decode("3\r\nabc\r\n0\r\n\r\n", &consumed, &data), DecodeResult::kError);
  EXPECT_EQ(consumed, 0u);
}

TEST(ChunkedDecoder, IncompleteInputNeedsMore) {
  const Decoded d = decodeAll("5\r\nhel", 0);
  EXPECT_EQ(d.last, DecodeResult::kData);
  EXPECT_EQ(d.body, "hel");
  EXPECT_EQ(decodeAll("5\r\nhello\r\n0\r\n", 0).last, DecodeResult::kNeedMore);
}

TEST(ChunkedEncoder, WritesLowercaseHexHeaders) {
  std::string out;
  ChunkedEncoder::appendChunkHeader(1, &out);
  ChunkedEncoder::appendChunkHeader(255, &out);
  ChunkedEncoder::appendChunkHeader(0x1234abcd, &out);
  ChunkedEncoder::appendChunkHeader(~uint64_t{0}, &out);
  EXPECT_EQ(out, "1\r\nff\r\n1234abcd\r\nffffffffffffffff\r\n");
}

TEST(ChunkedEncoder, RoundTripsThroughDecoder) {
  const std::string pieces[] = {"a", std::string(300, 'b'), "ccc"};
  std::string wire;
  for (const std::string& p : pieces) {
    ChunkedEncoder::appendChunkHeader(p.size(), &wire);
    wire.append(p).append(ChunkedEncoder::kChunkEnd);
  }
  wire.append(ChunkedEncoder::kLastChunk);
  const Decoded d = decodeAll(wire, 7);
  ASSERT_EQ(d.last, DecodeResult::kDone);
  EXPECT_EQ(d.body, pieces[0] + pieces[1] + pieces[2]);
  EXPECT_EQ(d.consumed, wire.size());
}

}  // namespace
}  // namespace kitgate::http
