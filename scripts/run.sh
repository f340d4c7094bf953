#!/usr/bin/env bash
# Sets up, builds and runs kitgate-proxy with configs/proxy.yaml
# (proxy on 127.0.0.1:3128, metrics on 127.0.0.1:9090, admin on 127.0.0.1:9091).
# Extra arguments go to kitgate-proxy, e.g. ./scripts/run.sh --workers 4
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake --preset default >/dev/null
cmake --build --preset default --target kitgate-proxy kitgate
exec ./build/proxy/kitgate-proxy --config configs/proxy.yaml "$@"
