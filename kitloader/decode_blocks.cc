// Blocks shared by the schemaVersion "1" and "2" decoders, with the
// validation that needs the YAML positions at hand.
#include <algorithm>
#include <set>

#include "kitloader/checks.h"
#include "kitloader/decode.h"

namespace kitgate::kit {

namespace {

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string idx(std::string_view base, size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

const YamlNode& at(const YamlNode* n, const YamlNode& fallback) { return n ? *n : fallback; }

constexpr std::string_view kRunRefuses = "; `kitgate run` refuses it (sbx does not check this)";

}  // namespace

void checkPatternAt(DecodeContext& ctx, const YamlNode& item, const std::string& label,
                    const std::string& pattern, bool intercepted) {
  int base = item.column + (item.quoted ? 1 : 0);
  if (auto problem = checkNetworkPattern(pattern)) {
    ctx.warnAt(item.line, base + static_cast<int>(problem->column) - 1,
               label + ": pattern " + quote(pattern) +
                   " is not valid for kitgate's policy engine: " + problem->message +
                   std::string(kRunRefuses));
    return;
  }
  if (intercepted) {
    if (auto problem = checkCredentialHost(pattern)) {
      ctx.warnAt(item.line, base + static_cast<int>(problem->column) - 1,
                 label + ": " + quote(pattern) +
                     " cannot be a credential host for kitgate's proxy: " + problem->message +
                     std::string(kRunRefuses));
      return;
    }
  }
  if (auto middle = middleWildcard(pattern)) {
    std::string text = label + ": " + quote(pattern) +
                       " has a wildcard label in the middle: kitgate matches exactly one label at "
                       "that position";
    if (intercepted) {
      text += "; the sandbox's interception CA is name-constrained to the fixed suffix " +
              quote(middle->suffix) + " (every name below it)";
    }
    ctx.warnAt(item.line, base + static_cast<int>(middle->column) - 1, text);
  }
}

void decodeHeader(DecodeContext& ctx, const Fields& top, bool v1, Kit* kit) {
  const YamlNode& root = top.node();
  readString(ctx, top.get("name"), &kit->name);
  if (kit->name.empty()) {
    ctx.error(at(top.key("name"), root), "manifest: name is required");
  } else if (!isValidKitName(kit->name)) {
    ctx.error(*top.get("name"), "manifest: invalid name " + quote(kit->name) +
                                    " (must be lowercase alphanumeric with hyphens, 1-64 chars)");
  }
  readString(ctx, top.get("displayName"), &kit->display_name);
  readString(ctx, top.get("description"), &kit->description);
  readString(ctx, top.get("version"), &kit->version);
  readString(ctx, top.get("sourceURL"), &kit->source_url);
  readString(ctx, top.get("extends"), &kit->extends);
  if (!kit->extends.empty() && !isBuiltinAgent(kit->extends)) {
    ctx.error(*top.get("extends"),
              "extends: unknown base agent " + quote(kit->extends) +
                  " (extends names a built-in agent such as claude, codex or shell)");
  }
  if (const YamlNode* n = top.get("licenses"); readStringList(ctx, n, &kit->licenses)) {
    for (size_t i = 0; i < kit->licenses.size(); ++i) {
      const YamlNode& item = n->items[i];
      if (kit->licenses[i].empty())
        ctx.error(item, idx("licenses", i) + " must not be empty");
      else if (std::find(
                   kit->licenses.begin(), kit->licenses.begin() + static_cast<std::ptrdiff_t>(i),
                   kit->licenses[i]) != kit->licenses.begin() + static_cast<std::ptrdiff_t>(i))
        ctx.error(item, idx("licenses", i) + " " + quote(kit->licenses[i]) + " is duplicated");
    }
  }
  if (const YamlNode* n = top.get("locked"); readStringList(ctx, n, &kit->locked)) {
    for (size_t i = 0; i < kit->locked.size(); ++i) {
      const YamlNode& item = n->items[i];
      const std::string& p = kit->locked[i];
      if (p.empty())
        ctx.error(item, idx("locked", i) + " must not be empty");
      else if (!isDottedPath(p))
        ctx.error(item, idx("locked", i) + " " + quote(p) + " is not a well-formed dotted path");
      else if (std::find(kit->locked.begin(), kit->locked.begin() + static_cast<std::ptrdiff_t>(i),
                         p) != kit->locked.begin() + static_cast<std::ptrdiff_t>(i))
        ctx.error(item, idx("locked", i) + " " + quote(p) + " is duplicated");
    }
  }
  if (const YamlNode* n = top.get("security")) {
    Fields sec(ctx, *n, v1 ? "SecurityPolicy" : "securityV2", {"privileged"});
    readBool(ctx, sec.get("privileged"), &kit->privileged);
  }
  if (const YamlNode* n = top.get("mixins")) {
    readStringList(ctx, n, &kit->mixins);
    ctx.warn(*top.key("mixins"),
             "field \"mixins\" is accepted but not yet implemented: mixin composition is accepted "
             "in the schema but "
             "not yet applied by the runtime");
  }
  decodeRequires(ctx, top.get("requires"), kit);
}

void decodeRequires(DecodeContext& ctx, const YamlNode* n, Kit* kit) {
  if (!n) return;
  Fields f(ctx, *n, "Requires", {"agent"});
  readString(ctx, f.get("agent"), &kit->requires_agent);
  if (!kit->requires_agent.empty() && !isValidKitName(kit->requires_agent)) {
    ctx.error(
        *f.get("agent"),
        "requires.agent " + quote(kit->requires_agent) +
            " is not a valid agent name (must be lowercase alphanumeric with hyphens, 1-64 chars)");
  }
}

void decodePatternList(DecodeContext& ctx, const YamlNode* n, std::string_view label,
                       std::vector<std::string>* out) {
  size_t before = out->size();
  if (!readStringList(ctx, n, out)) return;
  for (size_t i = before; i < out->size(); ++i) {
    const YamlNode& item = n->items[i - before];
    const std::string& p = (*out)[i];
    if (p.empty()) {
      ctx.warn(item,
               idx(label, i - before) + " is empty: it matches nothing" + std::string(kRunRefuses));
      continue;
    }
    checkPatternAt(ctx, item, idx(label, i - before), p, false);
  }
}

void decodeBuild(DecodeContext& ctx, const YamlNode* n, Sandbox* sandbox) {
  if (!n) return;
  Fields f(ctx, *n, "BuildSpec", {"context", "dockerfile", "args", "target", "platforms"});
  Build b;
  readString(ctx, f.get("context"), &b.context);
  readString(ctx, f.get("dockerfile"), &b.dockerfile);
  readString(ctx, f.get("target"), &b.target);
  readStringMap(ctx, f.get("args"), &b.args);
  readStringList(ctx, f.get("platforms"), &b.platforms);
  sandbox->build = std::move(b);
}

void decodePorts(DecodeContext& ctx, const YamlNode* n, std::vector<Port>* out) {
  if (!n || n->isNull()) return;
  if (!n->isSeq()) {
    ctx.error(*n, "cannot unmarshal " + yamlTagName(*n) + " into []spec.PublishedPort");
    return;
  }
  for (const YamlNode& item : n->items) {
    size_t i = out->size();
    Fields f(ctx, item, "PublishedPort", {"container", "protocol", "name"});
    Port p;
    readInt(ctx, f.get("container"), &p.container);
    readString(ctx, f.get("protocol"), &p.protocol);
    readString(ctx, f.get("name"), &p.name);
    if (f.valid() && (p.container < 1 || p.container > 65535)) {
      ctx.error(at(f.get("container"), item), idx("publishedPorts", i) +
                                                  ".container must be in 1..65535 (got " +
                                                  std::to_string(p.container) + ")");
    }
    if (!p.protocol.empty() && p.protocol != "tcp" && p.protocol != "udp") {
      ctx.error(*f.get("protocol"), idx("publishedPorts", i) +
                                        ".protocol must be empty, \"tcp\" or \"udp\" (got " +
                                        quote(p.protocol) + ")");
    }
    out->push_back(std::move(p));
  }
}

namespace {

void decodeInject(DecodeContext& ctx, const YamlNode& item, const std::string& label, Inject* out) {
  Fields f(ctx, item, "InjectRule", {"domain", "header", "format", "scheme", "username"});
  std::string scheme;
  readString(ctx, f.get("domain"), &out->domain);
  readString(ctx, f.get("header"), &out->header);
  readString(ctx, f.get("format"), &out->format);
  readString(ctx, f.get("scheme"), &scheme);
  readString(ctx, f.get("username"), &out->username);
  if (!f.valid()) return;
  if (!scheme.empty()) {
    const YamlNode& s = *f.get("scheme");
    if (f.get("format") && !out->format.empty()) {
      ctx.error(s, label + ": 'scheme' and 'format' are mutually exclusive");
    } else if (scheme == "bearer") {
      if (!out->username.empty())
        ctx.error(*f.get("username"), label + ": 'username' is not valid with scheme: bearer");
      out->format = "Bearer %s";
      if (out->header.empty()) out->header = "Authorization";
    } else if (scheme == "basic") {
      if (out->username.empty()) ctx.error(s, label + ": scheme: basic requires 'username'");
      out->format = "%s";
      out->header.clear();
    } else {
      ctx.error(s, label + ": unknown scheme " + quote(scheme) + " (want \"basic\" or \"bearer\")");
    }
  }
  if (out->domain.empty()) {
    ctx.error(at(f.get("domain"), item), label + ".domain is required");
  } else {
    const YamlNode& d = *f.get("domain");
    checkPatternAt(ctx, d, label + ".domain", out->domain, true);
    ctx.inject_sites.push_back({label, out->domain, d.line, d.column});
  }
  if (!out->header.empty() && !isHeaderToken(out->header)) {
    ctx.warn(*f.get("header"),
             label + ".header " + quote(out->header) +
                 " is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)" +
                 std::string(kRunRefuses));
  }
  if (!out->header.empty() && out->format.empty()) {
    ctx.warn(*f.get("header"), label + ": 'header' without 'format' (e.g. format: \"Bearer %s\")" +
                                   std::string(kRunRefuses));
  }
  if (!out->format.empty() && countPercentS(out->format) != 1) {
    ctx.warn(at(f.get("format"), item), label + ".format " + quote(out->format) +
                                            " must contain exactly one %s" +
                                            std::string(kRunRefuses));
  }
  if (out->username.find(':') != std::string::npos) {
    ctx.error(*f.get("username"),
              label + ".username " + quote(out->username) + " must not contain ':'");
  }
  if (out->header.empty() && out->username.empty()) {
    ctx.warn(item, label + ": domain " + quote(out->domain) +
                       " has neither header nor username: a routing-only association, no "
                       "credential is written");
  }
}

}  // namespace

void decodeOAuthBody(DecodeContext& ctx, const Fields& f, const std::string& prefix, OAuth* o) {
  const YamlNode& node = f.node();
  if (const YamlNode* te = f.get("tokenEndpoint")) {
    Fields t(ctx, *te, "TokenEndpoint", {"host", "path"});
    readString(ctx, t.get("host"), &o->token_host);
    readString(ctx, t.get("path"), &o->token_path);
  }
  readStringList(ctx, f.get("resourceHosts"), &o->resource_hosts);
  if (const YamlNode* s = f.get("sentinels")) {
    Fields t(ctx, *s, "Sentinels", {"accessToken", "refreshToken"});
    readString(ctx, t.get("accessToken"), &o->access_sentinel);
    readString(ctx, t.get("refreshToken"), &o->refresh_sentinel);
  }
  bool has_structure = false;
  if (const YamlNode* cf = f.get("credentialFile")) {
    Fields t(ctx, *cf, "CredentialFile", {"path", "template", "structure"});
    readString(ctx, t.get("path"), &o->credential_file_path);
    readString(ctx, t.get("template"), &o->credential_file_template);
    if (const YamlNode* st = t.get("structure"); st && !st->isNull()) {
      o->credential_file_structure = toValue(*st);
      has_structure = true;
    }
  }
  if (const YamlNode* rf = f.get("responseFields")) {
    Fields t(ctx, *rf, "ResponseFields", {"accessToken", "refreshToken", "expiresIn", "scope"});
    readStringMap(ctx, rf, &o->response_fields);
  }
  readStringList(ctx, f.get("skipIfEnv"), &o->skip_if_env);
  readBool(ctx, f.get(f.key("passthroughResponse") ? "passthroughResponse" : "passthrough"),
           &o->passthrough);
  if (o->token_host.empty())
    ctx.error(at(f.get("tokenEndpoint"), node), prefix + "oauth: tokenEndpoint.host is required");
  if (o->token_path.empty())
    ctx.error(at(f.get("tokenEndpoint"), node), prefix + "oauth: tokenEndpoint.path is required");
  if (!o->passthrough) {
    if (o->access_sentinel.empty())
      ctx.error(at(f.get("sentinels"), node), prefix + "oauth: sentinels.accessToken is required");
    if (o->refresh_sentinel.empty())
      ctx.error(at(f.get("sentinels"), node), prefix + "oauth: sentinels.refreshToken is required");
  }
  if (f.get("credentialFile") || !o->passthrough) {
    if (o->credential_file_path.empty() && f.get("credentialFile"))
      ctx.error(*f.get("credentialFile"), prefix + "oauth: credentialFile.path is required");
    if (f.get("credentialFile") && o->credential_file_template.empty() && !has_structure)
      ctx.error(*f.get("credentialFile"),
                prefix + "oauth: credentialFile requires either template or structure");
  }
}

void decodeCredentialList(DecodeContext& ctx, const YamlNode* n, bool v2,
                          std::vector<Credential>* out) {
  if (!n || n->isNull()) return;
  if (!n->isSeq()) {
    ctx.error(*n, "cannot unmarshal " + yamlTagName(*n) + " into []spec.Credential");
    return;
  }
  for (size_t i = 0; i < n->items.size(); ++i) {
    const YamlNode& item = n->items[i];
    std::string label = idx("credentials", i);
    Fields f(ctx, item, "Credential",
             {"service", "description", "required", "provider", "apiKey", "oauth"});
    Credential c;
    readString(ctx, f.get("service"), &c.service);
    readString(ctx, f.get("description"), &c.description);
    readBool(ctx, f.get("required"), &c.required);
    readString(ctx, f.get("provider"), &c.provider);
    if (!f.valid()) continue;
    if (c.service.empty())
      ctx.error(at(f.get("service"), item), "artifact: " + label + ": service is required");
    if (f.get("provider")) {
      ctx.warn(*f.key("provider"),
               "field \"" + label + ".provider\" is reserved and has no effect; remove it");
    }
    if (const YamlNode* ak = f.get("apiKey")) {
      Fields a(ctx, *ak, "APIKey", {"name", "proxyManaged", "inject"});
      ApiKey key;
      readString(ctx, a.get("name"), &key.name);
      readBool(ctx, a.get("proxyManaged"), &key.proxy_managed);
      if (!key.name.empty() && !isShellIdentifier(key.name)) {
        ctx.error(*a.get("name"),
                  label + ".apiKey.name " + quote(key.name) + " is not a valid shell identifier");
      } else if (!key.name.empty() && classifyEnvName(key.name) != EnvNameClass::kOk) {
        ctx.warn(*a.get("name"), label + ".apiKey.name " + quote(key.name) +
                                     " is reserved for the runtime and may not reach the agent");
      }
      if (key.proxy_managed && key.name.empty()) {
        ctx.error(*a.get("proxyManaged"),
                  label + ".apiKey: proxyManaged: true requires apiKey.name");
      }
      if (v2 && a.valid() && !a.key("name")) {
        ctx.warn(
            *ak,
            label + " (service " + quote(c.service) +
                "): apiKey has no name: no in-container environment variable will be set for this "
                "credential; set apiKey.name (with proxyManaged: true) if the kit needs the value "
                "in-container");
      }
      if (const YamlNode* inj = a.get("inject"); inj && !inj->isNull()) {
        if (!inj->isSeq()) {
          ctx.error(*inj, "cannot unmarshal " + yamlTagName(*inj) + " into []spec.InjectRule");
        } else {
          for (size_t j = 0; j < inj->items.size(); ++j) {
            Inject rule;
            decodeInject(ctx, inj->items[j], label + ".apiKey.inject[" + std::to_string(j) + "]",
                         &rule);
            key.inject.push_back(std::move(rule));
          }
        }
      }
      c.api_key = std::move(key);
    }
    if (const YamlNode* oa = f.get("oauth")) {
      Fields o(ctx, *oa, "OAuthConfig",
               {"tokenEndpoint", "resourceHosts", "sentinels", "credentialFile", "responseFields",
                "skipIfEnv", "passthrough"});
      if (o.valid()) {
        OAuth oauth;
        decodeOAuthBody(ctx, o,
                        "artifact: " + label + " (service " + quote(c.service) + "): ", &oauth);
        c.oauth = std::move(oauth);
      }
    }
    for (size_t j = 0; j < out->size(); ++j) {
      if (!c.service.empty() && (*out)[j].service == c.service) {
        ctx.error(*f.get("service"), label + ": service " + quote(c.service) +
                                         " is already declared by " + idx("credentials", j));
      }
    }
    out->push_back(std::move(c));
  }
}

void decodeSetup(DecodeContext& ctx, const YamlNode* n, std::string_view go_type,
                 std::string_view files_key, Setup* out) {
  if (!n) return;
  Fields f(ctx, *n, go_type, {"install", "startup", files_key});
  if (!f.valid()) return;
  if (const YamlNode* list = f.get("install"); list && !list->isNull()) {
    if (!list->isSeq()) {
      ctx.error(*list, "cannot unmarshal " + yamlTagName(*list) + " into []spec.InstallCommand");
    } else {
      for (size_t i = 0; i < list->items.size(); ++i) {
        const YamlNode& item = list->items[i];
        Fields s(ctx, item, "InstallCommand", {"command", "user", "description"});
        InstallStep step;
        readString(ctx, s.get("command"), &step.command);
        readString(ctx, s.get("user"), &step.user);
        readString(ctx, s.get("description"), &step.description);
        if (step.user.empty()) step.user = "0";
        if (s.valid() && step.command.empty() &&
            !(s.get("command") && !s.get("command")->isScalar() && !s.get("command")->isNull())) {
          ctx.error(at(s.get("command"), item),
                    "commands: install[" + std::to_string(i) + "].command is required");
        }
        out->install.push_back(std::move(step));
      }
    }
  }
  if (const YamlNode* list = f.get("startup"); list && !list->isNull()) {
    if (!list->isSeq()) {
      ctx.error(*list, "cannot unmarshal " + yamlTagName(*list) + " into []spec.StartupCommand");
    } else {
      for (size_t i = 0; i < list->items.size(); ++i) {
        const YamlNode& item = list->items[i];
        Fields s(ctx, item, "StartupCommand", {"command", "user", "background", "description"});
        StartupStep step;
        bool ok = readStringList(ctx, s.get("command"), &step.command);
        readString(ctx, s.get("user"), &step.user);
        readBool(ctx, s.get("background"), &step.background);
        readString(ctx, s.get("description"), &step.description);
        if (step.user.empty()) step.user = "1000";
        if (s.valid() && ok && step.command.empty()) {
          ctx.error(at(s.get("command"), item),
                    "commands: startup[" + std::to_string(i) + "].command is required");
        }
        out->startup.push_back(std::move(step));
      }
    }
  }
  if (const YamlNode* list = f.get(files_key); list && !list->isNull()) {
    if (!list->isSeq()) {
      ctx.error(*list, "cannot unmarshal " + yamlTagName(*list) + " into []spec.InitFile");
    } else {
      for (size_t i = 0; i < list->items.size(); ++i) {
        const YamlNode& item = list->items[i];
        std::string label = "commands: initFiles[" + std::to_string(i) + "]";
        Fields s(ctx, item, "InitFile",
                 {"path", "content", "mode", "onlyIfMissing", "description"});
        SetupFile file;
        readString(ctx, s.get("path"), &file.path);
        readString(ctx, s.get("content"), &file.content);
        readString(ctx, s.get("mode"), &file.mode);
        readBool(ctx, s.get("onlyIfMissing"), &file.only_if_missing);
        readString(ctx, s.get("description"), &file.description);
        if (!s.valid()) continue;
        if (file.path.empty())
          ctx.error(at(s.get("path"), item), label + ".path is required");
        else if (file.path[0] != '/')
          ctx.error(*s.get("path"),
                    label + ".path must be absolute (got " + quote(file.path) + ")");
        if (file.mode.empty())
          file.mode = "0644";
        else if (!isOctalMode(file.mode))
          ctx.error(*s.get("mode"),
                    label + ".mode must be octal (e.g. \"0755\"), got " + quote(file.mode));
        out->files.push_back(std::move(file));
      }
    }
  }
}

namespace {
void checkVolume(DecodeContext& ctx, const YamlNode& at_node, size_t i, const Volume& v) {
  std::string label = "manifest: volumes[" + std::to_string(i) + "]";
  if (!v.type.empty() && v.type != "tmpfs")
    ctx.error(at_node,
              label + ".type " + quote(v.type) + " is invalid (must be omitted or \"tmpfs\")");
  if (v.path.empty())
    ctx.error(at_node, label + ".path must not be empty");
  else if (v.path[0] != '/')
    ctx.error(at_node, label + ".path " + quote(v.path) + " must be an absolute path");
  if (!v.size.empty()) {
    if (auto e = sizeError(v.size))
      ctx.error(at_node, label + ".size " + quote(v.size) + " is not a valid size: " + *e);
  }
  if (!v.mode.empty() && !isOctalMode(v.mode))
    ctx.error(at_node, label + ".mode " + quote(v.mode) + " must be octal (e.g. \"1777\")");
}
}  // namespace

void decodeVolumeList(DecodeContext& ctx, const YamlNode* n, std::vector<Volume>* out) {
  if (!n || n->isNull()) return;
  if (!n->isSeq()) {
    ctx.error(*n, "cannot unmarshal " + yamlTagName(*n) + " into []spec.Volume");
    return;
  }
  for (const YamlNode& item : n->items) {
    Fields f(ctx, item, "Volume", {"path", "type", "size", "mode"});
    Volume v;
    readString(ctx, f.get("path"), &v.path);
    readString(ctx, f.get("type"), &v.type);
    readString(ctx, f.get("size"), &v.size);
    readString(ctx, f.get("mode"), &v.mode);
    if (f.valid()) checkVolume(ctx, item, out->size(), v);
    out->push_back(std::move(v));
  }
}

void decodeEnvVariables(DecodeContext& ctx, const YamlNode* n,
                        std::map<std::string, std::string>* out) {
  if (!n || n->isNull()) return;
  if (!readStringMap(ctx, n, out)) return;
  for (size_t i = 0; i < n->keys.size(); ++i) {
    const YamlNode& k = n->keys[i];
    const std::string& name = k.text;
    if (name.empty()) {
      ctx.error(k, "environment: variable key must not be empty");
    } else if (!isShellIdentifier(name)) {
      ctx.error(k, "environment: variable key " + quote(name) + " is not a valid shell identifier");
    } else if (classifyEnvName(name) == EnvNameClass::kProxyBypass) {
      ctx.warn(k, "environment: variable " + quote(name) +
                      " should not be set by a kit: it would route traffic around the egress "
                      "proxy; at run kitgate's own proxy settings win (a NO_PROXY keeps only its "
                      "loopback entries)");
    } else if (classifyEnvName(name) == EnvNameClass::kRuntimeReserved) {
      ctx.warn(k, "environment: variable " + quote(name) +
                      " is reserved for the runtime (SBX_*, DASH_*, DOCKER_*, HOME, USER, SHELL, "
                      "PATH, LD_*) and may "
                      "be overridden");
    }
  }
}

void finishChecks(DecodeContext& ctx, const YamlNode& root, bool v1, Kit* kit) {
  // Kind rules that depend on several fields.
  if (kit->kind == KitKind::kSandbox) {
    if (!kit->requires_agent.empty()) {
      const YamlNode* r = nullptr;
      for (const auto& k : root.keys) {
        if (k.isScalar() && k.text == "requires") r = &k;
      }
      ctx.error(r ? *r : root,
                "requires.agent is only valid for kind \"mixin\", not \"sandbox\" — base-agent "
                "affinity applies to a "
                "mixin layered onto an agent");
    }
  } else if (!kit->agent_instructions.filename.empty()) {
    const YamlNode* ai = root.find(v1 ? "agent" : "agentInstructions");
    ctx.warn(ai ? *ai : root,
             "field \"agentInstructions.filename\" ignored: only used for kind \"sandbox\", not "
             "\"mixin\"");
    kit->agent_instructions.filename.clear();
  }
  // Inject domains: wildcard interception and coverage by the allow list.
  for (const auto& site : ctx.inject_sites) {
    if (isWildcardHost(site.domain)) {
      ctx.warnAt(site.line, site.column,
                 site.label + ": " + quote(site.domain) +
                     " is a wildcard: every matching host will be TLS-intercepted (MITM) by the "
                     "proxy to inject the "
                     "credential; list exact hosts instead");
    }
    bool covered = std::any_of(kit->allow.begin(), kit->allow.end(), [&](const std::string& p) {
      return patternCoversHost(p, site.domain);
    });
    if (!covered) {
      ctx.warnAt(site.line, site.column,
                 site.label + ": domain " + quote(site.domain) +
                     " is not covered by permissions.network.allow; a credential never grants "
                     "egress, so requests "
                     "to it are blocked unless another rule allows them");
    }
  }
  // A variable that is also proxy-managed gets the sentinel, not the value.
  for (const std::string& name : kit->proxyManagedNames()) {
    if (kit->environment.count(name)) {
      const YamlNode* env = root.find("environment");
      ctx.warn(env ? *env : root,
               "environment: variable " + quote(name) +
                   " is also proxy-managed by a credential; the container gets the sentinel "
                   "\"proxy-managed\" instead of this value");
    }
  }
}

}  // namespace kitgate::kit
