// compose(): the merge table of kit-spec §3.3, extends resolution, and the
// run-time checks of what the proxy can enforce.
#include "kitloader/compose.h"

#include <algorithm>
#include <set>

#include "kitloader/checks.h"

namespace kitgate::kit {

namespace {

constexpr int kMaxExtendsDepth = 5;

std::string q(std::string_view s) { return "\"" + std::string(s) + "\""; }

template <typename T>
void appendUnique(std::vector<T>* to, const std::vector<T>& from) {
  for (const T& x : from) {
    if (std::find(to->begin(), to->end(), x) == to->end()) to->push_back(x);
  }
}

bool routingOnly(const Credential& c) {
  if (c.oauth || !c.api_key || !c.api_key->name.empty()) return false;
  return std::all_of(c.api_key->inject.begin(), c.api_key->inject.end(),
                     [](const Inject& i) { return i.header.empty() && i.username.empty(); });
}

// Later setup.files / files/ entries replace earlier ones with the same target.
void overlaySetupFiles(std::vector<SetupFile>* to, const std::vector<SetupFile>& from) {
  for (const SetupFile& f : from) {
    to->erase(std::remove_if(to->begin(), to->end(),
                             [&](const SetupFile& x) { return x.path == f.path; }),
              to->end());
    to->push_back(f);
  }
}

void overlayFiles(std::vector<KitFile>* to, const std::vector<KitFile>& from) {
  for (const KitFile& f : from) {
    to->erase(std::remove_if(to->begin(), to->end(),
                             [&](const KitFile& x) {
                               return x.target == f.target && x.relative_path == f.relative_path;
                             }),
              to->end());
    to->push_back(f);
  }
  std::sort(to->begin(), to->end(), [](const KitFile& a, const KitFile& b) {
    return std::tie(a.target, a.relative_path) < std::tie(b.target, b.relative_path);
  });
}

// `extends` merge: child onto parent (§3.3, kit-author pitfalls #6-#7).
std::string mergeExtends(const Kit& parent, const Kit& child, Kit* out) {
  Kit k = parent;
  k.kind = KitKind::kSandbox;
  k.name = child.name;
  k.version = child.version;
  k.display_name = child.display_name;
  k.description = child.description;
  k.source_url = child.source_url;
  k.licenses = child.licenses;
  k.args = child.args;
  k.extends.clear();
  k.mixins = child.mixins;
  appendUnique(&k.locked, child.locked);
  k.privileged = parent.privileged || child.privileged;
  if (child.sandbox) {
    Sandbox& s = k.sandbox ? *k.sandbox : k.sandbox.emplace();
    const Sandbox& c = *child.sandbox;
    if (!c.image.empty()) s.image = c.image;
    if (c.build) s.build = c.build;
    if (!c.entrypoint.empty()) {
      s.entrypoint = c.entrypoint;
      if (!c.command) s.command.reset();  // a new binary does not take the parent's tail
    }
    if (c.command) {
      // A child's command replaces the whole inherited tail, including flags
      // after the binary in the parent's entrypoint.
      if (c.entrypoint.empty() && s.entrypoint.size() > 1) s.entrypoint.resize(1);
      s.command = c.command;
    }
    if (c.resources) {
      Resources& r = s.resources ? *s.resources : s.resources.emplace();
      if (!c.resources->cpu.empty()) r.cpu = c.resources->cpu;
      if (!c.resources->memory.empty()) r.memory = c.resources->memory;
      if (!c.resources->gpu.empty()) r.gpu = c.resources->gpu;
    }
  }
  if (!child.agent_instructions.filename.empty())
    k.agent_instructions.filename = child.agent_instructions.filename;
  if (!child.agent_instructions.content.empty())
    k.agent_instructions.content = child.agent_instructions.content;
  appendUnique(&k.allow, child.allow);
  appendUnique(&k.deny, child.deny);
  appendUnique(&k.ports, child.ports);
  for (const Credential& c : child.credentials) {
    for (const Credential& p : parent.credentials) {
      if (p.service == c.service) {
        return "extends: credential " + q(c.service) + " is declared by both " + q(child.name) +
               " and its parent " + q(parent.name) + " (rename the child's service)";
      }
    }
    k.credentials.push_back(c);
  }
  for (const Volume& v : child.volumes) {
    for (const Volume& p : parent.volumes) {
      if (p.path == v.path) {
        return "extends: volume " + q(v.path) + " is declared by both " + q(child.name) +
               " and its parent " + q(parent.name);
      }
    }
    k.volumes.push_back(v);
  }
  for (const auto& [name, value] : child.environment) k.environment[name] = value;
  k.setup.install.insert(k.setup.install.end(), child.setup.install.begin(),
                         child.setup.install.end());
  k.setup.startup.insert(k.setup.startup.end(), child.setup.startup.begin(),
                         child.setup.startup.end());
  overlaySetupFiles(&k.setup.files, child.setup.files);
  overlayFiles(&k.files, child.files);
  *out = std::move(k);
  return "";
}

// A mixin layered onto the composed sandbox (the merge table of §3.3).
std::string mergeMixin(const Kit& mixin, Kit* k, std::vector<std::string>* credential_owner) {
  appendUnique(&k->allow, mixin.allow);
  appendUnique(&k->deny, mixin.deny);
  k->ports.insert(k->ports.end(), mixin.ports.begin(), mixin.ports.end());
  for (const Credential& c : mixin.credentials) {
    auto it = std::find_if(k->credentials.begin(), k->credentials.end(),
                           [&](const Credential& x) { return x.service == c.service; });
    if (it == k->credentials.end()) {
      k->credentials.push_back(c);
      credential_owner->push_back(mixin.name);
      continue;
    }
    if (*it == c) continue;
    if (routingOnly(c) && it->api_key) {
      appendUnique(&it->api_key->inject, c.api_key->inject);
      continue;
    }
    const std::string& owner =
        (*credential_owner)[static_cast<size_t>(it - k->credentials.begin())];
    return "credential " + q(c.service) + " defined in both " + q(owner) + " and " + q(mixin.name) +
           " (in different shapes)";
  }
  for (const auto& [name, value] : mixin.environment) k->environment[name] = value;
  k->setup.install.insert(k->setup.install.end(), mixin.setup.install.begin(),
                          mixin.setup.install.end());
  k->setup.startup.insert(k->setup.startup.end(), mixin.setup.startup.begin(),
                          mixin.setup.startup.end());
  overlaySetupFiles(&k->setup.files, mixin.setup.files);
  overlayFiles(&k->files, mixin.files);
  for (const Volume& v : mixin.volumes) {
    k->volumes.erase(std::remove_if(k->volumes.begin(), k->volumes.end(),
                                    [&](const Volume& x) { return x.path == v.path; }),
                     k->volumes.end());
    k->volumes.push_back(v);
  }
  k->privileged = k->privileged || mixin.privileged;
  return "";
}

bool looksLikeImage(std::string_view agent) {
  return agent.find('/') != std::string_view::npos || agent.find(':') != std::string_view::npos;
}

}  // namespace

ComposeResult resolveExtends(const ComposeKit& kit) {
  ComposeResult r;
  // Collect the chain leaf -> root.
  std::vector<Kit> chain{kit.kit};
  std::set<std::string> seen{kit.kit.name};
  while (!chain.back().extends.empty()) {
    const std::string parent = chain.back().extends;
    if (static_cast<int>(chain.size()) > kMaxExtendsDepth) {
      r.error = "extends: " + q(kit.kit.name) + " is more than " +
                std::to_string(kMaxExtendsDepth) + " levels deep";
      return r;
    }
    if (!seen.insert(parent).second) {
      r.error = "extends: cycle through " + q(parent);
      return r;
    }
    if (!isShippedBuiltin(parent)) {
      r.error = "extends: " + q(chain.back().name) + " extends " + q(parent) +
                ", which is not a built-in agent kitgate ships (built-ins: claude, codex, "
                "copilot, gemini, opencode, shell)";
      return r;
    }
    LoadResult loaded = loadBuiltinAgent(parent);
    if (!loaded.ok()) {
      r.error = "extends: built-in agent " + q(parent) + " does not load";
      return r;
    }
    r.value.extends_chain.push_back(parent);
    chain.push_back(std::move(loaded.kit));
  }
  Kit merged = chain.back();
  for (size_t i = chain.size() - 1; i-- > 0;) {
    Kit next;
    if (std::string e = mergeExtends(merged, chain[i], &next); !e.empty()) {
      r.error = e;
      return r;
    }
    merged = std::move(next);
  }
  r.value.kit = std::move(merged);
  r.value.base = kit.kit.name;
  r.value.refs.push_back(kit.ref);
  return r;
}

ComposeResult compose(const std::vector<ComposeKit>& kits, std::string_view agent) {
  ComposeResult r;
  std::set<std::string> names;
  const ComposeKit* sandbox = nullptr;
  for (const ComposeKit& ck : kits) {
    if (!names.insert(ck.kit.name).second) {
      r.error = "compose: duplicate kit name " + q(ck.kit.name);
      return r;
    }
    if (ck.kit.kind != KitKind::kSandbox) continue;
    if (isShippedBuiltin(ck.kit.name)) {
      r.error = "agent " + q(ck.kit.name) +
                " is already registered (built-in agents cannot be overridden by a kit)";
      return r;
    }
    if (sandbox) {
      r.error = "compose: two sandbox kits, " + q(sandbox->kit.name) + " (" + sandbox->ref +
                ") and " + q(ck.kit.name) + " (" + ck.ref +
                "): exactly one kit supplies the sandbox, the others must be mixins";
      return r;
    }
    sandbox = &ck;
  }

  // The base: the sandbox kit, else the built-in or image named by AGENT.
  if (sandbox) {
    if (!agent.empty() && agent != sandbox->kit.name && sandbox->ref != agent) {
      r.error = "kit " + sandbox->ref + " is named " + q(sandbox->kit.name) + ", not " + q(agent) +
                ": use " + q(sandbox->kit.name) + " as AGENT";
      return r;
    }
    r = resolveExtends(*sandbox);
    if (!r.ok()) return r;
  } else if (isShippedBuiltin(agent)) {
    LoadResult b = loadBuiltinAgent(agent);
    r.value.kit = std::move(b.kit);
    r.value.base = std::string(agent);
    r.value.refs.push_back("builtin:" + std::string(agent));
  } else if (!agent.empty() && looksLikeImage(agent)) {
    LoadResult b = loadBuiltinAgent("shell");
    r.value.kit = std::move(b.kit);
    r.value.kit.sandbox->image = std::string(agent);
    r.value.base = "shell";
    r.value.refs.push_back("image:" + std::string(agent));
  } else {
    r.error = agent.empty()
                  ? "compose: no sandbox kit: give one sandbox kit with --kit, or name a "
                    "built-in agent (claude, codex, copilot, gemini, opencode, shell) or an "
                    "image as AGENT"
                  : "compose: no sandbox kit, and AGENT " + q(agent) +
                        " is neither a built-in agent (claude, codex, copilot, gemini, "
                        "opencode, shell) nor an image reference";
    return r;
  }
  if (names.count(r.value.base) && !sandbox) {
    r.error = "compose: duplicate kit name " + q(r.value.base);
    return r;
  }

  // The agents a mixin's requires.agent may name: the base and its ancestors.
  std::vector<std::string> agents{r.value.base};
  agents.insert(agents.end(), r.value.extends_chain.begin(), r.value.extends_chain.end());
  std::vector<std::string> owners(r.value.kit.credentials.size(), r.value.base);
  for (const ComposeKit& ck : kits) {
    if (&ck == sandbox) continue;
    const Kit& m = ck.kit;
    // A v1 mixin's `extends:` names its base agent the way requires.agent does.
    const std::string& wants = !m.requires_agent.empty() ? m.requires_agent : m.extends;
    if (!wants.empty() && std::find(agents.begin(), agents.end(), wants) == agents.end()) {
      r.error = "compose: mixin " + q(m.name) + " requires agent " + q(wants) +
                ", but the sandbox is " + q(r.value.base);
      if (!r.value.extends_chain.empty()) r.error += " (extends " + q(agents.back()) + ")";
      return r;
    }
    if (std::string e = mergeMixin(m, &r.value.kit, &owners); !e.empty()) {
      r.error = e;
      return r;
    }
    r.value.mixins.push_back(m.name);
    r.value.refs.push_back(ck.ref);
    if (!m.agent_instructions.content.empty())
      r.value.mixin_contexts.push_back({m.name, m.agent_instructions.content});
  }
  r.value.kit.requires_agent.clear();
  r.value.kit.extends.clear();
  return r;
}

std::vector<std::string> runtimeProblems(const Kit& kit) {
  std::vector<std::string> out;
  auto rules = [&](const std::vector<std::string>& list, const char* label) {
    for (size_t i = 0; i < list.size(); ++i) {
      std::string where = std::string(label) + "[" + std::to_string(i) + "] " + q(list[i]);
      if (list[i].empty()) {
        out.push_back(where + ": empty pattern");
      } else if (auto p = checkNetworkPattern(list[i])) {
        out.push_back(where + ": column " + std::to_string(p->column) + ": " + p->message);
      }
    }
  };
  rules(kit.allow, "permissions.network.allow");
  rules(kit.deny, "permissions.network.deny");
  for (const Credential& c : kit.credentials) {
    if (!c.api_key) continue;
    for (const Inject& in : c.api_key->inject) {
      std::string where = "credential " + q(c.service) + " inject " + q(in.domain);
      if (auto p = checkNetworkPattern(in.domain)) {
        out.push_back(where + ": column " + std::to_string(p->column) + ": " + p->message);
      } else if (auto h = checkCredentialHost(in.domain)) {
        out.push_back(where + ": column " + std::to_string(h->column) + ": " + h->message);
      }
      if (!in.header.empty() && !isHeaderToken(in.header))
        out.push_back(where + ": header " + q(in.header) + " is not a valid HTTP header name");
      if (!in.header.empty() && in.format.empty())
        out.push_back(where + ": header " + q(in.header) + " has no format");
      if (!in.format.empty() && countPercentS(in.format) != 1)
        out.push_back(where + ": format " + q(in.format) + " must contain exactly one %s");
    }
  }
  return out;
}

std::vector<std::string> kitAddRefusals(const Kit& kit) {
  std::vector<std::string> out;
  if (kit.kind == KitKind::kSandbox) {
    out.push_back("kit " + q(kit.name) +
                  " is a sandbox kit; `kitgate kit add` is for mixins (run a new sandbox with "
                  "--kit instead)");
    return out;
  }
  const std::string tail = ": remove the sandbox (kitgate rm) and run it again with --kit";
  auto refuse = [&](bool present, const std::string& what) {
    if (present) out.push_back("kit " + q(kit.name) + ": kit add " + what + tail);
  };
  refuse(!kit.setup.startup.empty(), "does not yet apply setup.startup");
  refuse(!kit.setup.files.empty(), "does not yet apply setup.files");
  refuse(!kit.files.empty(), "does not yet apply static files/");
  refuse(kit.sandbox && kit.sandbox->resources, "does not yet apply sandbox.resources");
  refuse(kit.privileged, "does not yet apply security.privileged");
  refuse(!kit.deny.empty(), "does not yet apply permissions.network.deny");
  refuse(!kit.volumes.empty(), "does not yet pre-create volumes");
  refuse(!kit.ports.empty(), "does not yet publish ports");
  refuse(!kit.credentials.empty(), "does not yet wire credentials");
  return out;
}

bool isRuntimeOwnedVariable(std::string_view name) {
  return classifyEnvName(name) != EnvNameClass::kOk;
}

NoProxySplit splitNoProxy(std::string_view value) {
  NoProxySplit out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    std::string entry(value.substr(start, comma - start));
    start = comma + 1;
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    if (entry.empty()) continue;
    std::string host = entry;
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!host.empty() && host[0] == '.') host.erase(0, 1);
    const bool v4_loopback =
        host.rfind("127.", 0) == 0 && host.find_first_not_of("0123456789./") == std::string::npos;
    const bool loopback = host == "localhost" || host.ends_with(".localhost") || v4_loopback ||
                          host == "::1" || host == "[::1]" || host == "::1/128";
    (loopback ? out.kept : out.dropped).push_back(entry);
  }
  return out;
}

}  // namespace kitgate::kit
