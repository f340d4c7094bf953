// Fuzzes what a sandbox controls on an intercepted connection: the request
// head, rewritten with a fixed plan (one injection, one placeholder), then
// serialized for the origin. Invariants:
//  - rewriteRequest succeeds (the plan's values are valid);
//  - the serialized head parses again, with exactly one Authorization field
//    carrying the injected value (no client header, Connection token or
//    CR/LF trick can drop or duplicate it);
//  - no header value (Host aside: it is the routing identity) and no query
//    still holds the placeholder;
//  - base64 and maskSecret survive the same bytes.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/http/request.h"
#include "proxy/http/serialize.h"
#include "proxy/common/base64.h"
#include "proxy/secrets/mask.h"
#include "proxy/secrets/rewrite.h"

namespace {

using namespace kitgate;

constexpr std::string_view kInjected = "Bearer REAL-SECRET-0123456789";
constexpr std::string_view kPlaceholder = "sgamp-PH-000001";

void check(bool ok) {
  if (!ok) std::abort();
}

// UTF-8 characters (a stray continuation byte counts as one), as maskSecret counts.
size_t characters(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 0 || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

const secrets::InterceptPlan& plan() {
  static const secrets::InterceptPlan p = [] {
    secrets::InterceptPlan plan;
    plan.injections.push_back({"Authorization", std::string(kInjected), "svc"});
    plan.substitutions.push_back({std::string(kPlaceholder), "real+value/1", "ENV"});
    return plan;
  }();
  return p;
}

void fuzzRewrite(std::string_view input) {
  http::RequestHead req;
  size_t consumed = 0;
  if (!http::parseRequestHead(input, http::HeadLimits{}, &req, &consumed).isComplete()) return;
  // Inside an intercepted tunnel the session only rewrites origin-form
  // requests whose Host equals the CONNECT host (else 421), so a Host-less
  // HTTP/1.0 request never gets here.
  if (req.form != http::RequestHead::TargetForm::kOrigin || req.host.empty()) return;
  check(secrets::rewriteRequest(plan(), req).isOk());
  std::string wire;
  http::serializeRequestForOrigin(req, &wire);

  http::RequestHead again;
  // The serializer may add a little (Host, framing, Connection): allow room.
  http::HeadLimits limits;
  limits.max_head_bytes = wire.size() + 1;
  limits.max_headers = req.headers.size() + 8;
  check(http::parseRequestHead(wire, limits, &again, &consumed).isComplete());
  size_t authorizations = 0;
  for (const http::Header& h : again.headers) {
    if (http::equalsIgnoreCase(h.name, "authorization")) {
      ++authorizations;
      check(h.value == kInjected);
    } else if (!http::equalsIgnoreCase(h.name, "host")) {
      check(h.value.find(kPlaceholder) == std::string::npos);
    }
  }
  check(authorizations == 1);
  const size_t q = again.path.find('?');
  check(q == std::string::npos || again.path.find(kPlaceholder, q) == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzzRewrite(input);
  if (auto decoded = kitgate::base64Decode(input)) {
    check(kitgate::base64Decode(kitgate::base64Encode(*decoded)) == decoded);
  }
  const std::string masked = secrets::maskSecret(input);
  const size_t n = characters(input);
  check(characters(masked) == std::min<size_t>(n, 25));
  if (n <= 6) check(masked == std::string(n, '*'));
  return 0;
}
