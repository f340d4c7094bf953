// Offline checks of kitgate's Kubernetes objects (no cluster):
//   schema  every object against the Kubernetes OpenAPI schemas, as compiled
//           into the npm package kubernetes-models (types, required fields,
//           enums, formats);
//   lint    the security settings kitgate promises (deploy/README.md): the
//           gateway Deployment (replicas >= 2, PDB, spread, probes /healthz
//           /readyz + startup, requests/limits, read-only root, drop ALL,
//           seccomp RuntimeDefault, numeric non-root, no service-account
//           token, pinned image, state without subPath) and every agent
//           (the same hardening, proxy variables in both cases from a
//           Secret, the CA bundle, egress only to the gateway's proxy port).
// Usage: node validate.mjs [--self-test] FILE…   (multi-document YAML)
//   --self-test  also breaks each rule once on a copy of the objects and
//                fails unless the lint reports exactly that rule.
// Exit 0 = all good; 1 = problems (one line each: file: kind/name: message).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const GATEWAY = "kitgate-gateway";
const PROXY_PORT = 3128;

function loadFile(file) {
  const out = [];
  const text = readFileSync(file, "utf8");
  for (const doc of parseAllDocuments(text, { uniqueKeys: true })) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj !== null && obj !== undefined) out.push({ file, obj });
  }
  return out;
}

async function modelFor(apiVersion, kind) {
  const path = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    const mod = await import(path);
    return mod[kind];
  } catch {
    return null;
  }
}

async function schemaErrors(items) {
  const errors = [];
  for (const { file, obj } of items) {
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    if (obj.kind === "Kustomization") continue;  // kustomize's own file, not an API object
    const Model = await modelFor(obj.apiVersion, obj.kind);
    if (!Model) {
      errors.push(`${where}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      errors.push(`${where}: schema: ${e.message.split("\n")[0]}`);
    }
  }
  return errors;
}

// ---- lint ---------------------------------------------------------------------
const labelsOf = (o) => o.spec?.template?.metadata?.labels ?? {};
const isGateway = (o) => o.kind === "Deployment" && labelsOf(o)["app.kubernetes.io/name"] === GATEWAY;
const isAgent = (o) => o.kind === "Deployment" && "kitgate.io/sandbox" in labelsOf(o);
const selects = (selector, labels) =>
  Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
  (selector?.matchExpressions ?? []).every((e) => e.operator === "Exists" && e.key in labels);

function podHardening(o, problem, { readOnlyRoot, pinned }) {
  const pod = o.spec.template.spec;
  const psc = pod.securityContext ?? {};
  if (pod.automountServiceAccountToken !== false) problem("automountServiceAccountToken is not false");
  const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.allowPrivilegeEscalation !== false) problem(`${at}: allowPrivilegeEscalation is not false`);
    if (sc.privileged === true) problem(`${at}: privileged`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) problem(`${at}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).length) problem(`${at}: adds capabilities`);
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) problem(`${at}: runAsNonRoot is not true`);
    const uid = sc.runAsUser ?? psc.runAsUser;
    if (!Number.isInteger(uid) || uid <= 0) problem(`${at}: no numeric non-root runAsUser`);
    if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") problem(`${at}: seccomp is not RuntimeDefault`);
    if (readOnlyRoot && c.name !== "agent" && sc.readOnlyRootFilesystem !== true) problem(`${at}: root file system is not read-only`);
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.cpu || !c.resources?.limits?.memory) {
      problem(`${at}: requests and limits (cpu, memory) missing`);
    }
    const image = c.image ?? "";
    const isPinned = /^[^:@]+(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/.test(image) && /[:@]/.test(image) && !/:latest$/.test(image);
    if (pinned && !isPinned) {
      problem(`${at}: image "${c.image}" is not pinned (a version tag or digest, not latest)`);
    }
    for (const m of c.volumeMounts ?? []) if (m.subPath || m.subPathExpr) problem(`${at}: subPath mount ${m.mountPath} (never updated)`);
  }
}

function lintGateway(o, all, problem) {
  const spec = o.spec;
  const pod = spec.template.spec;
  if (!(spec.replicas >= 2)) problem("replicas < 2");
  if (!(pod.topologySpreadConstraints ?? []).length) problem("no topologySpreadConstraints");
  const labels = labelsOf(o);
  if (!all.some((x) => x.kind === "PodDisruptionBudget" && selects(x.spec.selector, labels))) problem("no PodDisruptionBudget selects it");
  if (!all.some((x) => x.kind === "Service" && Object.entries(x.spec.selector ?? {}).every(([k, v]) => labels[k] === v))) problem("no Service selects it");
  podHardening(o, problem, { readOnlyRoot: true, pinned: true });
  for (const c of pod.containers) {
    const path = (p) => p?.httpGet?.path;
    if (path(c.livenessProbe) !== "/healthz") problem(`container ${c.name}: liveness probe is not GET /healthz`);
    if (path(c.readinessProbe) !== "/readyz") problem(`container ${c.name}: readiness probe is not GET /readyz`);
    if (!c.startupProbe) problem(`container ${c.name}: no startup probe`);
  }
  for (const v of pod.volumes ?? []) {
    const ok = v.configMap || v.secret || v.projected || v.emptyDir;
    if (!ok) problem(`volume ${v.name}: state must come from ConfigMap/Secret volumes`);
    for (const s of v.projected?.sources ?? []) if (!s.secret && !s.configMap) problem(`volume ${v.name}: projects something else than a Secret or ConfigMap`);
  }
}

function lintAgent(o, all, problem) {
  podHardening(o, problem, { readOnlyRoot: false, pinned: false });  // the kit's image is the kit's
  const pod = o.spec.template.spec;
  const agent = pod.containers.find((c) => c.name === "agent") ?? pod.containers[0];
  const env = Object.fromEntries((agent.env ?? []).map((e) => [e.name, e.value]));
  for (const ref of agent.envFrom ?? []) {
    const s = all.find((x) => x.kind === "Secret" && x.metadata.name === ref.secretRef?.name);
    Object.assign(env, s?.stringData ?? {});
  }
  for (const v of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]) {
    if (!new RegExp(`^http://[^:@/]+:[^@/]+@${GATEWAY}:${PROXY_PORT}$`).test(env[v] ?? "")) problem(`${v} is not http://name:token@${GATEWAY}:${PROXY_PORT} from a Secret`);
    if ((agent.env ?? []).some((e) => e.name === v)) problem(`${v} is plain env: the token belongs in a Secret`);
  }
  const bundle = env.SSL_CERT_FILE;
  if (!bundle || bundle === env.NODE_EXTRA_CA_CERTS) problem("SSL_CERT_FILE is not a bundle (system CAs plus the sandbox CA)");
  if (!(pod.hostAliases ?? []).some((h) => (h.hostnames ?? []).includes(GATEWAY))) problem(`no hostAliases entry for ${GATEWAY} (the agent has no DNS)`);
  const podLabels = labelsOf(o);
  const policies = all.filter((x) => x.kind === "NetworkPolicy" && x.metadata.namespace === o.metadata.namespace && selects(x.spec.podSelector, podLabels));
  if (!policies.length) problem("no NetworkPolicy selects the agent");
  for (const p of policies) {
    const types = p.spec.policyTypes ?? [];
    if (!types.includes("Egress") || !types.includes("Ingress")) problem(`NetworkPolicy ${p.metadata.name}: policyTypes must hold Ingress and Egress`);
    if ((p.spec.ingress ?? []).length) problem(`NetworkPolicy ${p.metadata.name}: allows ingress`);
    for (const rule of p.spec.egress ?? []) {
      const to = rule.to ?? [];
      const toGateway = to.length > 0 && to.every((peer) => !peer.ipBlock && peer.namespaceSelector && peer.podSelector?.matchLabels?.["app.kubernetes.io/name"] === GATEWAY);
      const ports = rule.ports ?? [];
      const proxyPort = ports.length > 0 && ports.every((pt) => pt.port === PROXY_PORT && (pt.protocol ?? "TCP") === "TCP" && !pt.endPort);
      if (!toGateway || !proxyPort) problem(`NetworkPolicy ${p.metadata.name}: an egress rule allows more than the gateway pods' port ${PROXY_PORT}`);
    }
  }
}

function lintNetworkPolicyGateway(o, problem) {
  for (const rule of o.spec.ingress ?? []) {
    if (!(rule.ports ?? []).length) problem("an ingress rule opens every port");
    if ((rule.ports ?? []).some((p) => p.port === 9091 || p.port === "admin")) problem("the admin port is reachable from pods");
  }
}

function lint(items) {
  const all = items.map((i) => i.obj);
  const errors = [];
  for (const { file, obj: o } of items) {
    const problem = (msg) => errors.push(`${file}: ${o.kind}/${o.metadata?.name}: ${msg}`);
    if (isGateway(o)) lintGateway(o, all, problem);
    else if (isAgent(o)) lintAgent(o, all, problem);
    else if (o.kind === "NetworkPolicy" && o.spec?.podSelector?.matchLabels?.["app.kubernetes.io/name"] === GATEWAY) lintNetworkPolicyGateway(o, problem);
    if (o.kind !== "Secret") {
      const text = JSON.stringify(o);
      for (const s of all.filter((x) => x.kind === "Secret")) {
        for (const [k, v] of Object.entries(s.stringData ?? {})) {
          const m = /^http:\/\/[^:]+:([^@]+)@/.exec(String(v));
          if (m && text.includes(m[1])) problem(`holds the token of Secret ${s.metadata.name} (${k})`);
        }
      }
    }
  }
  return errors;
}

// ---- self-test: every rule can fail ------------------------------------------
const clone = (x) => JSON.parse(JSON.stringify(x));
const first = (items, pred) => items.find((i) => pred(i.obj))?.obj;
const mutations = [
  ["replicas < 2", (it) => { first(it, isGateway).spec.replicas = 1; }],
  ["no PodDisruptionBudget", (it) => { it.splice(it.findIndex((i) => i.obj.kind === "PodDisruptionBudget"), 1); }],
  ["no topologySpreadConstraints", (it) => { delete first(it, isGateway).spec.template.spec.topologySpreadConstraints; }],
  ["readiness probe", (it) => { first(it, isGateway).spec.template.spec.containers[0].readinessProbe.httpGet.path = "/metrics"; }],
  ["no startup probe", (it) => { delete first(it, isGateway).spec.template.spec.containers[0].startupProbe; }],
  ["root file system is not read-only", (it) => { first(it, isGateway).spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false; }],
  ["do not drop ALL", (it) => { first(it, isGateway).spec.template.spec.containers[0].securityContext.capabilities.drop = []; }],
  ["seccomp", (it) => { const p = first(it, isGateway).spec.template.spec; delete p.securityContext.seccompProfile; delete p.containers[0].securityContext.seccompProfile; }],
  ["numeric non-root", (it) => { const p = first(it, isGateway).spec.template.spec; delete p.securityContext.runAsUser; delete p.containers[0].securityContext.runAsUser; }],
  ["automountServiceAccountToken", (it) => { first(it, isGateway).spec.template.spec.automountServiceAccountToken = true; }],
  ["not pinned", (it) => { first(it, isGateway).spec.template.spec.containers[0].image = "kitgate-proxy"; }],
  ["requests and limits", (it) => { delete first(it, isGateway).spec.template.spec.containers[0].resources.limits; }],
  ["subPath", (it) => { first(it, isGateway).spec.template.spec.containers[0].volumeMounts[0].subPath = "proxy.yaml"; }],
  ["admin port", (it) => { first(it, (o) => o.kind === "NetworkPolicy" && o.metadata.name === GATEWAY).spec.ingress[0].ports.push({ port: 9091 }); }],
  ["allows more than the gateway", (it) => { first(it, (o) => o.kind === "NetworkPolicy" && o.metadata.name.endsWith("-egress")).spec.egress.push({ ports: [{ port: 53, protocol: "UDP" }] }); }],
  ["allows more than the gateway", (it) => { first(it, (o) => o.kind === "NetworkPolicy" && o.metadata.name.endsWith("-egress")).spec.egress[0].to.push({ ipBlock: { cidr: "0.0.0.0/0" } }); }],
  ["allows ingress", (it) => { first(it, (o) => o.kind === "NetworkPolicy" && o.metadata.name.endsWith("-egress")).spec.ingress = [{}]; }],
  ["http_proxy", (it) => { const s = first(it, (o) => o.kind === "Secret" && "http_proxy" in (o.stringData ?? {})); delete s.stringData.http_proxy; }],
  ["plain env", (it) => { const a = first(it, isAgent); const c = a.spec.template.spec.containers[0]; const s = first(it, (o) => o.kind === "Secret" && "HTTPS_PROXY" in (o.stringData ?? {})); c.env.push({ name: "HTTPS_PROXY", value: s.stringData.HTTPS_PROXY }); }],
  ["SSL_CERT_FILE", (it) => { const c = first(it, isAgent).spec.template.spec.containers[0]; c.env.find((e) => e.name === "SSL_CERT_FILE").value = c.env.find((e) => e.name === "NODE_EXTRA_CA_CERTS").value; }],
  ["hostAliases", (it) => { delete first(it, isAgent).spec.template.spec.hostAliases; }],
  ["agent: automountServiceAccountToken", (it) => { delete first(it, isAgent).spec.template.spec.automountServiceAccountToken; }],
];

async function main() {
  const args = process.argv.slice(2);
  const selfTest = args[0] === "--self-test";
  const files = selfTest ? args.slice(1) : args;
  let items = [];
  for (const f of files) items = items.concat(loadFile(f));
  const errors = [...(await schemaErrors(items)), ...lint(items)];
  for (const e of errors) console.log(e);
  console.log(`${items.length} objects in ${files.length} files: ${errors.length} problems`);
  if (errors.length) process.exit(1);
  if (!selfTest) return;
  let missed = 0;
  for (const [expect, mutate] of mutations) {
    const copy = clone(items);
    mutate(copy);
    const found = lint(copy).filter((e) => e.includes(expect.replace(/^agent: /, "")));
    if (!found.length) {
      console.log(`self-test: breaking "${expect}" went unnoticed`);
      missed++;
    }
  }
  console.log(`self-test: ${mutations.length - missed} of ${mutations.length} broken rules caught`);
  if (missed) process.exit(1);
}

main().catch((e) => {
  console.log(e.message);
  process.exit(1);
});
