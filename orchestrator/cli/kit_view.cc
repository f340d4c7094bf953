#include "orchestrator/cli/kit_view.h"

#include <nlohmann/json.hpp>
#include <sstream>

namespace kitgate::cli {

using nlohmann::ordered_json;

namespace {

ordered_json valueToJson(const kit::Value& v) {
  switch (v.kind) {
    case kit::Value::Kind::kNull:
      return nullptr;
    case kit::Value::Kind::kScalar:
      return v.scalar;
    case kit::Value::Kind::kSequence: {
      ordered_json a = ordered_json::array();
      for (const auto& i : v.items) a.push_back(valueToJson(i));
      return a;
    }
    case kit::Value::Kind::kMap: {
      ordered_json o = ordered_json::object();
      for (size_t i = 0; i < v.keys.size(); ++i) o[v.keys[i]] = valueToJson(v.items[i]);
      return o;
    }
  }
  return nullptr;
}

std::string modeText(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", mode);
  return buf;
}

ordered_json diagnosticToJson(const kit::Diagnostic& d) {
  return ordered_json{
      {"file", d.file}, {"line", d.line}, {"column", d.column}, {"message", d.message}};
}

ordered_json warningsJson(const kit::LoadResult& r) {
  ordered_json w = ordered_json::array();
  for (const auto& m : r.warningMessages()) w.push_back(m);
  return w;
}

}  // namespace

std::string describeInject(const kit::Inject& inject) {
  if (!inject.username.empty()) {
    return "Authorization: Basic base64(" + inject.username + ":<secret>)";
  }
  if (inject.header.empty()) return "routing only (no header written)";
  std::string value = inject.format;
  size_t pos = value.find("%s");
  if (pos != std::string::npos) value.replace(pos, 2, "<secret>");
  return inject.header + ": " + value;
}

std::string kitToJson(const kit::LoadResult& result, std::string_view ref) {
  const kit::Kit& k = result.kit;
  ordered_json j;
  j["reference"] = std::string(ref);
  j["referenceKind"] = std::string(kit::refKindName(result.ref_kind));
  j["sourceSchemaVersion"] = result.spec_schema;
  j["schemaVersion"] = "2";
  j["kind"] = k.kind == kit::KitKind::kSandbox ? "sandbox" : "mixin";
  j["name"] = k.name;
  if (!k.version.empty()) j["version"] = k.version;
  if (!k.display_name.empty()) j["displayName"] = k.display_name;
  if (!k.description.empty()) j["description"] = k.description;
  if (!k.source_url.empty()) j["sourceURL"] = k.source_url;
  if (!k.licenses.empty()) j["licenses"] = k.licenses;
  if (!k.locked.empty()) j["locked"] = k.locked;
  if (k.privileged) j["security"] = {{"privileged", true}};
  if (!k.args.empty()) {
    ordered_json args = ordered_json::object();
    for (const auto& [name, spec] : k.args) {
      ordered_json a = ordered_json::object();
      if (spec.default_value) a["default"] = *spec.default_value;
      if (spec.required) a["required"] = true;
      if (!spec.description.empty()) a["description"] = spec.description;
      if (!spec.enum_values.empty()) a["enum"] = spec.enum_values;
      if (!spec.pattern.empty()) a["pattern"] = spec.pattern;
      args[name] = a;
    }
    j["args"] = args;
  }
  if (!k.extends.empty()) j["extends"] = k.extends;
  if (!k.mixins.empty()) j["mixins"] = k.mixins;
  if (!k.requires_agent.empty()) j["requires"] = {{"agent", k.requires_agent}};
  if (k.sandbox) {
    ordered_json s;
    s["image"] = k.sandbox->image;
    if (k.sandbox->build) {
      const auto& b = *k.sandbox->build;
      s["build"] = {{"context", b.context},
                    {"dockerfile", b.dockerfile},
                    {"args", b.args},
                    {"target", b.target},
                    {"platforms", b.platforms}};
    }
    if (!k.sandbox->entrypoint.empty()) s["entrypoint"] = k.sandbox->entrypoint;
    if (k.sandbox->command) {
      ordered_json c;
      c["default"] = k.sandbox->command->default_args;
      if (k.sandbox->command->interactive) c["interactive"] = *k.sandbox->command->interactive;
      s["command"] = c;
    }
    if (k.sandbox->resources) {
      const auto& r = *k.sandbox->resources;
      s["resources"] = {{"cpu", r.cpu}, {"memory", r.memory}, {"gpu", r.gpu}};
    }
    j["sandbox"] = s;
  }
  if (!k.agent_instructions.filename.empty() || !k.agent_instructions.content.empty()) {
    ordered_json ai = ordered_json::object();
    if (!k.agent_instructions.filename.empty()) ai["filename"] = k.agent_instructions.filename;
    if (!k.agent_instructions.content.empty()) ai["content"] = k.agent_instructions.content;
    j["agentInstructions"] = ai;
  }
  j["permissions"] = {{"network", {{"allow", k.allow}, {"deny", k.deny}}}};
  ordered_json ports = ordered_json::array();
  for (const auto& p : k.ports) {
    ordered_json o{{"container", p.container}};
    if (!p.protocol.empty()) o["protocol"] = p.protocol;
    if (!p.name.empty()) o["name"] = p.name;
    ports.push_back(o);
  }
  j["ports"] = ports;
  ordered_json creds = ordered_json::array();
  ordered_json intercepts = ordered_json::array();
  for (const auto& c : k.credentials) {
    ordered_json o{{"service", c.service}};
    if (!c.description.empty()) o["description"] = c.description;
    if (c.required) o["required"] = true;
    if (c.api_key) {
      ordered_json inject = ordered_json::array();
      for (const auto& r : c.api_key->inject) {
        ordered_json row{{"domain", r.domain}};
        if (!r.header.empty()) row["header"] = r.header;
        if (!r.format.empty()) row["format"] = r.format;
        if (!r.username.empty()) row["username"] = r.username;
        inject.push_back(row);
        intercepts.push_back(
            {{"domain", r.domain}, {"service", c.service}, {"writes", describeInject(r)}});
      }
      o["apiKey"] = {{"name", c.api_key->name},
                     {"proxyManaged", c.api_key->proxy_managed},
                     {"inject", inject}};
    }
    if (c.oauth) {
      const auto& a = *c.oauth;
      ordered_json oa;
      oa["tokenEndpoint"] = {{"host", a.token_host}, {"path", a.token_path}};
      if (!a.resource_hosts.empty()) oa["resourceHosts"] = a.resource_hosts;
      oa["sentinels"] = {{"accessToken", a.access_sentinel}, {"refreshToken", a.refresh_sentinel}};
      ordered_json cf{{"path", a.credential_file_path}};
      if (!a.credential_file_template.empty()) cf["template"] = a.credential_file_template;
      if (a.credential_file_structure) cf["structure"] = valueToJson(*a.credential_file_structure);
      oa["credentialFile"] = cf;
      if (!a.response_fields.empty()) oa["responseFields"] = a.response_fields;
      if (a.passthrough) oa["passthrough"] = true;
      o["oauth"] = oa;
      intercepts.push_back(
          {{"domain", a.token_host}, {"service", c.service}, {"writes", "OAuth token exchange"}});
      for (const auto& h : a.resource_hosts) {
        intercepts.push_back({{"domain", h},
                              {"service", c.service},
                              {"writes", "Authorization: Bearer <oauth access token>"}});
      }
    }
    creds.push_back(o);
  }
  j["credentials"] = creds;
  j["environment"] = {{"variables", k.environment}, {"proxyManaged", k.proxyManagedNames()}};
  ordered_json install = ordered_json::array();
  for (const auto& s : k.setup.install)
    install.push_back({{"command", s.command}, {"user", s.user}, {"description", s.description}});
  ordered_json startup = ordered_json::array();
  for (const auto& s : k.setup.startup)
    startup.push_back({{"command", s.command},
                       {"user", s.user},
                       {"background", s.background},
                       {"description", s.description}});
  ordered_json files = ordered_json::array();
  for (const auto& f : k.setup.files)
    files.push_back({{"path", f.path},
                     {"content", f.content},
                     {"mode", f.mode},
                     {"onlyIfMissing", f.only_if_missing},
                     {"description", f.description}});
  j["setup"] = {{"install", install}, {"startup", startup}, {"files", files}};
  ordered_json volumes = ordered_json::array();
  for (const auto& v : k.volumes) {
    ordered_json o{{"path", v.path}};
    if (!v.type.empty()) o["type"] = v.type;
    if (!v.size.empty()) o["size"] = v.size;
    if (!v.mode.empty()) o["mode"] = v.mode;
    volumes.push_back(o);
  }
  j["volumes"] = volumes;
  j["intercepts"] = intercepts;
  ordered_json kit_files = ordered_json::array();
  for (const auto& f : k.files) {
    kit_files.push_back({{"target", f.target == kit::FileTarget::kHome ? "home" : "workspace"},
                         {"relativePath", f.relative_path},
                         {"size", f.content.size()},
                         {"mode", modeText(f.mode)}});
  }
  j["files"] = kit_files;
  j["warnings"] = warningsJson(result);
  return j.dump(2) + "\n";
}

std::string verdictToJson(const kit::LoadResult& result, std::string_view ref) {
  ordered_json j;
  j["reference"] = std::string(ref);
  j["kind"] = std::string(kit::refKindName(result.ref_kind));
  j["valid"] = result.ok();
  ordered_json errors = ordered_json::array();
  std::string joined;
  for (const auto* d : result.errors()) {
    errors.push_back(diagnosticToJson(*d));
    joined += (joined.empty() ? "" : "\n") + d->message;
  }
  if (!result.ok()) j["error"] = joined;
  j["errors"] = errors;
  j["warnings"] = warningsJson(result);
  return j.dump(2) + "\n";
}

std::string kitToText(const kit::LoadResult& result, std::string_view ref, bool color) {
  const kit::Kit& k = result.kit;
  const char* b = color ? "\033[1m" : "";
  const char* r = color ? "\033[0m" : "";
  std::ostringstream o;
  auto join = [](const std::vector<std::string>& v, const char* sep) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
  };
  o << b << "Kit:" << r << " " << k.name << " ("
    << (k.kind == kit::KitKind::kSandbox ? "sandbox" : "mixin") << ")";
  if (!k.display_name.empty()) o << " — " << k.display_name;
  if (!k.version.empty()) o << ", version " << k.version;
  o << "\n";
  if (!k.description.empty())
    o << "  " << k.description << (k.description.back() == '\n' ? "" : "\n");
  o << b << "Source:" << r << " " << ref << " (" << kit::refKindName(result.ref_kind)
    << "), schemaVersion \"" << result.spec_schema << "\""
    << (result.spec_schema == "2" ? "" : ", shown normalized to schemaVersion \"2\"") << "\n";
  if (!k.extends.empty()) o << b << "Extends:" << r << " " << k.extends << "\n";
  if (!k.requires_agent.empty())
    o << b << "Requires agent:" << r << " " << k.requires_agent << "\n";
  if (k.sandbox) {
    o << b << "Image:" << r << " " << k.sandbox->image << "\n";
    std::string ep = join(k.sandbox->entrypoint, " ");
    o << b << "Entrypoint:" << r << " " << (ep.empty() ? "(the image's own)" : ep) << "\n";
    if (k.sandbox->command) {
      o << "  task mode runs:        " << join(k.sandbox->command->default_args, " ") << "\n";
      const auto& tail = k.sandbox->command->interactive ? *k.sandbox->command->interactive
                                                         : k.sandbox->command->default_args;
      o << "  interactive mode runs: " << join(tail, " ") << "\n";
    }
  }
  o << b << "Network (deny wins over allow; everything else is blocked):" << r << "\n";
  o << "  allow: " << (k.allow.empty() ? "(none)" : join(k.allow, ", ")) << "\n";
  o << "  deny:  " << (k.deny.empty() ? "(none)" : join(k.deny, ", ")) << "\n";
  o << b << "Intercepted hosts (TLS-intercepted by the proxy to write a credential):" << r << "\n";
  bool any = false;
  for (const auto& c : k.credentials) {
    if (c.api_key) {
      for (const auto& inj : c.api_key->inject) {
        o << "  " << inj.domain << "  [" << c.service << "]  " << describeInject(inj) << "\n";
        any = true;
      }
    }
    if (c.oauth) {
      o << "  " << c.oauth->token_host << "  [" << c.service << "]  OAuth token exchange at "
        << c.oauth->token_path << "\n";
      for (const auto& h : c.oauth->resource_hosts)
        o << "  " << h << "  [" << c.service << "]  OAuth bearer token\n";
      any = true;
    }
  }
  if (!any) o << "  (none: every allowed host is a blind tunnel)\n";
  if (!k.credentials.empty()) {
    o << b
      << "Credentials (the real secret stays on the host; set it with 'kitgate secret set "
         "<service>'):"
      << r << "\n";
    for (const auto& c : k.credentials) {
      o << "  " << c.service << (c.required ? " (required)" : " (optional)");
      if (c.api_key && !c.api_key->name.empty()) {
        o << ", container env " << c.api_key->name
          << (c.api_key->proxy_managed ? "=proxy-managed (sentinel)"
                                       : " (not set in the container)");
      }
      if (!c.description.empty()) o << " — " << c.description;
      o << "\n";
    }
  }
  if (!k.environment.empty() || !k.proxyManagedNames().empty()) {
    o << b << "Environment:" << r << "\n";
    for (const auto& [name, value] : k.environment) o << "  " << name << "=" << value << "\n";
    for (const auto& name : k.proxyManagedNames())
      o << "  " << name << "=proxy-managed (sentinel; proxy injects the real value)\n";
  }
  if (!k.setup.install.empty() || !k.setup.startup.empty() || !k.setup.files.empty()) {
    o << b << "Setup:" << r << "\n";
    for (size_t i = 0; i < k.setup.install.size(); ++i) {
      const auto& s = k.setup.install[i];
      o << "  install[" << i << "] as user " << s.user << ": "
        << (s.description.empty() ? s.command : s.description) << "\n";
    }
    for (size_t i = 0; i < k.setup.startup.size(); ++i) {
      const auto& s = k.setup.startup[i];
      o << "  startup[" << i << "] as user " << s.user << (s.background ? " (background)" : "")
        << ": " << (s.description.empty() ? join(s.command, " ") : s.description) << "\n";
    }
    for (const auto& f : k.setup.files) {
      o << "  file " << f.path << " (" << f.mode << (f.only_if_missing ? ", only if missing" : "")
        << ")" << (f.description.empty() ? "" : ": " + f.description) << "\n";
    }
  }
  if (!k.ports.empty()) {
    o << b << "Ports:" << r;
    for (const auto& p : k.ports)
      o << " " << p.container << (p.protocol.empty() ? "" : "/" + p.protocol);
    o << "\n";
  }
  if (!k.volumes.empty()) {
    o << b << "Volumes:" << r << "\n";
    for (const auto& v : k.volumes)
      o << "  " << v.path << " (" << (v.type.empty() ? "block" : v.type)
        << (v.size.empty() ? "" : ", " + v.size) << ")\n";
  }
  if (!k.agent_instructions.filename.empty() || !k.agent_instructions.content.empty()) {
    o << b << "Agent instructions:" << r << " "
      << (k.agent_instructions.filename.empty() ? "(mixin context file)"
                                                : k.agent_instructions.filename)
      << ", " << k.agent_instructions.content.size() << " bytes\n";
  }
  if (!k.files.empty()) {
    o << b << "Files:" << r << "\n";
    for (const auto& f : k.files) {
      o << "  " << (f.target == kit::FileTarget::kHome ? "/home/agent/" : "<workspace>/")
        << f.relative_path << " (" << modeText(f.mode) << ", " << f.content.size() << " bytes)\n";
    }
  }
  auto warnings = result.warningMessages();
  if (!warnings.empty()) {
    o << b << "Warnings:" << r << "\n";
    for (const auto& w : warnings) o << "  WARN: " << w << "\n";
  }
  return o.str();
}

}  // namespace kitgate::cli
