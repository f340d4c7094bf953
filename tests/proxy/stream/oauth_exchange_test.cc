// The token exchange of one request on an intercepted token endpoint, fed
// by hand: which requests are exchanges, the refresh sentinel in a body split
// across reads, and what is collected, stored and passed on.
#include "proxy/stream/oauth_exchange.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/subprocess.h"

namespace kitgate::stream {
namespace {

constexpr const char* kRefreshSentinel = "sk-ant-ort01-proxy-managed";

struct Buffers {
  evbuffer* in = evbuffer_new();
  evbuffer* out = evbuffer_new();
  ~Buffers() {
    evbuffer_free(in);
    evbuffer_free(out);
  }
  std::string drainOut() {
    std::string s(evbuffer_get_length(out), '\0');
    evbuffer_remove(out, s.data(), s.size());
    return s;
  }
};

class OAuthExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::create("oauth-exchange");
    ASSERT_TRUE(dir.isOk());
    dir_ = std::make_unique<testing::TempDir>(std::move(dir).value());
    vault_ = std::make_unique<secrets::OAuthVault>(dir_->path());
    auto route = std::make_shared<secrets::OAuthRoute>();
    route->service = "anthropic";
    route->token_host = "auth.test";
    route->token_path = "/v1/oauth/token";
    route->access_sentinel = "sk-ant-oat01-proxy-managed";
    route->refresh_sentinel = kRefreshSentinel;
    auto plan = std::make_shared<secrets::InterceptPlan>();
    plan->oauth_endpoints.push_back({route, vault_->slot("dev1", "anthropic")});
    plan_ = plan;
  }

  http::Request post(const std::string& path, const std::string& type) {
    http::Request r;
    r.method = "POST";
    r.path = path;
    r.headers = {{"Content-Type", type}};
    return r;
  }

  http::ResponseHead ok(http::BodyFraming framing = http::BodyFraming::kChunked) {
    http::ResponseHead h;
    h.status = 200;
    h.framing = framing;
    return h;
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<secrets::OAuthVault> vault_;
  std::shared_ptr<const secrets::InterceptPlan> plan_;
  BodyScrub scrub_;  // no matcher: passes bytes through
};

TEST_F(OAuthExchangeTest, OnlyAPostToTheTokenPathIsAnExchange) {
  OAuthExchange ex;
  ex.begin(plan_.get(), post("/v1/oauth/token?x=1", "application/json"), 443);
  EXPECT_TRUE(ex.active());
  ex.begin(plan_.get(), post("/v1/oauth/other", "application/json"), 443);
  EXPECT_FALSE(ex.active());
  http::Request get = post("/v1/oauth/token", "application/json");
  get.method = "GET";
  ex.begin(plan_.get(), get, 443);
  EXPECT_FALSE(ex.active());
  ex.begin(nullptr, post("/v1/oauth/token", "application/json"), 443);
  EXPECT_FALSE(ex.active());
}

TEST_F(OAuthExchangeTest, TheRefreshSentinelSplitAcrossReadsBecomesTheStoredToken) {
  OAuthExchange ex;
  ex.begin(plan_.get(), post("/v1/oauth/token", "application/x-www-form-urlencoded"), 443);
  ASSERT_TRUE(ex.rewritesRequest()) << "every token request is read for its client_id";
  {
    Buffers as_sent;
    const std::string login = std::string("refresh_token=") + kRefreshSentinel;
    evbuffer_add(as_sent.in, login.data(), login.size());
    ex.requestBody(as_sent.in, as_sent.out, true);
    EXPECT_EQ(as_sent.drainOut(), login) << "nothing stored yet: the body goes as sent";
  }
  secrets::OAuthTokens t;
  t.access_token = "REAL-a";
  t.refresh_token = "REAL r/1";
  ASSERT_TRUE(vault_->slot("dev1", "anthropic")->store(t).isOk());
  ex.begin(plan_.get(), post("/v1/oauth/token", "application/x-www-form-urlencoded"), 443);
  ASSERT_TRUE(ex.rewritesRequest());
  Buffers b;
  const std::string body =
      std::string("grant_type=refresh_token&refresh_token=") + kRefreshSentinel;
  for (size_t i = 0; i < body.size(); i += 7) {  // 7-byte reads
    evbuffer_add(b.in, body.data() + i, std::min<size_t>(7, body.size() - i));
    ex.requestBody(b.in, b.out, i + 7 >= body.size());
  }
  EXPECT_EQ(b.drainOut(), "grant_type=refresh_token&refresh_token=REAL%20r%2F1");
}

TEST_F(OAuthExchangeTest, ATokenAnswerIsStoredAndReachesTheSandboxWithSentinels) {
  OAuthExchange ex;
  ex.begin(plan_.get(), post("/v1/oauth/token", "application/json"), 443);
  ASSERT_TRUE(ex.onResponseHead(ok()));
  Buffers b;
  const std::string answer =
      R"({"access_token":"REAL-at-1","refresh_token":"REAL-rt-1","expires_in":60})";
  evbuffer_add(b.in, answer.data(), 20);
  ex.responseBody(b.in, b.out, false, scrub_, "dev1");
  EXPECT_EQ(evbuffer_get_length(b.out), 0u) << "nothing leaves before the whole answer";
  evbuffer_add(b.in, answer.data() + 20, answer.size() - 20);
  ex.responseBody(b.in, b.out, true, scrub_, "dev1");
  const std::string got = b.drainOut();
  EXPECT_EQ(got.find("REAL-"), std::string::npos) << got;
  EXPECT_EQ(nlohmann::json::parse(got)["refresh_token"], kRefreshSentinel);
  auto stored = vault_->slot("dev1", "anthropic")->current();
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->access_token, "REAL-at-1");
}

// The client a login names (form or JSON, split across reads) is stored
// with the tokens it obtains; a request above the bound is passed on whole
// and names no client.
TEST_F(OAuthExchangeTest, TheClientALoginNamesIsStoredWithItsTokens) {
  struct Case {
    const char* type;
    std::string body;
    const char* client_id;
  };
  const std::string big(kMaxTokenRequest, 'p');
  const Case cases[] = {
      {"application/x-www-form-urlencoded",
       "grant_type=authorization_code&code=c&client_id=app%2F1&client_secret=REAL-cs", "app/1"},
      {"application/json",
       R"({"grant_type":"authorization_code","code":"c","client_id":"app-2","client_secret":"REAL-cs"})",
       "app-2"},
      {"application/x-www-form-urlencoded", "grant_type=authorization_code&code=c", ""},
      {"application/x-www-form-urlencoded", "client_id=app-3&client_secret=REAL-cs&pad=" + big, ""},
  };
  for (const Case& c : cases) {
    OAuthExchange ex;
    ex.begin(plan_.get(), post("/v1/oauth/token", c.type), 443);
    ASSERT_TRUE(ex.rewritesRequest());
    Buffers b;
    for (size_t i = 0; i < c.body.size(); i += 5) {
      evbuffer_add(b.in, c.body.data() + i, std::min<size_t>(5, c.body.size() - i));
      ex.requestBody(b.in, b.out, i + 5 >= c.body.size());
    }
    EXPECT_EQ(b.drainOut(), c.body) << "a login goes as sent";
    ASSERT_TRUE(ex.onResponseHead(ok()));
    const std::string answer = R"({"access_token":"REAL-at-1","refresh_token":"REAL-rt-1"})";
    evbuffer_add(b.in, answer.data(), answer.size());
    ex.responseBody(b.in, b.out, true, scrub_, "dev1");
    auto stored = vault_->slot("dev1", "anthropic")->current();
    ASSERT_NE(stored, nullptr);
    EXPECT_EQ(stored->client_id, c.client_id) << c.body.substr(0, 80);
    EXPECT_EQ(stored->client_secret, *c.client_id ? "REAL-cs" : "") << c.body.substr(0, 80);
    ASSERT_TRUE(vault_->slot("dev1", "anthropic")->store({}).isOk());  // next case: no client
  }
}

TEST_F(OAuthExchangeTest, ErrorsAndOversizeAnswersPassOnAndStoreNothing) {
  OAuthExchange ex;
  ex.begin(plan_.get(), post("/v1/oauth/token", "application/json"), 443);
  http::ResponseHead bad = ok();
  bad.status = 400;
  EXPECT_FALSE(ex.onResponseHead(bad));
  http::ResponseHead huge = ok(http::BodyFraming::kContentLength);
  huge.content_length = kMaxTokenResponse + 1;
  EXPECT_FALSE(ex.onResponseHead(huge));

  // Chunked past the bound: everything collected so far and after is passed on.
  ASSERT_TRUE(ex.onResponseHead(ok()));
  Buffers b;
  const std::string part(kMaxTokenResponse / 2 + 1, 'x');
  size_t total = 0;
  for (int i = 0; i < 3; ++i) {
    evbuffer_add(b.in, part.data(), part.size());
    ex.responseBody(b.in, b.out, i == 2, scrub_, "dev1");
    total += part.size();
  }
  EXPECT_EQ(b.drainOut(), std::string(total, 'x'));
  EXPECT_EQ(vault_->slot("dev1", "anthropic")->current(), nullptr);

  // A 2xx that is not a token answer: passed on as it is.
  ASSERT_TRUE(ex.onResponseHead(ok()));
  const std::string other = R"({"error":"slow_down"})";
  evbuffer_add(b.in, other.data(), other.size());
  ex.responseBody(b.in, b.out, true, scrub_, "dev1");
  EXPECT_EQ(b.drainOut(), other);
  EXPECT_EQ(vault_->slot("dev1", "anthropic")->current(), nullptr);
}

}  // namespace
}  // namespace kitgate::stream
