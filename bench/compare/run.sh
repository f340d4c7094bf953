#!/usr/bin/env bash
# bench/compare/run.sh - whole-proxy comparison: kitgate-proxy next to the peer proxies
# (haproxy, squid, tinyproxy, privoxy, mitmproxy) in one run of the shared loopback harness
# (../shared/bench/run-peers.sh), then bench/results/kitgate-vs-peers.md with the issue-2 §6
# targets (met / missed, by how much).
#
# Run as root (the harness installs Debian packages and adds api.bench.test to /etc/hosts).
# Everything listens on and talks to 127.0.0.1 only; every load run is bounded (pb -n/-d).
#
#   bench/compare/run.sh                                   # full run (~15 min)
#   REPS=1 DUR=2 SCEN="a b2 c d f" PEERS="haproxy squid" bench/compare/run.sh   # quick look
#
# Knobs (environment), passed through to the harness:
#   REPS DUR WARM SCEN IDLE SKIP_REFS WORK     see run-peers.sh
#   PEERS           peers besides kitgate (harness default: direct haproxy tinyproxy squid privoxy mitm-pass)
#   MITM_PEERS      default "" here: kitgate has no interception mode in this comparison (scenario e)
# Our own:
#   SHARED_BENCH    harness checkout (default: ../shared/bench next to the repository)
#   KITGATE_BIN     use this kitgate-proxy binary as is (no build)
#   KITGATE_BUILD   build dir to (re)build kitgate-proxy in (default: cmake --preset default -> build/)
#   KITGATE_PORT    proxy port (13140)
#   RESULTS         where tables go (default: bench/results); raw data goes to $RESULTS/runs
#   KITGATE_EXTRA_YAML  appended to kitgate's config, e.g. "tls: {tunnel_sni_check: false}" to
#                   measure one feature on and off with the same binary
#   NICE            run the harness (origin, peers, kitgate, pb) under `nice -n $NICE`, e.g. -10 when
#                   builds share the box; every process of the run gets the same priority
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$(cd "$REPO/.." && pwd)/shared/bench}
WORK=${WORK:-/tmp/pbench}
KITGATE_PORT=${KITGATE_PORT:-13140}
RESULTS=${RESULTS:-$REPO/bench/results}
export MITM_PEERS=${MITM_PEERS-}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$SHARED_BENCH/run-peers.sh" ] || die "no harness at $SHARED_BENCH (set SHARED_BENCH)"
[ "$(id -u)" = 0 ] || die "run as root: the harness installs packages and edits /etc/hosts"

# ------------------------------------------------------------------ the binary
if [ -n "${KITGATE_BIN:-}" ]; then
  BIN=$KITGATE_BIN
elif [ -n "${KITGATE_BUILD:-}" ]; then
  [ -f "$KITGATE_BUILD/CMakeCache.txt" ] || \
    cmake --preset default -B "$KITGATE_BUILD" -DKITGATE_BUILD_TESTS=OFF -DKITGATE_BUILD_BENCH=OFF -S "$REPO" >/dev/null
  log "building kitgate-proxy in $KITGATE_BUILD"
  cmake --build "$KITGATE_BUILD" --target kitgate-proxy -j2 >/dev/null
  BIN=$KITGATE_BUILD/proxy/kitgate-proxy
else
  log "building kitgate-proxy (cmake --preset default)"
  (cd "$REPO" && cmake --preset default >/dev/null && cmake --build --preset default --target kitgate-proxy -j2 >/dev/null)
  BIN=$REPO/build/proxy/kitgate-proxy
fi
[ -x "$BIN" ] || die "no kitgate-proxy at $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# ------------------------------------------------------------------ ports and config
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# a free loopback port: $1 if nothing listens there, else one the kernel picks
pick_port() {
  if port_free "$1"; then echo "$1"; return; fi
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

mkdir -p "$WORK/conf" "$WORK/logs" "$WORK/run" "$RESULTS/runs"
# a kitgate left over from an interrupted run of ours (we recorded its pid): stop it
if r=$(cat "$WORK/run/kitgate.root" 2>/dev/null) && [ -n "$r" ] && kill -0 "$r" 2>/dev/null; then
  log "stopping kitgate left over from an earlier run (pid $r)"
  kill -TERM -- "-$r" 2>/dev/null || kill -TERM "$r" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$r" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$WORK/run/kitgate.root"
port_free "$KITGATE_PORT" || die "127.0.0.1:$KITGATE_PORT is in use (set KITGATE_PORT)"
METRICS_PORT=$(pick_port 13141)
ADMIN_PORT=$(pick_port 13142)

CFG=$WORK/conf/kitgate.yaml
cat > "$CFG" <<EOF
# kitgate-proxy for the loopback benchmark (written by bench/compare/run.sh)
listen: 127.0.0.1:$KITGATE_PORT
metrics_listen: 127.0.0.1:$METRICS_PORT
admin_listen: 127.0.0.1:$ADMIN_PORT
workers: 2
state_dir: ""
log_level: warn
policy_log:
  path: $WORK/logs/kitgate-policy.log
  max_size_mb: 64
  max_files: 2
limits:
  head_timeout_ms: 10000
  idle_timeout_ms: 600000        # scenario f holds idle tunnels for up to ~60 s
  connect_timeout_ms: 10000
  drain_timeout_ms: 1000
  max_connections: 20000
  max_connections_per_sandbox: 20000
allow:
  - "api.bench.test"
  - "127.0.0.1/32"               # the origin is on loopback: the address check needs an explicit CIDR
EOF
[ -z "${KITGATE_EXTRA_YAML:-}" ] || printf '%s\n' "$KITGATE_EXTRA_YAML" >> "$CFG"
"$BIN" --validate --config "$CFG" >/dev/null || die "kitgate-proxy rejects $CFG"

# The harness raises nothing for its daemons; squid/haproxy/nginx raise their own fd limit.
ulimit -n "$(ulimit -Hn)"

# ------------------------------------------------------------------ the run
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- proxy 2>/dev/null || COMMIT="$COMMIT+uncommitted proxy/ changes"
log "kitgate-proxy $BIN ($COMMIT), config $CFG"
T0=$(date -u +%Y%m%dT%H%M%SZ)
export WORK   # REPS DUR WARM SCEN IDLE SKIP_REFS PEERS reach the harness from our environment as they are
EXTRA_PEER_NAME=kitgate EXTRA_PEER_PORT=$KITGATE_PORT \
EXTRA_PEER_CMD="$BIN --config $CFG" OUT="$RESULTS/runs" \
  nice -n "${NICE:-0}" "$SHARED_BENCH/run-peers.sh"

# the harness names its files by the UTC stamp of its start: take the newest raw file since T0
RAW=""
for f in "$RESULTS"/runs/raw-*.jsonl; do   # the glob sorts by stamp: the last match is the newest
  s=${f##*/raw-}; s=${s%.jsonl}
  [[ "$s" < "$T0" ]] || RAW=$f
done
[ -n "$RAW" ] || die "the harness wrote no raw-*.jsonl into $RESULTS/runs"
STAMP=$(basename "$RAW" .jsonl); STAMP=${STAMP#raw-}
python3 "$HERE/targets.py" --raw "$RAW" --table "$RESULTS/runs/table-$STAMP.md" \
  --kitgate kitgate --commit "$COMMIT" \
  --params "REPS=${REPS:-3} DUR=${DUR:-4} SCEN=${SCEN:-a b b2 c d f} PEERS=${PEERS:-harness default}" \
  > "$RESULTS/kitgate-vs-peers-$STAMP.md"
cp "$RESULTS/kitgate-vs-peers-$STAMP.md" "$RESULTS/kitgate-vs-peers.md"
rm -f "$RESULTS/runs/latest.md"   # the harness's copy of table-$STAMP.md
sed -n '1,/^## Harness table/p' "$RESULTS/kitgate-vs-peers.md"
log "wrote $RESULTS/kitgate-vs-peers.md (raw: $RAW)"
