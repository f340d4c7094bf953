#include "proxy/secrets/rewrite.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/base64.h"
#include "proxy/http/message.h"
#include "proxy/secrets/text.h"

namespace kitgate::secrets {
namespace {

using http::equalsIgnoreCase;
using http::Header;

std::string_view placeholderOf(const Substitution& s) { return s.placeholder; }
std::string_view valueOf(const Substitution& s) { return s.value; }

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

bool injects(const InterceptPlan& plan, std::string_view name) {
  return std::any_of(plan.injections.begin(), plan.injections.end(),
                     [&](const HeaderInjection& i) { return equalsIgnoreCase(i.name, name); });
}

// `Basic <token68>` in an (Proxy-)Authorization value: replaces placeholders
// inside the decoded credential. False when the value is not a decodable
// Basic credential or holds no placeholder.
bool substituteInBasic(const InterceptPlan& plan, Header& h) {
  if (!equalsIgnoreCase(h.name, "authorization") &&
      !equalsIgnoreCase(h.name, "proxy-authorization")) {
    return false;
  }
  constexpr std::string_view kScheme = "basic";
  const std::string_view v = h.value;
  if (v.size() <= kScheme.size() || !equalsIgnoreCase(v.substr(0, kScheme.size()), kScheme) ||
      !isOws(v[kScheme.size()])) {
    return false;
  }
  size_t start = kScheme.size();
  while (start < v.size() && isOws(v[start])) ++start;
  auto decoded = base64Decode(trimOws(v.substr(start)));
  if (!decoded) return false;
  std::string replaced;
  if (!replaceAll(*decoded, plan.substitutions, placeholderOf, valueOf, &replaced)) return false;
  h.value = std::string(v.substr(0, start)) + base64Encode(replaced);
  return true;
}

void appendProblem(std::string* problems, const std::string& p) {
  if (!problems->empty()) problems->append("; ");
  problems->append(p);
}

// Names the custom secrets whose value would put a control character into
// header `h` (never the value itself).
std::string unsafeSubstitutions(const InterceptPlan& plan, const Header& h) {
  std::string envs;
  for (const Substitution& s : plan.substitutions) {
    if (h.value.find(s.placeholder) == std::string::npos || isHeaderValueSafe(s.value)) continue;
    envs += (envs.empty() ? "" : ", ") + s.env;
  }
  return "placeholder of " + (envs.empty() ? std::string("a custom secret") : envs) +
         " not substituted in header \"" + h.name + "\": the value contains a control character";
}

void substituteHeaders(const InterceptPlan& plan, http::Request& req, std::string* problems,
                       RewriteCounts& n) {
  std::string scratch;
  for (Header& h : req.headers) {
    if (equalsIgnoreCase(h.name, "host") || injects(plan, h.name)) continue;
    if (substituteInBasic(plan, h)) {
      ++n.basic;
      continue;
    }
    if (!replaceAll(h.value, plan.substitutions, placeholderOf, valueOf, &scratch)) continue;
    if (!isHeaderValueSafe(scratch)) {
      appendProblem(problems, unsafeSubstitutions(plan, h));
      continue;
    }
    h.value = std::move(scratch);
    scratch.clear();
    ++n.placeholder;
  }
}

// Resource hosts of an OAuth credential: the access-token sentinel in any
// header value (Host excepted) becomes the current real access token.
void substituteOAuth(const InterceptPlan& plan, http::Request& req, RewriteCounts& n) {
  for (const OAuthUse& use : plan.oauth_resources) {
    const std::string& sentinel = use.route->access_sentinel;
    const std::shared_ptr<const OAuthTokens> tokens = use.slot->current();
    if (!tokens || tokens->access_token.empty() || sentinel.empty() ||
        !isHeaderValueSafe(tokens->access_token))
      continue;  // no login yet: the sentinel goes out as it is
    for (Header& h : req.headers) {
      if (equalsIgnoreCase(h.name, "host")) continue;
      bool replaced = false;
      for (size_t pos = h.value.find(sentinel); pos != std::string::npos;
           pos = h.value.find(sentinel, pos + tokens->access_token.size())) {
        h.value.replace(pos, sentinel.size(), tokens->access_token);
        replaced = true;
      }
      if (replaced) ++n.placeholder;
    }
  }
}

void substituteQuery(const InterceptPlan& plan, http::Request& req, RewriteCounts& n) {
  // CONNECT has no path and "OPTIONS *" no query: both end at the find.
  const size_t q = req.path.find('?');
  if (q == std::string::npos) return;
  const std::string_view query = std::string_view(req.path).substr(q + 1);
  const bool any = std::any_of(
      plan.substitutions.begin(), plan.substitutions.end(),
      [&](const Substitution& s) { return query.find(s.placeholder) != std::string_view::npos; });
  if (!any) return;
  std::vector<std::string> encoded;
  encoded.reserve(plan.substitutions.size());
  for (const Substitution& s : plan.substitutions) encoded.push_back(percentEncode(s.value));
  const Substitution* base = plan.substitutions.data();
  std::string replaced;
  replaceAll(
      query, plan.substitutions, placeholderOf,
      [&](const Substitution& s) -> std::string_view {
        return encoded[static_cast<size_t>(&s - base)];
      },
      &replaced);
  req.path.replace(q + 1, std::string::npos, replaced);
  ++n.placeholder;
}

void inject(const InterceptPlan& plan, http::Request& req, std::string* problems,
            std::string* unavailable, RewriteCounts& n) {
  std::string rendered;
  for (const HeaderInjection& inj : plan.injections) {
    std::erase_if(req.headers, [&](const Header& h) { return equalsIgnoreCase(h.name, inj.name); });
    std::string_view value = inj.value;
    if (inj.source && inj.source->refreshable()) {
      std::shared_ptr<const std::string> current = inj.source->current();
      if (!current) {
        // Fail closed: the client's header of that name is already gone, and
        // the caller learns which service has no value.
        const std::string what = "no current value for service " + inj.service + " (" +
                                 std::string(inj.source->describe()) + "): header \"" + inj.name +
                                 "\" not injected";
        if (unavailable != nullptr) {
          if (unavailable->empty()) *unavailable = inj.service;
        } else {
          appendProblem(problems, what);
        }
        continue;
      }
      rendered = inj.format.render(*current);
      value = rendered;
    }
    if (!isHeaderValueSafe(value)) {
      appendProblem(problems, "injection of header \"" + inj.name + "\" (service " + inj.service +
                                  ") skipped: the value contains a control character");
      continue;
    }
    req.headers.push_back(Header{inj.name, std::string(value)});
    ++n.header;
  }
}

// Drops Connection tokens that name an injected header.
void protectInjected(const InterceptPlan& plan, http::Request& req) {
  for (auto it = req.headers.begin(); it != req.headers.end();) {
    if (!equalsIgnoreCase(it->name, "connection")) {
      ++it;
      continue;
    }
    std::string kept;
    bool dropped = false;
    std::string_view rest = it->value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view token = trimOws(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (token.empty()) continue;
      if (injects(plan, token)) {
        dropped = true;
        continue;
      }
      kept.append(kept.empty() ? "" : ", ").append(token);
    }
    if (!dropped) {
      ++it;
    } else if (kept.empty()) {
      it = req.headers.erase(it);
    } else {
      it->value = std::move(kept);
      ++it;
    }
  }
}

}  // namespace

Status rewriteRequest(const InterceptPlan& plan, http::Request& req) {
  return rewriteRequest(plan, req, nullptr);
}

Status rewriteRequest(const InterceptPlan& plan, http::Request& req,
                      std::string* unavailable_service) {
  return rewriteRequest(plan, req, unavailable_service, nullptr);
}

Status rewriteRequest(const InterceptPlan& plan, http::Request& req,
                      std::string* unavailable_service, RewriteCounts* counts) {
  RewriteCounts local;
  RewriteCounts& n = counts != nullptr ? *counts : local;
  std::string problems;
  if (!plan.substitutions.empty()) {
    substituteHeaders(plan, req, &problems, n);
    substituteQuery(plan, req, n);
  }
  if (!plan.oauth_resources.empty()) substituteOAuth(plan, req, n);
  if (!plan.injections.empty()) {
    inject(plan, req, &problems, unavailable_service, n);
    protectInjected(plan, req);
  }
  return problems.empty() ? Status::ok() : Status::error(problems);
}

void scrubResponse(const SandboxCredentials& creds, http::ResponseHead& resp) {
  scrubResponse(creds.scrubMatcher(), resp);
}

void scrubResponse(const ScrubMatcher& matcher, http::ResponseHead& resp) {
  if (matcher.empty()) return;
  std::string scratch;
  for (Header& h : resp.headers) {
    if (matcher.replaceAll(h.value, &scratch)) h.value = std::move(scratch);
  }
  if (matcher.replaceAll(resp.reason, &scratch)) resp.reason = std::move(scratch);
}

}  // namespace kitgate::secrets
