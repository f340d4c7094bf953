// schemaVersion "1": the original grammar, its 0.32 renames and the
// transitional fields, folded into the canonical model (kit-spec §1.3, §1.4,
// §1.6). One deprecation warning per legacy spelling, in normalizer order.
#include <algorithm>
#include <cctype>
#include <set>

#include "kitloader/checks.h"
#include "kitloader/decode.h"

namespace kitgate::kit {

namespace {

std::string quote(const std::string& s) { return "\"" + s + "\""; }

std::string deprecated(const std::string& what, const std::string& advice) {
  return "deprecated field \"" + what + "\": " + advice;
}

const std::string kNoEffect = "field has no effect and is removed in kit-spec v2; safe to delete";

struct ServiceAuth {
  std::string header;
  std::string format;
};

// GH_TOKEN/GITHUB_TOKEN -> github; else lowercase minus one known suffix.
std::string deriveServiceKey(const std::string& env) {
  if (env == "GH_TOKEN" || env == "GITHUB_TOKEN") return "github";
  std::string s = env;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string suffix : {"_api_key", "_token", "_key", "_secret"}) {
    if (s.size() > suffix.size() &&
        s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return s.substr(0, s.size() - suffix.size());
    }
  }
  return s;
}

bool wellKnownAuth(const std::string& service, ServiceAuth* out) {
  if (service == "anthropic")
    *out = {"x-api-key", "%s"};
  else if (service == "google")
    *out = {"x-goog-api-key", "%s"};
  else if (service == "github")
    *out = {"Authorization", "token %s"};
  else if (service == "openai" || service == "xai" || service == "nebius" || service == "mistral" ||
           service == "groq" || service == "cursor" || service == "factory")
    *out = {"Authorization", "Bearer %s"};
  else
    return false;
  return true;
}

class V1Folder {
 public:
  V1Folder(DecodeContext& ctx, const YamlNode& root, Kit* kit)
      : ctx_(ctx), root_(root), kit_(kit) {}

  void run();

 private:
  Credential& credentialFor(const std::string& service) {
    for (auto& c : kit_->credentials) {
      if (c.service == service) return c;
    }
    kit_->credentials.push_back(Credential{});
    kit_->credentials.back().service = service;
    return kit_->credentials.back();
  }
  bool declaredInList(const std::string& service) const {
    return list_services_.count(service) > 0;
  }

  void decodeKind(const Fields& top);
  void decodeAgentBlock(const Fields& top);
  void decodeSources(const YamlNode& credentials);
  void decodeNetworkCredentials(const Fields& top);
  void decodeProxyManaged(const Fields& env);
  void decodeStandaloneOAuth(const Fields& top);
  void decodeVolumes(const Fields& top);
  void decodeVolumeMap(const YamlNode& map, const std::string& type, const std::string& what);

  DecodeContext& ctx_;
  const YamlNode& root_;
  Kit* kit_;
  std::set<std::string> list_services_;                         // from a v2-style credentials list
  std::map<std::string, std::vector<std::string>> source_env_;  // service -> env names
  std::map<std::string, const YamlNode*> service_domain_nodes_;
};

void V1Folder::decodeKind(const Fields& top) {
  std::string kind;
  readString(ctx_, top.get("kind"), &kind);
  if (kind.empty()) {
    ctx_.error(root_, "manifest: kind is required");
  } else if (kind == "agent") {
    ctx_.warn(*top.get("kind"),
              deprecated("kind: agent", "use 'kind: sandbox' instead (kit-spec v2)"));
    kit_->kind = KitKind::kSandbox;
  } else if (kind == "sandbox") {
    kit_->kind = KitKind::kSandbox;
  } else if (kind == "mixin") {
    kit_->kind = KitKind::kMixin;
  } else {
    ctx_.error(*top.get("kind"),
               "manifest: invalid kind " + quote(kind) + " (must be \"sandbox\" or \"mixin\")");
  }
}

void V1Folder::decodeAgentBlock(const Fields& top) {
  const YamlNode* agent = top.get("agent");
  const YamlNode* sandbox = top.get("sandbox");
  std::string spelling = sandbox ? "sandbox" : "agent";
  if (agent)
    ctx_.warn(*top.key("agent"),
              deprecated("agent:", "use 'sandbox:' block instead (kit-spec v2)"));
  const YamlNode* block = sandbox ? sandbox : agent;
  std::string kind_text;
  readString(ctx_, top.get("kind"), &kind_text);
  if (!block) {
    if ((kind_text == "agent" || kind_text == "sandbox") && kit_->extends.empty()) {
      if (kind_text == "agent")
        ctx_.error(root_, "kind \"agent\" requires an 'agent:' block with at least 'agent.image'");
      else
        ctx_.error(root_,
                   "kind \"sandbox\" requires a 'sandbox:' block with at least 'sandbox.image'");
    }
    return;
  }
  if (kit_->kind == KitKind::kMixin) {
    ctx_.error(*top.key(spelling), "'" + spelling + ":' block is only valid for kind \"" +
                                       spelling + "\", not \"mixin\"");
  }
  Fields s(ctx_, *block, "agentBlock",
           {"image", "aiFilename", "persistence", "entrypoint", "build", "resources"});
  Sandbox sb;
  readString(ctx_, s.get("image"), &sb.image);
  readString(ctx_, s.get("aiFilename"), &kit_->agent_instructions.filename);
  if (const YamlNode* p = s.get("persistence")) {
    std::string value;
    readString(ctx_, p, &value);
    if (!value.empty() && value != "persistent" && value != "ephemeral") {
      ctx_.error(*p, "manifest: invalid persistence " + quote(value) +
                         " (must be \"ephemeral\" or \"persistent\")");
    }
    ctx_.warn(*s.key("persistence"), deprecated("sandbox.persistence", kNoEffect));
  }
  if (const YamlNode* ep = s.get("entrypoint")) {
    Fields e(ctx_, *ep, "entrypointBlock", {"run", "args", "ttyArgs", "pipeMode"});
    readStringList(ctx_, e.get("run"), &sb.entrypoint);
    std::string pipe_mode;
    readString(ctx_, e.get("pipeMode"), &pipe_mode);
    if (e.get("args") || e.get("ttyArgs")) {
      Command cmd;
      readStringList(ctx_, e.get("args"), &cmd.default_args);
      if (e.get("ttyArgs")) {
        std::vector<std::string> tty;
        readStringList(ctx_, e.get("ttyArgs"), &tty);
        cmd.interactive = std::move(tty);
      }
      sb.command = std::move(cmd);
    }
  }
  decodeSandboxExtras(ctx_, s, /*v1=*/true, &sb);
  if (s.valid() && (kind_text == "agent" || kind_text == "sandbox") && sb.image.empty() &&
      kit_->extends.empty()) {
    ctx_.error(*top.key(spelling), "manifest: template is required for kind \"" +
                                       std::string(kind_text == "agent" ? "agent" : "sandbox") +
                                       "\"");
  }
  if (s.valid()) kit_->sandbox = std::move(sb);
}

void V1Folder::decodeSources(const YamlNode& credentials) {
  Fields c(ctx_, credentials, "CredentialPolicy", {"sources"});
  const YamlNode* sources = c.get("sources");
  if (!sources) return;
  ctx_.warn(
      *c.key("sources"),
      deprecated("credentials.sources",
                 "use the top-level 'credentials:' list with 'apiKey:' sub-blocks (kit-spec v2)"));
  if (sources->isNull()) return;
  if (!sources->isMap()) {
    ctx_.error(*sources, "cannot unmarshal " + yamlTagName(*sources) +
                             " into map[string]spec.CredentialSource");
    return;
  }
  for (size_t i : sortedKeyOrder(*sources)) {
    const std::string& service = sources->keys[i].text;
    const YamlNode& item = sources->items[i];
    Fields s(ctx_, item, "CredentialSource", {"env", "file", "priority", "required"});
    std::vector<std::string> env;
    readStringList(ctx_, s.get("env"), &env);
    bool required = false;
    readBool(ctx_, s.get("required"), &required);
    std::string priority;
    readString(ctx_, s.get("priority"), &priority);
    std::string label = "credentials: sources[" + quote(service) + "]";
    if (const YamlNode* file = s.get("file")) {
      Fields ff(ctx_, *file, "CredentialFileSource", {"path", "parser"});
      std::string path, parser;
      readString(ctx_, ff.get("path"), &path);
      readString(ctx_, ff.get("parser"), &parser);
      if (ff.valid() && path.empty()) ctx_.warn(*file, label + ".file.path is required");
      if (!parser.empty() && parser.rfind("json:", 0) != 0)
        ctx_.warn(*ff.get("parser"), "unsupported parser: " + parser);
    }
    if (s.valid() && env.empty() && !s.get("file"))
      ctx_.warn(item, label + " must have at least one of env or file");
    if (!priority.empty() && priority != "env-first" && priority != "file-first") {
      ctx_.warn(*s.get("priority"), label + ".priority must be \"env-first\" or \"file-first\"");
    }
    for (const auto& name : env) {
      if (!isShellIdentifier(name))
        ctx_.warn(*s.get("env"),
                  label + ".env entry " + quote(name) + " is not a valid shell identifier");
    }
    source_env_[service] = env;
    if (declaredInList(service)) continue;
    Credential& cred = credentialFor(service);
    cred.required = required;
    ApiKey key;
    if (!env.empty()) key.name = env[0];
    cred.api_key = std::move(key);
  }
}

void V1Folder::decodeProxyManaged(const Fields& env) {
  const YamlNode* pm = env.get("proxyManaged");
  if (!pm) return;
  ctx_.warn(*env.key("proxyManaged"),
            deprecated("environment.proxyManaged",
                       "use credentials[].apiKey.name with credentials[].apiKey.proxyManaged: true "
                       "(kit-spec v2)"));
  std::vector<std::string> names;
  if (!readStringList(ctx_, pm, &names)) return;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (!isShellIdentifier(name)) {
      ctx_.error(pm->items[i], "environment: proxyManaged entry " + quote(name) +
                                   " is not a valid shell identifier");
      continue;
    }
    if (classifyEnvName(name) != EnvNameClass::kOk) {
      ctx_.warn(pm->items[i], "environment: proxyManaged entry " + quote(name) +
                                  " is reserved for the runtime and may not reach the agent");
    }
    std::string service;
    for (const auto& [svc, envs] : source_env_) {
      if (std::find(envs.begin(), envs.end(), name) != envs.end()) {
        service = svc;
        break;
      }
    }
    if (service.empty()) service = deriveServiceKey(name);
    if (declaredInList(service)) continue;
    Credential& cred = credentialFor(service);
    if (!cred.api_key) cred.api_key = ApiKey{};
    cred.api_key->name = name;
    cred.api_key->proxy_managed = true;
  }
}

void V1Folder::decodeNetworkCredentials(const Fields& top) {
  const YamlNode* net_node = top.get("network");
  std::map<std::string, std::string> domains;  // sorted by domain
  std::map<std::string, ServiceAuth> auth;
  std::map<std::string, const YamlNode*> domain_nodes;
  std::optional<Fields> net;
  if (net_node)
    net.emplace(
        ctx_, *net_node, "NetworkPolicy",
        std::initializer_list<std::string_view>{"allowedDomains", "deniedDomains", "serviceDomains",
                                                "serviceAuth", "publishedPorts"});
  if (net && net->get("serviceDomains")) {
    const YamlNode& sd = *net->get("serviceDomains");
    ctx_.warn(*net->key("serviceDomains"),
              deprecated("network.serviceDomains",
                         "use credentials[].apiKey.inject[].domain (kit-spec v2)"));
    readStringMap(ctx_, &sd, &domains, "map[string]string");
    for (size_t i = 0; i < sd.keys.size() && sd.isMap(); ++i)
      domain_nodes[sd.keys[i].text] = &sd.keys[i];
  }
  if (net && net->get("serviceAuth")) {
    const YamlNode& sa = *net->get("serviceAuth");
    ctx_.warn(*net->key("serviceAuth"),
              deprecated("network.serviceAuth",
                         "use credentials[].apiKey.inject[].header/format (kit-spec v2)"));
    if (sa.isMap()) {
      for (size_t i = 0; i < sa.keys.size(); ++i) {
        const std::string& service = sa.keys[i].text;
        std::string label = "network: serviceAuth[" + quote(service) + "]";
        Fields f(ctx_, sa.items[i], "ServiceAuth", {"headerName", "valueFormat"});
        ServiceAuth a;
        readString(ctx_, f.get("headerName"), &a.header);
        readString(ctx_, f.get("valueFormat"), &a.format);
        if (!f.valid()) continue;
        if (a.header.empty()) {
          ctx_.warn(sa.items[i],
                    label + ".headerName is empty: no header is written (routing-only)");
        } else if (!isHeaderToken(a.header)) {
          ctx_.warn(
              *f.get("headerName"),
              label + ".headerName " + quote(a.header) +
                  " is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)");
        }
        if (!a.format.empty() && countPercentS(a.format) != 1) {
          ctx_.warn(*f.get("valueFormat"),
                    label + ".valueFormat must contain exactly one %s placeholder (got " +
                        quote(a.format) + ")");
        }
        auth[service] = a;
      }
    } else if (!sa.isNull()) {
      ctx_.error(sa, "cannot unmarshal " + yamlTagName(sa) + " into map[string]spec.ServiceAuth");
    }
  }
  // `egress:` sugar: domain -> service, auth from the well-known table.
  if (const YamlNode* eg = top.get("egress")) {
    std::map<std::string, std::string> egress;
    readStringMap(ctx_, eg, &egress);
    for (const auto& [domain, service] : egress) {
      if (domains.count(domain)) {
        ctx_.error(*eg, "egress domain " + quote(domain) +
                            " conflicts with existing serviceDomain (mapped to " +
                            quote(domains[domain]) + ")");
        continue;
      }
      domains[domain] = service;
      for (size_t i = 0; i < eg->keys.size(); ++i) {
        if (eg->keys[i].text == domain) domain_nodes[domain] = &eg->keys[i];
      }
      ServiceAuth a;
      if (!auth.count(service) && wellKnownAuth(service, &a)) auth[service] = a;
    }
  }
  // One inject row per domain, sorted by domain.
  for (const auto& [domain, service] : domains) {
    const YamlNode* key = domain_nodes[domain];
    std::string label = "network.serviceDomains[" + quote(domain) + "]";
    if (key) {
      checkPatternAt(ctx_, *key, label, domain, true);
      ctx_.inject_sites.push_back({label, domain, key->line, key->column});
    }
    if (service.empty() || declaredInList(service)) continue;
    Credential& cred = credentialFor(service);
    if (!cred.api_key) cred.api_key = ApiKey{};
    Inject rule;
    rule.domain = domain;
    auto it = auth.find(service);
    if (it != auth.end()) {
      rule.header = it->second.header;
      rule.format = it->second.format.empty() ? "%s" : it->second.format;
    } else {
      rule.format = "%s";
    }
    cred.api_key->inject.push_back(std::move(rule));
  }
}

void V1Folder::decodeStandaloneOAuth(const Fields& top) {
  const YamlNode* node = top.get("oauth");
  if (!node) return;
  ctx_.warn(*top.key("oauth"),
            deprecated("oauth: (standalone block)", "use credentials[].oauth (kit-spec v2)"));
  Fields f(ctx_, *node, "OAuthPolicy",
           {"service", "tokenEndpoint", "sentinels", "credentialFile", "skipIfEnv",
            "responseFields", "passthroughResponse"});
  if (!f.valid()) return;
  std::string service;
  readString(ctx_, f.get("service"), &service);
  if (service.empty()) ctx_.error(*node, "artifact: oauth: service is required");
  OAuth oauth;
  decodeOAuthBody(ctx_, f, "artifact: ", &oauth);
  if (service.empty() || declaredInList(service)) return;
  Credential& cred = credentialFor(service);
  // A routing-only apiKey for the same service becomes resourceHosts.
  if (cred.api_key && cred.api_key->name.empty() && !cred.api_key->proxy_managed &&
      std::all_of(cred.api_key->inject.begin(), cred.api_key->inject.end(),
                  [](const Inject& r) { return r.header.empty() && r.username.empty(); })) {
    for (const auto& r : cred.api_key->inject) {
      if (r.domain != oauth.token_host) oauth.resource_hosts.push_back(r.domain);
    }
    cred.api_key.reset();
  }
  cred.oauth = std::move(oauth);
}

// Mapping-form `tmpfs:` / `volumes:` ({/path: size}) -> volume entries.
void V1Folder::decodeVolumeMap(const YamlNode& map, const std::string& type,
                               const std::string& what) {
  std::map<std::string, std::string> m;
  if (!readStringMap(ctx_, &map, &m)) return;
  for (size_t i = 0; i < map.keys.size(); ++i) {
    Volume v{map.keys[i].text, type, map.items[i].text, ""};
    if (v.path.empty() || v.path[0] != '/')
      ctx_.error(map.keys[i],
                 "manifest: " + what + " path " + quote(v.path) + " must be an absolute path");
    kit_->volumes.push_back(std::move(v));
  }
}

void V1Folder::decodeVolumes(const Fields& top) {
  if (const YamlNode* t = top.get("tmpfs")) {
    ctx_.warn(
        *top.key("tmpfs"),
        deprecated("tmpfs", "use 'volumes:' entries with 'type: tmpfs' instead (kit-spec v2)"));
    decodeVolumeMap(*t, "tmpfs", "tmpfs");
  }
  const YamlNode* vol = top.get("volumes");
  if (!vol) return;
  if (vol->isMap()) {
    ctx_.warn(
        *top.key("volumes"),
        deprecated("volumes (mapping form)",
                   "use the v2 sequence form: '- path: <path>' entries instead (kit-spec v2)"));
    decodeVolumeMap(*vol, "", "volume");
  } else {
    decodeVolumeList(ctx_, vol, &kit_->volumes);
  }
}

void V1Folder::run() {
  Fields top(
      ctx_, root_, "SpecFile",
      {"schemaVersion", "kind",        "name",     "displayName",  "description", "extends",
       "agent",         "sandbox",     "network",  "credentials",  "environment", "settings",
       "commands",      "oauth",       "memory",   "agentContext", "volumes",     "tmpfs",
       "security",      "persistence", "kitDir",   "secrets",      "egress",      "version",
       "sourceURL",     "locked",      "licenses", "requires",     "mixins",      "publishedPorts",
       "caps",          "template",    "binary",   "runOptions",   "aiFilename"});
  if (!top.valid()) return;
  for (const char* flat : {"template", "binary", "runOptions"}) {
    if (const YamlNode* k = top.key(flat)) {
      ctx_.error(*k,
                 "use the 'agent:' block instead of flat 'template'/'binary'/'runOptions' fields");
    }
  }
  if (const YamlNode* k = top.key("aiFilename"))
    ctx_.error(*k, "use 'agent.aiFilename' instead of flat 'aiFilename' field");

  decodeKind(top);
  decodeHeader(ctx_, top, /*v1=*/true, kit_);
  decodeAgentBlock(top);
  for (const char* flat : {"persistence", "kitDir"}) {
    if (const YamlNode* k = top.key(flat)) ctx_.warn(*k, deprecated(flat, kNoEffect));
  }
  // memory / agentContext
  std::string memory, context;
  readString(ctx_, top.get("memory"), &memory);
  readString(ctx_, top.get("agentContext"), &context);
  if (top.key("memory")) {
    ctx_.warn(*top.key("memory"), deprecated("memory",
                                             "use 'agentContext' (schemaVersion 1) or "
                                             "'agentInstructions.content' (kit-spec v2) instead"));
  }
  kit_->agent_instructions.content = top.get("agentContext") ? context : memory;

  // credentials: a v2-style list (canonical) or the v1 mapping with sources.
  if (const YamlNode* cred = top.get("credentials")) {
    if (cred->isSeq()) {
      decodeCredentialList(ctx_, cred, /*v2=*/false, &kit_->credentials);
      for (const auto& c : kit_->credentials) list_services_.insert(c.service);
    } else {
      decodeSources(*cred);
    }
  }
  // `secrets:` sugar: env names -> required credentials.
  if (const YamlNode* secrets = top.get("secrets")) {
    std::vector<std::string> names;
    if (readStringList(ctx_, secrets, &names)) {
      for (size_t i = 0; i < names.size(); ++i) {
        std::string service = deriveServiceKey(names[i]);
        if (source_env_.count(service) || declaredInList(service)) {
          ctx_.error(secrets->items[i], "secret " + quote(names[i]) +
                                            " conflicts with existing credential source " +
                                            quote(service));
          continue;
        }
        source_env_[service] = {names[i]};
        Credential& c = credentialFor(service);
        c.required = true;
        c.api_key = ApiKey{names[i], false, {}};
      }
    }
  }
  decodeNetworkCredentials(top);
  std::optional<Fields> env;
  if (const YamlNode* e = top.get("environment")) {
    env.emplace(ctx_, *e, "EnvironmentPolicy",
                std::initializer_list<std::string_view>{"variables", "proxyManaged"});
    decodeProxyManaged(*env);
  }
  decodeStandaloneOAuth(top);

  if (const YamlNode* caps = top.get("caps")) {
    ctx_.warn(*top.key("caps"),
              deprecated("caps", "use 'permissions:' block instead (kit-spec v2)"));
    Fields c(ctx_, *caps, "Caps", {"network"});
    if (const YamlNode* net = c.get("network")) {
      Fields n(ctx_, *net, "CapsNetwork", {"allow", "deny"});
      decodePatternList(ctx_, n.get("allow"), "caps.network.allow", &kit_->allow);
      decodePatternList(ctx_, n.get("deny"), "caps.network.deny", &kit_->deny);
    }
  }
  if (const YamlNode* net_node = top.get("network"); net_node && net_node->isMap()) {
    const YamlNode* allowed = net_node->find("allowedDomains");
    const YamlNode* denied = net_node->find("deniedDomains");
    const YamlNode* ports = net_node->find("publishedPorts");
    auto keyOf = [&](const char* k) -> const YamlNode& {
      for (const auto& key : net_node->keys) {
        if (key.text == k) return key;
      }
      return *net_node;
    };
    if (allowed) {
      ctx_.warn(keyOf("allowedDomains"),
                deprecated("network.allowedDomains",
                           "use 'permissions.network.allow' instead (kit-spec v2)"));
      decodePatternList(ctx_, allowed, "network.allowedDomains", &kit_->allow);
    }
    if (denied) {
      ctx_.warn(keyOf("deniedDomains"),
                deprecated("network.deniedDomains",
                           "use 'permissions.network.deny' instead (kit-spec v2)"));
      decodePatternList(ctx_, denied, "network.deniedDomains", &kit_->deny);
    }
    if (ports) {
      ctx_.warn(keyOf("publishedPorts"),
                deprecated("network.publishedPorts",
                           "use the top-level 'ports' field instead (kit-spec v2)"));
      decodePorts(ctx_, ports, &kit_->ports);
    }
  }
  if (const YamlNode* ports = top.get("publishedPorts")) {
    ctx_.warn(*top.key("publishedPorts"),
              deprecated("network.publishedPorts",
                         "use the top-level 'ports' field instead (kit-spec v2)"));
    decodePorts(ctx_, ports, &kit_->ports);
  }
  decodeVolumes(top);
  if (const YamlNode* k = top.key("settings")) {
    ctx_.warn(
        *k, deprecated(
                "settings",
                "container settings are now lifted into kit commands.initFiles/commands.startup "
                "(schemaVersion 1) or setup.files/setup.startup (kit-spec v2); remove this block"));
  }
  if (env) decodeEnvVariables(ctx_, env->get("variables"), &kit_->environment);
  decodeSetup(ctx_, top.get("commands"), "CommandsPolicy", "initFiles", &kit_->setup);
}

}  // namespace

void decodeV1(DecodeContext& ctx, const YamlNode& root, Kit* kit) {
  V1Folder folder(ctx, root, kit);
  folder.run();
}

void decodeSpec(DecodeContext& ctx, const YamlNode& root, Kit* kit) {
  if (!root.isMap()) {
    ctx.error(root, "artifact: invalid spec.yaml: the document must be a mapping of fields, not " +
                        yamlTagName(root));
    return;
  }
  std::string schema;
  const YamlNode* sv = root.find("schemaVersion");
  if (sv && sv->isScalar()) schema = sv->text;
  if (schema == "2") {
    decodeV2(ctx, root, kit);
    finishChecks(ctx, root, /*v1=*/false, kit);
    return;
  }
  if (!sv || sv->isNull() || schema.empty()) {
    ctx.error(root, "manifest: schemaVersion is required");
    return;
  }
  if (schema != "1") {
    std::string msg =
        "manifest: unsupported schemaVersion " + quote(schema) + " (supported: [1 2])";
    if (schema == "3") {
      msg +=
          "; schemaVersion \"3\" kits are OCI images built from a descriptor, which kitgate does "
          "not load";
    }
    ctx.error(*sv, msg);
    return;
  }
  decodeV1(ctx, root, kit);
  finishChecks(ctx, root, /*v1=*/true, kit);
}

}  // namespace kitgate::kit
