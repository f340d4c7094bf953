#!/usr/bin/env bash
# bench/mitm/run.sh - TLS interception benchmark: kitgate-proxy intercepting (a bound credential
# route for the origin host) next to squid ssl_bump, in one run, with the shared loopback harness's
# load generator (pb), nginx origin, PKI and squid configuration (../shared/bench/lib/*.sh).
# Writes bench/results/kitgate-mitm.md (figures, met/missed against the issue-4 targets) and the
# raw pb output to bench/results/runs/mitm-raw-<stamp>.jsonl.
#
# Run as root (the harness installs Debian packages and adds api.bench.test to /etc/hosts).
# Everything listens on and talks to 127.0.0.1 only; every load run is bounded (pb -n/-d and
# `timeout`). The harness's ports are fixed, so this refuses to run while run-peers.sh runs.
#
#   bench/mitm/run.sh                       # REPS=3 DUR=4 (~6 min)
#   REPS=1 DUR=2 bench/mitm/run.sh          # quick look
#
# Scenarios (each for squid-bump and kitgate, the client trusts both interception CAs):
#   e   64 keep-alive connections, small responses -> proxy µs/request
#   n   new connection per request (full TLS handshakes on both legs), 64 concurrent
#       -> proxy CPU µs per connection
#   c   10 x 100 MiB over one connection (1 GiB) -> proxy CPU s/GiB
#   f   1,000 idle intercepted connections (one request each) on a freshly started proxy
#       -> KiB (PSS) per connection
# Knobs: REPS DUR WARM SCEN IDLE_MITM WORK SHARED_BENCH KITGATE_BIN KITGATE_BUILD KITGATE_PORT KITGATE_LIMITS
#        RESULTS REPORT (default $RESULTS/kitgate-mitm.md) NICE
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$(cd "$REPO/.." && pwd)/shared/bench}
export WORK=${WORK:-/tmp/pbench-mitm}
REPS=${REPS:-3}
DUR=${DUR:-4}
WARM=${WARM:-1}
SCEN=${SCEN:-"e n c f"}
IDLE_MITM=${IDLE_MITM:-1000}
KITGATE_PORT=${KITGATE_PORT:-13150}
RESULTS=${RESULTS:-$REPO/bench/results}
REPORT=${REPORT:-$RESULTS/kitgate-mitm.md}
PEERS="squid-bump kitgate"

die() { printf '[%s] error: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
[ -d "$SHARED_BENCH/lib" ] || die "no harness at $SHARED_BENCH (set SHARED_BENCH)"
[ "$(id -u)" = 0 ] || die "run as root: the harness installs packages and edits /etc/hosts"
if pgrep -f run-peers.sh >/dev/null; then die "run-peers.sh is running (same ports): run this afterwards"; fi

BENCH_DIR=$SHARED_BENCH
# shellcheck source=/dev/null
source "$SHARED_BENCH/lib/common.sh"
# shellcheck source=/dev/null
source "$SHARED_BENCH/lib/setup.sh"
# shellcheck source=/dev/null
source "$SHARED_BENCH/lib/peers.sh"

# shellcheck source=../lib/kitgate_intercept.sh
source "$REPO/bench/lib/kitgate_intercept.sh"
kitgate_binary

mkdir -p "$WORK" "$RESULTS/runs"
cleanup() { stop_one kitgate; stop_all; }
trap cleanup EXIT INT TERM

install_packages
build_pb
hosts_entry
gen_pki
gen_data
gen_configs
stop_all
stop_one kitgate
rm -f "$WORK"/logs/*

# ------------------------------------------------------------------ kitgate config + state
kitgate_intercept_config
ulimit -n "$(ulimit -Hn)"

start_daemon() { if [ "$1" = kitgate ]; then start_kitgate; else start_peer "$1"; fi; }
daemon_of() { case $1 in squid-bump) echo squid ;; *) echo "$1" ;; esac; }
port_of() { case $1 in squid-bump) echo "$P_SQUID_BUMP" ;; kitgate) echo "$KITGATE_PORT" ;; esac; }

log "starting origin, squid, kitgate ($BIN, backend ${BACKEND:-?})"
start_origin
start_peer squid
start_kitgate
# The client trusts the origin CA, squid's interception CA and kitgate's sandbox CA.
TRUST=$WORK/pki/trust-mitm.pem
cat "$WORK/pki/trust.pem" "$KG/state/ca/default.crt" > "$TRUST"
sleep 1

# ------------------------------------------------------------------ cells
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS/runs/mitm-raw-$STAMP.jsonl
: > "$RAW"
U_SMALL="$ORIGIN_URL_TLS/small"
U_LARGE="$ORIGIN_URL_TLS/large"
L="-d $((WARM + DUR)) -w $WARM -n 20000000"

quiesce() { # at most 5 s until the box is below 10% busy
  local i a b
  for i in $(seq 1 25); do
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat); sleep 0.2
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," "); split(b,y," "); t=y[2]-x[2]; exit !(t>0 && (y[1]-x[1])/t < 0.10)}' && return 0
  done
  log "  (box still busy after 5 s of waiting)"
}
ensure_up() {
  local d; d=$(daemon_of "$1"); local r; r=$(peer_root "$d")
  if [ -z "$r" ] || ! kill -0 "$r" 2>/dev/null; then log "$d is not running: (re)starting"; start_daemon "$d"; fi
}
cell() { # scen peer rep pb-args...
  local scen=$1 peer=$2 rep=$3; shift 3
  ensure_up "$peer"; quiesce
  local d res rc=0; d=$(daemon_of "$peer")
  res=$(timeout 150 nice -n "${NICE:-0}" "$PB" -j -l "$scen/$peer/$rep" \
        -p "proxy=sid:$(sid_of "$(peer_root "$d")")" -p "origin=sid:$(sid_of "$(peer_root origin)")" \
        -x "127.0.0.1:$(port_of "$peer")" -C "$TRUST" "$@" 2>"$WORK/logs/pb-last.err") || rc=$?
  if [ $rc -ne 0 ] || [ -z "$res" ]; then
    log "  $scen $peer rep $rep: pb failed rc=$rc: $(tail -c 300 "$WORK/logs/pb-last.err")"
    printf '{"scen":"%s","peer":"%s","rep":%d,"failed":true,"rc":%d}\n' "$scen" "$peer" "$rep" "$rc" >> "$RAW"
    return 0
  fi
  printf '{"scen":"%s","peer":"%s","rep":%d,"pb":%s}\n' "$scen" "$peer" "$rep" "$res" >> "$RAW"
  python3 -c '
import json,sys
d=json.loads(sys.argv[1]); c=d.get("cpu",{})
print("  %-2s %-11s rep%s %9.1f req/s %7.3f Gbit/s proxy %5.1f%% %8.1f us/req err %d" % (sys.argv[2], sys.argv[3],
  sys.argv[4], d["rps"], d["body_gbit_s"], c.get("proxy_pct", 0), c.get("proxy_us_per_req", 0), d["errors"]))' \
    "$res" "$scen" "$peer" "$rep" >&2
}
restart() { local d; d=$(daemon_of "$1"); stop_one "$d"; start_daemon "$d"; sleep 1; }

T0=$(date +%s)
for rep in $(seq 1 "$REPS"); do
  for s in $SCEN; do
    for peer in $PEERS; do
      case $s in
        e) cell e "$peer" "$rep" -c 64 -k 0 $L "$U_SMALL" ;;
        n) cell n "$peer" "$rep" -c 64 -k 1 $L "$U_SMALL" ;;
        c) cell c "$peer" "$rep" -c 1 -k 0 -n 10 -d 60 -w 0 -T 30 "$U_LARGE" ;;
        f) restart "$peer"; cell f "$peer" "$rep" --idle "$IDLE_MITM" -c 128 -d 60 --settle 1 "$U_SMALL" ;;
      esac
    done
  done
  log "rep $rep done ($(( $(date +%s) - T0 )) s)"
done

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- proxy 2>/dev/null || COMMIT="$COMMIT+uncommitted proxy/ changes"
python3 "$HERE/report.py" --raw "$RAW" --commit "$COMMIT" --backend "${BACKEND:-unknown}" \
  --params "REPS=$REPS DUR=$DUR WARM=$WARM SCEN=$SCEN IDLE_MITM=$IDLE_MITM" > "$REPORT"
cat "$REPORT"
log "wrote $REPORT (raw: $RAW)"
