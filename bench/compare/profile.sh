#!/usr/bin/env bash
# bench/compare/profile.sh - where kitgate-proxy spends its CPU in the harness scenarios, and
# what its idle tunnels are made of.
#
# Needs one earlier bench/compare/run.sh on this box (it leaves the origin config, certs, the
# kitgate config and pb under $WORK). Starts the loopback origin and kitgate-proxy, drives each
# scenario with the same pb arguments as the harness, and records kitgate with `perf record -g`
# (all threads, kernel + user). Bounded: every pb run has -n/-d and a `timeout`.
#
#   bench/compare/profile.sh                  # a b2 d, 8 s each; f memory (massif, 1,000 tunnels)
#   PROF_SCEN="a" PROF_DUR=5 bench/compare/profile.sh
#
# Output: $WORK/profile/<scen>.{data,txt} (perf report, self time by symbol and by DSO) and
# $WORK/profile/f-massif.txt (heap at 1,000 idle tunnels, by allocation site).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$(cd "$REPO/.." && pwd)/shared/bench}
export WORK=${WORK:-/tmp/pbench}
export BENCH_DIR=$SHARED_BENCH   # read by the shared lib
# shellcheck source=/dev/null
source "$SHARED_BENCH/lib/common.sh"
# shellcheck source=/dev/null
source "$SHARED_BENCH/lib/peers.sh"

PROF_SCEN=${PROF_SCEN:-"a b2 d f"}
PROF_DUR=${PROF_DUR:-8}
KITGATE_PORT=${KITGATE_PORT:-13140}
BIN=${KITGATE_BIN:-$REPO/build/proxy/kitgate-proxy}
CFG=$WORK/conf/kitgate.yaml
OUTD=$WORK/profile
[ -x "$BIN" ] || { log "no kitgate-proxy at $BIN (set KITGATE_BIN)"; exit 1; }
if [ ! -s "$CFG" ] || [ ! -x "$PB" ]; then log "run bench/compare/run.sh once first ($CFG, $PB)"; exit 1; fi
for p in "$P_ORIGIN_HTTP" "$P_ORIGIN_HTTPS" "$KITGATE_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then log "127.0.0.1:$p is busy (a harness run?)"; exit 1; fi
done
mkdir -p "$OUTD"
ulimit -n "$(ulimit -Hn)"

cleanup() { stop_one kitgate; stop_one origin; }
trap cleanup EXIT INT TERM

start_kitgate() { # [wrapper...]: start kitgate (optionally under a wrapper), wait for its port
  _launch kitgate "$@" "$BIN" --config "$CFG"
  wait_port "$KITGATE_PORT"
}
kitgate_pid() { # the kitgate-proxy process itself (the root may be a wrapper)
  local r; r=$(peer_root kitgate)
  pgrep -s "$(sid_of "$r")" -f "$BIN" | head -1
}

CA=$WORK/pki/ca.pem
L="-d $((PROF_DUR + 1)) -w 1 -n 20000000"
pb_args() {
  case $1 in
    a)  echo "-x 127.0.0.1:$KITGATE_PORT -c 64 -k 0 $L -C $CA https://$HOSTNAME_ORIGIN:$P_ORIGIN_HTTPS/small" ;;
    b2) echo "-x 127.0.0.1:$KITGATE_PORT --tunnel -c 64 -k 1 $L http://$HOSTNAME_ORIGIN:$P_ORIGIN_HTTP/small" ;;
    c)  echo "-x 127.0.0.1:$KITGATE_PORT -c 1 -k 0 -n 10 -d 60 -w 0 -T 30 -C $CA https://$HOSTNAME_ORIGIN:$P_ORIGIN_HTTPS/large" ;;
    d)  echo "-x 127.0.0.1:$KITGATE_PORT -c 64 -k 0 $L http://$HOSTNAME_ORIGIN:$P_ORIGIN_HTTP/small" ;;
  esac
}

STAT_EVENTS=raw_syscalls:sys_enter,sched:sched_switch
for c in splice epoll_wait epoll_ctl read readv write writev recvfrom sendto futex ioctl accept4 connect \
         shutdown close socket setsockopt getsockopt; do
  STAT_EVENTS="$STAT_EVENTS,syscalls:sys_enter_$c"
done

per_request() { # pb.json stat seconds: perf stat counts divided by the requests of the window
  python3 - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
reqs = d["rps"] * float(sys.argv[3])
for line in open(sys.argv[2]):
    f = line.strip().split(",")
    if len(f) < 3 or not f[0].replace(".", "").isdigit():
        continue
    n = float(f[0])
    if n > 0:
        print("  %-36s %12.0f  %7.2f per request" % (f[2], n, n / reqs))
PY
}

report() { # scen: flat self-time profile of kitgate, by symbol and by DSO
  local s=$1 d=$OUTD/$1.data
  {
    echo "# kitgate-proxy, scenario $s: self time (perf record -g, cpu-clock), $(date -u +%FT%TZ)"
    echo "# pb: $(pb_args "$s")"
    grep -h '"rps"' "$OUTD/$s.pb.json" | python3 -c '
import json,sys
d=json.load(sys.stdin); c=d.get("cpu",{})
print("# %.0f req/s, proxy %.1f%% CPU, %.1f us/req" % (d["rps"], c.get("proxy_pct",0), c.get("proxy_us_per_req",0)))'
    echo
    echo "## syscalls and context switches per request (perf stat, same ${PROF_DUR} s window)"
    per_request "$OUTD/$s.pb.json" "$OUTD/$s.stat" "$PROF_DUR"
    echo
    echo "## CPU by thread (workers, and spdlog's thread that writes the policy log)"
    perf report -i "$d" --sort pid --stdio -g none 2>/dev/null | grep -v '^#' | sed '/^$/d'
    echo
    echo "## inclusive time by syscall"
    perf report -i "$d" --children --sort sym --stdio -g none 2>/dev/null | grep -E '__x64_sys_' | head -20
    echo
    echo "## by DSO"
    perf report -i "$d" --no-children --sort dso --stdio -g none --percent-limit 0.5 2>/dev/null | grep -v '^#' | sed '/^$/d'
    echo
    echo "## by symbol (self)"
    perf report -i "$d" --no-children --sort dso,sym --stdio -g none --percent-limit 0.4 2>/dev/null | grep -v '^#' | sed '/^$/d'
    echo
    echo "## callers of the top user-space symbols (caller graph, fp unwinding: partial without frame pointers)"
    perf report -i "$d" --no-children --sort sym --stdio -G --percent-limit 3 2>/dev/null | grep -v '^#' | sed '/^$/d' | head -150
  } > "$OUTD/$s.txt"
  log "$s: $OUTD/$s.txt"
}

start_origin
for s in $PROF_SCEN; do
  [ "$s" = f ] && continue
  start_kitgate
  pid=$(kitgate_pid)
  # shellcheck disable=SC2046
  timeout 120 "$PB" -j -l "prof/$s" -p "proxy=sid:$(sid_of "$(peer_root kitgate)")" $(pb_args "$s") \
    > "$OUTD/$s.pb.json" 2>"$OUTD/$s.pb.err" &
  pbpid=$!
  sleep 1   # pb's warm-up second
  # syscalls and context switches of the same window (tracepoints), next to the CPU profile
  perf stat -x, -e "$STAT_EVENTS" -p "$pid" -o "$OUTD/$s.stat" -- sleep "$PROF_DUR" 2>/dev/null &
  statpid=$!
  perf record -q -g -F 1999 -p "$pid" -o "$OUTD/$s.data" -- sleep "$PROF_DUR" 2>/dev/null
  wait "$statpid" || true
  wait "$pbpid" || log "$s: pb failed: $(tail -c 300 "$OUTD/$s.pb.err")"
  stop_one kitgate
  report "$s"
done

# f: what an idle tunnel is made of: heap by allocation site (massif) at 1,000 idle tunnels
if [[ " $PROF_SCEN " == *" f "* ]]; then
  start_kitgate valgrind --tool=massif --massif-out-file="$OUTD/f.massif" --threshold=0.5 --detailed-freq=1
  # massif slows kitgate ~20x: give the tunnels time (bounded: -d 120)
  timeout 150 "$PB" -j -l prof/f -p "proxy=sid:$(sid_of "$(peer_root kitgate)")" -x "127.0.0.1:$KITGATE_PORT" --tunnel \
    --idle 1000 -c 64 -d 120 --settle 2 "http://$HOSTNAME_ORIGIN:$P_ORIGIN_HTTP/small" \
    > "$OUTD/f.pb.json" 2>"$OUTD/f.pb.err" || log "f: pb failed: $(tail -c 300 "$OUTD/f.pb.err")"
  stop_one kitgate
  ms_print --threshold=0.5 "$OUTD/f.massif" > "$OUTD/f-massif.txt" 2>&1 || true
  log "f: $OUTD/f-massif.txt"
fi
