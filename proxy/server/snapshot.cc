#include "proxy/server/snapshot.h"

#include <spdlog/spdlog.h>

#include <ctime>

#include "proxy/mitm/authority.h"

namespace kitgate::server {
namespace {

std::vector<sandbox::RuleEntry> entries(const std::vector<config::SourcedRule>& rules) {
  std::vector<sandbox::RuleEntry> out;
  out.reserve(rules.size());
  for (const auto& r : rules) {
    out.push_back(
        sandbox::RuleEntry{r.text, static_cast<size_t>(r.line), static_cast<size_t>(r.column)});
  }
  return out;
}

// Secrets, per-sandbox CAs and the TLS contexts. Any error fails the whole
// snapshot (the previous one stays active).
Status loadInterception(const config::ProxyConfig& config, Snapshot& snap,
                        const Snapshot* previous) {
  if (config.state_dir.empty()) return Status::ok();
  snap.oauth =
      previous != nullptr && previous->oauth && previous->oauth->stateDir() == config.state_dir
          ? previous->oauth
          : std::make_shared<secrets::OAuthVault>(config.state_dir);
  auto store = secrets::loadStore(config.state_dir, snap.oauth.get());
  if (!store) return store.status();
  snap.secrets = std::move(store.value());

  const std::string ca_dir = config.ca_dir.empty() ? config.state_dir + "/ca" : config.ca_dir;
  tls::LeafOptions leaf;
  leaf.lifetime = std::chrono::hours(config.leaf_lifetime_hours);
  std::vector<std::string> errors;
  for (size_t i = 0; i < snap.registry->size(); ++i) {
    // Every sandbox gets its CA on its first reload, constrained to what it
    // may reach (proxy/mitm/authority.h): a secret set later is intercepted
    // with the CA the running sandbox already trusts.
    const sandbox::Sandbox& sb = snap.registry->at(i);
    mitm::AuthorityPatterns patterns;
    for (const auto& layer : sb.policy().layers()) {
      for (const policy::Rule& rule : layer->rules(policy::RuleAction::kAllow)) {
        if (auto p = mitm::allowedConstraintPattern(rule))
          patterns.allowed.push_back(std::move(*p));
      }
    }
    const secrets::SandboxCredentials* creds = snap.secrets->forSandbox(sb.name());
    if (creds != nullptr) patterns.intercepted = creds->interceptPatterns();
    auto authority = mitm::loadOrCreateAuthority(ca_dir, sb.name(), patterns, leaf);
    if (!authority) {
      // Without credentials bound yet the CA only prepares for later: a
      // read-only CA directory must not fail the reload of such a sandbox.
      if (patterns.intercepted.empty()) {
        spdlog::warn("{} (interception CA not made)", authority.status().message());
      } else {
        errors.push_back(authority.status().message());
      }
      continue;
    }
    if (!authority->minter) continue;  // it may reach no host
    if (authority->created) {
      spdlog::info("sandbox {}: new interception CA {}", sb.name(), authority->cert_path);
    }
    for (const std::string& p : authority->outside) {
      spdlog::warn(
          "sandbox {}: credential host {} is outside the interception CA it trusts; "
          "restart the sandbox to intercept it",
          sb.name(), p);
    }
    snap.minters[sb.name()] = std::move(authority->minter);
  }
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
    return Status::error(all);
  }
  if (snap.minters.empty()) return Status::ok();
  const auto now = std::chrono::system_clock::now();
  for (const auto& [name, minter] : snap.minters) {
    const std::string& ca = minter->caFingerprint();
    if (previous != nullptr) {
      auto it = previous->client_tls.find(name);
      if (it != previous->client_tls.end() && it->second.ca_fingerprint == ca &&
          now - it->second.created < Snapshot::kClientTlsLifetime) {
        snap.client_tls.emplace(name, it->second);
        continue;
      }
    }
    tls::ServerContextOptions opts;
    // Sessions are bound to the CA too (32 bytes at most: half the digest).
    opts.session_id_context.clear();
    for (char ch : ca) {
      if (ch != ':' && opts.session_id_context.size() < 32) opts.session_id_context += ch;
    }
    auto server_ctx = tls::ServerContext::create(opts);
    if (!server_ctx) return server_ctx.status();
    snap.client_tls.emplace(
        name,
        Snapshot::ClientTls{
            std::make_shared<const tls::ServerContext>(std::move(server_ctx.value())), ca, now});
  }
  tls::ClientContextOptions copts;
  copts.extra_ca_file = config.upstream_ca_file;
  auto client_ctx = tls::ClientContext::create(copts);
  if (!client_ctx) return client_ctx.status();
  snap.upstream_tls = std::make_shared<const tls::ClientContext>(std::move(client_ctx.value()));
  return Status::ok();
}

}  // namespace

StatusOr<std::shared_ptr<const Snapshot>> buildSnapshot(const config::ProxyConfig& config,
                                                        const Snapshot* previous) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = config;
  snap->head_limits.max_head_bytes = config.limits.max_head_bytes;
  snap->head_limits.max_headers = config.limits.max_headers;

  std::vector<sandbox::RuleSource> global;
  if (!config.allow.empty() || !config.deny.empty()) {
    global.push_back(sandbox::RuleSource{config.source.empty() ? "proxy.yaml" : config.source,
                                         entries(config.allow), entries(config.deny)});
  }
  auto registry = config.state_dir.empty() ? sandbox::singleTenantRegistry(global)
                                           : sandbox::loadRegistry(config.state_dir, global);
  if (!registry) return registry.status();
  snap->registry = std::move(registry.value());

  // The proxy's own endpoints (proxy, transparent, DNS, metrics and admin
  // listeners): a connection back into the proxy is refused whatever the
  // rules say.
  std::vector<std::string> own = config.listen;
  own.insert(own.end(), config.transparent_listen.begin(), config.transparent_listen.end());
  own.insert(own.end(), config.dns_listen.begin(), config.dns_listen.end());
  own.push_back(config.metrics_listen);
  own.push_back(config.admin_listen);
  for (const auto& l : own) {
    std::string host;
    uint16_t port = 0;
    if (l.empty() || !config::splitHostPort(l, &host, &port) || port == 0) continue;
    auto ip = policy::IpAddress::parse(host);
    if (!ip) continue;
    if (*ip == policy::IpAddress::v4(0) || *ip == policy::IpAddress::v6({})) {  // wildcard listen
      auto all = policy::SelfAddresses::fromInterfaces(port);
      if (!all) return all.status();
      snap->self.merge(all.value());
    } else {
      snap->self.add(*ip, port);
    }
  }

  for (const auto& l : config.dns_listen) {
    std::string host;
    uint16_t port = 0;
    if (!config::splitHostPort(l, &host, &port)) continue;
    auto ip = policy::IpAddress::parse(host);
    if (ip && policy::classify(*ip) != policy::AddressClass::kUnspecified &&
        !snap->isGateway(*ip)) {
      snap->gateways.push_back(*ip);
    }
  }

  auto hosts = std::make_shared<tunnel::HostMap>();
  for (const auto& [name, addrs] : config.dns_hosts) {
    auto& v = (*hosts)[name];
    for (const auto& a : addrs) {
      if (auto ip = policy::IpAddress::parse(a)) v.push_back(*ip);
    }
  }
  snap->static_hosts = std::move(hosts);

  for (size_t i = 0; i < snap->registry->size(); ++i) {
    const std::string& name = snap->registry->at(i).name();
    std::shared_ptr<SandboxCounter> c;
    if (previous) {
      auto it = previous->counters.find(name);
      if (it != previous->counters.end()) c = it->second;
    }
    snap->counters[name] = c ? c : std::make_shared<SandboxCounter>(0);
  }
  Status st = loadInterception(config, *snap, previous);
  if (!st) return st;
  snap->loaded_at_unix = static_cast<int64_t>(std::time(nullptr));
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace kitgate::server
