#include "orchestrator/stateops/secret_ops.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "orchestrator/sandbox/oauth_plan.h"
#include "proxy/common/sandbox_name.h"
#include "proxy/secrets/mask.h"
#include "proxy/secrets/store.h"

namespace kitgate::stateops {

namespace {

using Kind = state::SecretSource::Kind;

void replaceAll(std::string* text, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = text->find(from, pos)) != std::string::npos; pos += to.size()) {
    text->replace(pos, from.size(), to);
  }
}

StatusOr<state::Secrets> loadOrExplain(const state::Paths& paths) {
  auto s = state::loadSecrets(paths);
  if (!s) {
    return Status::error(s.status().message() + "\n(fix or remove " + paths.secretsFile() + ")");
  }
  return s;
}

// Check, save (with the source records), reload.
StatusOr<Outcome> commit(const state::Paths& paths, const state::Secrets& next,
                         const std::vector<state::SecretSource>& sources, Outcome out) {
  Status st = checkWithProxyLoader(paths, next);
  if (!st) {
    return Status::error("kitgate-proxy would refuse this change; nothing saved:\n" + st.message());
  }
  st = state::saveSecrets(paths, next);
  if (st) st = state::saveSources(paths, sources);
  if (!st) return st;
  st = state::reloadProxy(paths);
  if (!st) {
    out.reload_error = st.message();
    return out;
  }
  out.warnings = restartWarnings(paths);
  return out;
}

std::string timeText(int64_t unix_s) {
  if (unix_s == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// Where a secret's value comes from (never the value): `source` ("value"
// for a typed one) and, for a --command/--ref one, refresh, state, expires.
void addSource(nlohmann::json& j, const std::vector<state::SecretSource>& sources, Kind kind,
               const std::string& scope, const std::string& name) {
  j["source"] = "value";
  for (const state::SecretSource& s : sources) {
    if (s.kind != kind || s.scope != scope || s.name != name) continue;
    j["source"] = s.describe();
    j["refresh"] = state::formatRefresh(s.refresh_s);
    j["state"] = s.state == state::SecretSource::State::kOk        ? "ok"
                 : s.state == state::SecretSource::State::kFailing ? "failing: " + s.error
                                                                   : "expired: " + s.error;
    j["expires"] = timeText(s.expires_at);
  }
}

}  // namespace

bool validService(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool validEnv(std::string_view s) {
  if (s.empty() || s.size() > 128 || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool validScope(std::string_view scope) {
  if (scope == state::kGlobalScope) return true;
  constexpr std::string_view kPrefix = "sandbox:";
  return scope.substr(0, kPrefix.size()) == kPrefix &&
         validSandboxName(scope.substr(kPrefix.size()));
}

Status checkValue(std::string_view v) {
  if (v.empty()) return Status::error("the secret value is empty");
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return Status::error("the secret value contains a control character (it must be one line)");
    }
  }
  if (v.front() == ' ' || v.back() == ' ') {
    return Status::error("the secret value starts or ends with a space");
  }
  return Status::ok();
}

Status checkPlaceholder(std::string_view p) {
  if (p.size() < 8 || p.size() > 256 ||
      std::any_of(p.begin(), p.end(), [](char ch) { return ch <= ' ' || ch >= 0x7f; })) {
    return Status::error(
        "the placeholder must be at least 8 printable ASCII characters without spaces");
  }
  return Status::ok();
}

Status checkWithProxyLoader(const state::Paths& paths, const state::Secrets& candidate) {
  state::Paths scratch{paths.root + "/.check-secrets." + std::to_string(::getpid())};
  if (::mkdir(scratch.root.c_str(), 0700) != 0) {
    return Status::error("cannot create " + scratch.root + ": " + std::strerror(errno));
  }
  const std::string link = scratch.root + "/credentials";
  ::symlink((paths.root + "/credentials").c_str(), link.c_str());
  Status st = state::saveSecrets(scratch, candidate);
  if (st) {
    auto store = secrets::loadStore(scratch.root);
    if (!store) {
      std::string message = store.status().message();
      replaceAll(&message, scratch.root, paths.root);
      st = Status::error(message);
    }
  }
  ::unlink(scratch.secretsFile().c_str());
  ::unlink(link.c_str());
  ::rmdir(scratch.sandboxesDir().c_str());
  ::rmdir(scratch.runDir().c_str());
  ::rmdir(scratch.root.c_str());
  return st;
}

std::string scopeShown(std::string_view scope) {
  constexpr std::string_view kPrefix = "sandbox:";
  if (scope.substr(0, kPrefix.size()) == kPrefix) {
    return "sandbox " + std::string(scope.substr(kPrefix.size()));
  }
  return std::string(scope);
}

StatusOr<Outcome> storeSecret(const state::Paths& paths, const state::SecretSource& key,
                              const std::string& value, const state::SecretSource* source) {
  if (Status st = checkValue(value); !st) return st;
  if (key.kind == Kind::kCustom) {
    if (Status st = checkPlaceholder(key.placeholder); !st) return st;
    if (value.find(key.placeholder) != std::string::npos ||
        key.placeholder.find(value) != std::string::npos) {
      return Status::error("the placeholder and the value overlap; choose another --placeholder");
    }
  }
  auto lock = state::lockState(paths);  // held until the change is saved
  if (!lock) return lock.status();
  auto secrets = loadOrExplain(paths);
  if (!secrets) return secrets.status();
  auto sources = state::loadSources(paths);
  if (!sources) return sources.status();

  state::Secrets next = *secrets;
  if (key.kind == Kind::kService) {
    std::erase_if(next.services, [&](const state::ServiceSecret& s) {
      return s.service == key.name && s.scope == key.scope;
    });
  } else {
    std::erase_if(next.custom, [&](const state::CustomSecret& s) {
      return s.env == key.name && s.scope == key.scope;
    });
  }
  std::erase_if(*sources, [&](const state::SecretSource& s) { return s.sameSecret(key); });
  if (source != nullptr) sources->push_back(*source);
  state::setSecretValue(next, key, value);

  Outcome out;
  // A sandbox-scoped secret for a sandbox that does not exist (yet) is kept;
  // say so, a typo in --sandbox would otherwise go unnoticed.
  constexpr std::string_view kPrefix = "sandbox:";
  if (key.scope.compare(0, kPrefix.size(), kPrefix) == 0) {
    const std::string sandbox = key.scope.substr(kPrefix.size());
    const auto names = state::listSandboxes(paths);
    if (std::find(names.begin(), names.end(), sandbox) == names.end()) {
      out.notes.push_back("no sandbox named " + sandbox +
                          " exists yet; the secret applies once one with that name is created");
    }
  }
  return commit(paths, next, *sources, std::move(out));
}

StatusOr<Outcome> removeSecret(const state::Paths& paths, const SecretSelector& sel, bool dry_run) {
  const int selectors = !sel.service.empty() + !sel.host.empty() + !sel.placeholder.empty();
  if (selectors != 1) return Status::error("name exactly one of SERVICE, --host, --placeholder");
  auto lock = state::lockState(paths);  // held until the change is saved
  if (!lock) return lock.status();
  auto secrets = loadOrExplain(paths);
  if (!secrets) return secrets.status();

  const std::string& sc = sel.scope;
  state::Secrets next = *secrets;
  size_t removed = 0;
  std::string what;
  if (!sel.service.empty()) {
    removed = std::erase_if(
        next.services, [&](const auto& s) { return s.service == sel.service && s.scope == sc; });
    what = "service \"" + sel.service + "\"";
  } else if (!sel.placeholder.empty()) {
    removed = std::erase_if(next.custom, [&](const auto& s) {
      return s.placeholder == sel.placeholder && s.scope == sc;
    });
    what = "placeholder \"" + sel.placeholder + "\"";
  } else {
    for (auto& s : next.custom) {
      if (s.scope == sc) removed += std::erase(s.hosts, sel.host);
    }
    std::erase_if(next.custom, [](const auto& s) { return s.hosts.empty(); });
    what = "host \"" + sel.host + "\"";
  }
  auto sources = state::loadSources(paths);
  if (!sources) return sources.status();
  // A --command/--ref secret whose value expired has a source but no value.
  removed += std::erase_if(*sources, [&](const state::SecretSource& s) {
    if (s.scope != sc || s.state != state::SecretSource::State::kExpired) return false;
    if (!sel.service.empty()) return s.kind == Kind::kService && s.name == sel.service;
    if (!sel.placeholder.empty()) return s.placeholder == sel.placeholder;
    return false;
  });
  // The OAuth login the proxy holds for this sandbox and service.
  bool oauth_held = false;
  if (!sel.service.empty() && sc != state::kGlobalScope) {
    auto held = sandbox::oauthStatus(paths.root);
    if (!held) return held.status();
    for (const auto& o : *held) {
      oauth_held |= o.logged_in && state::sandboxScope(o.sandbox) == sc && o.service == sel.service;
    }
  }
  if (removed == 0 && !oauth_held) {
    return Status::error("no secret found for " + what + " in scope \"" + sc +
                         "\" (see kitgate secret ls)");
  }
  Outcome out;
  out.done = "Removed secret for " + what + " (" + scopeShown(sc) + ").";
  if (dry_run) return out;
  if (oauth_held) {
    bool gone = false;
    Status st =
        sandbox::removeOAuthTokens(paths.root, sc.substr(sc.find(':') + 1), sel.service, &gone);
    if (!st) return st;
  }
  state::syncSources(*sources, next);
  return commit(paths, next, *sources, std::move(out));
}

StatusOr<std::string> listSecrets(const state::Paths& paths) {
  auto secrets = loadOrExplain(paths);
  if (!secrets) return secrets.status();
  auto sources = state::loadSources(paths);
  if (!sources) return sources.status();
  // Expired dynamic secrets have no value in secrets.yaml but are listed.
  std::vector<state::ServiceSecret> services = secrets->services;
  std::vector<state::CustomSecret> custom = secrets->custom;
  for (const state::SecretSource& s : *sources) {
    if (s.state != state::SecretSource::State::kExpired) continue;
    if (s.kind == Kind::kService) services.push_back({s.name, s.scope, ""});
    if (s.kind == Kind::kCustom) custom.push_back({s.scope, s.hosts, s.name, s.placeholder, ""});
  }
  auto masked = [](const std::string& v) {
    return v.empty() ? std::string("-") : secrets::maskSecret(v);
  };
  // Proxy-managed OAuth logins (per sandbox): state and expiry, no value.
  auto oauth = sandbox::oauthStatus(paths.root);
  if (!oauth) return oauth.status();

  nlohmann::json out = {{"secrets", nlohmann::json::array()},
                        {"custom_secrets", nlohmann::json::array()},
                        {"oauth", nlohmann::json::array()}};
  for (const auto& s : services) {
    nlohmann::json j = {
        {"scope", s.scope}, {"type", "service"}, {"name", s.service}, {"secret", masked(s.value)}};
    addSource(j, *sources, Kind::kService, s.scope, s.service);
    out["secrets"].push_back(std::move(j));
  }
  for (const auto& s : custom) {
    nlohmann::json j = {{"scope", s.scope},
                        {"targets", s.hosts},
                        {"env", s.env},
                        {"placeholder", s.placeholder},
                        {"secret", masked(s.value)}};
    addSource(j, *sources, Kind::kCustom, s.scope, s.env);
    out["custom_secrets"].push_back(std::move(j));
  }
  for (const auto& o : *oauth) {
    out["oauth"].push_back({{"scope", state::sandboxScope(o.sandbox)},
                            {"name", o.service},
                            {"token_host", o.token_host},
                            {"secret", o.logged_in ? "(stored)" : "-"},
                            {"state", o.state},
                            {"expires", timeText(o.expires_at_ms / 1000)}});
  }
  return out.dump(2);
}

std::vector<std::string> restartWarnings(const state::Paths& paths) {
  // The proxy lists, on each reload, the credential hosts a sandbox's CA
  // cannot sign for (proxy/mitm/authority.h): <ca>/<sandbox>.outside.
  std::vector<std::string> out;
  for (const std::string& name : state::listSandboxes(paths)) {
    const std::string crt = paths.caCert(name);
    std::ifstream in(crt.substr(0, crt.size() - 4) + ".outside");
    std::string hosts, line;
    int count = 0;
    while (count < 20 && std::getline(in, line)) {
      if (line.empty()) continue;
      hosts += (hosts.empty() ? "" : ", ") + line;
      ++count;
    }
    if (hosts.empty()) continue;
    out.push_back("sandbox " + name + " trusts an interception CA made before " + hosts +
                  (count == 1 ? " was" : " were") +
                  " allowed: its credentials are injected there after a restart (kitgate stop " +
                  name + " && kitgate start " + name + ")");
  }
  return out;
}

}  // namespace kitgate::stateops
