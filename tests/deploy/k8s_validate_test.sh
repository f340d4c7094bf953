#!/usr/bin/env bash
# Offline validation (no cluster) of every Kubernetes manifest kitgate ships
# and of `kitgate k8s render` for every sandbox kit in configs/kits and the
# kit corpus, plus composed kits: Kubernetes OpenAPI schemas (npm package
# kubernetes-models) and the security lint of tests/deploy/k8s/validate.mjs,
# whose --self-test breaks each rule once and expects the lint to catch it.
# The npm packages (pinned by tests/deploy/k8s/package-lock.json) are
# installed once into $KITGATE_NPM_CACHE (default /var/tmp/kitgate-k8s-validate).
# Usage: k8s_validate_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail

src="$1"
build="$2"
log() { echo "k8s_validate: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (scripts/setup.sh)"
here="$src/tests/deploy/k8s"
lock_hash="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)"
deps="${KITGATE_NPM_CACHE:-/var/tmp/kitgate-k8s-validate}/$lock_hash"
if [[ ! -d "$deps/node_modules/kubernetes-models" ]]; then
  log "installing the validator's npm packages into $deps"
  mkdir -p "$deps"
  cp "$here/package.json" "$here/package-lock.json" "$deps/"
  (cd "$deps" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The script runs beside its packages (ESM resolves imports from the file).
cp "$here/validate.mjs" "$deps/validate.mjs"

kitgate="$build/orchestrator/kitgate"
export KITGATE_PROXY="$build/proxy/kitgate-proxy"
[[ -x "$kitgate" && -x "$KITGATE_PROXY" ]] || fail "build kitgate and kitgate-proxy first"

# Usage errors (exit 2) before anything is rendered.
expect_usage() {
  local rc=0
  "$kitgate" k8s render "$@" >"$work/out" 2>"$work/err" || rc=$?
  [[ $rc == 2 && ! -s "$work/out" ]] || fail "k8s render $*: exit $rc, not 2 with nothing printed"
}
amp_kit="$src/configs/kits/amp"
expect_usage --kit "$amp_kit" amp                                   # no --gateway-ip
expect_usage --kit "$amp_kit" amp --gateway-ip kitgate-gateway      # not an IP
expect_usage --kit "$amp_kit" amp --gateway-ip 10.0.0.1 --namespace Bad_NS
expect_usage --kit "$amp_kit" amp --gateway-ip 10.0.0.1 --name 'no/slash'
expect_usage amp --gateway-ip 10.0.0.1                              # no --kit

# Every sandbox kit alone; then sandbox kits with mixins.
n=0
render() {
  local agent="$1"; shift
  n=$((n + 1))
  "$kitgate" k8s render "$@" "$agent" --name "kit$n" --namespace agents --gateway-ip 10.96.0.50 \
    >"$work/render-$n.yaml" 2>"$work/render-$n.err" ||
    { cat "$work/render-$n.err" >&2; fail "kitgate k8s render $* $agent"; }
}
for spec in "$src"/configs/kits/*/spec.yaml "$src"/tests/kitloader/corpus/*/spec.yaml; do
  kind="$(sed -n 's/^kind: *//p' "$spec" | head -n1)"
  name="$(sed -n 's/^name: *//p' "$spec" | head -n1)"
  [[ "$kind" == sandbox || "$kind" == agent ]] || continue
  render "$name" --kit "$(dirname "$spec")"
done
corpus="$src/tests/kitloader/corpus/docker__sbx-kits-contrib"
render amp --kit "${corpus}__amp--v2" --kit "${corpus}__glab--v2-mixin-credential"
render amp --kit "${corpus}__amp--v2" --kit "${corpus}__kernel--v2-mixin-credential" --kit "${corpus}__github-ssh--v1-mixin"
log "rendered $n sandboxes"

# The rendered example of deploy/kubernetes/example (amp.yaml is not committed).
cp -r "$src/deploy/kubernetes" "$work/kubernetes"
"$kitgate" k8s render --kit "$src/configs/kits/amp" amp --namespace agents --gateway-ip 10.96.0.50 \
  >"$work/kubernetes/example/amp.yaml" 2>/dev/null || fail "render the example"
# Every resource a kustomization lists exists.
for k in "$work"/kubernetes/*/kustomization.yaml; do
  for r in $(sed -n '/^resources:/,/^[a-z]/s/^  - //p' "$k"); do
    [[ -e "$(dirname "$k")/$r" ]] || fail "$k lists $r, which does not exist"
  done
done

manifests=("$work"/kubernetes/gateway/*.yaml)
node "$deps/validate.mjs" --self-test "${manifests[@]}" "$work/kubernetes/example/amp.yaml"
for i in $(seq 1 "$n"); do
  node "$deps/validate.mjs" "${manifests[@]}" "$work/render-$i.yaml" >"$work/v-$i.out" ||
    { cat "$work/v-$i.out"; fail "render-$i ($(head -n1 "$work/render-$i.yaml"))"; }
done
log "ok: gateway manifests + $n rendered sandboxes valid and lint-clean"
