#!/usr/bin/env bash
# Installs, with apt-get, exactly the Debian 12 packages kitgate needs that are
# not installed yet. Safe to run again: it does nothing when all are present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev llvm
  libevent-dev libnghttp2-dev libyaml-cpp-dev libre2-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  android-libboringssl-dev libssl-dev
  libarchive-dev libcurl4-openssl-dev nlohmann-json3-dev prometheus-cpp-dev
  curl openssl python3 python3-grpcio nghttp2-client procps iproute2 zip unzip
  docker-registry apache2-utils docker-compose prometheus
  runsc
  iptables openssh-client openssh-server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
