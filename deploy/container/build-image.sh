#!/usr/bin/env bash
# Builds the kitgate-proxy container image from this repository and Debian
# packages, with no image registry:
#   1. the base image kitgate-proxy-base:<hash> — a Debian 12 root file system
#      holding exactly the shared libraries the built proxy links (found with
#      ldd, mapped to packages with dpkg -S), ca-certificates and curl (for the
#      HEALTHCHECK), a numeric user kitgate (10001:10001) and its 0700
#      /var/lib/kitgate; assembled by scripts/debian-rootfs.sh and loaded with
#      `docker import`. Cached: rebuilt only when the script or a package
#      version changes.
#   2. the proxy staged with `cmake --install --strip --component proxy` into
#      build/image-root (the one tree .dockerignore lets in), then deploy/container/Dockerfile on top (USER,
#      WORKDIR, VOLUME, HEALTHCHECK, ENTRYPOINT); Docker's layer cache makes a
#      rebuild with an unchanged binary instant.
#
# Usage: deploy/container/build-image.sh [--build-dir DIR] [--tag NAME]
#   --build-dir  a configured and built tree (default: build, the `default`
#                preset) holding proxy/kitgate-proxy
#                (cmake --build --preset default --target kitgate-proxy)
#   --tag        image name (default: kitgate-proxy:<project version>)
# Prints the image tag on stdout. Needs root (it unpacks root-owned files)
# and a Docker daemon.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$repo/build"
tag=""
while (($#)); do
  case "$1" in
    --build-dir) build="$(cd "$2" && pwd)"; shift ;;
    --tag) tag="$2"; shift ;;
    *) echo "build-image: unknown argument $1 (usage: build-image.sh [--build-dir DIR] [--tag NAME])" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "build-image: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it unpacks a root file system with root-owned files)"
binary="$build/proxy/kitgate-proxy"
[[ -x "$binary" ]] || die "$binary is missing: cmake --build --preset default --target kitgate-proxy"
# The one path .dockerignore lets into the context besides the config.
stage_rel="build/image-root"
if [[ -z "$tag" ]]; then
  version="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")"
  tag="kitgate-proxy:${version:-latest}"
fi

# shellcheck source=../../scripts/debian-rootfs.sh
source "$repo/scripts/debian-rootfs.sh"

# The Debian packages that own the proxy's shared libraries, in one dpkg
# query (merged /usr: dpkg may know a library under /lib or /usr/lib).
runtime_packages() {
  local -a libs=() queries=()
  mapfile -t libs < <(ldd "$binary" | awk '/=> \//{ print $3 } /^[ \t]*\//{ print $1 }' | sort -u)
  local lib
  for lib in "${libs[@]}"; do
    queries+=("$lib" "$(realpath "$lib")")
    if [[ "$lib" == /usr/* ]]; then queries+=("${lib#/usr}"); else queries+=("/usr$lib"); fi
  done
  local owners
  owners="$(dpkg -S "${queries[@]}" 2>/dev/null || true)"
  for lib in "${libs[@]}"; do
    grep -q "/$(basename "$lib")\$" <<<"$owners" || grep -q "/$(basename "$(realpath "$lib")")\$" <<<"$owners" ||
      { log "no Debian package owns $lib"; return 1; }
  done
  cut -d: -f1 <<<"$owners" | sort -u
}
mapfile -t libs < <(runtime_packages)
((${#libs[@]})) || die "ldd found no libraries in $binary"
roots=(base-files usr-is-merged libc-bin ca-certificates curl "${libs[@]}")

cache="${KITGATE_IMAGE_CACHE:-/var/tmp/kitgate-proxy-image}"
pkgs="$(debian_rootfs_resolve "$cache" "${roots[@]}")"
hash="$( { cat "${BASH_SOURCE[0]}" "$repo/scripts/debian-rootfs.sh"; echo "$pkgs"; } | sha256sum | cut -c1-16)"
base="kitgate-proxy-base:$hash"

if docker image inspect "$base" >/dev/null 2>&1; then
  log "$base is up to date"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/kitgate-proxy-image.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  root="$work/root"
  mkdir -p "$root"
  debian_rootfs_unpack "$cache" "$root" "$pkgs"
  # Accounts: root, the proxy (10001, no shell, no password) and nobody.
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nkitgate:x:10001:10001:kitgate-proxy:/var/lib/kitgate:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nkitgate:x:10001:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'root:*:19000:0:99999:7:::\nkitgate:!:19000::::::\nnobody:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
  chmod 0640 "$root/etc/shadow"
  install -d -m 0700 -o 10001 -g 10001 "$root/var/lib/kitgate"
  install -d -m 0755 "$root/etc/kitgate"
  debian_rootfs_finish "$root"
  log "importing $base"
  tar --numeric-owner -C "$root" -c . |
    docker import --change "LABEL org.kitgate.content-hash=$hash" \
      --change "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin" - "$base" >/dev/null
  # Older bases (another hash) go unless an image still uses them.
  docker image ls --format '{{.Repository}}:{{.Tag}}' kitgate-proxy-base | grep -vxF "$base" |
    xargs -r docker image rm >/dev/null 2>&1 || true
fi

log "staging the proxy into $stage_rel"
rm -rf "${repo:?}/$stage_rel"
mkdir -p "$repo/$stage_rel"
DESTDIR="$repo/$stage_rel" cmake --install "$build" --prefix /usr --strip --component proxy >/dev/null

log "building $tag"
docker build -q -f "$repo/deploy/container/Dockerfile" --build-arg "BASE=$base" \
  --build-arg "STAGE=$stage_rel" -t "$tag" "$repo" >"$build/image-build.log" 2>&1 ||
  { cat "$build/image-build.log" >&2; die "docker build failed"; }
log "$tag ready"
echo "$tag"
