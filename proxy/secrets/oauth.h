// Proxy-managed OAuth (kit-spec §1.5.7.2, §5.12): the sandbox logs in through
// the proxy, the real tokens stay on the host, the sandbox only ever holds
// the kit's sentinels.
//
//   OAuthRoute     one kit credential's `oauth` block as `kitgate run` wrote
//                  it to <state>/oauth/<sandbox>.json (no values)
//   OAuthTokens    the real tokens of one (sandbox, service), stored by the
//                  proxy in <state>/oauth/<sandbox>.tokens.json (0600)
//   exchangeTokenResponse
//                  a token endpoint's JSON answer -> the tokens to store and
//                  the same answer with the sentinels in their place
//   OAuthVault     the live tokens of every (sandbox, service): read on the
//                  data path without I/O (an immutable value behind an atomic
//                  shared_ptr), stored by the worker that saw the token
//                  response or by the refresher (file first, then
//                  published), re-read from the files on every reload (so
//                  `kitgate secret rm` revokes)
//   OAuthSlot      one (sandbox, service): its tokens, and the lock-free
//                  hand-off between the data path and the proxy's own
//                  refresher (proxy/secrets/oauth_refresher.h): a request
//                  that meets dead tokens asks for a refresh, the refresher
//                  says whether one is running or may start
//
// File formats: proxy/secrets/FORMAT.md ("OAuth"). Token values never appear
// in a Status, a log line or toString(). Thread: the parsers and
// exchangeTokenResponse are pure (any thread); the vault is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/secrets/scrub.h"

namespace kitgate::secrets {

struct OAuthRoute {
  std::string service;
  std::string token_host;  // exact host name (lower case)
  std::string token_path;  // compared with the request path before '?'
  std::vector<std::string> resource_hosts;
  std::string access_sentinel;   // empty only with passthrough
  std::string refresh_sentinel;  // empty only with passthrough
  // JSON field names of the token response (kit `responseFields`, defaults
  // access_token, refresh_token, expires_in, scope).
  std::string access_field = "access_token";
  std::string refresh_field = "refresh_token";
  std::string expires_in_field = "expires_in";
  std::string scope_field = "scope";
  bool passthrough = false;  // the real response reaches the sandbox

  bool operator==(const OAuthRoute&) const = default;
};

// `{"credentials": [...]}` (FORMAT.md). Every problem at once, prefixed with
// `file`.
StatusOr<std::vector<OAuthRoute>> parseOAuthRoutes(std::string_view text, std::string_view file);
std::string renderOAuthRoutes(const std::vector<OAuthRoute>& routes);

struct OAuthTokens {
  enum class State { kOk, kRefreshFailed };
  std::string access_token;
  std::string refresh_token;
  int64_t expires_at_ms = 0;  // unix ms; 0 = the response named no lifetime
  std::string scope;
  State state = State::kOk;
  std::string error;  // why the last refresh failed (never a value)
  int64_t updated_at_ms = 0;
  // The port of the token endpoint the tokens came from (the sandbox's
  // CONNECT port): the proxy refreshes there.
  uint16_t token_port = 443;
  // What the sandbox's own token requests (login or refresh) sent as
  // `client_id` and `client_secret` (the kit cannot say; providers want
  // client_id on a refresh_token grant): the proxy's own refreshes send
  // them too. client_secret is a secret like the tokens (never logged,
  // never in `kitgate secret ls`); empty: none sent.
  std::string client_id;
  std::string client_secret;

  bool operator==(const OAuthTokens&) const = default;
};
std::string_view stateName(OAuthTokens::State s);

// `{"<service>": {...}}` (FORMAT.md).
StatusOr<std::map<std::string, OAuthTokens>> parseOAuthTokens(std::string_view text,
                                                              std::string_view file);
std::string renderOAuthTokens(const std::map<std::string, OAuthTokens>& tokens);

// <state>/oauth/<sandbox>.json and <state>/oauth/<sandbox>.tokens.json.
std::string oauthRoutesPath(std::string_view state_dir, std::string_view sandbox);
std::string oauthTokensPath(std::string_view state_dir, std::string_view sandbox);

// Reads the tokens file of `sandbox`: empty map when absent; refused when
// group or others may read it (proxy/common/private_file.h).
StatusOr<std::map<std::string, OAuthTokens>> readOAuthTokens(std::string_view state_dir,
                                                             std::string_view sandbox);
// Writes it atomically, 0600 (an empty map removes the file).
Status writeOAuthTokens(std::string_view state_dir, std::string_view sandbox,
                        const std::map<std::string, OAuthTokens>& tokens);
// Read, change, write — under an advisory lock (flock on <state>/oauth/)
// that every writer of tokens files takes: the proxy storing a login or a
// refresh, `kitgate secret rm`, `kitgate rm`. So a refresh that read the
// file before an rm cannot write the removed credential back. `change`
// returns false to leave the file as it is. Blocks while another writer
// holds the lock (a read-modify-write: milliseconds).
Status updateOAuthTokens(std::string_view state_dir, std::string_view sandbox,
                         const std::function<bool(std::map<std::string, OAuthTokens>&)>& change);

// What a token endpoint answered (a JSON object), taken apart:
//  - `tokens`: the access token, the refresh token (the previous one when
//    the answer rotates none), expires_at (now + expires_in) and scope;
//  - `for_sandbox`: the same JSON with the access and refresh tokens
//    replaced by the route's sentinels (every other field unchanged).
// An answer that is not a JSON object or has no access token is an error
// (the caller passes it on scrubbed, stores nothing).
struct TokenExchange {
  OAuthTokens tokens;
  std::string for_sandbox;
};
StatusOr<TokenExchange> exchangeTokenResponse(const OAuthRoute& route, std::string_view body,
                                              int64_t now_ms, const OAuthTokens* previous);

// A top-level field of a token request body the sandbox sent: a form
// (`a=b&c=d`, percent- and `+`-decoded) or a JSON object (a string value).
// nullopt: absent, or not that kind of body.
std::optional<std::string> tokenRequestField(std::string_view body, bool form,
                                             std::string_view name);

// The request body of a refresh the sandbox sends (form or JSON), as the
// scrub rules that turn it into the real one: the refresh sentinel (raw, and
// percent-encoded in a form) becomes the real refresh token (percent-encoded
// in a form). For a streaming ScrubMatcher (proxy/stream/oauth_exchange.h).
std::vector<ScrubRule> refreshSubstitution(std::string_view sentinel, std::string_view real,
                                           bool form);

// Unix time in ms (system clock).
int64_t unixMillisNow();

class OAuthVault;

// The live tokens of one (sandbox, service).
class OAuthSlot {
 public:
  OAuthSlot(OAuthVault& vault, std::string sandbox, std::string service)
      : vault_(vault), sandbox_(std::move(sandbox)), service_(std::move(service)) {}
  // nullptr: no login yet (or revoked). Never blocks.
  std::shared_ptr<const OAuthTokens> current() const { return tokens_.load(); }
  // Writes the sandbox's tokens file, then publishes. The error names the
  // file, never a value.
  Status store(OAuthTokens tokens);
  // The refresher's store: only when the tokens file still holds
  // `expected`'s refresh token for this service (the file is the truth: a
  // `kitgate secret rm`, or a refresh the agent made meanwhile, wins). When
  // it does not, the slot takes what the file holds (nothing, after an rm)
  // and the answer is false.
  StatusOr<bool> storeIfCurrent(const OAuthTokens& expected, OAuthTokens next);
  const std::string& sandbox() const { return sandbox_; }
  const std::string& service() const { return service_; }

  // The kit route of this slot, set by each store build (null before).
  std::shared_ptr<const OAuthRoute> route() const { return route_.load(); }
  void setRoute(std::shared_ptr<const OAuthRoute> route) { route_.store(std::move(route)); }

  // --- refresh hand-off; lock-free, any thread ---
  // Bumped by every publish. Read it before current() to name the tokens a
  // refresh request is about.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // The tokens of `generation` are dead (expired, or a resource host
  // answered 401 to them): ask the refresher to replace them. Requests about
  // tokens already replaced are ignored. Never blocks (an eventfd write).
  void requestRefresh(uint64_t generation);
  // Some request asked for the current tokens to be replaced.
  bool refreshWanted() const { return wanted_.load(std::memory_order_acquire) > generation(); }
  // A refresh runs now, or one may start at once (the refresher is not
  // backing off after a failure): a request with dead tokens may wait.
  bool refreshAvailable(int64_t now_ms) const {
    return in_flight_.load(std::memory_order_acquire) ||
           now_ms >= retry_at_ms_.load(std::memory_order_acquire);
  }
  // Refresher thread only.
  void setInFlight(bool on) { in_flight_.store(on, std::memory_order_release); }
  void setRetryAt(int64_t unix_ms) { retry_at_ms_.store(unix_ms, std::memory_order_release); }
  int64_t retryAt() const { return retry_at_ms_.load(std::memory_order_acquire); }

 private:
  friend class OAuthVault;
  void publish(std::shared_ptr<const OAuthTokens> tokens);

  OAuthVault& vault_;
  std::string sandbox_;
  std::string service_;
  std::atomic<std::shared_ptr<const OAuthTokens>> tokens_;
  std::atomic<std::shared_ptr<const OAuthRoute>> route_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> wanted_{0};  // a generation + 1 someone asked to replace
  std::atomic<bool> in_flight_{false};
  std::atomic<int64_t> retry_at_ms_{0};
};

class OAuthVault {
 public:
  explicit OAuthVault(std::string state_dir) : state_dir_(std::move(state_dir)) {}
  OAuthVault(const OAuthVault&) = delete;
  OAuthVault& operator=(const OAuthVault&) = delete;

  // The slot of (sandbox, service), made on first use and loaded from the
  // file then. Reload path.
  std::shared_ptr<OAuthSlot> slot(const std::string& sandbox, const std::string& service);
  // Re-reads the tokens file of every sandbox that has a slot: a removed
  // file or service (kitgate secret rm) empties its slots. Reload path;
  // every unreadable file is reported.
  Status syncFromFiles();
  // True once after tokens were stored: the snapshot (scrub rules) must be
  // rebuilt. Any thread.
  bool takeChanged() { return changed_.exchange(false); }
  const std::string& stateDir() const { return state_dir_; }

  // Every slot made so far (the refresher's worklist). Not the data path.
  std::vector<std::shared_ptr<OAuthSlot>> slots();
  // An eventfd the vault writes to when tokens are stored or a refresh is
  // requested (-1: none). Set by the refresher; the write never blocks.
  void setWakeFd(int fd) { wake_fd_.store(fd, std::memory_order_release); }
  void wake() const;

 private:
  friend class OAuthSlot;
  // `expected` null: store unconditionally.
  StatusOr<bool> storeLocked(OAuthSlot& slot, OAuthTokens tokens, const OAuthTokens* expected);

  std::string state_dir_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<OAuthSlot>> slots_;
  std::atomic<bool> changed_{false};
  std::atomic<int> wake_fd_{-1};
};

}  // namespace kitgate::secrets
