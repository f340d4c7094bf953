#include "orchestrator/privd/actions.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <variant>

#include "orchestrator/sandbox/plan.h"
#include "orchestrator/sandbox/registration.h"
#include "proxy/secrets/host_pattern.h"

namespace kitgate::privd {

namespace {

Response okResponse() {
  Response r;
  r.ok = true;
  return r;
}

StatusOr<Response> fromStatus(const Status& s) {
  if (!s.isOk()) return s;
  return okResponse();
}

Response outcomeResponse(const stateops::Outcome& o) {
  Response r = okResponse();
  r.notes = o.notes;
  r.text = o.done;
  r.reload_error = o.reload_error;
  r.warnings = o.warnings;
  return r;
}

StatusOr<Response> fromOutcome(const StatusOr<stateops::Outcome>& o) {
  if (!o.isOk()) return o.status();
  return outcomeResponse(*o);
}

StatusOr<Response> fromText(const StatusOr<std::string>& text) {
  if (!text.isOk()) return text.status();
  if (text->size() > kMaxResponseBytes - 4096) {
    return Status::error("the answer is larger than " + std::to_string(kMaxResponseBytes >> 20) +
                         " MiB (for the policy log: --limit N or --summary)");
  }
  Response r = okResponse();
  r.text = *text;
  return r;
}

void blankOut(std::string* text, const std::string& secret) {
  for (size_t pos = 0; (pos = text->find(secret, pos)) != std::string::npos;) {
    text->replace(pos, secret.size(), "[value]");
    pos += 7;
  }
}

std::string readFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

PrivilegedActions::PrivilegedActions(docker::DockerClient& docker, sandbox::HostFirewall& firewall,
                                     sandbox::ProxyControl& proxy, state::Paths paths)
    : docker_(docker),
      firewall_(firewall),
      proxy_(proxy),
      paths_(std::move(paths)),
      state_(stateops::makeLocalStateService(paths_)) {}

Response PrivilegedActions::handle(const Request& request, const PeerCred& peer) {
  (void)peer;  // authorized by the server; every allowed caller may ask the same
  auto r = dispatch(request);
  Response out;
  if (r.isOk()) {
    out = std::move(*r);
  } else {
    out.error = r.status().message();
  }
  // Whatever a lower layer put in a message, the value it was given is not
  // repeated (the server logs the error; the caller may paste it).
  if (!request.value.empty()) {
    for (std::string* text : {&out.error, &out.text, &out.reload_error}) {
      blankOut(text, request.value);
    }
    for (auto* list : {&out.notes, &out.warnings, &out.lines}) {
      for (std::string& line : *list) blankOut(&line, request.value);
    }
  }
  return out;
}

StatusOr<std::optional<docker::NetworkInfo>> PrivilegedActions::sandboxNetwork(
    const std::string& name) {
  auto net = docker_.inspectNetwork(sandbox::networkName(name));
  if (!net.isOk()) return net.status();
  if (!net->has_value()) return std::optional<docker::NetworkInfo>();
  const auto label = (*net)->labels.find(std::string(sandbox::kSandboxLabel));
  if (label == (*net)->labels.end() || label->second != name) {
    return Status::error("network " + sandbox::networkName(name) +
                         " is not kitgate's network of sandbox " + name);
  }
  if ((*net)->subnet.empty() || (*net)->gateway.empty()) {
    return Status::error("Docker reports no subnet/gateway for " + sandbox::networkName(name));
  }
  if (Status s = checkSubnetAndGateway((*net)->subnet, (*net)->gateway); !s.isOk()) {
    return Status::error("network " + sandbox::networkName(name) + ": " + s.message());
  }
  return net;
}

StatusOr<docker::NetworkInfo> PrivilegedActions::requireNetwork(const std::string& name) {
  auto net = sandboxNetwork(name);
  if (!net.isOk()) return net.status();
  if (!net->has_value()) {
    return Status::error("no sandbox network " + sandbox::networkName(name) +
                         " (create the sandbox's network first)");
  }
  return **net;
}

StatusOr<Response> PrivilegedActions::dispatch(const Request& r) {
  switch (r.verb) {
    case Verb::kHello: {
      Response out = okResponse();
      out.text = paths_.root;
      return out;
    }
    case Verb::kFirewallIsolate: {
      // Everything the rules need comes from the sandbox's network and the
      // daemon's own proxy, never from the caller.
      auto net = requireNetwork(r.name);
      if (!net.isOk()) return net.status();
      // The rules point at the proxy's transparent listener: it must be up.
      if (Status s = proxy_.ensureRunning(); !s.isOk()) return s;
      auto transparent = proxy_.transparentPort();
      if (!transparent.isOk()) return transparent.status();
      return fromStatus(firewall_.isolate(
          sandbox::FirewallSpec{r.name, net->subnet, net->gateway, sandbox::bridgeName(net->id),
                                sandbox::kProxyPort, *transparent, sandbox::kDnsPort}));
    }
    case Verb::kFirewallRelease:
      // By the sandbox's tag: whether or not its network is still there.
      return fromStatus(firewall_.release(r.name));
    case Verb::kTransparentPort: {
      auto port = proxy_.transparentPort();
      if (!port.isOk()) return port.status();
      Response out = okResponse();
      out.text = std::to_string(*port);
      return out;
    }
    case Verb::kProxyEnsure: {
      if (Status s = proxy_.ensureRunning(); !s.isOk()) return s;
      Response out = okResponse();
      out.lines = proxy_.takeRepairs();
      return out;
    }
    case Verb::kProxyReload:
      return fromStatus(proxy_.reload());
    case Verb::kListenAdd:
    case Verb::kDnsListenAdd: {
      const bool dns = r.verb == Verb::kDnsListenAdd;
      std::string ip;
      if (Status s = checkListen(r.listen, &ip, dns ? sandbox::kDnsPort : sandbox::kProxyPort);
          !s.isOk()) {
        return s;
      }
      auto nets = docker_.listNetworks({std::string(sandbox::kSandboxLabel)});
      if (!nets.isOk()) return nets.status();
      bool gateway = false;
      for (const docker::NetworkInfo& n : *nets) gateway = gateway || n.gateway == ip;
      if (!gateway) {
        return Status::error("listen entry " + r.listen +
                             " is not the gateway of a kitgate sandbox network");
      }
      return fromStatus(dns ? proxy_.addDnsListen(r.listen) : proxy_.addListen(r.listen));
    }
    case Verb::kListenRemove:
      return fromStatus(proxy_.removeListen(r.listen));
    case Verb::kDnsListenRemove:
      return fromStatus(proxy_.removeDnsListen(r.listen));
    case Verb::kSandboxWrite: {
      auto net = requireNetwork(r.name);
      if (!net.isOk()) return net.status();
      if (Status s = state::ensureDirs(paths_); !s.isOk()) return s;
      return fromStatus(sandbox::writeRegistration(paths_, r.name, net->subnet, r.token, r.allow,
                                                   r.deny, r.routes, r.oauth));
    }
    case Verb::kSandboxRemove:
      return fromStatus(sandbox::removeRegistration(paths_, r.name));
    case Verb::kCaRemove:
      return fromStatus(sandbox::removeSandboxCa(paths_, r.name));
    case Verb::kSecretsRemove: {
      auto removed = sandbox::removeScopedSecrets(paths_, r.name);
      if (!removed.isOk()) return removed.status();
      Response out = okResponse();
      if (*removed) out.text = "removed";
      return out;
    }
    case Verb::kSandboxCa: {
      Response out = okResponse();
      out.text = readFileOrEmpty(paths_.caCert(r.name));
      return out;
    }
    case Verb::kSandboxToken: {
      auto record = state::loadSandbox(paths_, r.name);
      if (!record.isOk()) return record.status();
      Response out = okResponse();
      out.text = record->token;
      return out;
    }
    case Verb::kPlaceholders: {
      auto secrets = state::loadSecrets(paths_);
      if (!secrets.isOk()) return secrets.status();
      Response out = okResponse();
      out.pairs = state::placeholdersFor(*secrets, r.name);
      return out;
    }
    case Verb::kSecretSet:
    case Verb::kSecretSetCustom: {
      state::SecretSource key;
      key.kind = r.verb == Verb::kSecretSet ? state::SecretSource::Kind::kService
                                            : state::SecretSource::Kind::kCustom;
      key.scope = r.scope;
      key.name = r.verb == Verb::kSecretSet ? r.service : r.env;
      if (r.verb == Verb::kSecretSetCustom) {
        for (const std::string& h : r.hosts) {
          // Stored as the CLI stores them: canonical, without duplicates.
          const std::string c =
              std::get<secrets::HostPattern>(secrets::parseHostPattern(h)).canonical;
          if (std::find(key.hosts.begin(), key.hosts.end(), c) == key.hosts.end())
            key.hosts.push_back(c);
        }
        key.placeholder = r.placeholder;
      }
      return fromOutcome(state_->storeSecret(key, r.value, nullptr));
    }
    case Verb::kSecretRemove:
      return fromOutcome(state_->removeSecret(
          stateops::SecretSelector{r.scope, r.service, r.host, r.placeholder}, r.check));
    case Verb::kSecretList:
      return fromText(state_->listSecrets());
    case Verb::kPolicyAllow:
    case Verb::kPolicyDeny:
      return fromOutcome(state_->addRules(r.verb == Verb::kPolicyAllow, r.name, r.rules));
    case Verb::kPolicyRemove:
      return fromOutcome(state_->removeRules(r.name, r.rules, r.check));
    case Verb::kPolicyList:
      return fromText(state_->listRules());
    case Verb::kPolicyCheck:
      return fromText(state_->checkTarget(r.name, r.target));
    case Verb::kPolicyLog:
      return fromText(
          state_->readLog(state::LogFilter{r.name, r.decision, r.host}, r.summary, r.limit));
  }
  return Status::error("unknown verb");
}

}  // namespace kitgate::privd
