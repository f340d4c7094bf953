#include "proxy/http/body_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace kitgate::http {
namespace {

struct ReadOutcome {
  std::string body;
  size_t consumed = 0;
  DecodeResult last = DecodeResult::kNeedMore;
};

// Reads `input` one call after another until the reader needs more input or
// the message ends.
ReadOutcome readAll(BodyReader* reader, std::string_view input) {
  ReadOutcome out;
  while (true) {
    size_t consumed = 0;
    std::string_view data;
    out.last = reader->read(input.substr(out.consumed), &consumed, &data);
    out.consumed += consumed;
    if (out.last == DecodeResult::kData) {
      out.body.append(data);
      continue;
    }
    return out;
  }
}

TEST(BodyReader, ContentLengthStopsAtLength) {
  BodyReader reader(BodyFraming::kContentLength, 5);
  const ReadOutcome r = readAll(&reader, "helloGET / HTTP/1.1");
  EXPECT_EQ(r.last, DecodeResult::kDone);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.consumed, 5u);
  EXPECT_TRUE(reader.done());
}

TEST(BodyReader, ContentLengthAcrossReads) {
  BodyReader reader(BodyFraming::kContentLength, 6);
  ReadOutcome r = readAll(&reader, "abc");
  EXPECT_EQ(r.last, DecodeResult::kNeedMore);
  EXPECT_EQ(r.body, "abc");
  EXPECT_FALSE(reader.finishOnClose());  // truncated
  r = readAll(&reader, "defg");
  EXPECT_EQ(r.last, DecodeResult::kDone);
  EXPECT_EQ(r.body, "def");
  EXPECT_EQ(r.consumed, 3u);
}

TEST(BodyReader, ZeroLengthAndNoneAreDoneAtOnce) {
  for (BodyFraming f : {BodyFraming::kNone, BodyFraming::kContentLength}) {
    BodyReader reader(f, 0);
    EXPECT_TRUE(reader.done());
    const ReadOutcome r = readAll(&reader, "next");
    EXPECT_EQ(r.last, DecodeResult::kDone);
    EXPECT_EQ(r.consumed, 0u);
  }
}

TEST(BodyReader, ChunkedDelegatesToDecoder) {
  BodyReader reader(BodyFraming::kChunked, 0);
  const ReadOutcome r = readAll(&reader, "2\r\nhi\r\n0\r\n\r\nrest");
  EXPECT_EQ(r.last, DecodeResult::kDone);
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(r.consumed, 12u);
  EXPECT_TRUE(reader.finishOnClose());
}

TEST(BodyReader, ChunkedTruncatedByCloseIsAnError) {
  BodyReader reader(BodyFraming::kChunked, 0);
  readAll(&reader, "2\r\nhi\r\n");
  EXPECT_FALSE(reader.finishOnClose());
}

TEST(BodyReader, ChunkedErrorIsReported) {
  BodyReader reader(BodyFraming::kChunked, 0);
  const ReadOutcome r = readAll(&reader, "zz\r\n");
  EXPECT_EQ(r.last, DecodeResult::kError);
  EXPECT_FALSE(reader.error().empty());
}

TEST(BodyReader, UntilCloseTakesEverythingAndEndsOnClose) {
  BodyReader reader(BodyFraming::kUntilClose, 0);
  const ReadOutcome r = readAll(&reader, "all of it");
  EXPECT_EQ(r.last, DecodeResult::kNeedMore);
  EXPECT_EQ(r.body, "all of it");
  EXPECT_FALSE(reader.done());
  EXPECT_TRUE(reader.finishOnClose());
  EXPECT_TRUE(reader.done());
}

}  // namespace
}  // namespace kitgate::http
