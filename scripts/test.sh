#!/usr/bin/env bash
# Sets up, builds and runs every test:
#   1. ASan+UBSan build of the proxy, the kit loader and their suites
#      (unit + integration against the real binary), run directly
#   2. TSan build of the proxy and the suites that run it (integration, interception)
#      (tests/tsan.supp: what is suppressed, and why)
#   3. OpenSSL TLS backend build: the TLS and interception suites
#   4. libFuzzer targets (clang), a short run each
#   5. default build (BoringSSL), every test incl. the Docker end-to-end suite,
#      through ctest — last, so the final ctest summary line is the whole suite's;
#      where Docker runs, a docker/e2e-labelled test that skipped fails the run.
# KITGATE_QUICK=1 runs only step 5.
set -euo pipefail
cd "$(dirname "$0")/.."
# step NAME: ends the previous step (its wall time, for keeping CI in budget)
# and announces the next.
step_name=setup
step_start=$SECONDS
step() {
  echo "-- $step_name: $((SECONDS - step_start)) s"
  step_name=$1
  step_start=$SECONDS
  [[ -z "$1" ]] || echo "== $1"
}
./scripts/setup.sh
jobs=$(nproc)

# run_suites BUILD_DIR BINARY... : each GoogleTest binary, with the env ctest would give it.
run_suites() {
  local dir=$1; shift
  local bin
  for bin in "$@"; do
    echo "-- $bin"
    KITGATE_SOURCE_DIR=$PWD KITGATE_BUILD_DIR=$PWD/$dir "$dir/$bin" --gtest_brief=1
  done
}

if [[ "${KITGATE_QUICK:-0}" != 1 ]]; then
  step "ASan + UBSan"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs" --target kitgate-proxy \
    kitgate_http_test kitgate_policy_test kitgate_sandbox_test kitgate_secrets_test kitgate_tls_test \
    kitgate_stream_test kitgate_mitm_authority_test kit_loader_test kitgate_integration_test kitgate_mitm_test \
    kitgate_codec_http2_test kitgate_dns_test kitgate_server_h2_relay_test kitgate_upstream_test
  run_suites build-asan \
    tests/proxy/http/kitgate_http_test tests/proxy/policy/kitgate_policy_test \
    tests/proxy/sandbox/kitgate_sandbox_test tests/proxy/secrets/kitgate_secrets_test \
    tests/proxy/tls/kitgate_tls_test tests/proxy/stream/kitgate_stream_test \
    tests/proxy/mitm/kitgate_mitm_authority_test tests/kitloader/kit_loader_test \
    tests/integration/kitgate_integration_test tests/integration/kitgate_mitm_test \
    tests/proxy/codec/http2/kitgate_codec_http2_test tests/proxy/dns/kitgate_dns_test \
    tests/proxy/server/kitgate_server_h2_relay_test tests/proxy/upstream/kitgate_upstream_test

  step "TSan (the suites that run the real proxy)"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$jobs" --target kitgate-proxy \
    kitgate_integration_test kitgate_mitm_test
  # Only the suites that run the real, multi-threaded proxy (the unit suites
  # are single-threaded: nothing for TSan to see). The proxy processes they
  # start inherit TSAN_OPTIONS. The bulk-transfer tests (100 MiB, 1 GiB) and
  # the body-scrub matrix (every encoding x framing) take many minutes under
  # TSan and add no interleaving the others lack; the ASan and default steps
  # run them.
  TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
    GTEST_FILTER='-Tunnel.HundredMiB*:*OneGib*:EveryFormAndFraming/*:MemoryBound.*' \
    run_suites build-tsan \
    tests/integration/kitgate_integration_test tests/integration/kitgate_mitm_test

  step "OpenSSL backend (TLS and interception suites)"
  cmake --preset openssl >/dev/null
  cmake --build --preset openssl -j "$jobs" --target kitgate-proxy kitgate_tls_test kitgate_mitm_test
  run_suites build-openssl tests/proxy/tls/kitgate_tls_test tests/integration/kitgate_mitm_test

  step "fuzzers (short runs)"
  ./scripts/fuzz.sh 15
fi

step "default build"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"

# CI must not pass by skipping: where a Docker daemon answers (or can be
# started), a docker- or e2e-labelled test that skips counts as a failure.
docker_rc=0
tests/e2e/support/start-dockerd.sh || docker_rc=$?
junit=$PWD/build/ctest-junit.xml
rm -f "$junit"
step ""  # ctest times itself ("Total Test time"), and its summary stays last
ctest_rc=0
ctest --preset default --output-junit "$junit" || ctest_rc=$?
if ((docker_rc == 0)); then
  # Names of the docker/e2e tests ("  Test #12: Suite.Name"), then those ctest did not run.
  mapfile -t docker_tests < <(ctest --preset default -N -L '^(docker|e2e)$' | sed -n 's/^ *Test *#[0-9]*: //p')
  mapfile -t not_run < <(grep -o '<testcase name="[^"]*"[^>]*status="notrun"' "$junit" | sed 's/^<testcase name="\([^"]*\)".*/\1/')
  skipped=()
  for t in "${not_run[@]}"; do
    for d in "${docker_tests[@]}"; do
      if [[ "$t" == "$d" ]]; then skipped+=("$t"); fi
    done
  done
  if ((${#skipped[@]} > 0)); then
    echo "FAIL: Docker runs on this machine, yet ${#skipped[@]} docker/e2e test(s) skipped: ${skipped[*]}" >&2
    exit 1
  fi
fi
exit "$ctest_rc"
