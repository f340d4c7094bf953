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

struct StoreModel {
  std::vector<ServiceSecret> services;
  std::vector<CustomSecret> customs;
  std::vector<SandboxRoutes> sandboxes;
};

// Reads and validates the files (store.h); every error at once.
StatusOr<StoreModel> readStoreFiles(const std::string& state_dir);

// The route's header value for `secret` (format applied, or the Basic
// credential). Valid formats only (checked by the loader).
std::string renderInjection(const Route& route, std::string_view secret);

// Compiles a validated model. Fails only if a RuleSet cannot be built.
StatusOr<std::shared_ptr<const Store>> compileStore(const StoreModel& model);

}  // namespace kitgate::secrets
