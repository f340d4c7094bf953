#!/usr/bin/env bash
# e2e (ctest label e2e): the proxy image and the compose sidecar topology on
# the shared dockerd.
#   1. deploy/container/build-image.sh builds the image from the build tree;
#      its config is numeric-USER, WORKDIR, HEALTHCHECK, and a default
#      `docker run --read-only --cap-drop ALL` becomes healthy and answers.
#   2. deploy/compose/docker-compose.yml as written (plus an `origin` service
#      on the egress network, and a policy allowing it) runs under Debian's
#      docker-compose: the proxy container is read-only, capability-less,
#      no-new-privileges and healthy; the agent on the internal network gets
#      the origin's answer through the proxy, 403 for every other name and
#      for CONNECT, and nothing at all without the proxy.
# The origin is any HTTP server off the sandbox network: a second container
# of the proxy image, whose metrics listener answers GET /metrics.
# Usage: compose_e2e_test.sh SOURCE_DIR BUILD_DIR. Exit 77 = Docker cannot run here.
set -euo pipefail

src="$1"
build="$2"
log() { echo "compose_e2e: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

rc=0
"$src/tests/e2e/support/start-dockerd.sh" || rc=$?
((rc == 0)) || exit "$rc"
command -v docker-compose >/dev/null || fail "docker-compose is missing (scripts/setup.sh installs Debian's)"
[[ -x "$build/proxy/kitgate-proxy" ]] || fail "build kitgate-proxy first (cmake --build --preset default --target kitgate-proxy)"
"$src/tests/e2e/support/build-test-image.sh" >/dev/null

image="$("$src/deploy/container/build-image.sh" --build-dir "$build")"
log "image $image"

project="kgdeploy$$"
work="$(mktemp -d)"
run_name="$project-run"
compose=(docker-compose -p "$project" -f "$src/deploy/compose/docker-compose.yml" -f "$work/override.yml")
cleanup() {
  docker rm -f "$run_name" >/dev/null 2>&1 || true
  [[ -f "$work/override.yml" ]] && "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (bounded) until CONTAINER's health status is healthy.
wait_healthy() {
  local c="$1" status=""
  for _ in $(seq 1 120); do
    status="$(docker inspect --format '{{.State.Health.Status}}' "$c" 2>/dev/null || true)"
    [[ "$status" == healthy ]] && return 0
    [[ "$(docker inspect --format '{{.State.Running}}' "$c" 2>/dev/null)" == true ]] ||
      { docker logs "$c" >&2 || true; fail "$c exited"; }
    sleep 0.5
  done
  docker logs "$c" >&2 || true
  fail "$c not healthy (status: $status)"
}

# --- 1. the image ------------------------------------------------------------
[[ "$(docker image inspect --format '{{.Config.User}}' "$image")" =~ ^[0-9]+:[0-9]+$ ]] ||
  fail "USER is not numeric uid:gid"
[[ "$(docker image inspect --format '{{.Config.User}}' "$image")" != 0:* ]] || fail "USER is root"
[[ "$(docker image inspect --format '{{.Config.WorkingDir}}' "$image")" == /var/lib/kitgate ]] ||
  fail "WORKDIR is not /var/lib/kitgate"
[[ -n "$(docker image inspect --format '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "$image")" ]] ||
  fail "no HEALTHCHECK"
docker run -d --name "$run_name" --read-only --cap-drop ALL --security-opt no-new-privileges:true \
  --health-interval 1s "$image" >/dev/null
wait_healthy "$run_name"
docker exec "$run_name" curl -fsS http://127.0.0.1:9091/readyz | grep -q ready || fail "/readyz"
# Default policy: a host off the allow list is refused with 403 by the proxy.
code="$(docker exec "$run_name" curl -s -o /dev/null -w '%{http_code}' -x http://127.0.0.1:3128 http://denied.invalid/)"
[[ "$code" == 403 ]] || fail "default image: denied host got $code, not 403"
docker rm -f "$run_name" >/dev/null
log "ok: image config, read-only default run, healthy, 403"

# --- 2. compose --------------------------------------------------------------
# The policy: the origin by name and port. Its address is private, so an IP
# rule must allow it too: written once the origin has one, then reloaded.
write_policy() {
  printf 'listen: 0.0.0.0:3128\nmetrics_listen: 0.0.0.0:9090\nadmin_listen: 127.0.0.1:9091\nstate_dir: ""\npolicy_log: {path: "-"}\nallow: [%s]\n' \
    "$1" >"$work/proxy.yaml"   # in place: the container sees the bind-mounted file
}
write_policy '"origin:9090"'
cat >"$work/override.yml" <<YAML
services:
  proxy:
    volumes: ["$work/proxy.yaml:/etc/kitgate/proxy.yaml:ro"]
    ports: !reset []
    healthcheck: {interval: 1s}
  origin:
    image: $image
    read_only: true
    networks: [egress]
YAML
# docker-compose 1.29 has no !reset: publish no host port by other means.
sed -i '/!reset/d' "$work/override.yml"
export KITGATE_PROXY_IMAGE="$image" KITGATE_AGENT_IMAGE=kitgate-test-agent:latest
"${compose[@]}" up -d >/dev/null 2>"$work/up.log" || { cat "$work/up.log" >&2; fail "compose up"; }
proxy_c="$("${compose[@]}" ps -q proxy)"
agent_c="$("${compose[@]}" ps -q agent)"
wait_healthy "$proxy_c"

[[ "$(docker inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$proxy_c")" == true ]] || fail "proxy root not read-only"
[[ "$(docker inspect --format '{{.HostConfig.CapDrop}}' "$proxy_c")" == "[ALL]" ]] || fail "proxy keeps capabilities"
docker inspect --format '{{.HostConfig.SecurityOpt}}' "$proxy_c" | grep -q no-new-privileges || fail "no no-new-privileges"
[[ "$(docker inspect --format '{{.HostConfig.Memory}}' "$proxy_c")" != 0 ]] || fail "no memory limit"
[[ "$(docker inspect --format '{{.HostConfig.PidsLimit}}' "$proxy_c")" != "<nil>" ]] || fail "no pids limit"

origin_ip="$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$("${compose[@]}" ps -q origin)" | awk '{print $1}')"
write_policy "\"origin:9090\", \"$origin_ip:9090\""
docker exec "$proxy_c" curl -fsS -X POST http://127.0.0.1:9091/reload | grep -q reloaded || fail "reload"

agent() { docker exec "$agent_c" "$@"; }
# Allowed origin, through the proxy (the agent's environment names it).
code="$(agent curl -s -o "/tmp/body" -w '%{http_code}' http://origin:9090/metrics)"
[[ "$code" == 200 ]] || fail "allowed origin through the proxy: $code"
agent grep -q '^kitgate_' /tmp/body || fail "allowed origin: not the origin's body"
# Everything else, by name or address, plain or CONNECT: 403 from the proxy.
# (Names here resolve: with an IP rule in the policy, an unmatched name is
# decided by its address, so a name that does not resolve gets 502.)
for url in http://origin:9091/ "http://$origin_ip:9091/" http://agent:9090/ http://proxy:9090/metrics \
           https://origin/ https://agent/; do
  # https: the proxy's answer to CONNECT is curl's http_connect.
  code="$(agent curl -s -o /dev/null -w '%{http_code}%{http_connect}' "$url" || true)"
  [[ "$code" == 403000 || "$code" == 000403 ]] || fail "$url through the proxy: $code, not 403"
done
code="$(agent curl -s -o /dev/null -w '%{http_code}' http://denied.invalid/ || true)"
[[ "$code" != 200 ]] || fail "an unknown name was reached"
# Without the proxy: the internal network reaches nothing.
if agent curl -s --noproxy '*' --max-time 5 -o /dev/null http://origin:9090/metrics; then
  fail "the agent reached the origin without the proxy"
fi
if agent curl -s --noproxy '*' --max-time 5 -o /dev/null "http://$origin_ip:9090/metrics"; then
  fail "the agent reached the origin's address without the proxy"
fi
log "ok: compose sidecar: origin via proxy 200, others 403, nothing without the proxy"
