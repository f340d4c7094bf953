#!/usr/bin/env bash
# kitgate-proxy reloads on Kubernetes' atomic volume swap, with no SIGHUP and
# no POST /reload: the state directory and the config directory are laid out
# as the kubelet writes ConfigMap/Secret volumes (..<version>/ holds the
# files, ..data -> it, each entry a symlink through ..data; an update renames a
# new ..data over the old one).
#   1. a sandbox added by a swap is recognised (its token: 407 before, 403
#      for a denied host after);
#   2. a swap to broken content is refused: the proxy logs the failed reload
#      and keeps serving the previous sandboxes;
#   3. a swap of the config volume is reloaded too (its new global allow rule
#      shows in the decision).
# Usage: volume_reload_test.sh BUILD_DIR
set -euo pipefail

build="$1"
proxy_bin="$build/proxy/kitgate-proxy"
log() { echo "volume_reload: $*" >&2; }
fail() { log "FAIL: $*"; [[ -f "$work/proxy.err" ]] && tail -n 20 "$work/proxy.err" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() {
  [[ -n "${KEEP_LOG:-}" && -f "$work/proxy.err" ]] && grep -v "^{" "$work/proxy.err" >&2
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

tok1="kgt_aaaaaaaaaaaaaaaaaaaaaaaa"
tok2="kgt_bbbbbbbbbbbbbbbbbbbbbbbb"
sandbox() { printf 'name: %s\nmatch: {token: "%s"}\nallow: ["allowed.invalid"]\n' "$1" "$2"; }

# volume DIR VERSION FILE=CONTENT…: writes ..VERSION and swaps ..data to it.
volume() {
  local dir="$1" version="$2"; shift 2
  mkdir -p "$dir/..$version"
  local spec f
  for spec in "$@"; do
    f="${spec%%=*}"
    mkdir -p "$(dirname "$dir/..$version/$f")"
    printf '%s' "${spec#*=}" >"$dir/..$version/$f"
    chmod 0400 "$dir/..$version/$f"
  done
  ln -sfn "..$version" "$dir/..data_tmp"
  mv -T "$dir/..data_tmp" "$dir/..data"   # rename(2): the kubelet's atomic swap
  for f in "$dir/..data"/*; do
    [[ -e "$dir/$(basename "$f")" ]] || ln -s "..data/$(basename "$f")" "$dir/$(basename "$f")"
  done
}

state="$work/state" etc="$work/etc"
mkdir -p "$state" "$etc"
config() { printf 'listen: 127.0.0.1:0\nmetrics_listen: ""\nadmin_listen: ""\nstate_dir: %s\npolicy_log: {path: "-"}\nallow: [%s]\n' "$state" "$1"; }
volume "$etc" v1 "proxy.yaml=$(config '')"
volume "$state" v1 "sandboxes/dev1.yaml=$(sandbox dev1 $tok1)"

"$proxy_bin" --config "$etc/proxy.yaml" --ready-file "$work/ready" >"$work/proxy.err" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [[ -s "$work/ready" ]] && break; kill -0 "$pid" || fail "proxy exited"; sleep 0.1; done
listen="$(sed -n 's/^listen=//p' "$work/ready" | head -n1)"
[[ -n "$listen" ]] || fail "no ready file"

code() { curl -s -o /dev/null -w '%{http_code}' -x "http://$1:$2@$listen" "http://$3/" || true; }
# Waits (bounded) until `code NAME TOKEN HOST` answers WANT.
wait_code() {
  local want="$1"; shift
  for _ in $(seq 1 100); do [[ "$(code "$@")" == "$want" ]] && return 0; sleep 0.1; done
  fail "$* never answered $want (last: $(code "$@"))"
}

[[ "$(code dev1 $tok1 denied.invalid)" == 403 ]] || fail "dev1 not identified at start"
[[ "$(code dev2 $tok2 denied.invalid)" == 407 ]] || fail "dev2 known before it was added"

# 1. A sandbox arrives by a swap of the state volume.
volume "$state" v2 "sandboxes/dev1.yaml=$(sandbox dev1 $tok1)" "sandboxes/dev2.yaml=$(sandbox dev2 $tok2)"
wait_code 403 dev2 $tok2 denied.invalid
log "ok: a sandbox added by a volume swap is served"

# 2. Broken content: refused, the previous sandboxes stay.
volume "$state" v3 "sandboxes/dev1.yaml=name: dev1
match: {token: 1}
bogus: key"
for _ in $(seq 1 100); do grep -q 'reload (volume update) failed' "$work/proxy.err" && break; sleep 0.1; done
grep -q 'reload (volume update) failed' "$work/proxy.err" || fail "no failed reload logged for broken content"
[[ "$(code dev2 $tok2 denied.invalid)" == 403 ]] || fail "a broken swap lost dev2"
log "ok: a broken swap keeps the previous state"

# 3. The config volume: a global allow rule arrives (allowed by name, the
#    address then decides: .invalid does not resolve, so 502 instead of 403).
volume "$state" v4 "sandboxes/dev1.yaml=$(sandbox dev1 $tok1)" "sandboxes/dev2.yaml=$(sandbox dev2 $tok2)"
volume "$etc" v2 "proxy.yaml=$(config '"global.invalid"')"
wait_code 502 dev2 $tok2 global.invalid
log "ok: a config volume swap is reloaded"
