#!/usr/bin/env bash
# Makes sure a Docker daemon answers on its unix socket, for kitgate's e2e and
# `docker`-labelled tests.
#   - installs Debian's docker.io with apt-get when dockerd is missing;
#   - does nothing more when a daemon already answers (idempotent);
#   - otherwise starts dockerd in the background (log: $KITGATE_DOCKERD_LOG,
#     default /tmp/kitgate-dockerd.log) and waits, bounded, until it answers.
#   - registers gVisor (Debian's runsc, when installed) as the runtime "runsc"
#     for `kitgate run --runtime runsc`: through /etc/docker/daemon.json when
#     that file is absent or kitgate's own, then SIGHUP to a dockerd this script
#     started (dockerd reloads `runtimes` live; nothing restarts). A daemon.json
#     or a dockerd that is not ours is left alone, and the log says what to add;
#   - callers may run concurrently (ctest -j runs several Docker tests at once,
#     each calling this script): everything past the first check holds one
#     lock, so exactly one caller installs and starts dockerd while the others
#     wait for that start instead of racing it (a second apt-get that finds
#     dpkg locked, or a second dockerd that finds the pidfile taken, used to
#     report "cannot run" and skip tests on a fresh machine).
# Exit codes: 0 = a daemon answers; 77 = Docker truly cannot run here (the
# caller skips); 1 = something else went wrong (the caller fails).
# Honours DOCKER_HOST=unix:///path (default unix:///var/run/docker.sock).
set -uo pipefail

readonly kWaitSeconds="${KITGATE_DOCKERD_WAIT:-60}"
readonly kLog="${KITGATE_DOCKERD_LOG:-/tmp/kitgate-dockerd.log}"
# Long enough for another caller's apt-get install of docker.io plus its wait.
readonly kLockWaitSeconds="${KITGATE_DOCKERD_LOCK_WAIT:-480}"
readonly kLock="${KITGATE_DOCKERD_LOCK:-/tmp/kitgate-dockerd.lock}"

host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
if [[ "$host" != unix://* ]]; then
  echo "start-dockerd: DOCKER_HOST=$host is not a unix socket; kitgate only drives a local daemon" >&2
  exit 77
fi
sock="${host#unix://}"

log() { echo "start-dockerd: $*" >&2; }

# True when the daemon answers GET /_ping with OK.
daemon_answers() {
  [[ -S "$sock" ]] || return 1
  local out
  out=$(curl -sS --max-time 3 --unix-socket "$sock" http://localhost/_ping 2>/dev/null) || return 1
  [[ "$out" == "OK" ]]
}

# The daemon's runtimes, from GET /info.
runsc_registered() {
  curl -sS --max-time 5 --unix-socket "$sock" http://localhost/info 2>/dev/null | grep -q '"runsc":{'
}

# daemon.json's runtimes entry for runsc. Debian's runsc (2022) takes any
# network namespace in which /proc/sys/net/core/rmem_default exists for the
# root one and refuses to start; since Linux made that sysctl per-namespace
# it exists everywhere, so there runsc gets --network=host: the container's
# own network namespace (Docker's network, the proxy as the only way out)
# served by the host kernel's stack instead of gVisor's netstack.
runsc_daemon_json() {
  local args=""
  if unshare -n sh -c 'test -e /proc/sys/net/core/rmem_default' 2>/dev/null; then
    args=',"runtimeArgs":["--network=host"]'
  fi
  printf '{"runtimes":{"runsc":{"path":"%s"%s}}}' "$1" "$args"
}

# Registers runsc with the answering daemon when runsc is installed. Never
# fails the script: Docker runs either way; `--runtime runsc` then names the
# missing runtime in its error.
register_runsc() {
  local runsc conf=/etc/docker/daemon.json want pid
  runsc=$(command -v runsc) || return 0
  runsc_registered && return 0
  want=$(runsc_daemon_json "$runsc")
  if [[ -e "$conf" && "$(cat "$conf")" != "$want" ]]; then
    if ! grep -q '"runsc"' "$conf"; then
      log "$conf is not kitgate's: add $want to it and reload dockerd to use --runtime runsc"
      return 0
    fi
  elif [[ ! -e "$conf" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      log "runsc is installed but not registered with dockerd; as root: echo '$want' > $conf"
      return 0
    fi
    mkdir -p "$(dirname "$conf")" && printf '%s\n' "$want" >"$conf"
  fi
  pid=$(cat /var/run/kitgate-dockerd.pid 2>/dev/null) || pid=""
  if [[ -z "$pid" ]] || ! kill -HUP "$pid" 2>/dev/null; then
    log "runsc is in $conf but the running dockerd is not ours: reload it (SIGHUP) to register runsc"
    return 0
  fi
  local i
  for ((i = 0; i < 40; i++)); do
    runsc_registered && { log "runsc registered with dockerd"; return 0; }
    sleep 0.25
  done
  log "dockerd did not register runsc after SIGHUP (see $kLog)"
}

if daemon_answers && { ! command -v runsc >/dev/null 2>&1 || runsc_registered; }; then
  exit 0
fi

# One installer/starter at a time; the others wait here, then find the daemon up.
exec 9>>"$kLock"
if ! flock -w "$kLockWaitSeconds" 9; then
  log "another start-dockerd.sh held $kLock for ${kLockWaitSeconds}s"
  exit 1
fi
if daemon_answers; then
  register_runsc
  exit 0
fi

if ! command -v curl >/dev/null 2>&1; then
  log "curl is needed to talk to the daemon; install it (scripts/setup.sh)"
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    log "dockerd is not installed and we are not root: cannot install docker.io; skipping"
    exit 77
  fi
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  log "installing Debian's docker.io (dockerd is missing)"
  export DEBIAN_FRONTEND=noninteractive
  # 9>&-: a daemon a maintainer script starts must not inherit (and hold) the lock.
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends docker.io; } >>"$kLog" 2>&1 9>&-; then
    log "apt-get install docker.io failed (see $kLog); skipping"
    exit 77
  fi
fi

if [[ $(id -u) -ne 0 ]]; then
  log "no daemon answers at $host and starting dockerd needs root; skipping"
  exit 77
fi

# Another dockerd of ours may still be starting: wait for it rather than start
# a second one on the same socket.
pidfile=/var/run/kitgate-dockerd.pid
if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "dockerd (pid $(cat "$pidfile")) is already starting; waiting for it"
else
  log "starting dockerd (log: $kLog)"
  args=(--host "unix://$sock" --pidfile "$pidfile")
  # A machine without a usable iptables still runs containers; the internal
  # networks kitgate uses need no NAT.
  if ! iptables -L -n >/dev/null 2>&1; then
    log "iptables does not work here; starting dockerd with --iptables=false"
    args+=(--iptables=false --ip-masq=false)
  fi
  nohup dockerd "${args[@]}" >>"$kLog" 2>&1 </dev/null 9>&- &
  started_pid=$!
  disown || true
fi

deadline=$((SECONDS + kWaitSeconds))
while ((SECONDS < deadline)); do
  if daemon_answers; then
    log "dockerd answers at $host"
    register_runsc
    exit 0
  fi
  if [[ -n "${started_pid:-}" ]] && ! kill -0 "$started_pid" 2>/dev/null; then
    break  # the dockerd we started has died
  fi
  sleep 0.5
done

log "dockerd did not answer at $host within ${kWaitSeconds}s; last lines of $kLog:"
tail -n 15 "$kLog" >&2 || true
log "Docker cannot run on this machine; skipping"
exit 77
