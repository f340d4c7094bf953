// `kitgate k8s render`: the Kubernetes objects of one sandbox, like
// `helm template` — printed, never applied. Pure functions, any thread.
//
// For a composed kit planned as `run` plans it (sandbox::planSandbox), with
// the gateway (deploy/kubernetes/gateway) in place of the host proxy:
//   Secret <name>-kitgate            agent namespace: the proxy URL with the
//                                    token (upper- and lower-case variables)
//                                    and the kit's placeholders; envFrom'd
//   ConfigMap <name>-kitgate-ca      agent namespace: the sandbox's CA (only
//                                    when the kit has credential routes)
//   Deployment <name>                the agent: one replica, non-root, no
//                                    service-account token, seccomp, no
//                                    capabilities; an init container builds
//                                    the trust bundle (system bundle + CA)
//   NetworkPolicy <name>-egress      egress only to the gateway pods' proxy
//                                    port (no DNS, no metadata, no internet);
//                                    no ingress
//   Secret kitgate-sandbox-<name>    gateway namespace: sandboxes/<name>.yaml,
//                                    credentials/<name>.yaml, ca/<name>.{crt,key}
//                                    as the gateway's projected state volume
//                                    maps them (the key never reaches the agent)
// The output is a YAML stream (documents separated by `---`).
#pragma once

#include <string>
#include <vector>

#include "orchestrator/sandbox/plan.h"
#include "proxy/common/status.h"

namespace kitgate::cli {

inline constexpr std::string_view kGatewayName = "kitgate-gateway";  // Service and pod label

struct K8sRenderInput {
  sandbox::SandboxPlan plan;      // planned with gateway = kGatewayName
  std::string agent_namespace;    // where the agent runs
  std::string gateway_namespace;  // where the gateway runs
  std::string token;              // the identification token (in plan.proxy_url)
  std::string gateway_ip;         // the gateway Service's cluster IP (hostAliases: no DNS)
  // Gateway state files, as the state writers wrote them (exact bytes).
  std::string sandbox_yaml;        // sandboxes/<name>.yaml (token, rules)
  std::string credentials_yaml;    // credentials/<name>.yaml; "" = no routes
  std::string ca_pem, ca_key_pem;  // "" = no interception
};

StatusOr<std::string> renderK8s(const K8sRenderInput& in);

// The plan's `NAME=value` environment split for Kubernetes: values holding
// `token` (the proxy variables) and placeholders (the proxy-managed
// sentinel) go to the Secret; the rest (paths, flags) stay plain env.
struct K8sEnv {
  std::vector<std::pair<std::string, std::string>> secret, plain;
};
K8sEnv splitEnv(const sandbox::SandboxPlan& plan, const std::string& token);

}  // namespace kitgate::cli
