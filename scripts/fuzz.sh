#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# SECONDS (default 60) on its seed corpus. Crashes fail the script.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cmake --preset fuzz >/dev/null
targets=$(grep -rhoE 'kitgate_add_fuzzer\(\s*[A-Za-z0-9_]+' fuzz | sed 's/.*(//' | sort -u)
# shellcheck disable=SC2086
cmake --build --preset fuzz -j "$(nproc)" --target $targets
status=0
while IFS= read -r bin; do
  name=$(basename "$bin")
  seeds=$(dirname "$(grep -rl "kitgate_add_fuzzer($name" fuzz --include CMakeLists.txt | head -1)")/seeds
  work=$(mktemp -d)
  [[ -d "$seeds" ]] && cp -r "$seeds"/. "$work"/
  echo "fuzz: $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -max_len=65536 -artifact_prefix=build-fuzz/ "$work" >"build-fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FAILED — see build-fuzz/$name.log"; tail -30 "build-fuzz/$name.log"; status=1
  fi
  rm -rf "$work"
done < <(find build-fuzz/fuzz -maxdepth 2 -type f -executable -name 'fuzz_*')
exit $status
