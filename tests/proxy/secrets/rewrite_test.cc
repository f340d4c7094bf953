#include "proxy/secrets/rewrite.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/common/base64.h"
#include "proxy/http/serialize.h"
#include "tests/support/subprocess.h"

namespace kitgate::secrets {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAmpValue = "amp-REAL-0123456789";    // service secret (header injection)
constexpr const char* kCustomValue = "cust+REAL/0123&x=y";  // custom secret (placeholder)
constexpr const char* kPlaceholder = "sgamp-PLACEHOLDER42";
constexpr const char* kRegistryValue = "reg-REAL-9876543210";

// One store for every test: sandbox dev1 with
//   ampcode.com        Authorization: Bearer <amp> + placeholder substitution
//   basic.example.com  placeholder substitution only
//   pkgs.example.com   Basic username route
//   other.example.com  nothing (not intercepted)
class RewriteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = testing::TempDir::create("secrets-rewrite");
    ASSERT_TRUE(dir.isOk());
    const fs::path root = dir->path();
    fs::create_directories(root / "credentials");
    std::ofstream(root / "secrets.yaml")
        << "services:\n"
        << "  - {service: amp, scope: global, value: \"" << kAmpValue << "\"}\n"
        << "  - {service: registry, scope: global, value: \"" << kRegistryValue << "\"}\n"
        << "custom:\n"
        << "  - {scope: global, hosts: [ampcode.com, basic.example.com], env: AMP_API_KEY, "
        << "placeholder: \"" << kPlaceholder << "\", value: \"" << kCustomValue << "\"}\n";
    fs::permissions(root / "secrets.yaml", fs::perms(0600));
    std::ofstream(root / "credentials/dev1.yaml")
        << "routes:\n"
        << "  - {service: amp, domains: [ampcode.com], header: Authorization, format: \"Bearer "
           "%s\"}\n"
        << "  - {service: registry, domains: [pkgs.example.com], username: token}\n";
    auto store = loadStore(dir->path());
    ASSERT_TRUE(store.isOk()) << store.status().message();
    store_ = new std::shared_ptr<const Store>(*store);
  }
  static void TearDownTestSuite() {
    delete store_;
    store_ = nullptr;
  }

  static const SandboxCredentials& creds() { return *(*store_)->forSandbox("dev1"); }

  static http::RequestHead parse(const std::string& head) {
    http::RequestHead req;
    size_t consumed = 0;
    const auto st = http::parseRequestHead(head, http::HeadLimits{}, &req, &consumed);
    EXPECT_TRUE(st.isComplete()) << st.reason();
    return req;
  }

  // What the proxy would send upstream for `head` on a connection to `host`:
  // rewritten when a plan exists, untouched otherwise.
  static std::string forward(const char* host, const std::string& head, Status* status = nullptr) {
    http::RequestHead req = parse(head);
    auto plan = creds().planFor(*policy::normalizeHost(host));
    if (plan) {
      Status st = rewriteRequest(*plan, req);
      if (status != nullptr) *status = st;
    }
    std::string out;
    http::serializeRequestForOrigin(req, &out);
    return out;
  }

  static std::shared_ptr<const Store>* store_;
};

std::shared_ptr<const Store>* RewriteTest::store_ = nullptr;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(RewriteTest, InjectionReplacesEverySameNameHeaderCaseInsensitively) {
  const std::string out = forward("ampcode.com",
                                  "GET / HTTP/1.1\r\nHost: ampcode.com\r\n"
                                  "authorization: Bearer proxy-managed\r\nAccept: */*\r\n"
                                  "AUTHORIZATION: Bearer someone-elses\r\n\r\n");
  EXPECT_EQ(count(out, "uthorization"), 1u) << out;
  EXPECT_NE(out.find(std::string("\r\nAuthorization: Bearer ") + kAmpValue + "\r\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("someone-elses"), std::string::npos);
  EXPECT_EQ(out.find("proxy-managed"), std::string::npos);
  EXPECT_NE(out.find("Accept: */*"), std::string::npos);
}

TEST_F(RewriteTest, InjectionAddsTheHeaderWhenTheClientSentNone) {
  const std::string out = forward("ampcode.com", "GET / HTTP/1.1\r\nHost: ampcode.com\r\n\r\n");
  EXPECT_NE(out.find(std::string("Authorization: Bearer ") + kAmpValue), std::string::npos) << out;
}

// The counts behind kitgate_credential_injections_total{kind}: one per
// injected header, per substituted header value or query, per Basic
// credential with a placeholder inside.
TEST_F(RewriteTest, CountsWhatEachRewriteDid) {
  struct Case {
    const char* host;
    std::string head;
    RewriteCounts want;
  };
  const std::string ph = kPlaceholder;
  const std::vector<Case> cases = {
      {"ampcode.com", "GET /x HTTP/1.1\r\nHost: ampcode.com\r\n\r\n", {1, 0, 0}},
      {"ampcode.com",
       "GET /x?k=" + ph + " HTTP/1.1\r\nHost: ampcode.com\r\nX-Key: " + ph + "\r\n\r\n",
       {1, 2, 0}},
      {"basic.example.com",
       "GET / HTTP/1.1\r\nHost: basic.example.com\r\nAuthorization: Basic " + base64Encode("u:" + ph) +
           "\r\n\r\n",
       {0, 0, 1}},
      {"basic.example.com", "GET / HTTP/1.1\r\nHost: basic.example.com\r\n\r\n", {0, 0, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.head);
    http::RequestHead req = parse(c.head);
    auto plan = creds().planFor(*policy::normalizeHost(c.host));
    ASSERT_NE(plan, nullptr);
    RewriteCounts n;
    ASSERT_TRUE(rewriteRequest(*plan, req, nullptr, &n).isOk());
    EXPECT_EQ(n.header, c.want.header);
    EXPECT_EQ(n.placeholder, c.want.placeholder);
    EXPECT_EQ(n.basic, c.want.basic);
  }
}

TEST_F(RewriteTest, BasicUsernameRoute) {
  const std::string out = forward("pkgs.example.com",
                                  "GET /simple/ HTTP/1.1\r\nHost: pkgs.example.com\r\n"
                                  "Authorization: Basic " +
                                      base64Encode("token:proxy-managed") + "\r\n\r\n");
  EXPECT_NE(out.find("Authorization: Basic " +
                     base64Encode(std::string("token:") + kRegistryValue) + "\r\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(count(out, "Authorization"), 1u);
}

struct PlaceholderCase {
  const char* name;
  const char* bound_host;
  std::string request;
  std::string bound_expect;  // must appear when sent to the bound host
};

std::vector<PlaceholderCase> placeholderCases() {
  const std::string ph = kPlaceholder;
  return {
      {"header value", "ampcode.com",
       "GET / HTTP/1.1\r\nHost: h\r\nX-Api-Key: key=" + ph + ";\r\n\r\n",
       std::string("X-Api-Key: key=") + kCustomValue + ";\r\n"},
      {"two occurrences", "ampcode.com",
       "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=" + ph + "; b=" + ph + "\r\n\r\n",
       std::string("Cookie: a=") + kCustomValue + "; b=" + kCustomValue + "\r\n"},
      {"basic credential", "basic.example.com",
       "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic " + base64Encode("user:" + ph) +
           "\r\n\r\n",
       "Authorization: Basic " + base64Encode(std::string("user:") + kCustomValue) + "\r\n"},
      {"query", "ampcode.com", "GET /v1/items?key=" + ph + "&n=1 HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET /v1/items?key=cust%2BREAL%2F0123%26x%3Dy&n=1 HTTP/1.1\r\n"},
  };
}

TEST_F(RewriteTest, PlaceholderIsReplacedOnlyTowardItsHost) {
  for (const PlaceholderCase& c : placeholderCases()) {
    SCOPED_TRACE(c.name);
    const std::string bound = forward(c.bound_host, c.request);
    EXPECT_EQ(bound.find(kPlaceholder), std::string::npos) << bound;
    EXPECT_NE(bound.find(c.bound_expect), std::string::npos) << bound;
    // Another host: no plan, the placeholder goes out unchanged and the value never does.
    EXPECT_EQ(creds().planFor(*policy::normalizeHost("other.example.com")), nullptr);
    const std::string other = forward("other.example.com", c.request);
    EXPECT_NE(other.find(c.name == std::string("basic credential")
                             ? base64Encode(std::string("user:") + kPlaceholder)
                             : std::string(kPlaceholder)),
              std::string::npos)
        << other;
    EXPECT_EQ(other.find(kCustomValue), std::string::npos);
    EXPECT_EQ(other.find("cust%2BREAL"), std::string::npos);
    EXPECT_EQ(other, [&] {
      std::string plain;
      http::serializeRequestForOrigin(parse(c.request), &plain);
      return plain;
    }());
  }
}

TEST_F(RewriteTest, PlaceholderInsideBasicCredentialIsDecodedReplacedAndReencoded) {
  // pkgs.example.com has no placeholder binding; use a hand-made plan that
  // only substitutes, so Authorization is not overwritten by an injection.
  InterceptPlan plan;
  plan.substitutions.push_back(Substitution{kPlaceholder, kCustomValue, "AMP_API_KEY"});
  http::RequestHead req =
      parse(std::string("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: basic  ") +
            base64Encode(std::string("user:") + kPlaceholder) + "\r\nProxy-Authorization: Basic " +
            base64Encode(std::string(kPlaceholder) + ":x") + "\r\n\r\n");
  ASSERT_TRUE(rewriteRequest(plan, req).isOk());
  EXPECT_EQ(http::findHeader(req.headers, "authorization")->value,
            "basic  " + base64Encode(std::string("user:") + kCustomValue));
  EXPECT_EQ(http::findHeader(req.headers, "proxy-authorization")->value,
            "Basic " + base64Encode(std::string(kCustomValue) + ":x"));
}

TEST_F(RewriteTest, SentinelIsNeverSubstituted) {
  const std::string out =
      forward("ampcode.com",
              "GET /?token=proxy-managed HTTP/1.1\r\nHost: ampcode.com\r\n"
              "X-Other-Key: proxy-managed\r\nAuthorization: Bearer proxy-managed\r\n\r\n");
  EXPECT_NE(out.find("GET /?token=proxy-managed HTTP/1.1"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Other-Key: proxy-managed\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find(std::string("Authorization: Bearer ") + kAmpValue), std::string::npos) << out;
}

TEST_F(RewriteTest, ConnectionHeaderCannotDropAnInjectedHeader) {
  const struct {
    const char* connection;
  } cases[] = {{"Authorization"}, {"keep-alive, authorization"}, {"AUTHORIZATION , X-Drop-Me"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.connection);
    const std::string out =
        forward("ampcode.com", std::string("GET / HTTP/1.1\r\nHost: ampcode.com\r\n"
                                           "Connection: ") +
                                   c.connection + "\r\nX-Drop-Me: 1\r\n\r\n");
    EXPECT_NE(out.find(std::string("Authorization: Bearer ") + kAmpValue + "\r\n"),
              std::string::npos)
        << out;
  }
  // Other Connection-listed fields are still dropped.
  const std::string out =
      forward("ampcode.com",
              "GET / HTTP/1.1\r\nHost: ampcode.com\r\nConnection: authorization, X-Drop-Me\r\n"
              "X-Drop-Me: 1\r\n\r\n");
  EXPECT_EQ(out.find("X-Drop-Me"), std::string::npos) << out;
}

TEST_F(RewriteTest, InvalidInjectedValueIsRefusedAndReported) {
  const std::vector<std::string> bad_values = {"Bearer a\r\nX-Evil: 1", "Bearer a\nb",
                                               std::string("Bearer a\0b", 10)};
  for (const std::string& bad : bad_values) {
    InterceptPlan plan;
    plan.injections.push_back(HeaderInjection{"Authorization", bad, "amp"});
    plan.injections.push_back(HeaderInjection{"X-Good", "fine", "other"});
    http::RequestHead req =
        parse("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer proxy-managed\r\n\r\n");
    const Status st = rewriteRequest(plan, req);
    EXPECT_FALSE(st.isOk());
    EXPECT_NE(st.message().find("injection of header \"Authorization\" (service amp) skipped"),
              std::string::npos)
        << st.message();
    EXPECT_EQ(st.message().find("Bearer a"), std::string::npos) << st.message();
    EXPECT_EQ(http::findHeader(req.headers, "authorization"),
              nullptr);  // never written, sentinel gone
    ASSERT_NE(http::findHeader(req.headers, "x-good"), nullptr);
    EXPECT_EQ(http::findHeader(req.headers, "x-good")->value, "fine");
  }
}

TEST_F(RewriteTest, SubstitutionWithAnUnsafeValueIsRefusedAndReported) {
  InterceptPlan plan;
  plan.substitutions.push_back(Substitution{kPlaceholder, "evil\r\nX-Injected: 1", "EVIL_KEY"});
  http::RequestHead req = parse(std::string("GET /?k=") + kPlaceholder +
                                " HTTP/1.1\r\nHost: h\r\nX-Key: " + kPlaceholder + "\r\n\r\n");
  const Status st = rewriteRequest(plan, req);
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("placeholder of EVIL_KEY not substituted in header \"X-Key\""),
            std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find("evil"), std::string::npos);
  EXPECT_EQ(http::findHeader(req.headers, "x-key")->value, kPlaceholder);
  EXPECT_EQ(req.path, "/?k=evil%0D%0AX-Injected%3A%201");  // percent-encoded: harmless in a query
}

TEST_F(RewriteTest, ValueContainingAPlaceholderIsNotSubstitutedAgain) {
  InterceptPlan plan;
  plan.substitutions.push_back(Substitution{"sg-FIRST-000", "value-with-sg-SECOND-000", "A"});
  plan.substitutions.push_back(Substitution{"sg-SECOND-000", "second-value", "B"});
  http::RequestHead req =
      parse("GET / HTTP/1.1\r\nHost: h\r\nX-K: sg-FIRST-000 sg-SECOND-000\r\n\r\n");
  ASSERT_TRUE(rewriteRequest(plan, req).isOk());
  EXPECT_EQ(http::findHeader(req.headers, "x-k")->value, "value-with-sg-SECOND-000 second-value");
}

TEST_F(RewriteTest, NothingToDoLeavesTheRequestAlone) {
  const std::string head =
      "GET /a?b=c HTTP/1.1\r\nHost: ampcode.com\r\nX-K: v\r\nConnection: X-K\r\n\r\n";
  InterceptPlan empty;
  http::RequestHead req = parse(head);
  const http::RequestHead before = req;
  ASSERT_TRUE(rewriteRequest(empty, req).isOk());
  EXPECT_EQ(req.headers, before.headers);
  EXPECT_EQ(req.path, before.path);
}

TEST_F(RewriteTest, ResponseScrubReplacesEchoedSecrets) {
  http::ResponseHead resp;
  resp.status = 200;
  resp.reason = std::string("OK ") + kAmpValue;
  resp.headers = {
      {"X-Echo-Auth", std::string("Bearer ") + kAmpValue},
      {"X-Echo-Custom", std::string("k=") + kCustomValue},
      {"X-Echo-Encoded", "k=cust%2BREAL%2F0123%26x%3Dy"},
      {"X-Echo-Basic", "Basic " + base64Encode(std::string("token:") + kRegistryValue)},
      {"Content-Type", "application/json"},
  };
  scrubResponse(creds(), resp);
  std::string out;
  http::serializeResponseForClient(resp, &out);
  for (const char* secret : {kAmpValue, kCustomValue, kRegistryValue}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << "\n" << out;
  }
  EXPECT_EQ(out.find("cust%2BREAL"), std::string::npos) << out;
  EXPECT_EQ(out.find(base64Encode(std::string("token:") + kRegistryValue)), std::string::npos)
      << out;
  EXPECT_EQ(http::findHeader(resp.headers, "x-echo-auth")->value, "Bearer proxy-managed");
  EXPECT_EQ(http::findHeader(resp.headers, "x-echo-custom")->value,
            std::string("k=") + kPlaceholder);
  EXPECT_EQ(http::findHeader(resp.headers, "x-echo-encoded")->value,
            std::string("k=") + kPlaceholder);
  EXPECT_EQ(http::findHeader(resp.headers, "x-echo-basic")->value,
            "Basic " + base64Encode("token:proxy-managed"));
  EXPECT_EQ(http::findHeader(resp.headers, "content-type")->value, "application/json");
  EXPECT_EQ(resp.reason, "OK proxy-managed");
}

}  // namespace
}  // namespace kitgate::secrets
