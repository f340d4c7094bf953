#include "proxy/stream/body_scrub.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace kitgate::stream {
namespace {

std::string drain(evbuffer* b) {
  std::string s(evbuffer_get_length(b), '\0');
  evbuffer_remove(b, s.data(), s.size());
  return s;
}

class BodyScrubTest : public ::testing::Test {
 protected:
  void TearDown() override {
    evbuffer_free(in_);
    evbuffer_free(out_);
  }

  // Feeds `pieces` one read at a time (each piece its own evbuffer chain, as
  // reads land), then ends the body; returns what the client would get.
  std::string run(const secrets::ScrubMatcher& m, const std::vector<std::string>& pieces) {
    BodyScrub scrub;
    scrub.begin(&m);
    std::string got;
    for (const std::string& p : pieces) {
      evbuffer_add(in_, p.data(), p.size());
      scrub.move(in_, out_);
      EXPECT_EQ(evbuffer_get_length(in_), 0u);
      got += drain(out_);
    }
    scrub.finish(out_);
    return got + drain(out_);
  }

  evbuffer* in_ = evbuffer_new();
  evbuffer* out_ = evbuffer_new();
};

const secrets::ScrubMatcher& matcher() {
  static const secrets::ScrubMatcher m = [] {
    std::vector<secrets::ScrubRule> rules =
        secrets::scrubForms("REAL-amp-7f3c9e1d2b", "proxy-managed");
    for (auto& r : secrets::scrubForms("REAL-custom/c0ffee+9931", "sgamp-PLACEHOLDER"))
      rules.push_back(r);
    return secrets::ScrubMatcher(std::move(rules));
  }();
  return m;
}

std::string reference(const std::string& body) {
  std::string out;
  return matcher().replaceAll(body, &out) ? out : body;
}

const std::string kBody =
    "{\"headers\": {\"X-Api-Key\": \"Key REAL-amp-7f3c9e1d2b\", \"q\": "
    "\"REAL-custom%2Fc0ffee%2b9931\"},"
    " \"near\": \"REAL-amp-7f3c9e1d2 REAL-\", \"b64\": \"UkVBTC1hbXAtN2YzYzllMWQyYg==\", \"end\": "
    "\"REAL-amp-7f3c9e1d2b";

TEST_F(BodyScrubTest, ASecretSplitAtAnyByteIsStillReplaced) {
  const std::string want = reference(kBody);
  ASSERT_EQ(want.find("REAL-amp-7f3c9e1d2b"), std::string::npos);
  ASSERT_NE(want.find("REAL-amp-7f3c9e1d2 REAL-"), std::string::npos);  // near-misses stay
  for (size_t cut = 0; cut <= kBody.size(); ++cut) {
    EXPECT_EQ(run(matcher(), {kBody.substr(0, cut), kBody.substr(cut)}), want) << "cut at " << cut;
  }
}

TEST_F(BodyScrubTest, RandomReadSizesGiveTheSameBodyAsScrubbingItWhole) {
  std::mt19937 rng(11);
  const std::string want = reference(kBody);
  for (int round = 0; round < 500; ++round) {
    std::vector<std::string> pieces;
    for (size_t i = 0; i < kBody.size();) {
      const size_t n = std::min<size_t>(kBody.size() - i, 1 + rng() % 9);
      pieces.push_back(kBody.substr(i, n));
      i += n;
    }
    ASSERT_EQ(run(matcher(), pieces), want) << "round " << round;
  }
  // One byte per read.
  std::vector<std::string> bytes;
  for (char c : kBody) bytes.emplace_back(1, c);
  EXPECT_EQ(run(matcher(), bytes), want);
}

TEST_F(BodyScrubTest, OnlyATailThatMayBeginASecretIsHeldAndNeverMoreThanTheLongestForm) {
  BodyScrub scrub;
  scrub.begin(&matcher());
  // An event stream: each piece ends in a newline, nothing is held.
  const std::string event = "data: {\"delta\": \"hello\"}\n\n";
  evbuffer_add(in_, event.data(), event.size());
  scrub.move(in_, out_);
  EXPECT_EQ(drain(out_), event);
  // A piece ending in what may begin a secret: only that part waits.
  const std::string partial = "data: REAL-amp-7f3";
  evbuffer_add(in_, partial.data(), partial.size());
  scrub.move(in_, out_);
  EXPECT_EQ(drain(out_), "data: ");
  // A long run of near-misses never grows the held part past the longest form.
  std::string near(10000, 'R');
  evbuffer_add(in_, near.data(), near.size());
  scrub.move(in_, out_);
  EXPECT_GE(evbuffer_get_length(out_), partial.size() + near.size() - matcher().maxLength() - 6);
  scrub.finish(out_);
  EXPECT_EQ(drain(out_).size(), near.size() + partial.size() - 6);
}

TEST_F(BodyScrubTest, WithoutAMatcherBytesPassThrough) {
  BodyScrub scrub;
  scrub.begin(nullptr);
  EXPECT_FALSE(scrub.active());
  const std::string body = "REAL-amp-7f3c9e1d2b";
  evbuffer_add(in_, body.data(), body.size());
  scrub.move(in_, out_);
  scrub.finish(out_);
  EXPECT_EQ(drain(out_), body);
}

}  // namespace
}  // namespace kitgate::stream
