// Response bodies from a bound host never hand a secret back to the sandbox:
// an "anything" endpoint echoes the request head (which carries the injected
// service secret and the substituted custom secret) as its body, in every
// encoding an echo takes and every framing, written in small pieces so the
// secrets straddle the proxy's reads. Through the real kitgate-proxy.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proxy/common/base64.h"
#include "tests/integration/mitm_fixture.h"

namespace kitgate::testing {
namespace {

std::string percentDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// What the sandbox reads out of the echoed body, decoded as the form says.
std::string decodeEcho(const std::string& form, const std::string& body) {
  if (form == "json" || form == "json-slash") {
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_object() && j.contains("head") && j["head"].is_string()
               ? j["head"].get<std::string>()
               : "(not JSON) " + body;
  }
  if (form.rfind("base64", 0) == 0) {
    std::string text = body;
    for (char& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
    // A scrubbed encoding may no longer decode cleanly: decode what does,
    // 4 characters at a time, and keep the rest as text.
    std::string out;
    for (size_t i = 0; i + 4 <= text.size(); i += 4) {
      auto piece = base64Decode(text.substr(i, 4));
      out += piece ? *piece : text.substr(i, 4);
    }
    return out;
  }
  if (form == "pct" || form == "pctl") return percentDecode(body);
  return body;
}

struct Case {
  std::string form;
  std::string frame;
  size_t piece;
  size_t pad;
};

std::string name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = info.param.form + "_" + info.param.frame + "_piece" +
                  std::to_string(info.param.piece) + "_pad" + std::to_string(info.param.pad);
  for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* frame : {"length", "chunked", "close"}) {
    for (size_t piece : {size_t{5}, size_t{4096}}) {
      for (const char* form : {"raw", "json", "json-slash", "pct", "pctl"})
        out.push_back({form, frame, piece, 0});
      for (const char* form : {"base64", "base64url"}) {
        for (size_t pad : {0, 1, 2}) out.push_back({form, frame, piece, pad});
      }
    }
  }
  return out;
}

class MitmBodyScrub : public MitmWorld, public ::testing::WithParamInterface<Case> {};

TEST_P(MitmBodyScrub, EchoedSecretsNeverReachTheSandbox) {
  const Case& c = GetParam();
  ASSERT_OK_AND_ASSIGN(auto cl, client(kAmpHost, *origin_));
  const std::string target = "/echo-body?form=" + c.form + "&frame=" + c.frame +
                             "&piece=" + std::to_string(c.piece) + "&pad=" + std::to_string(c.pad);
  ASSERT_OK(cl.send(cl.request(
      "GET", target,
      std::string("Authorization: Bearer ") + kPlaceholder + "\r\nX-Api-Key: proxy-managed\r\n")));
  ASSERT_OK_AND_ASSIGN(auto resp, cl.readResponse());
  EXPECT_EQ(resp.status, 200);
  // The origin got both real values and echoed them ...
  const std::string sent = origin_->lastSpecialHead();
  ASSERT_NE(sent.find(std::string("Bearer ") + kCustomValue), std::string::npos) << sent;
  ASSERT_NE(sent.find(std::string("Key ") + kAmpKey), std::string::npos) << sent;
  // ... and the sandbox reads neither, in the encoding or decoded.
  const std::string seen = decodeEcho(c.form, resp.body);
  for (const char* secret : {kAmpKey, kCustomValue}) {
    EXPECT_EQ(resp.body.find(secret), std::string::npos) << resp.body;
    EXPECT_EQ(seen.find(secret), std::string::npos) << seen;
  }
  for (const std::string& form : secretForms())
    EXPECT_EQ(resp.body.find(form), std::string::npos) << resp.body;
  if (c.form.rfind("base64", 0) != 0) {
    // Text forms read back as the placeholder and the sentinel.
    EXPECT_NE(seen.find(std::string("Bearer ") + kPlaceholder), std::string::npos) << seen;
    EXPECT_NE(seen.find("Key proxy-managed"), std::string::npos) << seen;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryFormAndFraming, MitmBodyScrub, ::testing::ValuesIn(cases()), name);

using MitmBodyScrubWire = MitmWorld;

TEST_F(MitmBodyScrubWire, BoundHostIsAskedForAnUncompressedBody) {
  ASSERT_OK_AND_ASSIGN(auto cl, client(kAmpHost, *origin_));
  ASSERT_OK(cl.send(
      cl.request("GET", "/echo-body", "Accept-Encoding: gzip, br\r\naccept-encoding: zstd\r\n")));
  ASSERT_OK_AND_ASSIGN(auto resp, cl.readResponse());
  EXPECT_EQ(resp.status, 200);
  const std::string sent = origin_->lastSpecialHead();
  EXPECT_NE(sent.find("Accept-Encoding: identity\r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("gzip"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("zstd"), std::string::npos) << sent;
}

TEST_F(MitmBodyScrubWire, RescrubbedLengthBodyIsChunkedAndTheConnectionStaysUsable) {
  ASSERT_OK_AND_ASSIGN(auto cl, client(kAmpHost, *origin_));
  ASSERT_OK(cl.send(cl.request("GET", "/echo-body?frame=length&piece=3",
                               std::string("Authorization: Bearer ") + kPlaceholder + "\r\n")));
  ASSERT_OK_AND_ASSIGN(auto first, cl.readResponse());
  EXPECT_EQ(first.status, 200);
  // The placeholder is longer than the secret: the length changed, so the
  // body is re-framed, never sent with a stale Content-Length.
  EXPECT_TRUE(first.chunked) << first.head;
  EXPECT_FALSE(first.header("content-length").has_value()) << first.head;
  EXPECT_NE(first.body.find(std::string("Bearer ") + kPlaceholder), std::string::npos)
      << first.body;
  // The next request on the same sandbox connection is answered normally.
  ASSERT_OK(cl.send(cl.request("GET", "/small")));
  ASSERT_OK_AND_ASSIGN(auto second, cl.readResponse());
  EXPECT_EQ(second.status, 200);
  EXPECT_FALSE(second.body.empty());
}

TEST_F(MitmBodyScrubWire, BodiesWithoutSecretsArriveByteExact) {
  // Bytes that merely begin like a secret ("REAL-", the placeholder's
  // prefix) are held back only until the next read decides: nothing is lost
  // or changed.
  ASSERT_OK_AND_ASSIGN(auto cl, client(kAmpHost, *origin_));
  ASSERT_OK(cl.send(cl.request("GET", "/echo-body?frame=chunked&piece=1",
                               "X-Decoy: REAL-amp- REAL-custom-c0f R\r\n")));
  ASSERT_OK_AND_ASSIGN(auto resp, cl.readResponse());
  EXPECT_EQ(resp.status, 200);
  // The route's injected X-Api-Key is the only secret in the head.
  std::string want = origin_->lastSpecialHead();
  const size_t at = want.find(kAmpKey);
  ASSERT_NE(at, std::string::npos) << want;
  want.replace(at, std::string_view(kAmpKey).size(), "proxy-managed");
  EXPECT_EQ(resp.body, want);
  EXPECT_NE(resp.body.find("X-Decoy: REAL-amp- REAL-custom-c0f R\r\n"), std::string::npos);
}

TEST_F(MitmBodyScrubWire, ACompressedBodyIsPassedByteExactAndTheOperatorWarned) {
  // An origin that compresses although asked for identity: scrubbing the
  // compressed bytes would corrupt them, so they pass unchanged (README).
  ASSERT_OK_AND_ASSIGN(auto cl, client(kAmpHost, *origin_));
  ASSERT_OK(cl.send(cl.request("GET", "/echo-body?frame=length&encoding=gzip")));
  ASSERT_OK_AND_ASSIGN(auto resp, cl.readResponse());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("content-length").value_or(""), std::to_string(resp.body.size()))
      << resp.head;
  EXPECT_EQ(resp.body, origin_->lastSpecialHead());
  auto said = [&] { return proxy_->stderrText() + readFile(proxy_->dir() + "/proxy.stdout"); };
  EXPECT_TRUE(waitUntil([&] { return said().find("passed unscrubbed") != std::string::npos; }, 5s))
      << said();
}

TEST_F(MitmBodyScrubWire, UnboundHostBodiesAreNotTouched) {
  // other.test is tunnelled (nothing bound): the proxy never sees the body.
  ASSERT_OK_AND_ASSIGN(
      auto cl, HttpsClient::open({proxy_->port(), kOtherHost, origin_->port(), origin_ca_file_}));
  ASSERT_OK(cl.send(cl.request("GET", "/echo-body?frame=length",
                               std::string("X-Mine: ") + kPlaceholder + "\r\n")));
  ASSERT_OK_AND_ASSIGN(auto resp, cl.readResponse());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("content-length").value_or(""), std::to_string(resp.body.size()))
      << resp.head;
}

}  // namespace
}  // namespace kitgate::testing
