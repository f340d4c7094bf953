#include "proxy/stream/oauth_exchange.h"

#include <spdlog/spdlog.h>

#include "proxy/http/message.h"
#include "proxy/secrets/oauth.h"

namespace kitgate::stream {

namespace {

std::string_view pathOnly(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

const std::string& OAuthExchange::service() const {
  static const std::string kNone;
  return use_ != nullptr ? use_->route->service : kNone;
}

void OAuthExchange::begin(const secrets::InterceptPlan* plan, const http::Request& request,
                          uint16_t port) {
  use_ = nullptr;
  port_ = port;
  request_matcher_.reset();
  request_scrub_.begin(nullptr);
  collecting_ = false;
  body_.clear();
  request_.clear();
  request_cut_ = false;
  if (plan == nullptr || plan->oauth_endpoints.empty() || request.method != "POST") return;
  const std::string_view path = pathOnly(request.path);
  for (const secrets::OAuthUse& u : plan->oauth_endpoints) {
    if (u.route->token_path == path) {
      use_ = &u;
      break;
    }
  }
  if (use_ == nullptr) return;
  const http::Header* type = http::findHeader(request.headers, "content-type");
  form_ = type != nullptr && type->value.find("x-www-form-urlencoded") != std::string::npos;
  if (use_->route->refresh_sentinel.empty()) return;
  const auto tokens = use_->slot->current();
  if (!tokens || tokens->refresh_token.empty()) return;  // nothing to put in: goes as sent
  request_matcher_.emplace(
      secrets::refreshSubstitution(use_->route->refresh_sentinel, tokens->refresh_token, form_));
  request_scrub_.begin(&*request_matcher_);
}

void OAuthExchange::requestBody(evbuffer* payload, evbuffer* out, bool last) {
  // Kept as the sandbox sent it (sentinels, no real token) for its
  // client_id; a body above the bound is not a token request to learn from.
  const size_t n = evbuffer_get_length(payload);
  if (!request_cut_ && request_.size() + n <= kMaxTokenRequest) {
    const size_t at = request_.size();
    request_.resize(at + n);
    evbuffer_copyout(payload, request_.data() + at, n);
  } else {
    request_cut_ = true;
    request_.clear();
  }
  if (!request_matcher_) {
    evbuffer_add_buffer(out, payload);
    return;
  }
  request_scrub_.move(payload, out);
  if (last) request_scrub_.finish(out);
}

void OAuthExchange::noteStatus(const http::ResponseHead& head, std::string_view sandbox) {
  if (use_ == nullptr || !request_matcher_ || head.isInterim() ||
      (head.status >= 200 && head.status < 300))
    return;
  auto tokens = use_->slot->current();
  if (!tokens) return;
  secrets::OAuthTokens failed = *tokens;
  failed.state = secrets::OAuthTokens::State::kRefreshFailed;
  failed.error = "the token endpoint answered " + std::to_string(head.status);
  spdlog::warn("sandbox {}: {} token refresh failed: {}; the stored tokens are kept", sandbox,
               use_->route->service, failed.error);
  Status st = use_->slot->store(std::move(failed));
  if (!st) spdlog::error("sandbox {}: {}", sandbox, st.message());
}

bool OAuthExchange::onResponseHead(const http::ResponseHead& head) {
  collecting_ = use_ != nullptr && head.status >= 200 && head.status < 300 &&
                head.framing != http::BodyFraming::kNone &&
                head.framing != http::BodyFraming::kTunnel &&
                !(head.framing == http::BodyFraming::kContentLength &&
                  head.content_length > kMaxTokenResponse);
  body_.clear();
  return collecting_;
}

uint32_t OAuthExchange::responseBody(evbuffer* payload, evbuffer* out, bool last, BodyScrub& scrub,
                                     std::string_view sandbox) {
  if (collecting_) {
    const size_t n = evbuffer_get_length(payload);
    if (body_.size() + n > kMaxTokenResponse) {
      // Not a token response a client would send: give up, lose nothing.
      spdlog::warn(
          "sandbox {}: the {} token response is larger than {} bytes: passed on, not stored",
          sandbox, use_->route->service, kMaxTokenResponse);
      collecting_ = false;
      evbuffer_prepend(payload, body_.data(), body_.size());
      body_.clear();
    } else {
      const size_t at = body_.size();
      body_.resize(at + n);
      evbuffer_remove(payload, body_.data() + at, n);
    }
  }
  if (!collecting_) {
    uint32_t replaced = scrub.move(payload, out);
    if (last) replaced += scrub.finish(out);
    return replaced;
  }
  if (!last) return 0;
  collecting_ = false;
  const secrets::OAuthRoute& route = *use_->route;
  const auto previous = use_->slot->current();
  auto ex = secrets::exchangeTokenResponse(route, body_, secrets::unixMillisNow(), previous.get());
  if (!ex) {
    spdlog::warn("sandbox {}: {} token endpoint: {}; passed on, nothing stored", sandbox,
                 route.service, ex.status().message());
    evbuffer_add(payload, body_.data(), body_.size());
  } else {
    ex->tokens.token_port = port_;
    // The client this request named is the one the proxy's refreshes name.
    if (auto id = secrets::tokenRequestField(request_, form_, "client_id")) {
      ex->tokens.client_id = std::move(*id);
      ex->tokens.client_secret =
          secrets::tokenRequestField(request_, form_, "client_secret").value_or("");
    }
    Status st = use_->slot->store(ex->tokens);
    if (!st) {
      spdlog::error("sandbox {}: {} tokens not stored: {}", sandbox, route.service, st.message());
    } else {
      spdlog::info("sandbox {}: {} OAuth tokens stored on the host{}", sandbox, route.service,
                   route.passthrough ? " (passthrough: the sandbox holds them too)" : "");
    }
    // Passthrough: the real answer; else the sentinels (never the real
    // tokens, stored or not).
    const std::string& give = route.passthrough ? body_ : ex->for_sandbox;
    evbuffer_add(payload, give.data(), give.size());
  }
  body_.clear();
  uint32_t replaced = scrub.move(payload, out);
  replaced += scrub.finish(out);
  return replaced;
}

}  // namespace kitgate::stream
