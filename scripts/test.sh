#!/usr/bin/env bash
# Sets up, builds and runs every test:
#   1. ASan+UBSan build, all tests but the Docker end-to-end suite
#   2. OpenSSL TLS backend build, the TLS and interception tests
#   3. libFuzzer targets, a short run each (clang)
#   4. default build (BoringSSL), all tests incl. Docker end-to-end — last, so
#      the final ctest summary line is the whole suite's.
# KITGATE_QUICK=1 runs only step 4.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc)

if [[ "${KITGATE_QUICK:-0}" != 1 ]]; then
  echo "== ASan + UBSan"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan -LE 'docker|bench'

  echo "== OpenSSL backend (TLS tests)"
  cmake --preset openssl >/dev/null
  cmake --build --preset openssl -j "$jobs" --target kitgate-proxy kitgate_tls_test kitgate_mitm_test
  # The two TLS suites, run directly (test names are shared with non-TLS suites).
  export KITGATE_SOURCE_DIR=$PWD KITGATE_BUILD_DIR=$PWD/build-openssl
  ./build-openssl/tests/proxy/tls/kitgate_tls_test --gtest_brief=1
  ./build-openssl/tests/integration/kitgate_mitm_test --gtest_brief=1
  unset KITGATE_SOURCE_DIR KITGATE_BUILD_DIR

  echo "== fuzzers (short runs)"
  ./scripts/fuzz.sh 20
fi

echo "== default build"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"
ctest --preset default
