// Request and response rewriting on an intercepted connection: header
// injection, placeholder substitution and response scrubbing.
//
// Pure functions on caller-owned heads; any thread, no allocation when there
// is nothing to change. Call rewriteRequest on every request head parsed on
// an intercepted connection (plan = SandboxCredentials::planFor(host) of the
// CONNECT host), before serializeRequestForOrigin; call scrubResponse on
// every response head before it is serialized toward the sandbox.
#pragma once

#include "proxy/common/status.h"
#include "proxy/http/request_model.h"
#include "proxy/http/response.h"
#include "proxy/secrets/store.h"

namespace kitgate::secrets {

// Applies `plan` to `req`:
//  1. Placeholder substitution (custom secrets), one pass per location:
//     every header value (Host excepted: it is the routing identity and is
//     rewritten from the CONNECT target anyway); inside `Authorization:` /
//     `Proxy-Authorization: Basic <b64>` the credential is decoded, replaced
//     and re-encoded; in the query of the request-target (req.path after
//     '?') the value goes in percent-encoded. The path before '?' is left
//     alone. The sentinel "proxy-managed" is never a placeholder (the store
//     refuses it), so it is never substituted.
//  2. Injection: every client header with an injected name (any case) is
//     removed, then `name: value` is appended. The client's headers of that
//     name are removed even when the injection is refused (below).
//  3. Tokens naming an injected header are removed from the client's
//     Connection header(s) (an emptied Connection header is removed), so the
//     serializer's "drop the fields Connection lists" cannot drop it.
// A header value that would contain a control character (CR, LF, NUL …)
// is never written: that injection is skipped, that header keeps its
// original value, and the returned Status names the header and the service
// or env (never a value). Everything else in the plan is still applied.
//  4. An injection whose source is refreshable renders the source's current
//     value; when it has none (never fetched, expired) the request must not
//     go out as if it were authorised: the client's header is still removed,
//     nothing is injected, and the service is named — in the Status (this
//     form), or in *unavailable_service (the first such service; the form
//     the data path uses, which then refuses the request).
Status rewriteRequest(const InterceptPlan& plan, http::Request& req);
Status rewriteRequest(const InterceptPlan& plan, http::Request& req,
                      std::string* unavailable_service);

// What one rewrite did, for metrics (counts only, never values).
struct RewriteCounts {
  uint32_t header = 0;       // headers injected by a route
  uint32_t placeholder = 0;  // header values / queries where a placeholder became its secret
  uint32_t basic = 0;        // Basic credentials with a placeholder inside
};
Status rewriteRequest(const InterceptPlan& plan, http::Request& req,
                      std::string* unavailable_service, RewriteCounts* counts);

// Replaces every real secret of the sandbox, in every form an echo can take
// (scrubForms in scrub.h, and the Basic credential of a username route), in
// response header values and the reason phrase by its placeholder, or by
// "proxy-managed" for service secrets, so an echoing upstream cannot hand a
// secret to the sandbox. Bodies: proxy/stream/body_scrub.h.
void scrubResponse(const SandboxCredentials& creds, http::ResponseHead& resp);
void scrubResponse(const ScrubMatcher& matcher, http::ResponseHead& resp);

}  // namespace kitgate::secrets
