// Sandbox registry: which sandbox a client connection belongs to, and each
// sandbox's effective policy (global rules + its own rules) and limits.
//
// Loaded from the state directory (format: proxy/sandbox/FORMAT.md):
//
//   <state>/policy.yaml            optional; global rules
//       allow: ["api.example.com:443", "**.npmjs.org"]
//       deny:  ["169.254.0.0/16"]
//   <state>/sandboxes/<name>.yaml  one file per sandbox (only *.yaml files,
//                                  names starting with '.' are ignored)
//       name: dev1                 # must equal the file name stem
//       match:
//         sources: ["10.88.1.2", "10.88.2.0/24", "fd00:88::/64"]
//         token: "…"               # >= 16 printable chars; file must be 0600
//       allow: ["github.com:443"]
//       deny:  []
//       limits: { max_connections: 64 }
//
// No sandbox files = single-tenant mode: every client is sandbox "default",
// whose policy is the global one.
//
// Identification (multi-tenant): with a Proxy-Authorization header
// (`Basic base64(<sandbox>:<token>)` or `Bearer <token>`) the token must
// match a sandbox (constant-time) and, if that sandbox lists sources, the
// client address must be one of them; a header that does not identify a
// sandbox is never ignored. Without the header the client address picks the
// sandbox, unless that sandbox has a token (then credentials are required).
// IPv4-mapped client addresses (::ffff:a.b.c.d, dual-stack listeners) are
// looked up as IPv4.
//
// Thread model: loading runs on any one thread (reload); the returned
// Registry is immutable and shared as std::shared_ptr<const Registry> with
// every worker, whose const calls need no lock. Sandbox pointers and
// Decision::rule views stay valid while the Registry is alive.
// Tokens are secrets: they never appear in an error message or a log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/policy/cidr_table.h"
#include "proxy/policy/ip_address.h"
#include "proxy/policy/policy.h"

namespace kitgate::sandbox {

inline constexpr std::string_view kDefaultSandboxName = "default";

// One rule as written in some file; line/column (1-based) of the rule's
// first character, 0 when unknown. Used for `file:line:column: error: …`.
struct RuleEntry {
  std::string text;
  size_t line = 0;
  size_t column = 0;
};

// Global rules from a source other than the state directory (the lead's
// proxy.yaml). `file` names the source in error messages.
struct RuleSource {
  std::string file;
  std::vector<RuleEntry> allow;
  std::vector<RuleEntry> deny;
};

struct SandboxLimits {
  std::optional<uint32_t> max_connections;  // nullopt = proxy-wide default
};

class Sandbox {
 public:
  const std::string& name() const { return name_; }
  const policy::Policy& policy() const { return policy_; }
  const SandboxLimits& limits() const { return limits_; }
  bool requiresToken() const { return !token_.empty(); }
  // The file it was loaded from (empty for single-tenant "default").
  const std::string& file() const { return file_; }

 private:
  friend class Registry;
  friend class RegistryBuilder;
  struct Source {
    policy::IpAddress network;
    size_t prefix_len = 0;
  };

  std::string name_;
  std::string file_;
  policy::Policy policy_;
  SandboxLimits limits_;
  std::string token_;  // secret; empty = no token
  std::vector<Source> sources_;
};

class Registry {
 public:
  // Multi-tenant: identify as documented above. Single-tenant: always the
  // "default" sandbox. nullptr = unrecognised (the proxy answers 407).
  const Sandbox* identify(const policy::IpAddress& client,
                          std::optional<std::string_view> proxy_authorization) const;

  // A connection redirected to the transparent listener carries no proxy
  // credentials: the sandbox whose `sources` hold the client address (its
  // network, written by the orchestrator; a token is not asked for). Single-
  // tenant: "default". nullptr = no sandbox has that source.
  const Sandbox* identifyBySource(const policy::IpAddress& client) const;
  const Sandbox* find(std::string_view name) const;
  bool multiTenant() const { return multi_tenant_; }
  size_t size() const { return sandboxes_.size(); }
  const Sandbox& at(size_t i) const { return *sandboxes_[i]; }
  const std::shared_ptr<const policy::RuleSet>& globalRules() const { return global_; }

 private:
  friend class RegistryBuilder;
  Registry() = default;

  bool multi_tenant_ = false;
  std::shared_ptr<const policy::RuleSet> global_;
  std::vector<std::unique_ptr<Sandbox>> sandboxes_;
  std::unordered_map<std::string_view, const Sandbox*> by_name_;
  policy::CidrTable<const Sandbox*> by_source_;
};

// Reads <state_dir>/policy.yaml and <state_dir>/sandboxes/*.yaml. Global
// rules = policy.yaml + `extra_global`. Every problem is reported, all at
// once, one per line: `file:line:column: error: message`.
StatusOr<std::shared_ptr<const Registry>> loadRegistry(
    const std::string& state_dir, const std::vector<RuleSource>& extra_global = {});

// Single-tenant registry from in-memory global rules only (no state dir).
StatusOr<std::shared_ptr<const Registry>> singleTenantRegistry(
    const std::vector<RuleSource>& global);

}  // namespace kitgate::sandbox
