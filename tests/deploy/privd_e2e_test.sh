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
#   4. `kitgate secret set|set-custom|ls|rm` and `kitgate policy
#      allow|deny|ls|check|log|rm` as the docker-group user: the daemon's
#      secrets.yaml (root 0600) holds the value, which never shows in argv
#      (sampled), a log or an output; a --command runs as the user; a user
#      outside the group is refused; no daemon gives the fix;
#   5. the whole thing for real: `kitgate run -d` of a kit (the test image) and
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

# --- 4. kitgate secret / policy as the docker-group user -------------------------
# The values travel on stdin and the socket only: argv of every process is
# sampled while they are set.
as_in env PRIVD_TOKEN="$token" "$call" "$sock" sandbox-write "$name" || fail "sandbox-write (again)"
value="kgsv$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 24)"
svc_value="kgsw$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 24)"
( while [[ ! -e "$work/ps.stop" ]]; do ps -eo args >>"$work/ps.log" 2>/dev/null; sleep 0.01; done ) &
ps_pid=$!
printf '%s' "$value" | as_in "$kitgate" secret set-custom -g --host api.example.test --env EX_TOKEN \
  --placeholder 'kitgate-cs-{rand}' >"$work/sc.out" 2>"$work/sc.err" ||
  { cat "$work/sc.err" >&2; fail "secret set-custom as $in_user"; }
printf '%s\n' "$svc_value" | as_in "$kitgate" secret set anthropic --sandbox "$name" \
  >"$work/ss.out" 2>"$work/ss.err" || { cat "$work/ss.err" >&2; fail "secret set as $in_user"; }
touch "$work/ps.stop"
wait "$ps_pid"
[[ -s "$work/ps.log" ]] || fail "no process listing sampled"
if grep -q -- "$value\|$svc_value" "$work/ps.log"; then fail "a secret value appeared in a process's argv"; fi
secrets="$state/secrets.yaml"
[[ "$(stat -c '%a %U' "$secrets")" == "600 root" ]] || fail "$secrets is $(stat -c '%a %U' "$secrets")"
grep -q -- "$value" "$secrets" || fail "the custom secret is not in the daemon's secrets.yaml"
grep -q -- "$svc_value" "$secrets" || fail "the service secret is not in the daemon's secrets.yaml"
placeholder="$(sed -n 's/^EX_TOKEN=//p' "$work/sc.out")"
[[ "$placeholder" == kitgate-cs-* ]] || { cat "$work/sc.out" >&2; fail "set-custom printed no placeholder"; }
grep -q -- "$placeholder" "$secrets" || fail "the placeholder is not the one stored"
[[ ! -e "$work/home-in/.local/state/kitgate/secrets.yaml" ]] || fail "the secret went to the user's own state directory"
as_in "$kitgate" secret ls >"$work/ls.out" 2>&1 || { cat "$work/ls.out" >&2; fail "secret ls as $in_user"; }
grep -q "EX_TOKEN (api.example.test) = $placeholder" "$work/ls.out" || { cat "$work/ls.out" >&2; fail "secret ls does not list the custom secret"; }
grep -q "sandbox:$name  *service  *anthropic" "$work/ls.out" || { cat "$work/ls.out" >&2; fail "secret ls does not list the service secret"; }
# A --command secret: resolved by the CLI as the user (never by the root daemon).
as_in "$kitgate" secret set github --command 'id -u' >"$work/cmd.out" 2>&1 || { cat "$work/cmd.out" >&2; fail "secret set --command as $in_user"; }
grep -q "resolved once, as you" "$work/cmd.out" || { cat "$work/cmd.out" >&2; fail "set --command does not say how it was resolved"; }
grep -A2 'service: "\?github"\?$' "$secrets" | grep -q "value: \"\?$(id -u "$in_user")\"\?$" ||
  fail "the --command did not run as $in_user (or its value is not stored)"
if as_in "$kitgate" secret refresh >"$work/refresh.out" 2>&1; then fail "secret refresh through the daemon"; fi
grep -q "the kitgate daemon never does" "$work/refresh.out" || { cat "$work/refresh.out" >&2; fail "secret refresh: no clear error"; }
as_in "$kitgate" secret rm -g --host api.example.test -f >"$work/rm-s.out" 2>&1 || { cat "$work/rm-s.out" >&2; fail "secret rm as $in_user"; }
if grep -q -- "$value" "$secrets"; then fail "secret rm left the value in secrets.yaml"; fi
grep -q -- "$svc_value" "$secrets" || fail "secret rm removed another secret"
log "ok: secret set/set-custom/ls/rm as a docker-group user: root 0600 secrets.yaml, never in argv"

as_in "$kitgate" policy allow network -g api.example.test:443 >"$work/pa.out" 2>&1 || { cat "$work/pa.out" >&2; fail "policy allow as $in_user"; }
as_in "$kitgate" policy deny network --sandbox "$name" evil.example.test >"$work/pd.out" 2>&1 || { cat "$work/pd.out" >&2; fail "policy deny as $in_user"; }
grep -q "api.example.test:443" "$state/policy.yaml" || fail "the allow rule is not in the daemon's policy.yaml"
grep -q "evil.example.test" "$file" || fail "the deny rule is not in the sandbox's registration"
as_in "$kitgate" policy ls >"$work/pl.out" 2>&1 || { cat "$work/pl.out" >&2; fail "policy ls as $in_user"; }
grep -q "global  *allow  *api.example.test:443  *policy.yaml" "$work/pl.out" || { cat "$work/pl.out" >&2; fail "policy ls: no allow rule"; }
grep -q "sandbox:$name  *deny  *evil.example.test" "$work/pl.out" || { cat "$work/pl.out" >&2; fail "policy ls: no deny rule"; }
as_in "$kitgate" policy check network api.example.test >"$work/pc.out" 2>&1 || { cat "$work/pc.out" >&2; fail "policy check as $in_user"; }
as_in "$kitgate" policy log >"$work/plog.out" 2>&1 || { cat "$work/plog.out" >&2; fail "policy log as $in_user"; }
as_in "$kitgate" policy rm network -g --resource api.example.test:443 -f >/dev/null 2>&1 || fail "policy rm as $in_user"
if grep -q "api.example.test" "$state/policy.yaml"; then fail "policy rm left the rule"; fi
log "ok: policy allow/deny/ls/check/log/rm as a docker-group user"

before_secrets="$(sha256sum "$secrets")"
if printf '%s' "$value" | as_out "$kitgate" secret set-custom -g --host out.example.test --env OUT \
  >/dev/null 2>"$work/out-secret.err"; then fail "$out_user set a secret"; fi
grep -q "not in the docker group" "$work/out-secret.err" || { cat "$work/out-secret.err" >&2; fail "no clear error for $out_user"; }
if printf '%s' "$value" | as_forced "$kitgate" secret set-custom -g --host out.example.test --env OUT \
  >/dev/null 2>"$work/forced-secret.err"; then fail "$out_user (forced gid) set a secret"; fi
grep -q "is not root and not in the docker group" "$work/forced-secret.err" || { cat "$work/forced-secret.err" >&2; fail "no SO_PEERCRED refusal for secret set-custom"; }
if as_out "$kitgate" policy allow network -g out.example.test >/dev/null 2>&1; then fail "$out_user added a rule"; fi
[[ "$(sha256sum "$secrets")" == "$before_secrets" ]] || fail "a refused user changed secrets.yaml"
if grep -q "out.example.test" "$state/policy.yaml" 2>/dev/null; then fail "a refused user changed policy.yaml"; fi
# Without the daemon: the fix, not the user's own state directory.
if (cd "$work/home-in/ws" && runuser -u "$in_user" -- env -i PATH="$PATH" HOME="$work/home-in" \
  KITGATE_DAEMON_SOCKET="$work/run/none.sock" "$kitgate" secret ls >/dev/null 2>"$work/nodaemon.err"); then
  fail "secret ls without a daemon succeeded"
fi
grep -q "kitgate daemon is not running.*sudo systemctl enable --now kitgate-daemon.*sudo" "$work/nodaemon.err" ||
  { cat "$work/nodaemon.err" >&2; fail "no clear error without the daemon"; }
for f in "$work/daemon.log" "$work"/*.out "$work"/*.err; do
  if grep -q -- "$value\|$svc_value" "$f"; then fail "a secret value is in $f"; fi
done
log "ok: refused outside the group (socket, SO_PEERCRED), a clear error without the daemon; no value in any log or output"
as_in "$call" "$sock" sandbox-remove "$name" || fail "sandbox-remove (again)"

# --- 5. kitgate run -d / rm as the docker-group user ------------------------------
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
