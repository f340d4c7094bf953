// Internal to kitgate_secrets: the validated contents of the state files
// (store_loader.cc, the only yaml-cpp user, fills it) and the compile step
// that turns it into an immutable Store (store.cc). Plain values; any thread.
// (Outside users want proxy/secrets/host_pattern.h and store.h.)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/secrets/host_pattern.h"
#include "proxy/secrets/store.h"

namespace kitgate::secrets {

struct ServiceSecret {
  std::string service;
  std::string sandbox;  // empty = scope global
  std::string value;
};

struct CustomSecret {
  std::string sandbox;  // empty = scope global
  std::vector<HostPattern> hosts;
  std::string env;
  std::string placeholder;
  std::string value;
};

struct Route {
  std::string service;
  std::vector<HostPattern> domains;
  std::string header;    // empty = routing only (nothing written)
  std::string format;    // exactly one %s ("%%" is a literal '%')
  std::string username;  // non-empty = Basic base64(username ":" format(secret))
};

struct SandboxRoutes {
  std::string sandbox;
  std::vector<Route> routes;
};

struct SandboxOAuth {
  std::string sandbox;
  std::vector<OAuthRoute> routes;
};

struct StoreModel {
  std::vector<ServiceSecret> services;
  std::vector<CustomSecret> customs;
  std::vector<SandboxRoutes> sandboxes;
  std::vector<SandboxOAuth> oauth;  // oauth/<sandbox>.json (read with a vault only)
};

// Reads every <state_dir>/oauth/<sandbox>.json (not *.tokens.json, not
// dot-files) into model->oauth; every error at once.
Status readOAuthRouteFiles(const std::string& state_dir, StoreModel* model);

// Reads and validates the files (store.h); every error at once.
StatusOr<StoreModel> readStoreFiles(const std::string& state_dir);

// Which secret a credential route uses for sandbox `sandbox` (kit-spec §5.2,
// §5.7; the seed tutorial's `secret set-custom --host`), first found wins:
//  1. the service secret of scope `sandbox:<sandbox>`;
//  2. the service secret of scope `global`;
//  3. a custom secret bound to the route's host — one of its hosts is one of
//     the route's domains (same canonical pattern) — of scope
//     `sandbox:<sandbox>`, then of scope `global`; within one scope the later
//     entry wins (as for placeholders).
// Names the secret (kind + scope + service or env), never its value: the
// CLI prints it ("amp: custom secret AMP_API_KEY (global)").
struct RouteSecret {
  enum class Kind { kNone, kService, kCustom };
  enum class Scope { kGlobal, kSandbox };
  Kind kind = Kind::kNone;
  Scope scope = Scope::kGlobal;
  std::string name;  // the service (kService) or the custom secret's env (kCustom)

  // "service secret amp (sandbox dev1)", "custom secret AMP_API_KEY (global)", "none".
  std::string toString() const;
  bool operator==(const RouteSecret&) const = default;
};
RouteSecret routeSecret(const StoreModel& model, std::string_view sandbox, const Route& route);

// The route's header value for `secret` (format applied, or the Basic
// credential). Valid formats only (checked by the loader).
std::string renderInjection(const Route& route, std::string_view secret);

// Compiles a validated model. Fails only if a RuleSet cannot be built.
// `vault` (may be null: OAuth routes are then ignored) gives the OAuth
// credentials their live tokens.
StatusOr<std::shared_ptr<const Store>> compileStore(const StoreModel& model);
StatusOr<std::shared_ptr<const Store>> compileStore(const StoreModel& model, OAuthVault* vault);

}  // namespace kitgate::secrets
