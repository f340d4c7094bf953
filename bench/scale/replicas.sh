#!/usr/bin/env bash
# Three kitgate-proxy replicas on one state directory behind a TCP balancer
# (Debian's haproxy, round robin with health checks — what a Service does),
# simulated on one machine (issue 11 item 3). Measures
#   reload reach  a sandbox added by an atomic ..data swap of the shared state
#                 volume (as the kubelet does it): time until every replica
#                 serves it (each polled directly), per replica and max;
#   replica loss  clients keep sending requests through the balancer (a new
#                 connection each); one replica is SIGKILLed mid-load: failed
#                 requests (those on its connections) vs total, and whether
#                 requests after the kill all succeed (clients reconnect).
# Usage: bench/scale/replicas.sh BUILD_DIR   (prints Markdown)
set -euo pipefail

build="$1"
proxy="$build/proxy/kitgate-proxy"
command -v haproxy >/dev/null || { echo "haproxy is needed (apt-get install haproxy)" >&2; exit 1; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

tok1="kgt_111111111111111111111111" tok2="kgt_222222222222222222222222"
sandbox() { printf 'name: %s\nmatch: {token: "%s"}\n' "$1" "$2"; }
# volume DIR VERSION FILE=CONTENT…: the kubelet's atomic swap.
volume() {
  local dir="$1" version="$2" spec f; shift 2
  mkdir -p "$dir/..$version/sandboxes"
  for spec in "$@"; do f="${spec%%=*}"; printf '%s' "${spec#*=}" >"$dir/..$version/$f"; chmod 0400 "$dir/..$version/$f"; done
  ln -sfn "..$version" "$dir/..data_tmp"
  mv -T "$dir/..data_tmp" "$dir/..data"
  [[ -e "$dir/sandboxes" ]] || ln -s ..data/sandboxes "$dir/sandboxes"
}
state="$work/state"
mkdir -p "$state"
volume "$state" v1 "sandboxes/dev1.yaml=$(sandbox dev1 $tok1)"

listens=()
for r in 1 2 3; do
  printf 'listen: 127.0.0.1:0\nmetrics_listen: ""\nadmin_listen: 127.0.0.1:0\nstate_dir: %s\npolicy_log: {path: ""}\nworkers: 1\n' "$state" >"$work/r$r.yaml"
  "$proxy" --config "$work/r$r.yaml" --ready-file "$work/r$r.ready" >"$work/r$r.out" 2>&1 &
  pids+=($!)
done
for r in 1 2 3; do
  for _ in $(seq 1 200); do [[ -s "$work/r$r.ready" ]] && break; sleep 0.05; done
  listens+=("$(sed -n 's/^listen=//p' "$work/r$r.ready" | head -n1)")
done

# The balancer on a free port.
lb_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
{
  printf 'global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n'
  printf 'frontend fe\n  bind 127.0.0.1:%s\n  default_backend replicas\nbackend replicas\n  balance roundrobin\n  option redispatch\n  retries 2\n' "$lb_port"
  for r in 0 1 2; do printf '  server r%d %s check inter 200 fall 1 rise 2\n' "$r" "${listens[$r]}"; done
} >"$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$lb_port/" 2>/dev/null && break; curl -s -o /dev/null -x "http://127.0.0.1:$lb_port" http://x.invalid/ && break; sleep 0.05; done

code() { curl -s -o /dev/null -w '%{http_code}' -x "http://$1" --proxy-user "$2" "http://denied.invalid/" || true; }

# --- reload reach ----------------------------------------------------------------
now_ms() { date +%s%3N; }
t0=$(now_ms)
volume "$state" v2 "sandboxes/dev1.yaml=$(sandbox dev1 $tok1)" "sandboxes/dev2.yaml=$(sandbox dev2 $tok2)"
for r in 0 1 2; do
  (
    for _ in $(seq 1 1000); do [[ "$(code "${listens[$r]}" "dev2:$tok2")" == 403 ]] && break; sleep 0.005; done
    echo $(( $(now_ms) - t0 )) >"$work/reach$r"
  ) &
done
wait_reach() { for r in 0 1 2; do while [[ ! -s "$work/reach$r" ]]; do sleep 0.05; done; done; }
wait_reach
reach=("$(cat "$work/reach0")" "$(cat "$work/reach1")" "$(cat "$work/reach2")")
echo "## Reload reach (3 replicas, one state volume, ..data swap)"
echo
echo "| replica 1 | replica 2 | replica 3 |"
echo "|---:|---:|---:|"
echo "| ${reach[0]} ms | ${reach[1]} ms | ${reach[2]} ms |"
echo "(each replica polled directly and concurrently with curl; a poll costs a curl process start, so these are upper bounds)"
echo

# --- replica loss under load -----------------------------------------------------
clients=6 per_client=400
for c in $(seq 1 $clients); do
  (
    for i in $(seq 1 $per_client); do
      rc="$(code "127.0.0.1:$lb_port" "dev1:$tok1")"
      echo "$(now_ms) $rc"
    done
  ) >"$work/client$c.log" &
done
# Let the load run a while first.
sleep 3
kill_ms=$(now_ms)
kill -9 "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
wait_clients() { for c in $(seq 1 $clients); do while [[ $(wc -l <"$work/client$c.log") -lt $per_client ]]; do sleep 0.1; done; done; }
wait_clients
cat "$work"/client*.log >"$work/all.log"
total=$(wc -l <"$work/all.log")
failed=$(awk '$2 != 403' "$work/all.log" | wc -l)
late=$(awk -v k="$kill_ms" '$1 > k + 1000 && $2 != 403' "$work/all.log" | wc -l)
after=$(awk -v k="$kill_ms" '$1 > k + 1000' "$work/all.log" | wc -l)
echo "## Replica loss under load ($clients clients, a new connection per request)"
echo
echo "| requests | failed | failed later than 1 s after the kill | requests later than 1 s after the kill |"
echo "|---:|---:|---:|---:|"
echo "| $total | $failed | $late | $after |"
