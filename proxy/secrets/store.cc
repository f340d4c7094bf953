// Store compilation (validated StoreModel -> per-sandbox plans and
// matchers) and the data-path lookups. No yaml here: see store_loader.cc.
#include "proxy/secrets/store.h"

#include <algorithm>
#include <map>
#include <utility>
#include <variant>

#include "proxy/common/base64.h"
#include "proxy/http/message.h"
#include "proxy/secrets/store_model.h"
#include "proxy/secrets/text.h"

namespace kitgate::secrets {

using policy::Rule;
using policy::RuleAction;
using policy::RuleError;
using policy::RuleSet;

namespace {

std::string basicCredential(const Route& route, std::string_view secret) {
  return base64Encode(route.username + ":" +
                      CredentialFormat{route.format, route.username}.formatted(secret));
}

// routeSecret() with the value: nullptr when nothing is bound.
const std::string* resolveRouteSecret(const StoreModel& model, std::string_view sandbox,
                                      const Route& route, RouteSecret* which) {
  using Kind = RouteSecret::Kind;
  using Scope = RouteSecret::Scope;
  const auto found = [&](Kind kind, Scope scope, const std::string& name,
                         const std::string& value) {
    if (which != nullptr) *which = RouteSecret{kind, scope, name};
    return &value;
  };
  const auto isSandbox = [&](const std::string& scope) {
    return !sandbox.empty() && scope == sandbox;
  };
  const ServiceSecret* global_service = nullptr;
  for (const ServiceSecret& s : model.services) {
    if (s.service != route.service) continue;
    if (isSandbox(s.sandbox)) return found(Kind::kService, Scope::kSandbox, s.service, s.value);
    if (s.sandbox.empty()) global_service = &s;
  }
  if (global_service != nullptr) {
    return found(Kind::kService, Scope::kGlobal, global_service->service, global_service->value);
  }
  const auto boundToRoute = [&](const CustomSecret& c) {
    return std::any_of(c.hosts.begin(), c.hosts.end(), [&](const HostPattern& h) {
      return std::any_of(route.domains.begin(), route.domains.end(),
                         [&](const HostPattern& d) { return d.canonical == h.canonical; });
    });
  };
  const CustomSecret* own = nullptr;
  const CustomSecret* global_custom = nullptr;
  for (const CustomSecret& c : model.customs) {  // the later entry wins within a scope
    if (!boundToRoute(c)) continue;
    if (isSandbox(c.sandbox)) own = &c;
    if (c.sandbox.empty()) global_custom = &c;
  }
  if (own != nullptr) return found(Kind::kCustom, Scope::kSandbox, own->env, own->value);
  if (global_custom != nullptr)
    return found(Kind::kCustom, Scope::kGlobal, global_custom->env, global_custom->value);
  if (which != nullptr) *which = RouteSecret{};
  return nullptr;
}

// The real tokens of an OAuth credential, each with the sentinel the
// sandbox knows it by.
void addOAuthScrub(const OAuthRoute& r, const OAuthTokens* t, std::vector<ScrubRule>& out) {
  if (t == nullptr) return;
  if (!t->access_token.empty()) out.push_back(ScrubRule{t->access_token, r.access_sentinel});
  if (!t->refresh_token.empty()) out.push_back(ScrubRule{t->refresh_token, r.refresh_sentinel});
}

}  // namespace

std::string renderInjection(const Route& route, std::string_view secret) {
  return CredentialFormat{route.format, route.username}.render(secret);
}

RouteSecret routeSecret(const StoreModel& model, std::string_view sandbox, const Route& route) {
  RouteSecret which;
  resolveRouteSecret(model, sandbox, route, &which);
  return which;
}

std::string RouteSecret::toString() const {
  if (kind == Kind::kNone) return "none";
  return std::string(kind == Kind::kService ? "service secret " : "custom secret ") + name + " (" +
         (scope == Scope::kGlobal ? std::string("global") : std::string("sandbox scope")) + ")";
}

std::string InterceptPlan::toString() const {
  std::string out;
  for (const HeaderInjection& i : injections) {
    out += (out.empty() ? "" : "; ") + std::string("inject ") + i.name + " (" + i.service + ")";
  }
  for (const Substitution& s : substitutions) {
    out +=
        (out.empty() ? "" : "; ") + std::string("substitute ") + s.placeholder + " (" + s.env + ")";
  }
  for (const OAuthUse& o : oauth_endpoints) {
    out += (out.empty() ? "" : "; ") + std::string("oauth token endpoint ") + o.route->token_path +
           " (" + o.route->service + ")";
  }
  for (const OAuthUse& o : oauth_resources) {
    out += (out.empty() ? "" : "; ") + std::string("oauth bearer (") + o.route->service + ")";
  }
  return out.empty() ? "nothing" : out;
}

// Builds one SandboxCredentials from the model (for a named sandbox, or for
// "every other sandbox" when `sandbox` is empty).
class SandboxCredentialsBuilder {
 public:
  SandboxCredentialsBuilder(const StoreModel& model, const std::string& sandbox,
                            const std::vector<Route>* routes,
                            const std::vector<OAuthRoute>* oauth = nullptr,
                            OAuthVault* vault = nullptr)
      : model_(model), sandbox_(sandbox), routes_(routes), oauth_(oauth), vault_(vault) {}

  StatusOr<std::unique_ptr<const SandboxCredentials>> build() {
    auto c = std::unique_ptr<SandboxCredentials>(new SandboxCredentials());
    addRoutes(*c);
    addCustoms(*c);
    addOAuth(*c);
    addScrubRules(*c);
    if (patterns_.empty()) return std::unique_ptr<const SandboxCredentials>();

    std::vector<Rule> by_index, any;
    std::vector<const Pattern*> exact;
    for (const Pattern& p : patterns_) {
      c->intercept_patterns_.push_back(p.host.canonical);
      if (p.host.rule.kind == Rule::Kind::kExact) {
        exact.push_back(&p);
        continue;
      }
      if (c->wild_items_.size() >= 65535)
        return Status::error("too many wildcard credential hosts");
      Rule r = p.host.rule;
      r.port = static_cast<uint16_t>(c->wild_items_.size() + 1);
      by_index.push_back(std::move(r));
      any.push_back(p.host.rule);
      c->wild_items_.push_back(p.items);
    }
    if (!by_index.empty()) {
      auto set = RuleSet::compile(std::move(by_index), std::move(any));
      if (!set.isOk()) return set.status();
      c->wild_ = std::move(set).value();
      for (const auto& items : c->wild_items_) c->wild_plans_.push_back(c->merge({&items}));
    }
    for (const Pattern* p : exact) {
      std::vector<const SandboxCredentials::PatternItems*> items{&p->items};
      if (c->wild_) {
        for (size_t i = 0; i < c->wild_items_.size(); ++i) {
          if (c->wild_->matchName(RuleAction::kAllow, p->host.canonical,
                                  static_cast<uint16_t>(i + 1))) {
            items.push_back(&c->wild_items_[i]);
          }
        }
      }
      c->exact_plans_.emplace(p->host.canonical, c->merge(items));
    }
    return std::unique_ptr<const SandboxCredentials>(std::move(c));
  }

 private:
  struct Pattern {
    HostPattern host;
    SandboxCredentials::PatternItems items;
  };

  bool inScope(const std::string& scope_sandbox) const {
    return scope_sandbox.empty() || (!sandbox_.empty() && scope_sandbox == sandbox_);
  }

  Pattern& pattern(const HostPattern& host) {
    auto [it, fresh] = pattern_index_.emplace(host.canonical, patterns_.size());
    if (fresh) patterns_.push_back(Pattern{host, {}});
    return patterns_[it->second];
  }

  void addRoutes(SandboxCredentials& c) {
    if (routes_ == nullptr) return;
    for (const Route& r : *routes_) {
      const std::string* value = resolveRouteSecret(model_, sandbox_, r, nullptr);
      if (value == nullptr || r.header.empty()) continue;  // unbound, or routing only
      CredentialFormat format{r.format, r.username};
      std::string rendered = format.render(*value);
      c.injections_.push_back(
          HeaderInjection{r.header, std::move(rendered), r.service,
                          std::make_shared<const StaticCredential>("secret " + r.service, *value),
                          std::move(format)});
      for (const HostPattern& h : r.domains)
        pattern(h).items.injections.push_back(c.injections_.size() - 1);
      if (!r.username.empty()) {
        basic_scrub_.push_back(
            ScrubRule{basicCredential(r, *value), basicCredential(r, kProxyManagedSentinel)});
      }
    }
  }

  // Global custom secrets first, then this sandbox's: later wins on a
  // shared placeholder (InterceptPlan), so the sandbox's own wins.
  void addCustoms(SandboxCredentials& c) {
    for (const bool sandbox_pass : {false, true}) {
      for (const CustomSecret& s : model_.customs) {
        if (s.sandbox.empty() == sandbox_pass || !inScope(s.sandbox)) continue;
        c.substitutions_.push_back(Substitution{s.placeholder, s.value, s.env});
        for (const HostPattern& h : s.hosts)
          pattern(h).items.substitutions.push_back(c.substitutions_.size() - 1);
      }
    }
  }

  // The token endpoint's host is intercepted (token exchanges); resource
  // hosts swap the access-token sentinel (not with passthrough: the sandbox
  // holds the real token then). The current tokens join the scrub set.
  void addOAuth(SandboxCredentials& c) {
    if (oauth_ == nullptr || vault_ == nullptr) return;
    for (const OAuthRoute& r : *oauth_) {
      c.oauth_.push_back(
          OAuthUse{std::make_shared<const OAuthRoute>(r), vault_->slot(sandbox_, r.service)});
      c.oauth_.back().slot->setRoute(c.oauth_.back().route);  // what the refresher uses
      c.oauth_compiled_.push_back(c.oauth_.back().slot->current());
      const size_t index = c.oauth_.size() - 1;
      auto at = [&](const std::string& host) -> Pattern* {
        auto parsed = parseHostPattern(host);
        auto* p = std::get_if<HostPattern>(&parsed);
        return p == nullptr ? nullptr : &pattern(*p);
      };
      if (Pattern* p = at(r.token_host)) p->items.oauth_endpoints.push_back(index);
      if (r.passthrough) continue;
      for (const std::string& h : r.resource_hosts) {
        if (Pattern* p = at(h)) p->items.oauth_resources.push_back(index);
      }
      addOAuthScrub(r, c.oauth_compiled_.back().get(), oauth_scrub_);
    }
  }

  // Every secret in scope, bound or not, in every form an echo can take.
  void addScrubRules(SandboxCredentials& c) {
    std::vector<ScrubRule> rules;
    auto add = [&](std::vector<ScrubRule> forms) {
      for (ScrubRule& f : forms) {
        const bool seen = std::any_of(rules.begin(), rules.end(),
                                      [&](const ScrubRule& r) { return r.secret == f.secret; });
        if (!seen) rules.push_back(std::move(f));
      }
    };
    for (const CustomSecret& s : model_.customs) {
      if (inScope(s.sandbox)) add(scrubForms(s.value, s.placeholder));
    }
    for (const ServiceSecret& s : model_.services) {
      if (inScope(s.sandbox)) add(scrubForms(s.value, kProxyManagedSentinel));
    }
    // The Basic credential of a username route, whole: its base64 cores at
    // other offsets are covered by the secret's own forms.
    add(std::move(basic_scrub_));
    for (const ScrubRule& t : oauth_scrub_) add(scrubForms(t.secret, t.replacement));
    c.scrub_ = ScrubMatcher(std::move(rules));
  }

  const StoreModel& model_;
  const std::string& sandbox_;
  const std::vector<Route>* routes_;
  const std::vector<OAuthRoute>* oauth_;
  OAuthVault* vault_;
  std::vector<ScrubRule> oauth_scrub_;  // real token -> its sentinel
  std::vector<Pattern> patterns_;       // first-seen order
  std::map<std::string, size_t> pattern_index_;
  std::vector<ScrubRule> basic_scrub_;
};

std::shared_ptr<const ScrubMatcher> SandboxCredentials::liveOAuthScrub() const {
  bool stale = false;
  for (size_t i = 0; i < oauth_.size() && !stale; ++i)
    stale = oauth_[i].slot->current() != oauth_compiled_[i];
  if (!stale) return nullptr;
  std::vector<ScrubRule> tokens;
  for (const OAuthUse& use : oauth_) {
    if (!use.route->passthrough) addOAuthScrub(*use.route, use.slot->current().get(), tokens);
  }
  std::vector<ScrubRule> rules = scrub_.rules();
  for (const ScrubRule& t : tokens) {
    for (ScrubRule& f : scrubForms(t.secret, t.replacement)) rules.push_back(std::move(f));
  }
  return std::make_shared<const ScrubMatcher>(std::move(rules));
}

std::shared_ptr<const InterceptPlan> SandboxCredentials::merge(
    const std::vector<const PatternItems*>& items) const {
  std::vector<size_t> inj, sub, res, end;
  for (const PatternItems* p : items) {
    inj.insert(inj.end(), p->injections.begin(), p->injections.end());
    sub.insert(sub.end(), p->substitutions.begin(), p->substitutions.end());
    res.insert(res.end(), p->oauth_resources.begin(), p->oauth_resources.end());
    end.insert(end.end(), p->oauth_endpoints.begin(), p->oauth_endpoints.end());
  }
  for (auto* v : {&res, &end}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  std::sort(inj.begin(), inj.end());
  inj.erase(std::unique(inj.begin(), inj.end()), inj.end());
  std::sort(sub.begin(), sub.end());
  sub.erase(std::unique(sub.begin(), sub.end()), sub.end());

  auto plan = std::make_shared<InterceptPlan>();
  for (size_t i : inj) {  // later route wins on the same header name
    const HeaderInjection& add = injections_[i];
    std::erase_if(plan->injections, [&](const HeaderInjection& h) {
      return http::equalsIgnoreCase(h.name, add.name);
    });
    plan->injections.push_back(add);
  }
  for (size_t i : sub) {  // later entry wins on the same placeholder
    const Substitution& add = substitutions_[i];
    std::erase_if(plan->substitutions,
                  [&](const Substitution& s) { return s.placeholder == add.placeholder; });
    plan->substitutions.push_back(add);
  }
  for (size_t i : res) plan->oauth_resources.push_back(oauth_[i]);
  for (size_t i : end) plan->oauth_endpoints.push_back(oauth_[i]);
  return plan;
}

std::shared_ptr<const InterceptPlan> SandboxCredentials::planFor(const policy::Host& host) const {
  if (!host.isIp()) {
    if (auto it = exact_plans_.find(std::string_view(host.text)); it != exact_plans_.end())
      return it->second;
  }
  if (!wild_) return nullptr;
  auto matches = [&](RuleAction action, uint16_t port) {
    return host.isIp() ? wild_->matchAddress(action, host.ip, port) != nullptr
                       : wild_->matchName(action, host.text, port) != nullptr;
  };
  if (!matches(RuleAction::kDeny, 0)) return nullptr;  // no pattern at all
  const PatternItems* first = nullptr;
  size_t first_index = 0;
  std::vector<const PatternItems*> all;
  for (size_t i = 0; i < wild_items_.size(); ++i) {
    if (!matches(RuleAction::kAllow, static_cast<uint16_t>(i + 1))) continue;
    if (first == nullptr) {
      first = &wild_items_[i];
      first_index = i;
    } else {
      if (all.empty()) all.push_back(first);
      all.push_back(&wild_items_[i]);
    }
  }
  if (first == nullptr) return nullptr;
  if (all.empty()) return wild_plans_[first_index];
  return merge(all);  // several wildcard patterns overlap here: rare
}

const SandboxCredentials* Store::forSandbox(std::string_view sandbox) const {
  if (auto it = by_sandbox_.find(sandbox); it != by_sandbox_.end()) return it->second.get();
  return others_.get();
}

class StoreBuilder {
 public:
  static StatusOr<std::shared_ptr<const Store>> build(const StoreModel& model, OAuthVault* vault) {
    std::shared_ptr<Store> store(new Store());
    std::map<std::string, const std::vector<Route>*> sandboxes;
    std::map<std::string, const std::vector<OAuthRoute>*> oauth;
    for (const SandboxRoutes& s : model.sandboxes) sandboxes[s.sandbox] = &s.routes;
    if (vault != nullptr) {
      for (const SandboxOAuth& s : model.oauth) {
        oauth[s.sandbox] = &s.routes;
        sandboxes.emplace(s.sandbox, nullptr);
      }
    }
    for (const ServiceSecret& s : model.services) {
      if (!s.sandbox.empty()) sandboxes.emplace(s.sandbox, nullptr);
    }
    for (const CustomSecret& s : model.customs) {
      if (!s.sandbox.empty()) sandboxes.emplace(s.sandbox, nullptr);
    }
    for (const auto& [name, routes] : sandboxes) {
      auto o = oauth.find(name);
      auto creds = SandboxCredentialsBuilder(model, name, routes,
                                             o == oauth.end() ? nullptr : o->second, vault)
                       .build();
      if (!creds.isOk()) return creds.status();
      // Nothing bound here means nothing global either: falls back to others_ (null).
      if (*creds) store->by_sandbox_.emplace(name, std::move(creds).value());
    }
    const std::string every_other;
    auto others = SandboxCredentialsBuilder(model, every_other, nullptr).build();
    if (!others.isOk()) return others.status();
    store->others_ = std::move(others).value();
    return std::shared_ptr<const Store>(std::move(store));
  }
};

StatusOr<std::shared_ptr<const Store>> compileStore(const StoreModel& model) {
  return StoreBuilder::build(model, nullptr);
}

StatusOr<std::shared_ptr<const Store>> compileStore(const StoreModel& model, OAuthVault* vault) {
  return StoreBuilder::build(model, vault);
}

StatusOr<std::shared_ptr<const Store>> loadStore(const std::string& state_dir) {
  return loadStore(state_dir, nullptr);
}

StatusOr<std::shared_ptr<const Store>> loadStore(const std::string& state_dir, OAuthVault* vault) {
  auto model = readStoreFiles(state_dir);
  if (!model.isOk()) return model.status();
  if (vault != nullptr) {
    Status st = readOAuthRouteFiles(state_dir, &*model);
    if (!st) return st;
    st = vault->syncFromFiles();
    if (!st) return st;
  }
  return compileStore(*model, vault);
}

}  // namespace kitgate::secrets
