#!/usr/bin/env bash
# Per-request cost against the number of registered sandboxes (issue 11 item 3):
# for 1 and N sandboxes (token-identified, two allow rules each) in a state
# directory, measures
#   snapshot   kitgate-proxy --validate --state-dir (process start included;
#              the 0-sandbox run is the baseline to subtract)
#   rss        the running proxy's VmRSS after start (memory per sandbox =
#              difference / N)
#   reload     POST /reload, mean of 10
#   request    a denied plain-HTTP request through the proxy as the last
#              sandbox (token lookup + policy), mean curl time_total over 300
#              requests on one connection-reusing curl
# Usage: bench/scale/sandboxes.sh BUILD_DIR [N]   (prints a Markdown table)
set -euo pipefail

build="$1"
n_max="${2:-1000}"
proxy="$build/proxy/kitgate-proxy"
work="$(mktemp -d)"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

token() { printf 'kgt_%024d' "$1"; }

# state DIR N: N sandbox files.
make_state() {
  local dir="$1" n="$2" i
  mkdir -p "$dir/sandboxes"
  for ((i = 1; i <= n; i++)); do
    printf 'name: sb%d\nmatch: {token: "%s"}\nallow: ["api%d.example.com:443", "**.pkg%d.example.org"]\n' \
      "$i" "$(token "$i")" "$i" "$i" >"$dir/sandboxes/sb$i.yaml"
    chmod 0600 "$dir/sandboxes/sb$i.yaml"
  done
}

ms() { date +%s%N; }

run_one() {
  local n="$1" dir="$work/state-$1"
  make_state "$dir" "$n"
  local t0 t1
  t0=$(ms); "$proxy" --validate --state-dir "$dir" >/dev/null; t1=$(ms)
  local snapshot_ms=$(( (t1 - t0) / 1000000 ))
  printf 'listen: 127.0.0.1:0\nmetrics_listen: ""\nadmin_listen: 127.0.0.1:0\nstate_dir: %s\npolicy_log: {path: ""}\nworkers: 1\n' \
    "$dir" >"$dir/proxy.yaml"
  rm -f "$work/ready"
  "$proxy" --config "$dir/proxy.yaml" --ready-file "$work/ready" >"$work/proxy.out" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do [[ -s "$work/ready" ]] && break; sleep 0.05; done
  local listen admin rss
  listen="$(sed -n 's/^listen=//p' "$work/ready" | head -n1)"
  admin="$(sed -n 's/^admin=//p' "$work/ready")"
  rss="$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")"
  t0=$(ms)
  for _ in $(seq 1 10); do curl -fsS -X POST "http://$admin/reload" >/dev/null; done
  t1=$(ms)
  local reload_ms=$(( (t1 - t0) / 10 / 1000000 ))
  local urls=() i
  for ((i = 0; i < 300; i++)); do urls+=("http://denied$i.invalid/"); done
  local name="sb$n" tok
  tok="$(token "$n")"
  [[ $n == 0 ]] && name="x" && tok="$(token 0)"
  local mean_us
  mean_us="$(curl -s -o /dev/null -w '%{time_total}\n' -x "http://$listen" --proxy-user "$name:$tok" "${urls[@]}" |
    awk '{ s += $1 } END { printf "%.0f", s / NR * 1e6 }')"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  echo "| $n | $snapshot_ms | $rss | $reload_ms | $mean_us |"
}

echo "| sandboxes | validate (snapshot build + start), ms | RSS, KiB | reload, ms | request, µs |"
echo "|---:|---:|---:|---:|---:|"
for n in 0 1 "$n_max"; do run_one "$n"; done
