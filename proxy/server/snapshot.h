// Snapshot: everything a connection needs to decide and act, frozen.
//
// Built from proxy.yaml + the state directory by buildSnapshot() on the
// reload path (any one thread), then published whole to every worker. A
// connection pins the snapshot it started with (shared_ptr<const Snapshot>),
// so a reload never changes a live connection's rules and a failed reload
// leaves the old snapshot in place: it can never fail open.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/config/config.h"
#include "proxy/http/limits.h"
#include "proxy/policy/address_class.h"
#include "proxy/sandbox/registry.h"
#include "proxy/secrets/store.h"
#include "proxy/tls/contexts.h"
#include "proxy/tls/leaf_cache.h"
#include "proxy/tunnel/resolver.h"

namespace kitgate::server {

// Open connections of one sandbox, shared by all workers and carried over
// from one snapshot to the next (the count must survive a reload).
using SandboxCounter = std::atomic<int64_t>;

struct Snapshot {
  config::ProxyConfig config;
  http::HeadLimits head_limits;
  std::shared_ptr<const sandbox::Registry> registry;
  policy::SelfAddresses self;
  // The sandbox networks' gateways: the addresses of dns_listen, which
  // kitgate's DNS answers for host.docker.internal. A connection to one of
  // them (transparent, or a CONNECT to the address) is a host service.
  std::vector<policy::IpAddress> gateways;
  std::shared_ptr<const tunnel::HostMap> static_hosts;
  // Interception (issue: credential hosts only). secrets == nullptr or no
  // minter for a sandbox = every CONNECT of it is an opaque tunnel.
  std::shared_ptr<const secrets::Store> secrets;
  // Live OAuth tokens (proxy/secrets/oauth.h): one vault for the life of the
  // process, handed from each snapshot to the next.
  std::shared_ptr<secrets::OAuthVault> oauth;
  std::unordered_map<std::string, std::shared_ptr<const tls::LeafMinter>> minters;  // by sandbox
  // Toward each sandbox with a CA, its own TLS context: session tickets are
  // sealed with that context's keys, so a session resumes only in the
  // sandbox (and under the CA) it began in. Carried over from the previous
  // snapshot while the sandbox's CA is unchanged — a reload keeps every
  // session resumable — and renewed after kClientTlsLifetime (new ticket
  // keys; OpenSSL never rotates them itself).
  struct ClientTls {
    std::shared_ptr<const tls::ServerContext> ctx;
    std::string ca_fingerprint;
    std::chrono::system_clock::time_point created;
  };
  static constexpr std::chrono::hours kClientTlsLifetime{24};
  std::unordered_map<std::string, ClientTls> client_tls;   // by sandbox
  std::shared_ptr<const tls::ClientContext> upstream_tls;  // toward real servers, verifying
  // sandbox name -> its connection counter
  std::unordered_map<std::string, std::shared_ptr<SandboxCounter>> counters;
  int64_t loaded_at_unix = 0;

  std::shared_ptr<const tls::LeafMinter> minterFor(const std::string& sandbox) const {
    auto it = minters.find(sandbox);
    return it == minters.end() ? nullptr : it->second;
  }
  const tls::ServerContext* clientTlsFor(const std::string& sandbox) const {
    auto it = client_tls.find(sandbox);
    return it == client_tls.end() ? nullptr : it->second.ctx.get();
  }
  bool isGateway(const policy::IpAddress& ip) const {
    return std::find(gateways.begin(), gateways.end(), ip) != gateways.end();
  }
  SandboxCounter* counterFor(const std::string& sandbox) const {
    auto it = counters.find(sandbox);
    return it == counters.end() ? nullptr : it->second.get();
  }
};

// Loads the state directory named by `config` and compiles everything.
// `previous` (may be null) donates its per-sandbox connection counters and
// the TLS contexts of sandboxes whose CA did not change.
StatusOr<std::shared_ptr<const Snapshot>> buildSnapshot(const config::ProxyConfig& config,
                                                        const Snapshot* previous);

}  // namespace kitgate::server
