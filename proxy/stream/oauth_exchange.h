// A token exchange on an intercepted token endpoint (proxy-managed OAuth,
// proxy/secrets/oauth.h), for one request:
//
//   request body  every token request's, whole (at most kMaxTokenRequest
//                 decoded bytes: the connection answers a larger one 413 and
//                 sends nothing upstream; it forwards the rewritten body with
//                 its Content-Length, never chunked): the refresh-token
//                 sentinel becomes the stored real refresh token
//                 (percent-encoded in a form body); the body as sent is kept
//                 for `client_id` (and `client_secret`), stored with the
//                 tokens it obtains (OAuthTokens) for the proxy's own
//                 refreshes
//   response      a 2xx body is collected (at most kMaxTokenResponse bytes),
//                 its tokens stored on the host, and the sandbox gets the same
//                 JSON with the sentinels in their place (passthrough: the
//                 real body, tokens still stored). Anything else — an error
//                 status, a body that is not a token response, one above the
//                 bound — goes on through the ordinary secret scrub, and
//                 nothing is stored.
//
// Token values never reach a log line. Thread: the owning connection's loop.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "proxy/http/request_model.h"
#include "proxy/http/response.h"
#include "proxy/secrets/scrub.h"
#include "proxy/secrets/store.h"
#include "proxy/stream/body_scrub.h"

namespace kitgate::stream {

inline constexpr size_t kMaxTokenResponse = 64 * 1024;
inline constexpr size_t kMaxTokenRequest = 64 * 1024;

class OAuthExchange {
 public:
  // A new request: active when it is a POST to a token endpoint of `plan`
  // (on `port`, where the proxy's own refreshes then go).
  void begin(const secrets::InterceptPlan* plan, const http::Request& request, uint16_t port);
  bool active() const { return use_ != nullptr; }
  const std::string& service() const;

  // The request body goes through requestBody() (a token request: a stored
  // refresh token may go in, its client_id is read).
  bool rewritesRequest() const { return use_ != nullptr; }
  // Payload bytes toward the token endpoint, sentinel replaced; `last`: the
  // body ended.
  void requestBody(evbuffer* payload, evbuffer* out, bool last);

  // The final response status of a refresh that carried the stored refresh
  // token: anything but 2xx marks the stored tokens refresh-failed (kept;
  // `kitgate secret ls` shows it) and is logged, without values.
  void noteStatus(const http::ResponseHead& head, std::string_view sandbox);
  // The response head: true when its body is collected (2xx with a body).
  bool onResponseHead(const http::ResponseHead& head);
  // Response payload on its way to the sandbox. While collecting, nothing is
  // written until `last`; otherwise (or after giving up) `scrub` handles it.
  // Returns how many secrets the scrub replaced.
  uint32_t responseBody(evbuffer* payload, evbuffer* out, bool last, BodyScrub& scrub,
                        std::string_view sandbox);

 private:
  const secrets::OAuthUse* use_ = nullptr;
  std::optional<secrets::ScrubMatcher> request_matcher_;
  BodyScrub request_scrub_;
  bool collecting_ = false;
  uint16_t port_ = 443;
  std::string body_;
  bool form_ = false;         // the request body is a form (else JSON)
  std::string request_;       // the request body as sent (at most kMaxTokenRequest)
  bool request_cut_ = false;  // it was larger
};

}  // namespace kitgate::stream
