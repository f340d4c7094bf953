#include "proxy/secrets/oauth_refresher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/subprocess.h"

namespace kitgate::secrets {
namespace {

constexpr int64_t kT0 = 1'765'000'000'000;  // unix ms

class OAuthRefresherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::create("refresher");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    dir_.emplace(std::move(dir).value());
    vault_ = std::make_shared<OAuthVault>(dir_->path());
    route_ = std::make_shared<OAuthRoute>();
    route_->service = "anthropic";
    route_->token_host = "auth.test";
    route_->token_path = "/v1/oauth/token";
    route_->access_sentinel = "sk-ant-oat01-proxy-managed";
    route_->refresh_sentinel = "sk-ant-ort01-proxy-managed";
    slot_ = vault_->slot("dev1", "anthropic");
    slot_->setRoute(route_);
  }

  // Tokens issued at now_ for `lifetime_s`.
  void login(int lifetime_s, std::string refresh = "REAL-rt-0") {
    OAuthTokens t;
    t.access_token = "REAL-at-0";
    t.refresh_token = std::move(refresh);
    t.updated_at_ms = now_;
    t.expires_at_ms = now_ + lifetime_s * 1000;
    t.token_port = 8443;
    ASSERT_TRUE(slot_->store(t).isOk());
  }

  OAuthRefresher::Hooks hooks() {
    OAuthRefresher::Hooks h;
    h.vault = [this] { return vault_; };
    h.post = [this](const TokenRequest& r) -> StatusOr<TokenAnswer> {
      requests_.push_back(r);
      if (on_post_) on_post_();
      if (!answer_) return answer_.status();
      return *answer_;
    };
    h.done = [this](const std::shared_ptr<OAuthSlot>&, OAuthRefresher::Result r) {
      results_.push_back(r);
    };
    h.now_ms = [this] { return now_.load(); };
    return h;
  }

  static TokenAnswer rotated(int n, int expires_in = 3600) {
    return {200, nlohmann::json{{"access_token", "REAL-at-" + std::to_string(n)},
                                {"refresh_token", "REAL-rt-" + std::to_string(n)},
                                {"expires_in", expires_in}}
                     .dump()};
  }

  std::optional<testing::TempDir> dir_;
  std::shared_ptr<OAuthVault> vault_;
  std::shared_ptr<OAuthRoute> route_;
  std::shared_ptr<OAuthSlot> slot_;
  std::atomic<int64_t> now_{kT0};
  StatusOr<TokenAnswer> answer_ = rotated(1);
  std::function<void()> on_post_;
  std::vector<TokenRequest> requests_;
  std::vector<OAuthRefresher::Result> results_;
};

TEST(OAuthRefreshAt, TenPercentOfTheLifetimeAtLeastAMinuteAtMostHalf) {
  struct Case {
    int64_t lifetime_ms;
    int64_t due_after_ms;  // after issue
  };
  for (const Case& c :
       {Case{3'600'000, 3'240'000}, Case{28'800'000, 25'920'000}, Case{300'000, 240'000},
        Case{120'000, 60'000}, Case{2'000, 1'000}, Case{0, 0}}) {
    OAuthTokens t;
    t.updated_at_ms = kT0;
    t.expires_at_ms = kT0 + c.lifetime_ms;
    EXPECT_EQ(OAuthRefresher::refreshAt(t), kT0 + c.due_after_ms) << c.lifetime_ms;
  }
  OAuthTokens no_expiry;
  EXPECT_EQ(OAuthRefresher::refreshAt(no_expiry), 0);
}

TEST_F(OAuthRefresherTest, RefreshesWhenDueWithTheStoredRefreshTokenAndStoresTheRotatedOnes) {
  login(3600);
  OAuthRefresher r(hooks());
  EXPECT_EQ(r.runOnce(), kT0 + OAuthRefresher::kMaxWaitMs);  // wakes at least every minute
  EXPECT_TRUE(requests_.empty());
  now_ = kT0 + 3'240'000 - 1;  // 54 min into an hour-long token
  EXPECT_EQ(r.runOnce(), kT0 + 3'240'000);
  EXPECT_TRUE(requests_.empty());
  now_ += 1;
  r.runOnce();
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].host, "auth.test");
  EXPECT_EQ(requests_[0].port, 8443);  // where the login went
  EXPECT_EQ(requests_[0].path, "/v1/oauth/token");
  EXPECT_EQ(requests_[0].sandbox, "dev1");
  EXPECT_EQ(requests_[0].body, "grant_type=refresh_token&refresh_token=REAL-rt-0");
  ASSERT_EQ(results_, std::vector<OAuthRefresher::Result>{OAuthRefresher::Result::kOk});
  auto file = readOAuthTokens(dir_->path(), "dev1");
  ASSERT_TRUE(file.isOk());
  EXPECT_EQ((*file)["anthropic"].access_token, "REAL-at-1");
  EXPECT_EQ((*file)["anthropic"].refresh_token, "REAL-rt-1");
  EXPECT_EQ((*file)["anthropic"].token_port, 8443);
  EXPECT_EQ(slot_->current()->access_token, "REAL-at-1");
}

TEST_F(OAuthRefresherTest, TheRefreshNamesTheClientTheLoginNamedAndKeepsItAcrossRotations) {
  OAuthTokens t;
  t.access_token = "REAL-at-0";
  t.refresh_token = "REAL-rt-0";
  t.updated_at_ms = now_;
  t.expires_at_ms = now_ + 1000;
  t.client_id = "9d1c/client id";
  t.client_secret = "REAL-cs&0";
  ASSERT_TRUE(slot_->store(t).isOk());
  OAuthRefresher r(hooks());
  now_ += 1000;
  r.runOnce();
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].body,
            "grant_type=refresh_token&refresh_token=REAL-rt-0&client_id=9d1c%2Fclient%20id"
            "&client_secret=REAL-cs%260");
  EXPECT_EQ(slot_->current()->client_id, "9d1c/client id");
  EXPECT_EQ(slot_->current()->client_secret, "REAL-cs&0");
  auto file = readOAuthTokens(dir_->path(), "dev1");
  ASSERT_TRUE(file.isOk());
  EXPECT_EQ((*file)["anthropic"].client_id, "9d1c/client id");
}

TEST_F(OAuthRefresherTest, ManyRequestsForTheSameTokensCauseOneRefresh) {
  login(3600);
  const uint64_t seen = slot_->generation();
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) threads.emplace_back([&] { slot_->requestRefresh(seen); });
  for (auto& t : threads) t.join();
  OAuthRefresher r(hooks());
  r.runOnce();
  r.runOnce();
  EXPECT_EQ(requests_.size(), 1u);
  // A 401 that arrives late, about the tokens already replaced: nothing.
  slot_->requestRefresh(seen);
  r.runOnce();
  EXPECT_EQ(requests_.size(), 1u);
  // About the new ones: a refresh.
  slot_->requestRefresh(slot_->generation());
  r.runOnce();
  EXPECT_EQ(requests_.size(), 2u);
}

TEST_F(OAuthRefresherTest, AFailureKeepsTheTokensMarksThemAndBacksOff) {
  login(2);
  now_ = kT0 + 1000;
  answer_ = TokenAnswer{400, R"({"error":"invalid_grant"})"};
  OAuthRefresher r(hooks());
  r.runOnce();
  ASSERT_EQ(requests_.size(), 1u);
  auto t = slot_->current();
  EXPECT_EQ(t->access_token, "REAL-at-0");
  EXPECT_EQ(t->state, OAuthTokens::State::kRefreshFailed);
  EXPECT_EQ(t->error, "the token endpoint answered 400");
  EXPECT_FALSE(slot_->refreshAvailable(now_));  // requests do not wait meanwhile
  now_ += 1999;
  r.runOnce();
  EXPECT_EQ(requests_.size(), 1u);  // backing off
  now_ += 1;
  answer_ = Status::error("cannot connect to 127.0.0.1: Connection refused");
  r.runOnce();
  EXPECT_EQ(requests_.size(), 2u);
  EXPECT_EQ(slot_->current()->error,
            "the token endpoint could not be reached: cannot connect to 127.0.0.1: "
            "Connection refused");
  now_ += 3999;  // doubled
  r.runOnce();
  EXPECT_EQ(requests_.size(), 2u);
  now_ += 1;
  answer_ = rotated(1);
  r.runOnce();
  ASSERT_EQ(requests_.size(), 3u);
  EXPECT_EQ(slot_->current()->state, OAuthTokens::State::kOk);
  EXPECT_TRUE(slot_->refreshAvailable(now_));
  EXPECT_EQ(results_, (std::vector<OAuthRefresher::Result>{OAuthRefresher::Result::kFailed,
                                                           OAuthRefresher::Result::kFailed,
                                                           OAuthRefresher::Result::kOk}));
}

TEST_F(OAuthRefresherTest, ACredentialRemovedDuringTheRefreshIsNotBroughtBack) {
  login(2);
  now_ = kT0 + 1000;
  on_post_ = [&] {  // kitgate secret rm, while the provider answers
    ASSERT_TRUE(writeOAuthTokens(dir_->path(), "dev1", {}).isOk());
  };
  OAuthRefresher r(hooks());
  r.runOnce();
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(results_, std::vector<OAuthRefresher::Result>{OAuthRefresher::Result::kDropped});
  auto file = readOAuthTokens(dir_->path(), "dev1");
  ASSERT_TRUE(file.isOk());
  EXPECT_TRUE(file->empty());
  EXPECT_EQ(slot_->current(), nullptr);
  now_ += 10'000;
  r.runOnce();
  EXPECT_EQ(requests_.size(), 1u);
}

TEST_F(OAuthRefresherTest, PassthroughAndTokensWithoutRefreshTokenAreNeverRefreshed) {
  login(2, "");
  now_ = kT0 + 5000;
  OAuthRefresher r(hooks());
  r.runOnce();
  EXPECT_TRUE(requests_.empty());
  login(2);
  route_->passthrough = true;  // the sandbox holds the refresh token: it refreshes itself
  now_ += 5000;
  r.runOnce();
  EXPECT_TRUE(requests_.empty());
}

TEST_F(OAuthRefresherTest, TheThreadWakesWhenARefreshIsRequested) {
  login(3600);
  std::atomic<int> posts{0};
  OAuthRefresher::Hooks h = hooks();
  h.post = [&](const TokenRequest&) -> StatusOr<TokenAnswer> {
    ++posts;
    return rotated(posts);
  };
  h.done = nullptr;
  OAuthRefresher r(std::move(h));
  r.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(posts.load(), 0);
  slot_->requestRefresh(slot_->generation());
  for (int i = 0; i < 500 && posts.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(posts.load(), 1);
  r.stop();
}

}  // namespace
}  // namespace kitgate::secrets
