# shellcheck shell=bash
# kitgate-proxy set up to intercept the shared harness's origin, for the scripts that measure
# interception (bench/mitm/run.sh, bench/h2/run.sh). Sourced after the harness's lib/*.sh, with
# REPO, WORK, KITGATE_PORT set and die() defined.
#
#   KITGATE_LIMITS                 extra `limits:` entries, e.g. "upstream_pool_idle_timeout_ms: 0"
#   kitgate_binary                 BIN (KITGATE_BIN, else built in KITGATE_BUILD, default $REPO/build)
#   kitgate_intercept_config TLS   $KG/state (a service secret with a credential route bound to the
#                                  origin host: every CONNECT to it is intercepted and gets X-Api-Key,
#                                  as in production) and $KG/proxy.yaml, whose `tls:` map gets TLS
#                                  (extra keys, e.g. "http2: true") beside the origin's CA
#   start_kitgate                  launches it (harness _launch, name "kitgate"), waits for its CA

kitgate_binary() {
  if [ -n "${KITGATE_BIN:-}" ]; then
    BIN=$KITGATE_BIN
  else
    local build=${KITGATE_BUILD:-$REPO/build}
    [ -f "$build/CMakeCache.txt" ] ||
      cmake -S "$REPO" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    log "building kitgate-proxy in $build"
    cmake --build "$build" --target kitgate-proxy -j2 >/dev/null
    BIN=$build/proxy/kitgate-proxy
  fi
  [ -x "$BIN" ] || die "no kitgate-proxy at $BIN"
  BACKEND=$(grep -s '^KITGATE_TLS:' "$(dirname "$(dirname "$BIN")")/CMakeCache.txt" | cut -d= -f2 || true)
}

kitgate_intercept_config() {
  local tls_extra=${1:-}
  KG=$WORK/kitgate
  rm -rf "$KG"; mkdir -p "$KG/state/credentials"
  umask 077
  cat > "$KG/state/secrets.yaml" <<EOT
services:
  - {service: bench, scope: global, value: "bench-secret-value-0123456789"}
EOT
  umask 022
  cat > "$KG/state/credentials/default.yaml" <<EOT
routes:
  - {service: bench, domains: ["$HOSTNAME_ORIGIN"], header: X-Api-Key, format: "Key %s"}
EOT
  cat > "$KG/proxy.yaml" <<EOT
# kitgate-proxy intercepting for the loopback benchmark (written by $(basename "$(dirname "$0")")/$(basename "$0"))
listen: 127.0.0.1:$KITGATE_PORT
metrics_listen: ""
admin_listen: ""
workers: 2
state_dir: $KG/state
log_level: warn
policy_log: {path: $WORK/logs/kitgate-policy.log, max_size_mb: 64, max_files: 2}
# One source opens every connection (the load generator): the per-source guard against a
# sandbox flooding the proxy with silent connections would refuse the idle cell's 128 at once.
limits: {idle_timeout_ms: 600000, max_connections: 20000, max_connections_per_sandbox: 20000,
         max_unidentified_per_source: 20000, max_unidentified: 20000${KITGATE_LIMITS:+, $KITGATE_LIMITS}}
tls: {upstream_ca_file: $WORK/pki/ca.pem${tls_extra:+, $tls_extra}}
dns: {hosts: {$HOSTNAME_ORIGIN: 127.0.0.1}}
allow: ["$HOSTNAME_ORIGIN", "127.0.0.1/32"]
EOT
  "$BIN" --validate --config "$KG/proxy.yaml" >/dev/null || die "kitgate-proxy rejects $KG/proxy.yaml"
}

start_kitgate() {
  _launch kitgate "$BIN" --config "$KG/proxy.yaml"
  wait_port "$KITGATE_PORT"
  local i; for i in $(seq 1 100); do [ -s "$KG/state/ca/default.crt" ] && break; sleep 0.1; done
  [ -s "$KG/state/ca/default.crt" ] || die "kitgate wrote no sandbox CA"
}
