#include "proxy/secrets/oauth_refresher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "proxy/secrets/text.h"

namespace kitgate::secrets {

OAuthRefresher::OAuthRefresher(Hooks hooks)
    : hooks_(std::move(hooks)), wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

OAuthRefresher::~OAuthRefresher() { stop(); }

int64_t OAuthRefresher::refreshAt(const OAuthTokens& t) {
  if (t.expires_at_ms <= 0) return 0;
  const int64_t lifetime = std::max<int64_t>(t.expires_at_ms - t.updated_at_ms, 0);
  const int64_t margin = std::min(std::max<int64_t>(60'000, lifetime / 10), lifetime / 2);
  return t.expires_at_ms - margin;
}

int64_t OAuthRefresher::runOnce() {
  int64_t next = hooks_.now_ms() + kMaxWaitMs;
  std::shared_ptr<OAuthVault> vault = hooks_.vault ? hooks_.vault() : nullptr;
  if (!vault) return next;
  if (vaults_.empty() || vaults_.back().lock() != vault) {
    vault->setWakeFd(wake_.get());
    vaults_.push_back(vault);
  }
  for (const std::shared_ptr<OAuthSlot>& slot : vault->slots()) {
    if (stopping_) break;
    const auto route = slot->route();
    const auto tokens = slot->current();
    if (!route || route->passthrough || !tokens || tokens->refresh_token.empty()) {
      state_.erase(slot.get());
      continue;
    }
    const int64_t now = hooks_.now_ms();
    const int64_t due = refreshAt(*tokens);
    const bool wanted = slot->refreshWanted() || (due != 0 && now >= due);
    if (!wanted) {
      if (due != 0) next = std::min(next, due);
      continue;
    }
    if (now < slot->retryAt()) {
      next = std::min(next, slot->retryAt());
      continue;
    }
    const Result result = refresh(slot, *route, tokens);
    if (hooks_.done) hooks_.done(slot, result);
    if (auto t = slot->current()) {
      if (const int64_t at = refreshAt(*t); at != 0) next = std::min(next, at);
      if (slot->retryAt() > hooks_.now_ms()) next = std::min(next, slot->retryAt());
    }
  }
  return next;
}

OAuthRefresher::Result OAuthRefresher::refresh(const std::shared_ptr<OAuthSlot>& slot,
                                               const OAuthRoute& route,
                                               const std::shared_ptr<const OAuthTokens>& tokens) {
  slot->setInFlight(true);
  TokenRequest req;
  req.sandbox = slot->sandbox();
  req.host = route.token_host;
  req.port = tokens->token_port;
  req.path = route.token_path;
  req.body = "grant_type=refresh_token&refresh_token=" + percentEncode(tokens->refresh_token);
  // As the sandbox's own requests named the client (no scope: RFC 6749 §6,
  // an omitted scope is the one granted).
  if (!tokens->client_id.empty()) req.body += "&client_id=" + percentEncode(tokens->client_id);
  if (!tokens->client_secret.empty())
    req.body += "&client_secret=" + percentEncode(tokens->client_secret);
  StatusOr<TokenAnswer> answer = hooks_.post(req);
  std::string why;
  Result result = Result::kFailed;
  if (!answer) {
    why = "the token endpoint could not be reached: " + answer.status().message();
  } else if (answer->status < 200 || answer->status >= 300) {
    why = "the token endpoint answered " + std::to_string(answer->status);
  } else {
    auto ex = exchangeTokenResponse(route, answer->body, hooks_.now_ms(), tokens.get());
    if (!ex) {
      why = ex.status().message();
    } else {
      ex->tokens.token_port = tokens->token_port;
      auto st = slot->storeIfCurrent(*tokens, std::move(ex->tokens));
      if (!st) {
        why = "the new tokens could not be stored: " + st.status().message();
      } else if (!*st) {
        result = Result::kDropped;
        spdlog::info(
            "sandbox {}: {} OAuth tokens were removed or replaced during a refresh; "
            "its answer is dropped",
            slot->sandbox(), slot->service());
      } else {
        result = Result::kOk;
        spdlog::info("sandbox {}: {} OAuth tokens refreshed by the proxy", slot->sandbox(),
                     slot->service());
      }
    }
  }
  if (!why.empty()) {
    fail(slot, *tokens, why);
  } else {
    state_.erase(slot.get());
    slot->setRetryAt(0);
  }
  slot->setInFlight(false);
  return result;
}

void OAuthRefresher::fail(const std::shared_ptr<OAuthSlot>& slot, const OAuthTokens& tokens,
                          const std::string& why) {
  SlotState& s = state_[slot.get()];
  const int64_t backoff = std::min(kFirstBackoffMs << std::min(s.failures, 20), kMaxBackoffMs);
  ++s.failures;
  slot->setRetryAt(hooks_.now_ms() + backoff);
  if (s.logged_error != why) {
    s.logged_error = why;
    spdlog::warn(
        "sandbox {}: {} OAuth refresh failed: {}; retrying with backoff, the stored access "
        "token is used until it expires",
        slot->sandbox(), slot->service(), why);
  }
  if (tokens.state == OAuthTokens::State::kRefreshFailed && tokens.error == why) return;
  OAuthTokens failed = tokens;
  failed.state = OAuthTokens::State::kRefreshFailed;
  failed.error = why;
  auto st = slot->storeIfCurrent(tokens, std::move(failed));
  if (!st) spdlog::error("sandbox {}: {}", slot->sandbox(), st.status().message());
}

void OAuthRefresher::start() {
  thread_ = std::thread([this] {
    while (!stopping_) {
      const int64_t next = runOnce();
      const int64_t wait = std::clamp<int64_t>(next - hooks_.now_ms(), 0, kMaxWaitMs);
      pollfd p{wake_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait)) > 0) {
        uint64_t n = 0;
        [[maybe_unused]] ssize_t r = ::read(wake_.get(), &n, sizeof n);
      }
    }
  });
}

void OAuthRefresher::stop() {
  stopping_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  for (const auto& w : vaults_) {
    if (auto v = w.lock()) v->setWakeFd(-1);
  }
  vaults_.clear();
}

}  // namespace kitgate::secrets
