#include "proxy/server/snapshot.h"

#include <ctime>

namespace kitgate::server {
namespace {

std::vector<sandbox::RuleEntry> entries(const std::vector<config::SourcedRule>& rules) {
  std::vector<sandbox::RuleEntry> out;
  out.reserve(rules.size());
  for (const auto& r : rules) {
    out.push_back(sandbox::RuleEntry{r.text, static_cast<size_t>(r.line), static_cast<size_t>(r.column)});
  }
  return out;
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

  // The proxy's own addresses: every interface address (a CONNECT back to
  // the proxy or its admin port must be explicitly allowed).
  auto self = policy::SelfAddresses::fromInterfaces();
  if (self) snap->self = std::move(self.value());
  for (const auto& l : config.listen) {
    std::string host;
    uint16_t port = 0;
    if (config::splitHostPort(l, &host, &port)) {
      if (auto ip = policy::IpAddress::parse(host)) snap->self.add(*ip);
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
  snap->loaded_at_unix = static_cast<int64_t>(std::time(nullptr));
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace kitgate::server
