#!/usr/bin/env bash
# `cmake --install` and the systemd unit, as an operator gets them:
#   1. install (DESTDIR, --prefix /usr) puts the binaries, /etc/kitgate/proxy.yaml,
#      the unit and the docs in their standard places; the config validates;
#      the unit names the installed binary and the CLI's state directory.
#   2. the unit's hardening: `systemd-analyze security --offline=true` exposure
#      at most 2.0 (printed; skipped, exit 77, where systemd-analyze lacks --offline).
#   3. one model: the unit's own ExecStartPre/ExecStart lines, pointed at a
#      scratch state directory, start a proxy that `kitgate proxy status`
#      (same KITGATE_STATE_DIR) reports as running with that pid, that
#      `kitgate proxy reload` reloads and `kitgate proxy stop` stops.
# Usage: install_test.sh BUILD_DIR
set -euo pipefail

build="$1"
log() { echo "install_test: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

work="$(mktemp -d)"
bg_pid=""
cleanup() {
  [[ -n "$bg_pid" ]] && kill "$bg_pid" 2>/dev/null && wait "$bg_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
root="$work/root"

# --- 1. layout -----------------------------------------------------------------
DESTDIR="$root" cmake --install "$build" --prefix /usr >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "cmake --install"; }
for f in usr/bin/kitgate-proxy usr/bin/kitgate etc/kitgate/proxy.yaml \
         usr/lib/systemd/system/kitgate-proxy.service usr/share/doc/kitgate/README.md \
         usr/share/doc/kitgate/deploy.md usr/share/doc/kitgate/secrets-format.md \
         usr/share/doc/kitgate/sandbox-format.md; do
  [[ -e "$root/$f" ]] || fail "missing /$f"
done
[[ -x "$root/usr/bin/kitgate-proxy" && -x "$root/usr/bin/kitgate" ]] || fail "binaries not executable"
unit="$root/usr/lib/systemd/system/kitgate-proxy.service"
grep -q '@' "$unit" && grep -n '@[A-Z_]*@' "$unit" && fail "unsubstituted @VAR@ in the unit"
grep -q '^ExecStart=/usr/bin/kitgate-proxy --config /var/lib/kitgate/proxy.yaml --ready-file /var/lib/kitgate/proxy.ready$' "$unit" ||
  fail "ExecStart does not run the installed proxy over the CLI's state directory"
# Validated as the unit would run it, over a state directory of its own: this
# machine's /var/lib/kitgate may not exist (a fresh machine), or may hold
# another setup's state.
mkdir -m 0700 "$work/layout-state"
sed "s|/var/lib/kitgate|$work/layout-state|g" "$root/etc/kitgate/proxy.yaml" >"$work/layout-proxy.yaml"
grep -q "^state_dir: $work/layout-state\$" "$work/layout-proxy.yaml" ||
  fail "the installed config does not keep its state in /var/lib/kitgate"
"$root/usr/bin/kitgate-proxy" --validate --config "$work/layout-proxy.yaml" >/dev/null ||
  fail "the installed config does not validate"
log "ok: layout"

# --- 2. hardening ----------------------------------------------------------------
security_rc=0
if systemd-analyze security --offline=true "$unit" >"$work/security.txt" 2>&1; then
  score="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security.txt")"
  log "systemd-analyze security exposure: $score"
  systemd-analyze security --offline=true --threshold=20 "$unit" >/dev/null 2>&1 ||
    { grep '✗' "$work/security.txt" >&2; fail "exposure $score is above 2.0"; }
  # The no-sudo daemon's unit (kitgate daemon): the same limit.
  daemon_unit="$root/usr/lib/systemd/system/kitgate-daemon.service"
  grep -q '^ExecStart=/usr/bin/kitgate daemon --socket /run/kitgate/daemon.sock --group docker$' "$daemon_unit" ||
    fail "kitgate-daemon.service does not run the installed kitgate daemon"
  systemd-analyze security --offline=true "$daemon_unit" >"$work/daemon-security.txt" 2>&1 || true
  log "kitgate-daemon.service exposure: $(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/daemon-security.txt")"
  systemd-analyze security --offline=true --threshold=20 "$daemon_unit" >/dev/null 2>&1 ||
    { grep '✗' "$work/daemon-security.txt" >&2; fail "kitgate-daemon.service exposure is above 2.0"; }
else
  log "systemd-analyze security --offline=true cannot run here: $(head -n1 "$work/security.txt")"
  security_rc=77
fi

# --- 3. one model: the unit's proxy is the CLI's proxy ------------------------
state="$work/state"
mkdir -m 0700 "$state"
# The unit's commands, with the state directory and the install root swapped in.
unit_cmd() {
  sed -n "s/^$1=//p" "$unit" | sed -e "s|/var/lib/kitgate|$state|g" -e "s|/etc/kitgate|$root/etc/kitgate|g" \
    -e "s|/usr/bin/kitgate|$root/usr/bin/kitgate|g"
}
mapfile -t pre < <(unit_cmd ExecStartPre)
((${#pre[@]} == 2)) || fail "expected two ExecStartPre lines"
(cd "$state" && eval "${pre[0]}") || fail "ExecStartPre (config template): ${pre[0]}"
[[ "$(stat -c %a "$state/proxy.yaml")" == 600 ]] || fail "proxy.yaml is not 0600"
# Free ports instead of the fixed ones (other tests run beside this one), and
# the scratch state directory in the config the template copied (as in the
# unit's commands: never this machine's /var/lib/kitgate).
sed -i -e 's/127.0.0.1:3128/127.0.0.1:0/' -e 's/127.0.0.1:9090/127.0.0.1:0/' \
  -e "s|/var/lib/kitgate|$state|g" "$state/proxy.yaml"
(cd "$state" && eval "${pre[1]}") >/dev/null || fail "ExecStartPre (validate): ${pre[1]}"
start="$(unit_cmd ExecStart)"
(cd "$state" && exec $start) >"$work/proxy.out" 2>&1 &
bg_pid=$!
export KITGATE_STATE_DIR="$state" KITGATE_PROXY="$root/usr/bin/kitgate-proxy"
kitgate="$root/usr/bin/kitgate"
for _ in $(seq 1 100); do
  [[ -s "$state/proxy.ready" ]] && "$kitgate" proxy status >/dev/null 2>&1 && break
  kill -0 "$bg_pid" 2>/dev/null || { cat "$work/proxy.out" >&2; fail "the unit's proxy exited"; }
  sleep 0.1
done
status="$("$kitgate" proxy status --json)" || { echo "$status" >&2; fail "kitgate does not see the unit's proxy"; }
grep -q "\"pid\": $bg_pid" <<<"$status" || { echo "$status" >&2; fail "kitgate sees another proxy than the unit's (pid $bg_pid)"; }
"$kitgate" proxy reload >/dev/null || fail "kitgate proxy reload"
"$kitgate" proxy stop >/dev/null || fail "kitgate proxy stop"
# Gone, or a zombie waiting for this shell to reap it.
proc_state="$(awk '{print $3}' "/proc/$bg_pid/stat" 2>/dev/null || true)"
[[ -z "$proc_state" || "$proc_state" == Z ]] || fail "the unit's proxy still runs after kitgate proxy stop"
wait "$bg_pid" 2>/dev/null || true
bg_pid=""
log "ok: one model (the CLI finds, reloads and stops the unit's proxy)"
exit "$security_rc"
