#!/usr/bin/env bash
# Sets up, builds and runs every test:
#   1. ASan+UBSan build of the proxy, the kit loader and their suites
#      (unit + integration against the real binary), run directly
#   2. OpenSSL TLS backend build: the TLS and interception suites
#   3. libFuzzer targets (clang), a short run each
#   4. default build (BoringSSL), every test incl. the Docker end-to-end suite,
#      through ctest — last, so the final ctest summary line is the whole suite's.
# KITGATE_QUICK=1 runs only step 4.
set -euo pipefail
cd "$(dirname "$0")/.."
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
  echo "== ASan + UBSan"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs" --target kitgate-proxy \
    kitgate_http_test kitgate_policy_test kitgate_sandbox_test kitgate_secrets_test kitgate_tls_test \
    kitgate_stream_test kitgate_mitm_authority_test kit_loader_test kitgate_integration_test kitgate_mitm_test
  run_suites build-asan \
    tests/proxy/http/kitgate_http_test tests/proxy/policy/kitgate_policy_test \
    tests/proxy/sandbox/kitgate_sandbox_test tests/proxy/secrets/kitgate_secrets_test \
    tests/proxy/tls/kitgate_tls_test tests/proxy/stream/kitgate_stream_test \
    tests/proxy/mitm/kitgate_mitm_authority_test tests/kitloader/kit_loader_test \
    tests/integration/kitgate_integration_test tests/integration/kitgate_mitm_test

  echo "== OpenSSL backend (TLS and interception suites)"
  cmake --preset openssl >/dev/null
  cmake --build --preset openssl -j "$jobs" --target kitgate-proxy kitgate_tls_test kitgate_mitm_test
  run_suites build-openssl tests/proxy/tls/kitgate_tls_test tests/integration/kitgate_mitm_test

  echo "== fuzzers (short runs)"
  ./scripts/fuzz.sh 15
fi

echo "== default build"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"
ctest --preset default
