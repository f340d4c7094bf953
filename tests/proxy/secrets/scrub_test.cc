#include "proxy/secrets/scrub.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "proxy/common/base64.h"

namespace kitgate::secrets {
namespace {

// A secret with every byte class an encoding treats specially.
constexpr std::string_view kSecret = "sk/live+9\"Q\\z%41 a&b=c~_.-QQQQ";
constexpr std::string_view kPlaceholder = "PH-0123456789";

std::string scrubbed(const ScrubMatcher& m, const std::string& text) {
  std::string out;
  return m.replaceAll(text, &out) ? out : text;
}

std::string percentAll(std::string_view in, const char* hex) {
  std::string out;
  for (char c : in) {
    const auto u = static_cast<unsigned char>(c);
    out += '%';
    out += hex[u >> 4];
    out += hex[u & 15];
  }
  return out;
}

TEST(ScrubForms, EveryTextEncodingOfTheSecretBecomesThePlaceholder) {
  const ScrubMatcher m(scrubForms(kSecret, kPlaceholder));
  const std::string s(kSecret);
  // Each: how an echo writes the secret, and how the sandbox reads it back.
  struct Echo {
    const char* name;
    std::string written;
    std::string (*read)(const std::string&);
  };
  auto id = [](const std::string& t) { return t; };
  auto json_read = [](const std::string& t) { return nlohmann::json::parse(t).get<std::string>(); };
  std::string minimal_pct;  // as secrets.percentEncode writes it, both cases
  for (char c : s) {
    const bool unreserved =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
    minimal_pct +=
        unreserved ? std::string(1, c) : percentAll(std::string(1, c), "0123456789ABCDEF");
  }
  std::string minimal_pct_lower = minimal_pct;
  for (size_t i = 0; i < minimal_pct_lower.size(); ++i) {
    if (minimal_pct_lower[i] == '%') {
      minimal_pct_lower[i + 1] = static_cast<char>(std::tolower(minimal_pct_lower[i + 1]));
      minimal_pct_lower[i + 2] = static_cast<char>(std::tolower(minimal_pct_lower[i + 2]));
    }
  }
  std::string json = nlohmann::json(s).dump();
  std::string json_slash;
  for (char c : json) json_slash += c == '/' ? std::string("\\/") : std::string(1, c);
  const std::vector<Echo> echoes = {
      {"raw", "[" + s + "]", id},
      {"percent, upper-case hex", "[" + minimal_pct + "]", id},
      {"percent, lower-case hex", "[" + minimal_pct_lower + "]", id},
      {"JSON", json, json_read},
      {"JSON with \\/", json_slash, json_read},
  };
  for (const Echo& e : echoes) {
    const std::string out = scrubbed(m, e.written);
    EXPECT_EQ(out.find(s), std::string::npos) << e.name << ": " << out;
    std::string back = e.read(out);
    if (std::string(e.name).rfind("percent", 0) == 0) {
      EXPECT_EQ(out, "[" + std::string(kPlaceholder) + "]") << e.name;
    } else {
      EXPECT_NE(back.find(kPlaceholder), std::string::npos) << e.name << ": " << back;
    }
    EXPECT_EQ(back.find(s), std::string::npos) << e.name << ": " << back;
  }
}

TEST(ScrubForms, Base64AtEveryOffsetAndInBothAlphabetsNoLongerDecodesToTheSecret) {
  const ScrubMatcher m(scrubForms(kSecret, kPlaceholder));
  for (size_t before = 0; before < 7; ++before) {
    for (size_t after = 0; after < 4; ++after) {
      for (const bool url : {false, true}) {
        const std::string plain =
            std::string(before, 'p') + std::string(kSecret) + std::string(after, 'q');
        std::string encoded = base64Encode(plain);
        if (url) {
          for (char& c : encoded) c = c == '+' ? '-' : c == '/' ? '_' : c;
        }
        std::string out = scrubbed(m, encoded);
        ASSERT_NE(out, encoded) << "not found at offset " << before << (url ? " (url)" : "");
        // Whatever still decodes must not contain the secret, nor a
        // 16-byte piece of it.
        for (char& c : out) c = c == '-' ? '+' : c == '_' ? '/' : c;
        std::string decoded;
        for (size_t i = 0; i + 4 <= out.size(); i += 4) {
          auto piece = base64Decode(out.substr(i, 4));
          decoded += piece ? *piece : "????";
        }
        EXPECT_EQ(decoded.find(kSecret.substr(0, 16)), std::string::npos) << before << "/" << after;
        EXPECT_EQ(decoded.find(kSecret.substr(kSecret.size() - 16)), std::string::npos)
            << before << "/" << after;
      }
    }
  }
}

TEST(ScrubForms, ShortSecretsGetNoEncodedCoresThatWouldMatchUnrelatedText) {
  // A 4-byte secret: its base64 cores would be 5 characters or fewer.
  for (const ScrubRule& r : scrubForms("abcd", "PH")) EXPECT_GE(r.secret.size(), 4u) << r.secret;
  EXPECT_LE(scrubForms("abcd", "PH").size(), 1u);
  EXPECT_TRUE(scrubForms("", "PH").empty());
}

// ---------------------------------------------------------------- matcher

// The reference: at each position, the longest pattern that matches there.
ScrubMatcher::Match naiveFind(const std::vector<ScrubRule>& rules, std::string_view text,
                              size_t from) {
  for (size_t i = from; i < text.size(); ++i) {
    const ScrubRule* best = nullptr;
    for (const ScrubRule& r : rules) {
      if (text.substr(i, r.secret.size()) == r.secret &&
          (best == nullptr || r.secret.size() > best->secret.size()))
        best = &r;
    }
    if (best != nullptr) return ScrubMatcher::Match{i, best->secret.size(), best};
  }
  return {};
}

size_t naiveTail(const std::vector<ScrubRule>& rules, std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    for (const ScrubRule& r : rules) {
      const std::string_view rest = text.substr(i);
      if (r.secret.size() > rest.size() &&
          std::string_view(r.secret).substr(0, rest.size()) == rest)
        return rest.size();
    }
  }
  return 0;
}

TEST(ScrubMatcher, AgreesWithTheNaiveSearchOnRandomTextsAndPatterns) {
  std::mt19937 rng(7);
  auto random_text = [&](size_t n, int alphabet) {
    std::string t;
    for (size_t i = 0; i < n; ++i) t.push_back(static_cast<char>('a' + rng() % alphabet));
    return t;
  };
  for (int round = 0; round < 3000; ++round) {
    const int alphabet = 2 + static_cast<int>(rng() % 4);  // small: many near-matches
    std::vector<ScrubRule> rules;
    const size_t count = 1 + rng() % 5;
    for (size_t i = 0; i < count; ++i)
      rules.push_back({random_text(1 + rng() % 9, alphabet), "R" + std::to_string(i)});
    const ScrubMatcher m(rules);
    const std::string text = random_text(rng() % 60, alphabet);
    for (size_t from = 0; from <= text.size(); ++from) {
      const auto want = naiveFind(m.rules(), text, from);
      const auto got = m.find(text, from);
      ASSERT_EQ(static_cast<bool>(got), static_cast<bool>(want)) << text << " from " << from;
      if (want) {
        ASSERT_EQ(got.start, want.start) << text;
        ASSERT_EQ(got.length, want.length) << text;
      }
    }
    ASSERT_EQ(m.partialTail(text), naiveTail(m.rules(), text)) << text;
  }
}

TEST(ScrubMatcher, ReplacesLeftmostLongestAndNeverRescansReplacements) {
  const ScrubMatcher m({{"secret", "s3cr3t"}, {"secret-long", "L"}, {"s3cr3t", "never"}});
  EXPECT_EQ(scrubbed(m, "a secret-long b secret c"), "a L b s3cr3t c");
  EXPECT_EQ(m.maxLength(), 11u);
  EXPECT_EQ(m.partialTail("xx secret-lo"), 9u);
  EXPECT_EQ(m.partialTail("xx secret-long"), 0u);  // whole: a match, not a tail
  EXPECT_EQ(m.partialTail("xx"), 0u);
  const ScrubMatcher empty;
  std::string out = "untouched";
  EXPECT_FALSE(empty.replaceAll("secret", &out));
  EXPECT_EQ(out, "untouched");
}

}  // namespace
}  // namespace kitgate::secrets
