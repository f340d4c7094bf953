// OAuthRefresher: the proxy refreshes proxy-managed OAuth tokens itself
// (proxy/secrets/oauth.h), off the data path, on its own thread.
//
// A slot (sandbox, service) with a stored refresh token is refreshed when
//  - its access token nears expiry: at expires_at - margin, where margin =
//    min(max(60 s, lifetime / 10), lifetime / 2) and lifetime = expires_at -
//    updated_at (an hour-long token at 54 min, a 2 s token at 1 s); or
//  - a request asked for it (OAuthSlot::requestRefresh: the data path met an
//    expired token, or a resource host answered 401 to the current one).
// Passthrough routes are never refreshed (the sandbox holds the refresh
// token and rotates it itself).
//
// One refresh = one POST `grant_type=refresh_token&refresh_token=<stored>`
// (form; `&client_id=…` and `&client_secret=…` when the sandbox's own token
// requests sent them, OAuthTokens; never a scope) to the route's token
// endpoint, through `Hooks::post` (the network
// seam: upstream::postHttps in the proxy, a fake in tests). A 2xx answer is
// taken apart by exchangeTokenResponse and stored with storeIfCurrent (file
// first, then published; a credential removed meanwhile stays removed).
// Anything else keeps the stored tokens, marks them refresh-failed with the
// reason (never a value), logs it once per distinct reason, and retries
// after a backoff (2 s, doubling, at most 5 min) — while it backs off,
// requests with dead tokens do not wait (OAuthSlot::refreshAvailable).
//
// Single flight: one thread runs every refresh, one slot at a time, and a
// request only names the generation of tokens it saw, so any number of
// triggers for the same tokens cause one token-endpoint request.
//
// Threads: start()/stop() from the owner; runOnce() on the refresher thread
// (or a test's); Hooks run on the refresher thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"
#include "proxy/secrets/oauth.h"

namespace kitgate::secrets {

// One POST to a token endpoint. `body` holds the refresh token: never log it.
struct TokenRequest {
  std::string sandbox;  // whose policy decides the connection
  std::string host;
  uint16_t port = 443;
  std::string path;
  std::string body;  // application/x-www-form-urlencoded
};
struct TokenAnswer {
  int status = 0;
  std::string body;  // at most kMaxTokenAnswer bytes
};
inline constexpr size_t kMaxTokenAnswer = 64 * 1024;

class OAuthRefresher {
 public:
  // How one refresh ended: new tokens stored; failed (the stored ones kept,
  // marked refresh-failed); dropped (the credential was removed or replaced
  // meanwhile: nothing stored).
  enum class Result : uint8_t { kOk, kFailed, kDropped };
  struct Hooks {
    // The vault of the current snapshot (may change on reload; null: none).
    std::function<std::shared_ptr<OAuthVault>()> vault;
    // Sends the request; an error (unreachable, TLS, timeout, too large) must
    // not contain a value.
    std::function<StatusOr<TokenAnswer>(const TokenRequest&)> post;
    // After every attempt, ok or not: requests waiting for this slot may go on.
    std::function<void(const std::shared_ptr<OAuthSlot>&, Result)> done;
    // Unix ms (tests move it).
    std::function<int64_t()> now_ms = unixMillisNow;
  };

  static constexpr int64_t kMaxWaitMs = 60'000;
  static constexpr int64_t kFirstBackoffMs = 2'000;
  static constexpr int64_t kMaxBackoffMs = 300'000;

  explicit OAuthRefresher(Hooks hooks);
  ~OAuthRefresher();  // stops the thread
  OAuthRefresher(const OAuthRefresher&) = delete;
  OAuthRefresher& operator=(const OAuthRefresher&) = delete;

  // When `t` is due for a refresh by time (unix ms); 0: never (no expiry).
  static int64_t refreshAt(const OAuthTokens& t);

  // Refreshes every slot that is due now. Returns when the next one is due
  // (unix ms; at most kMaxWaitMs ahead).
  int64_t runOnce();
  void start();
  void stop();

 private:
  struct SlotState {
    int failures = 0;
    std::string logged_error;  // the last failure logged for this slot
  };
  // One refresh of `slot` (refresher thread).
  Result refresh(const std::shared_ptr<OAuthSlot>& slot, const OAuthRoute& route,
                 const std::shared_ptr<const OAuthTokens>& tokens);
  void fail(const std::shared_ptr<OAuthSlot>& slot, const OAuthTokens& tokens,
            const std::string& why);

  Hooks hooks_;
  std::vector<std::weak_ptr<OAuthVault>> vaults_;  // given wake_ (cleared at stop)
  UniqueFd wake_;  // eventfd: vault stores and refresh requests, stop()
  std::atomic<bool> stopping_{false};
  std::map<const OAuthSlot*, SlotState> state_;
  std::thread thread_;
};

}  // namespace kitgate::secrets
