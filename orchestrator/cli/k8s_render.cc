#include "orchestrator/cli/k8s_render.h"

#include <nlohmann/json.hpp>

namespace kitgate::cli {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kGatewayPodLabel = "app.kubernetes.io/name";
constexpr std::string_view kSandboxLabel = "kitgate.io/sandbox";
constexpr int kAgentGid = 1000;

// ---- a small YAML writer for JSON values (block style) -------------------------
// Strings are written as JSON strings (valid YAML double-quoted scalars), or
// as literal blocks when they span lines (PEM, the state files).

bool plainKey(const std::string& k) {
  if (k.empty() || k.front() == '-' || k.front() == '.') return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
          c == '/')) {
      return false;
    }
  }
  return true;
}

std::string key(const std::string& k) { return plainKey(k) ? k : Json(k).dump(); }

void emitNode(const Json& v, int indent, std::string& out);

// Appends " <scalar>\n", or a literal block, or "\n" + the nested node.
void emitAfterColon(const Json& v, int indent, std::string& out) {
  if (v.is_object() && !v.empty()) {
    out += "\n";
    emitNode(v, indent + 2, out);
  } else if (v.is_array() && !v.empty()) {
    out += "\n";
    emitNode(v, indent + 2, out);
  } else if (v.is_string() && v.get_ref<const std::string&>().find('\n') != std::string::npos &&
             v.get_ref<const std::string&>().front() != ' ') {
    const std::string& s = v.get_ref<const std::string&>();
    out += s.back() == '\n' ? " |\n" : " |-\n";
    size_t start = 0;
    while (start < s.size()) {
      size_t end = s.find('\n', start);
      if (end == std::string::npos) end = s.size();
      const std::string line = s.substr(start, end - start);
      out += line.empty() ? "" : std::string(indent + 2, ' ') + line;
      out += "\n";
      start = end + 1;
    }
  } else {
    out += " " + v.dump() + "\n";
  }
}

void emitNode(const Json& v, int indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [k, item] : v.items()) {
      out += pad + key(k) + ":";
      emitAfterColon(item, indent, out);
    }
  } else if (v.is_array()) {
    for (const Json& item : v) {
      if (item.is_object() && !item.empty()) {
        // "- first: …" then the other keys under it.
        std::string nested;
        emitNode(item, indent + 2, nested);
        out += pad + "- " + nested.substr(indent + 2);
      } else if (item.is_array() && !item.empty()) {
        std::string nested;
        emitNode(item, indent + 2, nested);
        out += pad + "-\n" + nested;
      } else {
        out += pad + "-";
        emitAfterColon(item, indent, out);
      }
    }
  }
}

std::string yamlDocument(const Json& doc) {
  std::string out = "---\n";
  emitNode(doc, 0, out);
  return out;
}

// ---- the objects ---------------------------------------------------------------

Json meta(const std::string& name, const std::string& ns, const std::string& sandbox) {
  return Json{{"name", name},
              {"namespace", ns},
              {"labels",
               {{"app.kubernetes.io/part-of", "kitgate"}, {std::string(kSandboxLabel), sandbox}}}};
}

// The hardening every container gets (the agent keeps a writable root: it
// installs tools; the trust init container does not).
Json containerSecurity(bool read_only_root) {
  return Json{{"allowPrivilegeEscalation", false},
              {"privileged", false},
              {"readOnlyRootFilesystem", read_only_root},
              {"runAsNonRoot", true},
              {"runAsUser", sandbox::kAgentUid},
              {"runAsGroup", kAgentGid},
              {"capabilities", {{"drop", Json::array({"ALL"})}}},
              {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

std::string dirOf(std::string_view path) { return std::string(path.substr(0, path.rfind('/'))); }
std::string baseOf(std::string_view path) { return std::string(path.substr(path.rfind('/') + 1)); }

Json agentDeployment(const K8sRenderInput& in, const K8sEnv& env) {
  const sandbox::SandboxPlan& plan = in.plan;
  const docker::ContainerSpec& ct = plan.container;
  const std::string& name = plan.name;
  const Json selector = {{std::string(kSandboxLabel), name}};
  const bool has_ca = !in.ca_pem.empty();

  // The trust bundle: the image's system bundle plus the sandbox CA, where
  // the plan's SSL_CERT_FILE & co. point.
  Json trust_args = Json::array({"sh", "-c", "cat \"$@\" > " + std::string(sandbox::kCaBundlePath),
                                 "kitgate-trust", std::string(sandbox::kSystemBundlePath)});
  if (has_ca) trust_args.push_back(std::string(sandbox::kCaCertPath));
  Json trust_mounts =
      Json::array({{{"name", "trust"}, {"mountPath", dirOf(sandbox::kCaBundlePath)}}});
  if (has_ca) {
    trust_mounts.push_back(
        {{"name", "ca"}, {"mountPath", dirOf(sandbox::kCaCertPath)}, {"readOnly", true}});
  }
  const Json small = {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}},
                      {"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}}};

  Json agent_env = Json::array();
  for (const auto& [k, v] : env.plain) agent_env.push_back({{"name", k}, {"value", v}});
  Json mounts = trust_mounts;
  mounts.front()["readOnly"] = true;
  mounts.push_back({{"name", "workspace"}, {"mountPath", ct.working_dir}});
  Json volumes = Json::array({{{"name", "trust"}, {"emptyDir", {{"sizeLimit", "16Mi"}}}},
                              {{"name", "workspace"}, {"emptyDir", Json::object()}}});
  if (has_ca) {
    volumes.push_back({{"name", "ca"},
                       {"configMap",
                        {{"name", name + "-kitgate-ca"},
                         {"items", Json::array({{{"key", "ca.crt"},
                                                 {"path", baseOf(sandbox::kCaCertPath)}}})}}}});
  }
  int n = 0;
  for (const docker::Mount& m : ct.mounts) {
    if (m.type == docker::MountType::kBind || m.target == ct.working_dir) continue;
    const std::string vol = "kit-volume-" + std::to_string(n++);
    Json dir = m.type == docker::MountType::kTmpfs ? Json{{"medium", "Memory"}} : Json::object();
    volumes.push_back({{"name", vol}, {"emptyDir", dir}});
    mounts.push_back({{"name", vol}, {"mountPath", m.target}});
  }

  Json agent = {{"name", "agent"},
                {"image", ct.image},
                {"command", Json::array({"sleep", "infinity"})},
                {"workingDir", ct.working_dir},
                {"stdin", true},
                {"tty", true},
                {"env", agent_env},
                {"envFrom", Json::array({{{"secretRef", {{"name", name + "-kitgate"}}}}})},
                {"resources",
                 {{"requests", {{"cpu", "500m"}, {"memory", "1Gi"}}},
                  {"limits", {{"cpu", "2"}, {"memory", "4Gi"}}}}},
                {"securityContext", containerSecurity(false)},
                {"volumeMounts", mounts}};
  Json pod_spec = {
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      // The gateway by name without DNS (the NetworkPolicy allows none).
      {"hostAliases", Json::array({{{"ip", in.gateway_ip},
                                    {"hostnames", Json::array({std::string(kGatewayName)})}}})},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", sandbox::kAgentUid},
        {"runAsGroup", kAgentGid},
        {"fsGroup", kAgentGid},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"initContainers", Json::array({{{"name", "trust"},
                                       {"image", ct.image},
                                       {"command", trust_args},
                                       {"resources", small},
                                       {"securityContext", containerSecurity(true)},
                                       {"volumeMounts", trust_mounts}}})},
      {"containers", Json::array({agent})},
      {"volumes", volumes}};

  std::string argv;
  for (const std::string& a : plan.agent_argv) argv += (argv.empty() ? "" : " ") + a;
  Json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", meta(name, in.agent_namespace, name)}};
  d["metadata"]["annotations"] = {
      {"kitgate.io/agent", "kubectl exec -it deploy/" + name + " -- " + argv}};
  d["spec"] = {{"replicas", 1},
               {"strategy", {{"type", "Recreate"}}},
               {"selector", {{"matchLabels", selector}}},
               {"template",
                {{"metadata", {{"labels", meta(name, in.agent_namespace, name)["labels"]}}},
                 {"spec", pod_spec}}}};
  return d;
}

Json agentNetworkPolicy(const K8sRenderInput& in) {
  const std::string& name = in.plan.name;
  Json p = {{"apiVersion", "networking.k8s.io/v1"},
            {"kind", "NetworkPolicy"},
            {"metadata", meta(name + "-egress", in.agent_namespace, name)}};
  p["spec"] = {
      {"podSelector", {{"matchLabels", {{std::string(kSandboxLabel), name}}}}},
      {"policyTypes", Json::array({"Ingress", "Egress"})},
      {"egress",
       Json::array(
           {{{"to",
              Json::array(
                  {{{"namespaceSelector",
                     {{"matchLabels", {{"kubernetes.io/metadata.name", in.gateway_namespace}}}}},
                    {"podSelector",
                     {{"matchLabels",
                       {{std::string(kGatewayPodLabel), std::string(kGatewayName)}}}}}}})},
             {"ports", Json::array({{{"protocol", "TCP"}, {"port", sandbox::kProxyPort}}})}}})}};
  return p;
}

}  // namespace

K8sEnv splitEnv(const sandbox::SandboxPlan& plan, const std::string& token) {
  K8sEnv env;
  for (const std::string& e : plan.container.env) {
    const size_t eq = e.find('=');
    std::string k = e.substr(0, eq), v = eq == std::string::npos ? "" : e.substr(eq + 1);
    const bool secret = (!token.empty() && v.find(token) != std::string::npos) ||
                        v == sandbox::kProxyManagedSentinel;
    (secret ? env.secret : env.plain).emplace_back(std::move(k), std::move(v));
  }
  return env;
}

StatusOr<std::string> renderK8s(const K8sRenderInput& in) {
  if (in.token.empty() || in.plan.proxy_url.find(in.token) == std::string::npos) {
    return Status::error("internal error: the plan's proxy URL does not hold the token");
  }
  if (in.gateway_ip.empty()) return Status::error("the gateway Service's cluster IP is required");
  const std::string& name = in.plan.name;
  const K8sEnv env = splitEnv(in.plan, in.token);

  std::string out =
      "# kitgate k8s render: sandbox " + name + " (agent namespace " + in.agent_namespace +
      ", gateway namespace " + in.gateway_namespace +
      ")\n"
      "# The last Secret belongs to the gateway: add it to the gateway's state volume\n"
      "# (deploy/kubernetes/gateway, see deploy/README.md). The token is in Secrets only.\n";

  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", meta(name + "-kitgate", in.agent_namespace, name)},
                 {"type", "Opaque"},
                 {"stringData", Json::object()}};
  for (const auto& [k, v] : env.secret) secret["stringData"][k] = v;
  out += yamlDocument(secret);

  if (!in.ca_pem.empty()) {
    out += yamlDocument({{"apiVersion", "v1"},
                         {"kind", "ConfigMap"},
                         {"metadata", meta(name + "-kitgate-ca", in.agent_namespace, name)},
                         {"data", {{"ca.crt", in.ca_pem}}}});
  }
  out += yamlDocument(agentDeployment(in, env));
  out += yamlDocument(agentNetworkPolicy(in));

  Json state = {{"sandbox.yaml", in.sandbox_yaml}};
  if (!in.credentials_yaml.empty()) state["credentials.yaml"] = in.credentials_yaml;
  if (!in.ca_pem.empty()) {
    state["ca.crt"] = in.ca_pem;
    state["ca.key"] = in.ca_key_pem;
  }
  Json gw = {{"apiVersion", "v1"},
             {"kind", "Secret"},
             {"metadata", meta("kitgate-sandbox-" + name, in.gateway_namespace, name)},
             {"type", "Opaque"},
             {"stringData", state}};
  out += yamlDocument(gw);
  return out;
}

}  // namespace kitgate::cli
