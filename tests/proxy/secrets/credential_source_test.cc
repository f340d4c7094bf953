// Credential sources: a static secret is a trivial source; a refreshable
// source is fetched off the data path, published whole, kept across a failed
// refresh until it expires, and an injection with no current value fails
// closed naming its service.
#include "proxy/secrets/credential_source.h"

#include <gtest/gtest.h>

#include <deque>
#include <future>
#include <thread>

#include "proxy/http/request.h"
#include "proxy/secrets/rewrite.h"
#include "tests/support/fake_clock.h"

namespace kitgate::secrets {
namespace {

using namespace std::chrono_literals;
using kitgate::testing::FakeClock;
using Token = RefreshableCredential::Token;

// A fetch that hands out scripted results and counts its calls.
struct FakeFetch {
  std::deque<StatusOr<Token>> results;
  int calls = 0;

  RefreshableCredential::Fetch fn() {
    return [this]() -> StatusOr<Token> {
      ++calls;
      if (results.empty()) return Status::error("no scripted result");
      StatusOr<Token> r = std::move(results.front());
      results.pop_front();
      return r;
    };
  }
};

std::string valueOf(const CredentialSource& s) {
  auto v = s.current();
  return v ? *v : std::string("(none)");
}

TEST(CredentialFormat, RendersFormatAndBasic) {
  EXPECT_EQ((CredentialFormat{"Bearer %s", ""}.render("k1")), "Bearer k1");
  EXPECT_EQ((CredentialFormat{"%s", ""}.render("k1")), "k1");
  EXPECT_EQ((CredentialFormat{"100%% %s", ""}.render("k1")), "100% k1");
  // base64("token:k1")
  EXPECT_EQ((CredentialFormat{"%s", "token"}.render("k1")), "Basic dG9rZW46azE=");
}

TEST(StaticCredential, AlwaysHasItsValueAndIsNotRefreshable) {
  StaticCredential s("secret amp", "amp-key");
  EXPECT_EQ(valueOf(s), "amp-key");
  EXPECT_FALSE(s.refreshable());
  EXPECT_EQ(s.describe(), "secret amp");
}

TEST(RefreshableCredential, HasNoValueUntilFetched) {
  FakeClock clock;
  FakeFetch fetch;
  RefreshableCredential s("token for amp", fetch.fn(), clock, 60s);
  EXPECT_EQ(s.current(), nullptr);
  EXPECT_EQ(s.nextRefresh(), clock.now());
  EXPECT_EQ(fetch.calls, 0) << "reading never fetches";
}

TEST(RefreshableCredential, FetchesWhenDueOnlyAndPublishesTheNewValue) {
  FakeClock clock;
  FakeFetch fetch;
  fetch.results = {Token{"tok-1", 1h}, Token{"tok-2", 1h}};
  RefreshableCredential s("token for amp", fetch.fn(), clock, 5min);
  ASSERT_TRUE(s.refreshIfDue().isOk());
  EXPECT_EQ(valueOf(s), "tok-1");
  EXPECT_EQ(s.nextRefresh(), clock.now() + 55min);
  clock.advance(54min);
  ASSERT_TRUE(s.refreshIfDue().isOk());
  EXPECT_EQ(fetch.calls, 1) << "not due yet";
  EXPECT_EQ(valueOf(s), "tok-1");
  clock.advance(1min);
  ASSERT_TRUE(s.refreshIfDue().isOk());
  EXPECT_EQ(fetch.calls, 2);
  EXPECT_EQ(valueOf(s), "tok-2");
}

TEST(RefreshableCredential, FailedRefreshKeepsTheLastGoodValueUntilItExpires) {
  FakeClock clock;
  FakeFetch fetch;
  fetch.results = {Token{"tok-1", 10min}, Status::error("helper exited with status 1")};
  RefreshableCredential s("command for amp", fetch.fn(), clock, 2min);
  ASSERT_TRUE(s.refreshIfDue().isOk());
  clock.advance(9min);
  Status st = s.refreshIfDue();
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.message(), "command for amp: refresh failed: helper exited with status 1");
  EXPECT_EQ(st.message().find("tok-1"), std::string::npos);
  EXPECT_EQ(valueOf(s), "tok-1") << "still valid for a minute";
  clock.advance(1min);
  EXPECT_EQ(s.current(), nullptr) << "expired: no value rather than a stale one";
}

TEST(RefreshableCredential, AValueHeldByAReaderSurvivesTheNextPublication) {
  FakeClock clock;
  FakeFetch fetch;
  fetch.results = {Token{"tok-1", 1min}, Token{"tok-2", 1h}};
  RefreshableCredential s("token", fetch.fn(), clock, 1min);
  ASSERT_TRUE(s.refreshIfDue().isOk());
  std::shared_ptr<const std::string> held = s.current();
  ASSERT_TRUE(s.refreshIfDue().isOk());  // due at once: refresh_before == lifetime
  EXPECT_EQ(*held, "tok-1");
  EXPECT_EQ(valueOf(s), "tok-2");
}

TEST(CredentialRefresher, RunOnceRefreshesEveryDueSourceAndReportsFailures) {
  FakeClock clock;
  FakeFetch good;
  FakeFetch bad;
  good.results = {Token{"g", 1h}};
  bad.results = {Status::error("denied")};
  auto a = std::make_shared<RefreshableCredential>("token a", good.fn(), clock, 1min);
  auto b = std::make_shared<RefreshableCredential>("token b", bad.fn(), clock, 1min);
  std::vector<std::string> errors;
  CredentialRefresher r({a, b}, clock, [&](const Status& st) { errors.push_back(st.message()); });
  EXPECT_EQ(r.runOnce(), 1);
  EXPECT_EQ(valueOf(*a), "g");
  EXPECT_EQ(b->current(), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "token b: refresh failed: denied");
}

TEST(CredentialRefresher, ThreadPublishesToReadersOnOtherThreads) {
  FakeClock clock;
  std::promise<void> fetched;
  int calls = 0;
  auto s = std::make_shared<RefreshableCredential>(
      "token",
      [&]() -> StatusOr<Token> {
        if (++calls == 1) fetched.set_value();
        return Token{"from-thread", 1h};
      },
      clock, 1min);
  CredentialRefresher r({s}, clock, nullptr);
  r.start();
  fetched.get_future().wait();  // the refresher's first pass fetches at once
  r.stop();                     // joins: the publication is complete
  std::shared_ptr<const std::string> seen;
  std::thread reader([&] { seen = s->current(); });  // a worker thread
  reader.join();
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(*seen, "from-thread");
  EXPECT_EQ(calls, 1);
}

http::RequestHead request(const char* head) {
  http::RequestHead req;
  size_t consumed = 0;
  EXPECT_TRUE(http::parseRequestHead(head, http::HeadLimits{}, &req, &consumed).isComplete());
  return req;
}

InterceptPlan planWith(std::shared_ptr<const CredentialSource> source) {
  InterceptPlan plan;
  plan.injections.push_back(
      HeaderInjection{"Authorization", "", "amp", std::move(source), {"Bearer %s", ""}});
  return plan;
}

std::string header(const http::Request& r, const char* name) {
  const http::Header* h = http::findHeader(r.headers, name);
  return h ? h->value : "(absent)";
}

TEST(RewriteWithSource, InjectsTheSourcesCurrentValueRenderedPerRequest) {
  FakeClock clock;
  FakeFetch fetch;
  fetch.results = {Token{"tok-1", 1min}, Token{"tok-2", 1h}};
  auto s = std::make_shared<RefreshableCredential>("token for amp", fetch.fn(), clock, 1min);
  ASSERT_TRUE(s->refreshIfDue().isOk());
  const InterceptPlan plan = planWith(s);
  http::RequestHead req =
      request("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer sandbox-placeholder\r\n\r\n");
  std::string unavailable;
  ASSERT_TRUE(rewriteRequest(plan, req, &unavailable).isOk());
  EXPECT_TRUE(unavailable.empty());
  EXPECT_EQ(header(req, "Authorization"), "Bearer tok-1");
  ASSERT_TRUE(s->refreshIfDue().isOk());
  http::RequestHead next = request("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(rewriteRequest(plan, next, &unavailable).isOk());
  EXPECT_EQ(header(next, "Authorization"), "Bearer tok-2")
      << "the plan is unchanged; the value is new";
}

TEST(RewriteWithSource, NoCurrentValueFailsClosedNamingTheService) {
  FakeClock clock;
  FakeFetch fetch;
  auto s = std::make_shared<RefreshableCredential>("token for amp", fetch.fn(), clock, 1min);
  const InterceptPlan plan = planWith(s);
  const char* head = "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer from-the-sandbox\r\n\r\n";
  // The data path's form: the service is handed back, the request refused.
  http::RequestHead req = request(head);
  std::string unavailable;
  EXPECT_TRUE(rewriteRequest(plan, req, &unavailable).isOk());
  EXPECT_EQ(unavailable, "amp");
  EXPECT_EQ(header(req, "Authorization"), "(absent)")
      << "the client's own header never passes instead";
  // The plain form says so in its Status.
  http::RequestHead again = request(head);
  Status st = rewriteRequest(plan, again);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("service amp"), std::string::npos) << st.message();
  EXPECT_EQ(header(again, "Authorization"), "(absent)");
}

TEST(RewriteWithSource, StaticSourceUsesThePrerenderedValue) {
  InterceptPlan plan;
  plan.injections.push_back(
      HeaderInjection{"X-Api-Key",
                      "Key static-1",
                      "svc",
                      std::make_shared<const StaticCredential>("secret svc", "static-1"),
                      {"Key %s", ""}});
  http::RequestHead req = request("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string unavailable;
  ASSERT_TRUE(rewriteRequest(plan, req, &unavailable).isOk());
  EXPECT_TRUE(unavailable.empty());
  EXPECT_EQ(header(req, "X-Api-Key"), "Key static-1");
}

}  // namespace
}  // namespace kitgate::secrets
