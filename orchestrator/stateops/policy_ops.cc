#include "orchestrator/stateops/policy_ops.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

#include "proxy/config/config.h"
#include "proxy/policy/host.h"
#include "proxy/policy/rule.h"
#include "proxy/sandbox/registry.h"

namespace kitgate::stateops {

namespace {

// proxy.yaml's own allow/deny rules (a global layer the proxy adds).
StatusOr<std::optional<config::ProxyConfig>> loadProxyConfig(const state::Paths& paths) {
  struct stat st {};
  if (::stat(paths.proxyConfig().c_str(), &st) != 0) return std::optional<config::ProxyConfig>();
  auto cfg = config::loadConfig(paths.proxyConfig());
  if (!cfg) return cfg.status();
  return std::optional<config::ProxyConfig>(std::move(cfg.value()));
}

std::vector<sandbox::RuleSource> configRules(const std::optional<config::ProxyConfig>& cfg) {
  if (!cfg || (cfg->allow.empty() && cfg->deny.empty())) return {};
  sandbox::RuleSource src;
  src.file = cfg->source;
  for (const auto& r : cfg->allow) {
    src.allow.push_back({r.text, static_cast<size_t>(r.line), static_cast<size_t>(r.column)});
  }
  for (const auto& r : cfg->deny) {
    src.deny.push_back({r.text, static_cast<size_t>(r.line), static_cast<size_t>(r.column)});
  }
  return {src};
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// The rule lists of the global policy or of one sandbox, loaded for a
// change, and how to save them back.
struct RuleLists {
  state::GlobalPolicy global;
  state::SandboxRecord record;
  bool is_sandbox = false;
  std::vector<std::string>& allow() { return is_sandbox ? record.allow : global.allow; }
  std::vector<std::string>& deny() { return is_sandbox ? record.deny : global.deny; }
  Status save(const state::Paths& paths) const {
    return is_sandbox ? state::writeSandbox(paths, record) : state::saveGlobalPolicy(paths, global);
  }
};

StatusOr<RuleLists> loadRuleLists(const state::Paths& paths, const std::string& sandbox) {
  RuleLists lists;
  if (sandbox.empty()) {
    auto policy = state::loadGlobalPolicy(paths);
    if (!policy) return policy.status();
    lists.global = std::move(*policy);
    return lists;
  }
  if (!validSandboxName(sandbox)) return Status::error("invalid sandbox name");
  auto record = state::loadSandbox(paths, sandbox);
  if (!record) {
    return Status::error(record.status().message() +
                         " (kitgate ls lists sandboxes; -g for every sandbox)");
  }
  lists.record = std::move(*record);
  lists.is_sandbox = true;
  return lists;
}

std::string whereShown(const std::string& sandbox) {
  return sandbox.empty() ? "the global policy" : "sandbox " + sandbox;
}

void reloadInto(const state::Paths& paths, Outcome* out) {
  if (Status st = state::reloadProxy(paths); !st) out->reload_error = st.message();
}

}  // namespace

Status checkRules(const std::vector<std::string>& rules) {
  if (rules.empty()) return Status::error("no RESOURCES given");
  std::string problems;
  for (const auto& r : rules) {
    auto parsed = policy::parseRule(r);
    if (const auto* e = std::get_if<policy::RuleError>(&parsed)) {
      problems += "  " + r + "\n  " + std::string(e->column > 0 ? e->column - 1 : 0, ' ') +
                  "^ column " + std::to_string(e->column) + ": " + e->message + "\n";
    }
  }
  if (problems.empty()) return Status::ok();
  return Status::error("invalid rule:\n" + problems + "(see kitgate policy allow --help)");
}

StatusOr<Outcome> addRules(const state::Paths& paths, bool allow, const std::string& sandbox,
                           const std::vector<std::string>& rules) {
  if (Status st = checkRules(rules); !st) return st;
  auto lock = state::lockState(paths);  // held until the change is saved
  if (!lock) return lock.status();
  auto lists = loadRuleLists(paths, sandbox);
  if (!lists) return lists.status();
  std::vector<std::string>& list = allow ? lists->allow() : lists->deny();
  size_t added = 0;
  for (const auto& r : rules) {
    if (std::find(list.begin(), list.end(), r) == list.end()) {
      list.push_back(r);
      ++added;
    }
  }
  if (Status st = lists->save(paths); !st) return st;
  Outcome out;
  out.done =
      std::string(allow ? "Allowed" : "Denied") + " in " + whereShown(sandbox) + ": " +
      joined(rules) +
      (added < rules.size() ? " (" + std::to_string(rules.size() - added) + " already present)"
                            : "");
  reloadInto(paths, &out);
  if (allow && out.reload_error.empty()) out.warnings = restartWarnings(paths);
  return out;
}

StatusOr<Outcome> removeRules(const state::Paths& paths, const std::string& sandbox,
                              const std::vector<std::string>& rules, bool dry_run) {
  if (rules.empty()) return Status::error("at least one selector is required: use --resource");
  auto lock = state::lockState(paths);
  if (!lock) return lock.status();
  auto lists = loadRuleLists(paths, sandbox);
  if (!lists) return lists.status();
  std::vector<std::string>& allow = lists->allow();
  std::vector<std::string>& deny = lists->deny();
  std::vector<std::string> missing;
  for (const auto& r : rules) {
    if (std::find(allow.begin(), allow.end(), r) == allow.end() &&
        std::find(deny.begin(), deny.end(), r) == deny.end()) {
      missing.push_back(r);
    }
  }
  if (!missing.empty()) {
    return Status::error("no rule " + joined(missing) + " in " + whereShown(sandbox) +
                         " (kitgate policy ls shows them)");
  }
  Outcome out;
  out.done = "Removed from " + whereShown(sandbox) + ": " + joined(rules);
  if (dry_run) return out;
  for (const auto& r : rules) {
    std::erase(allow, r);
    std::erase(deny, r);
  }
  if (Status st = lists->save(paths); !st) return st;
  reloadInto(paths, &out);
  return out;
}

StatusOr<std::string> listRules(const state::Paths& paths) {
  nlohmann::json rows = nlohmann::json::array();
  auto row = [&](const std::string& scope, const char* decision, const std::string& rule,
                 const std::string& source) {
    rows.push_back({{"scope", scope}, {"decision", decision}, {"rule", rule}, {"source", source}});
  };
  auto cfg = loadProxyConfig(paths);
  if (!cfg) return cfg.status();
  if (*cfg) {
    for (const auto& r : (*cfg)->allow) row("global", "allow", r.text, "proxy.yaml");
    for (const auto& r : (*cfg)->deny) row("global", "deny", r.text, "proxy.yaml");
  }
  auto global = state::loadGlobalPolicy(paths);
  if (!global) return global.status();
  for (const auto& r : global->allow) row("global", "allow", r, "policy.yaml");
  for (const auto& r : global->deny) row("global", "deny", r, "policy.yaml");
  for (const auto& name : state::listSandboxes(paths)) {
    auto rec = state::loadSandbox(paths, name);
    if (!rec) return rec.status();
    for (const auto& r : rec->allow)
      row("sandbox:" + name, "allow", r, "sandboxes/" + name + ".yaml");
    for (const auto& r : rec->deny)
      row("sandbox:" + name, "deny", r, "sandboxes/" + name + ".yaml");
  }
  return rows.dump(2);
}

bool splitTarget(const std::string& target, std::string* host, uint16_t* port) {
  *port = 443;
  std::string port_text;
  if (!target.empty() && target[0] == '[') {
    size_t close = target.find(']');
    if (close == std::string::npos) return false;
    *host = target.substr(0, close + 1);
    if (close + 1 < target.size()) {
      if (target[close + 1] != ':') return false;
      port_text = target.substr(close + 2);
    }
  } else if (std::count(target.begin(), target.end(), ':') > 1) {
    *host = "[" + target + "]";
  } else {
    size_t colon = target.find(':');
    *host = target.substr(0, colon);
    if (colon != std::string::npos) port_text = target.substr(colon + 1);
  }
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), ::isdigit))
      return false;
    long p = std::stol(port_text);
    if (p < 1 || p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  }
  return !host->empty();
}

StatusOr<std::string> checkTarget(const state::Paths& paths, const std::string& sandbox_name,
                                  const std::string& target) {
  std::string host_text;
  uint16_t port = 443;
  if (!splitTarget(target, &host_text, &port)) return Status::error("TARGET must be host[:port]");
  auto host = policy::normalizeHost(host_text);
  if (!host) return Status::error("invalid host \"" + host_text + "\": " + host.status().message());
  auto cfg = loadProxyConfig(paths);
  if (!cfg) return cfg.status();
  auto registry = sandbox::loadRegistry(paths.root, configRules(*cfg));
  if (!registry) {
    return Status::error("the state directory has errors:\n" + registry.status().message());
  }
  // The sandbox's effective policy; without a sandbox the global rules.
  policy::Policy global_only({(*registry)->globalRules()});
  const policy::Policy* pol = &global_only;
  std::string who = "global rules";
  if (!sandbox_name.empty()) {
    const sandbox::Sandbox* sb = (*registry)->find(sandbox_name);
    if (sb == nullptr)
      return Status::error("no sandbox named " + sandbox_name + " (kitgate ls lists them)");
    pol = &sb->policy();
    who = "sandbox " + sandbox_name;
  }
  policy::Decision d = pol->evaluate(*host, port);
  std::string note;
  std::vector<policy::IpAddress> addresses;
  if (host->isIp()) {
    addresses.push_back(host->ip);
  } else if (*cfg) {
    auto it = (*cfg)->dns_hosts.find(host->text);
    if (it != (*cfg)->dns_hosts.end()) {
      for (const auto& a : it->second) {
        if (auto ip = policy::IpAddress::parse(a)) addresses.push_back(*ip);
      }
    }
  }
  if (!d.denied() && !addresses.empty()) {
    // What the proxy does after DNS: every address is checked.
    policy::SelfAddresses self;
    const policy::Decision name_decision = d;
    for (const auto& ip : addresses) {
      d = pol->checkAddress(ip, port, name_decision, self);
      if (!d.allowed()) break;
    }
  }
  const bool depends = d.verdict == policy::Decision::Verdict::kCheckAddress;
  if (!d.denied() && !depends && !host->isIp() && addresses.empty()) {
    note =
        "the resolved address is checked when connecting: private and loopback addresses are "
        "refused "
        "unless an IP/CIDR allow rule contains them";
  }
  if (depends)
    note = "no name rule matches; allowed only if its address falls in an IP/CIDR allow rule";
  const std::string verdict = d.allowed() ? "allowed"
                              : depends   ? "depends on its address"
                                          : "blocked";
  nlohmann::json j = {{"target", host->authority() + ":" + std::to_string(port)},
                      {"scope", who},
                      {"decision", verdict},
                      {"rule", d.rule},
                      {"reason", d.reason},
                      {"allowed", d.allowed()}};
  if (!note.empty()) j["note"] = note;
  return j.dump(2);
}

StatusOr<std::string> logPath(const state::Paths& paths) {
  auto cfg = loadProxyConfig(paths);
  if (!cfg) return cfg.status();
  if (!*cfg || (*cfg)->policy_log_path.empty() || (*cfg)->policy_log_path == "-") {
    return paths.policyLog();
  }
  const std::string& p = (*cfg)->policy_log_path;
  return p[0] == '/' ? p : paths.root + "/" + p;
}

StatusOr<std::string> readLog(const state::Paths& paths, const state::LogFilter& filter,
                              bool summary, size_t limit) {
  auto path = logPath(paths);
  if (!path) return path.status();
  const auto entries = state::pairConnections(state::readPolicyLog(*path, filter));
  auto groups = summary ? state::summarizePolicyLog(entries) : state::aggregatePolicyLog(entries);
  if (limit > 0 && groups.size() > limit) groups.resize(limit);
  nlohmann::json out = {{"path", *path}, {"groups", nlohmann::json::array()}};
  for (const auto& g : groups) {
    if (summary) {
      out["groups"].push_back({{"host", g.host},
                               {"decision", g.decision},
                               {"count", g.count},
                               {"last_seen", g.last_seen}});
      continue;
    }
    out["groups"].push_back({{"sandbox", g.sandbox},
                             {"type", g.type},
                             {"host", g.host},
                             {"decision", g.decision},
                             {"proxy", g.proxy},
                             {"rule", g.rule},
                             {"reason", g.reason},
                             {"last_seen", g.last_seen},
                             {"count", g.count}});
  }
  return out.dump();
}

}  // namespace kitgate::stateops
