#!/usr/bin/env bash
# bench/h2/run.sh - HTTP/2 interception benchmark (issue 15): kitgate-proxy intercepting an
# h2-capable origin with a bound credential route, next to mitmproxy's h2 interception and next
# to kitgate's own HTTP/1.1 figure, in one run; plus a new intercepted connection with and
# without TLS resumption.
#
# h2load (Debian's nghttp2-client) cannot speak through an HTTP CONNECT proxy, so each proxy
# gets a socat shim: a loopback port whose every connection is CONNECTed through the proxy to
# the origin (`socat ... PROXY:`), after which the client's TLS runs through the tunnel exactly
# as it would through HTTPS_PROXY. The shim's CPU is not the proxy's: the figures are the
# proxy process's own CPU time (utime + stime of every thread) over a cell, divided by the
# requests (or connections) h2load/openssl completed in it.
#
# Run as root (the harness installs Debian packages and adds api.bench.test to /etc/hosts).
# Everything listens on and talks to 127.0.0.1 only; every load run is bounded (-n and
# `timeout`). Uses the shared harness's origin, PKI and mitmproxy (../shared/bench/lib/*.sh).
#
#   bench/h2/run.sh                 # REPS=3 N=60000 (~5 min)
#   REPS=1 N=20000 bench/h2/run.sh  # quick look
#
# Cells (kitgate and mitm unless noted):
#   h2     16 connections x 10 concurrent streams, GET /small (101 bytes)   -> proxy µs/request
#   h1     64 HTTP/1.1 keep-alive connections (h2load --h1), GET /small      -> proxy µs/request
#   s100   1 connection, 100 concurrent streams                             -> proxy µs/request
#   new    openssl s_client, NEWCONNS requests each on a new intercepted connection -> µs/connection
#   resume the same, each resuming the client's TLS session toward the proxy
#   grpc   one server-streaming gRPC call (python3-grpcio both ends), GRPC_MSGS x 1 KiB messages
#          -> proxy µs/message and messages/s
# Knobs: REPS N N_MITM WORK SHARED_BENCH KITGATE_BIN KITGATE_BUILD RESULTS REPORT NEWCONNS GRPC_MSGS PEERS
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=${REPO:-$(cd "$HERE/../.." && pwd)}  # set REPO to run a copy of this script (to edit it meanwhile)
HERE=$REPO/bench/h2
SHARED_BENCH=${SHARED_BENCH:-$(cd "$REPO/.." && pwd)/shared/bench}
export WORK=${WORK:-/tmp/pbench-h2}
REPS=${REPS:-3}
N=${N:-60000}
N_MITM=${N_MITM:-$((N / 4))}  # mitmproxy is ~50x slower per request: fewer, same cells
NEWCONNS=${NEWCONNS:-300}
GRPC_MSGS=${GRPC_MSGS:-100000}
KITGATE_PORT=${KITGATE_PORT:-13150}
SHIM_KITGATE=13160
SHIM_MITM=13161
RESULTS=${RESULTS:-$REPO/bench/results}
REPORT=${REPORT:-$RESULTS/h2.md}
PEERS=${PEERS:-"kitgate mitm"}

die() { printf '[%s] error: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
[ -d "$SHARED_BENCH/lib" ] || die "no harness at $SHARED_BENCH (set SHARED_BENCH)"
[ "$(id -u)" = 0 ] || die "run as root: the harness installs packages and edits /etc/hosts"
if pgrep -f run-peers.sh >/dev/null; then die "run-peers.sh is running (same ports): run this afterwards"; fi
command -v h2load >/dev/null || die "h2load missing (apt-get install nghttp2-client)"

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
cleanup() { stop_one kitgate; stop_one shim-kitgate; stop_one shim-mitm; stop_one grpc; stop_all; }
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

# The harness's origin, with HTTP/2 offered on its TLS port (ALPN h2, http/1.1).
sed 's/ ssl reuseport/ ssl http2 reuseport/' "$WORK/conf/nginx.conf" > "$WORK/conf/nginx-h2.conf"
grep -q 'ssl http2' "$WORK/conf/nginx-h2.conf" || die "could not enable http2 on the origin"

# ------------------------------------------------------------------ kitgate config + state
kitgate_intercept_config "http2: true"
ulimit -n "$(ulimit -Hn)"

# shim NAME LISTEN_PORT PROXY_PORT: every connection to LISTEN_PORT is a CONNECT through the proxy.
start_shim() {
  _launch "shim-$1" socat -lf "$WORK/logs/shim-$1.log" \
    "TCP-LISTEN:$2,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay" \
    "PROXY:127.0.0.1:$HOSTNAME_ORIGIN:$P_ORIGIN_HTTPS,proxyport=$3,nodelay"
  wait_port "$2"
}
shim_of() { case $1 in kitgate) echo $SHIM_KITGATE ;; mitm) echo $SHIM_MITM ;; esac; }
# The proxy's process (the root of its tree: kitgate and mitmdump are one process each).
proxy_pid() { peer_root "$1"; }
cpu_ticks() { awk '{ s = $0; sub(/.*\) /, "", s); split(s, a, " "); print a[12] + a[13] }' "/proc/$1/stat"; }

log "starting the h2 origin, mitmproxy, kitgate ($BIN)"
_launch origin nginx -c "$WORK/conf/nginx-h2.conf" -g 'daemon off;'
wait_port "$P_ORIGIN_HTTPS"
start_kitgate
start_shim kitgate $SHIM_KITGATE "$KITGATE_PORT"
if [[ " $PEERS " == *" mitm "* ]]; then
  start_peer mitm
  start_shim mitm $SHIM_MITM "$P_MITM"
fi
# A gRPC server (TLS, the origin's certificate) for the streaming cell.
rm -f "$WORK/grpc.port"
_launch grpc /usr/bin/python3 "$HERE/grpc_stream.py" server "$WORK/pki/server.pem" "$WORK/pki/server.key" "$WORK/grpc.port"
for i in $(seq 1 100); do [ -s "$WORK/grpc.port" ] && break; sleep 0.1; done
[ -s "$WORK/grpc.port" ] || die "the gRPC server did not start"
GRPC_PORT=$(cat "$WORK/grpc.port")
sleep 1

HZ=$(getconf CLK_TCK)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS/runs/h2-raw-$STAMP.tsv
printf 'peer\tcell\trep\tunits\tcpu_s\tus_per_unit\tdetail\n' > "$RAW"
AUTH=":authority: $HOSTNAME_ORIGIN:$P_ORIGIN_HTTPS"

# cell PEER NAME REP CMD...: runs CMD (bounded), records the proxy's CPU per completed unit.
# CMD prints the number of completed units on its last line.
record() {
  local peer=$1 cell=$2 rep=$3; shift 3
  local pid t0 t1 out units
  pid=$(proxy_pid "$peer")
  t0=$(cpu_ticks "$pid")
  out=$("$@" 2>&1 || true)
  t1=$(cpu_ticks "$pid")
  units=$(printf '%s\n' "$out" | tail -n 1)
  [[ "$units" =~ ^[0-9]+$ ]] || units=0
  local cpu us
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) / hz }')
  us=$(awk -v c="$cpu" -v u="$units" 'BEGIN { if (u > 0) printf "%.1f", c * 1e6 / u; else print "nan" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$cell" "$rep" "$units" "$cpu" "$us" \
    "$(printf '%s' "$out" | grep -m1 -E '^(requests|messages):' | tr '\t' ' ')" >> "$RAW"
  log "$peer $cell #$rep: $units units, proxy CPU ${cpu}s, ${us} µs/unit"
}

# h2load, printing the succeeded requests last.
h2l() {
  local out
  out=$(timeout 300 h2load "$@" -H "$AUTH" 2>&1) || true
  printf '%s\n' "$out" | grep -E '^requests:'
  printf '%s\n' "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p'
}
# openssl s_client through the proxy itself (-proxy: CONNECT): NEWCONNS sequential requests,
# each on a new intercepted connection ("Connection: close", HTTP/1.1). "new": every TLS
# handshake toward the proxy is a full one; "resume": each resumes the session a first
# connection saved (-sess_out / -sess_in; s_client says "Reused"). Prints the 200s last.
conns() {
  local proxy_port=$1 mode=$2 i ok=0 reused=0 out sess=$WORK/s_client.sess
  local req="GET /small HTTP/1.1\r\nHost: $HOSTNAME_ORIGIN:$P_ORIGIN_HTTPS\r\nConnection: close\r\n\r\n"
  local common=(-proxy "127.0.0.1:$proxy_port" -connect "$HOSTNAME_ORIGIN:$P_ORIGIN_HTTPS"
    -servername "$HOSTNAME_ORIGIN" -alpn http/1.1 -ign_eof)
  rm -f "$sess"
  if [ "$mode" = resume ]; then
    # shellcheck disable=SC2059
    printf "$req" | timeout 10 openssl s_client "${common[@]}" -sess_out "$sess" >/dev/null 2>&1 || true
  fi
  for i in $(seq 1 "$NEWCONNS"); do
    local extra=()
    [ "$mode" = resume ] && extra=(-sess_in "$sess")
    # shellcheck disable=SC2059
    out=$(printf "$req" | timeout 10 openssl s_client "${common[@]}" "${extra[@]}" 2>/dev/null || true)
    [[ "$out" == *"HTTP/1.1 200"* ]] && ok=$((ok + 1))
    [[ "$out" == *"Reused, TLS"* ]] && reused=$((reused + 1))
  done
  printf 'requests: %d ok, %d resumed\n%d\n' "$ok" "$reused" "$ok"
}
port_of() { case $1 in kitgate) echo "$KITGATE_PORT" ;; mitm) echo "$P_MITM" ;; esac; }
ca_of() { case $1 in kitgate) echo "$KG/state/ca/default.crt" ;; mitm) echo "$WORK/mitm/mitmproxy-ca-cert.pem" ;; esac; }

for rep in $(seq 1 "$REPS"); do
  for peer in $PEERS; do
    shim=$(shim_of "$peer")
    url="https://$HOSTNAME_ORIGIN:$shim/small"
    n=$N
    [ "$peer" = mitm ] && n=$N_MITM
    record "$peer" h2 "$rep" h2l -n "$n" -c 16 -m 10 "$url"
    record "$peer" h1 "$rep" h2l --h1 -n "$n" -c 64 -m 1 "$url"
    record "$peer" s100 "$rep" h2l -n "$n" -c 1 -m 100 "$url"
    record "$peer" new "$rep" conns "$(port_of "$peer")" new
    record "$peer" resume "$rep" conns "$(port_of "$peer")" resume
    record "$peer" grpc "$rep" timeout 150 /usr/bin/python3 "$HERE/grpc_stream.py" client \
      "http://127.0.0.1:$(port_of "$peer")" "$(ca_of "$peer")" "$HOSTNAME_ORIGIN:$GRPC_PORT" "$GRPC_MSGS" 1024
  done
done

# ------------------------------------------------------------------ report
python3 - "$RAW" "$REPORT" "$BIN" "$STAMP" "$N" "$REPS" <<'EOF'
import csv, statistics, sys
raw, report, binary, stamp, n, reps = sys.argv[1:]
rows = list(csv.DictReader(open(raw), delimiter='\t'))
def med(peer, cell):
    v = [float(r['us_per_unit']) for r in rows
         if r['peer'] == peer and r['cell'] == cell and r['us_per_unit'] != 'nan']
    return statistics.median(v) if v else None
def units(peer, cell):
    return sum(int(r['units']) for r in rows if r['peer'] == peer and r['cell'] == cell)
def f(x): return '–' if x is None else f'{x:.1f}'
def ratio(a, b): return '–' if a is None or b is None or b == 0 else f'{a / b:.2f}×'
cells = [('h2', 'h2: 16 conns × 10 streams, µs/request'),
         ('h1', 'HTTP/1.1: 64 keep-alive conns, µs/request'),
         ('s100', 'h2: 1 conn × 100 streams, µs/request'),
         ('new', 'new intercepted connection, µs/connection'),
         ('resume', 'same, client TLS session resumed, µs/connection'),
         ('grpc', 'gRPC server streaming, 1 KiB messages, µs/message')]
out = [f'# HTTP/2 interception: kitgate next to mitmproxy and to its own HTTP/1.1 (run {stamp})', '',
       f'`bench/h2/run.sh` (REPS={reps}, N={n} requests a cell), binary `{binary}`. Proxy CPU (utime+stime of the '
       'proxy process) per completed request or connection, median of the repetitions; the client (h2load, '
       'openssl s_client, grpc) reaches the proxy through a socat CONNECT shim (h2load) or directly (the others); the client\'s CPU is not counted.', '',
       '| cell | kitgate | mitmproxy | kitgate / mitmproxy | completed (kitgate) |', '|---|---:|---:|---:|---:|']
for cell, label in cells:
    k, m = med('kitgate', cell), med('mitm', cell)
    out.append(f'| {label} | {f(k)} | {f(m)} | {ratio(k, m)} | {units("kitgate", cell)} |')
k2, k1 = med('kitgate', 'h2'), med('kitgate', 'h1')
kn, kr = med('kitgate', 'new'), med('kitgate', 'resume')
out += ['', 'Targets (issue 15), this run:', '',
        f'- h2 µs/request ≤ 1.2× our HTTP/1.1 figure: {ratio(k2, k1)}',
        f'- h2 µs/request ≤ 0.1× mitmproxy: {ratio(k2, med("mitm", "h2"))}',
        f'- resumed intercepted connection vs a full one: {f(kr)} vs {f(kn)} µs ({ratio(kr, kn)})', '']
rates = [r['detail'] for r in rows if r['cell'] == 'grpc' and r['detail']]
if rates:
    out += ['gRPC streaming, as the client saw it (one call each):', ''] + \
           [f'- {r["peer"]}: {r["detail"]}' for r in rows if r['cell'] == 'grpc' and r['detail']] + ['']
open(report, 'w').write('\n'.join(out) + '\n')
print('\n'.join(out))
EOF
log "report: $REPORT, raw: $RAW"
