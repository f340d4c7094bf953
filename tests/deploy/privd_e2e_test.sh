#!/usr/bin/env bash
# A docker-group user runs kitgate without sudo (issue 11): the root kitgate
# daemon (`kitgate daemon`, as root) on a scratch socket and state directory,
# the CLI's client code (kitgate, kitgate_privd_call) as unprivileged users:
#   1. a user in the docker group: `kitgate run --dry-run` reaches the daemon;
#      host rules for a real dockerd sandbox network are applied (iptables
#      shows them) and removed; the registration is written root-owned 0600
#      and the user cannot read it; the daemon's proxy starts and reloads;
#   2. a user NOT in the group: the socket refuses it (0660 root:docker), and
#      with the docker gid forced into its process (setpriv) the daemon's
#      SO_PEERCRED check refuses it by its account — nothing changes;
#   3. the token never appears in the daemon's log;
#   4. the whole thing for real: `kitgate run -d` of a kit (the test image) and
#      `kitgate rm` as the docker-group user — rules, registration and proxy
#      listen through the daemon, then nothing left.
# Usage: privd_e2e_test.sh SOURCE_DIR BUILD_DIR. Exit 77 = cannot run here
# (not root, or no Docker).
set -euo pipefail

src="$1"
build="$2"
log() { echo "privd_e2e: $*" >&2; }
fail() { log "FAIL: $*"; [[ -f "${work:-/nonexistent}/daemon.log" ]] && sed 's/^/  daemon: /' "$work/daemon.log" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || { log "needs root (useradd, iptables, the daemon)"; exit 77; }
for tool in useradd userdel runuser setpriv iptables docker getent; do
  command -v "$tool" >/dev/null || { log "no $tool"; exit 77; }
done
rc=0
"$src/tests/e2e/support/start-dockerd.sh" || rc=$?
((rc == 0)) || exit "$rc"

kitgate="$build/orchestrator/kitgate"
call="$build/tests/deploy/kitgate_privd_call"
proxy="$build/proxy/kitgate-proxy"
docker_gid="$(getent group docker | cut -d: -f3)"
[[ -n "$docker_gid" ]] || fail "no docker group"

id="$$$RANDOM"
in_user="kgin$id"
out_user="kgout$id"
name="g11-$id"
net="kitgate-$name"
work="$(mktemp -d /tmp/kitgate-privd-e2e-XXXXXX)"
daemon_pid=""
run_name=""
cleanup() {
  set +e
  [[ -n "$run_name" ]] && as_in "$kitgate" rm -f "$run_name" >/dev/null 2>&1
  [[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  KITGATE_STATE_DIR="$work/state" "$kitgate" proxy stop >/dev/null 2>&1
  # Rules a failed run may have left: exactly this sandbox's.
  for n in "$name" "g11r-$id"; do
    iptables -S INPUT | grep -- "kitgate:$n\"\?\( \|$\)" | sed 's/^-A /-D /' |
      while read -r rule; do eval "iptables $rule"; done
  done
  docker network rm "$net" "kitgate-g11r-$id" >/dev/null 2>&1
  userdel "$in_user" 2>/dev/null
  userdel "$out_user" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

useradd --no-create-home --shell /usr/sbin/nologin -G docker "$in_user"
useradd --no-create-home --shell /usr/sbin/nologin "$out_user"
chmod 0711 "$work"
mkdir -m 0755 "$work/run"
mkdir -m 0700 "$work/state" "$work/home-in" "$work/home-out"
mkdir -m 0700 "$work/home-in/ws" "$work/home-out/ws"
chown -R "$in_user" "$work/home-in"
chown -R "$out_user" "$work/home-out"
sock="$work/run/daemon.sock"
state="$work/state"
# Free ports: other tests run beside this one.
cat >"$state/proxy.yaml" <<YAML
listen: [127.0.0.1:0]
metrics_listen: 127.0.0.1:0
admin_listen: unix:$state/admin.sock
state_dir: $state
policy_log:
  path: $state/policy.log
YAML
chmod 0600 "$state/proxy.yaml"

KITGATE_STATE_DIR="$state" KITGATE_PROXY="$proxy" "$kitgate" daemon --socket "$sock" --group docker \
  >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do
  [[ -S "$sock" ]] && "$call" "$sock" hello >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited"
  sleep 0.05
done
[[ "$(stat -c '%a %U %G' "$sock")" == "660 root docker" ]] || fail "socket is $(stat -c '%a %U %G' "$sock"), not 660 root docker"

# as_in / as_out: the users with a clean environment; as_forced: the outside
# user with the docker gid forced into its process (passes the socket's mode).
user_env() { echo "PATH=$PATH HOME=$1 KITGATE_DAEMON_SOCKET=$sock KITGATE_PROXY=$proxy"; }
# (cwd: a project directory — a workspace holding the user's state directory is refused)
as_in() { (cd "$work/home-in/ws" && runuser -u "$in_user" -- env -i $(user_env "$work/home-in") "$@"); }
as_out() { (cd "$work/home-out/ws" && runuser -u "$out_user" -- env -i $(user_env "$work/home-out") "$@"); }
as_forced() {
  (cd "$work/home-out/ws" && setpriv --reuid="$(id -u "$out_user")" --regid="$(id -g "$out_user")" \
    --groups="$docker_gid" -- env -i $(user_env "$work/home-out") "$@")
}
rules() { iptables -S INPUT | grep -c -- "kitgate:${1:-$name}\( \|\"\|$\)" || true; }

# --- 1. a user in the docker group ---------------------------------------------
as_in docker network create --internal --label "kitgate.sandbox=$name" "$net" >/dev/null ||
  fail "the docker-group user cannot create a network"
as_in "$kitgate" run --dry-run --kit "$src/configs/kits/amp" --name "$name" amp \
  >"$work/dry.out" 2>"$work/dry.err" || { cat "$work/dry.err" >&2; fail "run --dry-run as $in_user"; }
grep -q "the kitgate daemon at $sock (state $state)" "$work/dry.err" ||
  { cat "$work/dry.err" >&2; fail "run --dry-run does not name the daemon"; }
log "ok: run --dry-run as a docker-group user reaches the daemon"

[[ "$(rules)" == 0 ]] || fail "rules exist before isolate"
as_in "$call" "$sock" firewall-isolate "$name" || fail "firewall-isolate as $in_user"
subnet="$(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$net")"
(( $(rules) > 0 )) || fail "no host rules for $name after isolate"
iptables -S INPUT | grep -- "kitgate:$name" | grep -q -- "-s $subnet" ||
  fail "the rules are not for the network's subnet $subnet"
log "ok: host rules applied for $subnet ($(rules) rules)"

token="kgt$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 24)XYZ0123456789"
as_in env PRIVD_TOKEN="$token" "$call" "$sock" sandbox-write "$name" || fail "sandbox-write"
file="$state/sandboxes/$name.yaml"
[[ "$(stat -c '%a %U' "$file")" == "600 root" ]] || fail "$file is $(stat -c '%a %U' "$file")"
grep -q -- "$subnet" "$file" || fail "the registration does not hold the network's subnet"
if as_in cat "$file" >/dev/null 2>&1; then fail "$in_user can read the registration"; fi
if as_in ls "$state" >/dev/null 2>&1; then fail "$in_user can list the state directory"; fi
log "ok: registration written root 0600 from the network's subnet; unreadable to the user"

as_in "$call" "$sock" proxy-ensure >/dev/null || fail "proxy-ensure"
[[ -s "$state/proxy.ready" ]] || fail "the daemon did not start the proxy"
as_in "$call" "$sock" proxy-reload >/dev/null || fail "proxy-reload"
[[ "$(as_in "$call" "$sock" sandbox-token "$name")" == "$token" ]] || fail "sandbox-token"
as_in "$kitgate" proxy reload | grep -q "reloaded (through the kitgate daemon)" || fail "kitgate proxy reload as $in_user"
if as_in "$kitgate" proxy stop >/dev/null 2>"$work/stop.err"; then fail "kitgate proxy stop as $in_user stopped the daemon's proxy"; fi
grep -q "sudo systemctl stop kitgate-proxy" "$work/stop.err" || { cat "$work/stop.err" >&2; fail "proxy stop: no clear error"; }
log "ok: the daemon's proxy started and reloaded (kitgate proxy reload too; stop is refused)"

# --- 2. a user not in the group: refused twice, nothing changed ----------------
before_rules="$(rules)"
before_file="$(sha256sum "$file")"
if as_out "$call" "$sock" firewall-release "$name" 2>"$work/out.err"; then fail "$out_user was served"; fi
grep -q "permission denied — your user is not in the docker group" "$work/out.err" ||
  { cat "$work/out.err" >&2; fail "no clear error for a user outside the group (socket)"; }
as_out "$kitgate" run --dry-run --kit "$src/configs/kits/amp" --name "$name" amp \
  >/dev/null 2>"$work/out-run.err" || true
grep -q "WARN: a run would fail: .*not in the docker group" "$work/out-run.err" ||
  { cat "$work/out-run.err" >&2; fail "kitgate run does not tell $out_user about the docker group"; }
for verb in firewall-release sandbox-remove sandbox-token; do
  if as_forced "$call" "$sock" "$verb" "$name" >"$work/forced.out" 2>"$work/forced.err"; then
    fail "$out_user with a forced docker gid was served $verb"
  fi
  grep -q "refused: user $out_user (uid $(id -u "$out_user")) is not root and not in the docker group" "$work/forced.err" ||
    { cat "$work/forced.err" >&2; fail "no SO_PEERCRED refusal for $verb"; }
  [[ ! -s "$work/forced.out" ]] || fail "a refused $verb printed something"
done
[[ "$(rules)" == "$before_rules" ]] || fail "a refused request changed the host rules"
[[ "$(sha256sum "$file")" == "$before_file" ]] || fail "a refused request changed the registration"
log "ok: a user outside the docker group is refused (socket mode, then SO_PEERCRED); nothing changed"

# --- 3. release, remove; the token never logged --------------------------------
as_in "$call" "$sock" firewall-release "$name" || fail "firewall-release"
[[ "$(rules)" == 0 ]] || fail "rules left after release: $(rules)"
as_in "$call" "$sock" sandbox-remove "$name" || fail "sandbox-remove"
[[ ! -e "$file" ]] || fail "registration left after sandbox-remove"
if grep -q -- "$token" "$work/daemon.log"; then fail "the token is in the daemon's log"; fi
grep -q "uid $(id -u "$out_user") .*refused" "$work/daemon.log" || fail "refusals are not logged"
log "ok: rules released, registration removed, the token never logged"

# --- 4. kitgate run -d / rm as the docker-group user ------------------------------
rc=0
"$src/tests/e2e/support/build-test-image.sh" >"$work/image.log" 2>&1 || rc=$?
((rc == 0)) || { cat "$work/image.log" >&2; fail "build-test-image.sh (exit $rc)"; }
run_name="g11r-$id"
ws="$work/home-in/ws"
as_in "$kitgate" run --kit "$src/configs/kits/amp-local" --name "$run_name" --workspace "$ws" -d amp \
  >"$work/run.out" 2>&1 || { cat "$work/run.out" >&2; fail "kitgate run -d as $in_user"; }
(( $(rules "$run_name") > 0 )) || { cat "$work/run.out" >&2; fail "no host rules after kitgate run"; }
[[ "$(stat -c '%a %U' "$state/sandboxes/$run_name.yaml")" == "600 root" ]] ||
  fail "kitgate run did not register through the daemon"
gateway="$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "kitgate-$run_name")"
grep -q -- "$gateway:3128" "$state/proxy.yaml" || fail "the proxy does not listen on $gateway:3128"
as_in "$kitgate" exec "$run_name" -- true || fail "kitgate exec as $in_user"
as_in "$kitgate" rm -f "$run_name" >"$work/rm.out" 2>&1 || { cat "$work/rm.out" >&2; fail "kitgate rm as $in_user"; }
[[ "$(rules "$run_name")" == 0 ]] || fail "rules left after kitgate rm"
[[ ! -e "$state/sandboxes/$run_name.yaml" ]] || fail "registration left after kitgate rm"
if grep -q -- "$gateway:3128" "$state/proxy.yaml"; then fail "listen entry left after kitgate rm"; fi
run_name=""
log "ok: kitgate run -d / exec / rm as a docker-group user, no sudo"
