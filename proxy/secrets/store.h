// Credential store: which secret the proxy writes into which request, per
// sandbox. Loaded from the state directory (format: proxy/secrets/FORMAT.md):
//
//   <state>/secrets.yaml               values; must be a regular file that
//                                      group and others cannot access (0600)
//     services:   [{service: amp, scope: global, value: "…"}]
//     custom:     [{scope: sandbox:dev1, hosts: ["ampcode.com"],
//                   env: AMP_API_KEY, placeholder: "sgamp-…", value: "…"}]
//   <state>/credentials/<sandbox>.yaml credential routes of that sandbox's
//                                      kits (no values)
//     routes:     [{service: amp, domains: ["ampcode.com"],
//                   header: Authorization, format: "Bearer %s"},
//                  {service: registry, domains: [pkgs.example.com],
//                   username: token}]          # Authorization: Basic
//
// Resolution (kit-spec §5.2, §5.7): a route is bound when it has a value —
// the sandbox-scoped service secret, else the global one, else a custom
// secret bound to the route's host (sandbox scope, then global): see
// routeSecret() in store_model.h and FORMAT.md. Custom secrets
// of scope `global` apply to every sandbox, `sandbox:<n>` only to n (and win
// over a global custom secret with the same placeholder). A host is
// intercepted only when something is bound for it: planFor() != nullptr.
//
// Host patterns (route domains, custom-secret hosts) use the policy grammar
// restricted to what an interception CA can be constrained to: an exact
// name, `*.x` (one label), `**.x` (any depth) or an IP literal — no globs,
// CIDRs, `**` or ports.
//
// Thread model: loadStore() runs on the reload path (any one thread). The
// Store is immutable; share it as std::shared_ptr<const Store> (inside the
// server Snapshot) and call its const methods from every worker without a
// lock. Pointers and plans it returns stay valid while the Store is alive
// (plans are shared_ptr and may outlive it).
// Secret values never appear in an error message, a log line or toString().
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/policy/host.h"
#include "proxy/policy/rule_set.h"
#include "proxy/secrets/credential_source.h"
#include "proxy/secrets/oauth.h"
#include "proxy/secrets/scrub.h"

namespace kitgate::secrets {

// The literal a proxyManaged variable holds inside the sandbox (§5.4). It is
// never substituted; an injection simply overwrites its header.
inline constexpr std::string_view kProxyManagedSentinel = "proxy-managed";

// Set `name: <value>` on the request, replacing every header of that name.
// The value comes from `source` rendered with `format`
// (proxy/secrets/credential_source.h). For a static source (or no source, as
// plans built by hand have) `value` is that rendering, computed once; for a
// refreshable source `value` is empty and rewriteRequest renders the
// source's current value on every request.
struct HeaderInjection {
  std::string name;     // as the route wrote it
  std::string value;    // rendered static value; contains the secret
  std::string service;  // for diagnostics
  std::shared_ptr<const CredentialSource> source;
  CredentialFormat format;
};

// Replace `placeholder` by `value` in the request (custom secrets).
struct Substitution {
  std::string placeholder;
  std::string value;  // the secret
  std::string env;    // for diagnostics
};

// One OAuth credential of the sandbox where it applies to a host: the kit's
// route and the live tokens (proxy/secrets/oauth.h).
struct OAuthUse {
  std::shared_ptr<const OAuthRoute> route;
  std::shared_ptr<OAuthSlot> slot;
};

// What to do to requests on one intercepted connection. Immutable, shared.
struct InterceptPlan {
  // One entry per header name (case-insensitive). Several routes on one
  // host are all applied, in route order; when two set the same header the
  // later route (file order) wins.
  std::vector<HeaderInjection> injections;
  // One entry per placeholder (a sandbox-scoped custom secret wins over a
  // global one; within one scope the later entry wins).
  std::vector<Substitution> substitutions;
  // A resource host: the access-token sentinel in any header value (Host
  // excepted) becomes the slot's current access token (none yet: left as is).
  std::vector<OAuthUse> oauth_resources;
  // The host of a token endpoint: requests to its path are token exchanges
  // (proxy/stream/stream.h).
  std::vector<OAuthUse> oauth_endpoints;

  // "inject Authorization (amp); substitute sgamp-… (AMP_API_KEY)":
  // header names, services, placeholders and env names only.
  std::string toString() const;
};

class SandboxCredentials {
 public:
  // The plan for requests to `host` (normalised), or nullptr when nothing is
  // bound for it: then the connection must not be intercepted.
  // Exact names: one hash lookup (plans precomputed, including wildcard
  // patterns that also match the name). Other names and IP literals: the
  // wildcard/IP patterns compiled into a policy::RuleSet.
  std::shared_ptr<const InterceptPlan> planFor(const policy::Host& host) const;

  // The host patterns this sandbox may intercept ("api.x.com", "*.x.com",
  // "**.x.com", "192.0.2.1", "2001:db8::1"): input for the CA's name
  // constraints (tls::nameConstraintsFor). Only bound patterns are listed.
  const std::vector<std::string>& interceptPatterns() const { return intercept_patterns_; }

  // Every secret of this sandbox (bound or not) in every form an echo can
  // take (scrubForms), and its replacement in responses, compiled once; see
  // scrubResponse (proxy/secrets/rewrite.h) and the body scrub
  // (proxy/stream/body_scrub.h).
  const std::vector<ScrubRule>& scrubRules() const { return scrub_.rules(); }
  const ScrubMatcher& scrubMatcher() const { return scrub_; }
  // OAuth tokens stored after this snapshot was built are not in
  // scrubMatcher() until the next reload folds them in: for that window, a
  // matcher that holds them too (built per call); nullptr when
  // scrubMatcher() is current. Any thread.
  std::shared_ptr<const ScrubMatcher> liveOAuthScrub() const;

 private:
  friend class SandboxCredentialsBuilder;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Indices into injections_ / substitutions_ bound to one pattern.
  struct PatternItems {
    std::vector<size_t> injections;
    std::vector<size_t> substitutions;
    std::vector<size_t> oauth_resources;  // into oauth_
    std::vector<size_t> oauth_endpoints;  // into oauth_
  };

  std::shared_ptr<const InterceptPlan> merge(const std::vector<const PatternItems*>& items) const;

  std::vector<HeaderInjection> injections_;  // every bound injection, route order
  std::vector<Substitution> substitutions_;  // every custom secret, precedence order
  std::vector<OAuthUse> oauth_;              // every OAuth credential of the sandbox
  // The tokens of each oauth_ entry that scrub_ was built with.
  std::vector<std::shared_ptr<const OAuthTokens>> oauth_compiled_;
  std::unordered_map<std::string, std::shared_ptr<const InterceptPlan>, StringHash, std::equal_to<>>
      exact_plans_;
  // Wildcard and IP patterns. Allow list: pattern i with port i+1, so that
  // matchName(kAllow, host, i+1) answers "does pattern i match". Deny list:
  // the same patterns without a port, so that one query answers "does any".
  std::shared_ptr<const policy::RuleSet> wild_;
  std::vector<PatternItems> wild_items_;
  std::vector<std::shared_ptr<const InterceptPlan>> wild_plans_;
  std::vector<std::string> intercept_patterns_;
  ScrubMatcher scrub_;
};

class Store {
 public:
  // nullptr when nothing at all is bound for this sandbox (no route with a
  // value, no custom secret in scope): intercept nothing.
  const SandboxCredentials* forSandbox(std::string_view sandbox) const;

  bool empty() const { return by_sandbox_.empty() && !others_; }

 private:
  friend class StoreBuilder;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Sandboxes named by a credentials file or a `sandbox:<n>` scope.
  std::unordered_map<std::string, std::unique_ptr<const SandboxCredentials>, StringHash,
                     std::equal_to<>>
      by_sandbox_;
  // Every other sandbox: global custom secrets only (may be null).
  std::unique_ptr<const SandboxCredentials> others_;
};

// Reads <state_dir>/secrets.yaml and <state_dir>/credentials/*.yaml (absent
// files, or an absent directory, give an empty store). Every problem is
// reported at once, one per line: `file:line:column: error: message`.
// With a vault, also <state_dir>/oauth/<sandbox>.json (OAuth routes; their
// live tokens come from the vault, which is synced with the token files).
StatusOr<std::shared_ptr<const Store>> loadStore(const std::string& state_dir);
StatusOr<std::shared_ptr<const Store>> loadStore(const std::string& state_dir, OAuthVault* vault);

}  // namespace kitgate::secrets
