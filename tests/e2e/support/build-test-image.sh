#!/usr/bin/env bash
# Builds the local image kitgate-test-agent:latest without any registry: a
# small Debian 12 userland assembled from Debian's own .deb packages (fetched
# with `apt-get download`, unpacked with dpkg-deb, no maintainer scripts run),
# configured by hand and loaded with `docker import`.
#
# The image meets kitgate's base-image requirements: sh, bash, coreutils,
# curl, ca-certificates + update-ca-certificates, sudo, and a user `agent`
# (uid 1000, gid 1000, home /home/agent, password-less sudo).
#
# Cached: the image carries the label org.kitgate.content-hash (this script +
# the exact package versions); when the image already has that label nothing
# is rebuilt. The rootfs tarball is kept too, for tests that import it
# themselves through the Engine API.
#
# Usage: build-test-image.sh [--print-rootfs] [--no-import] [--tag NAME] [--with "PKG…"]
#   --print-rootfs  print the rootfs tarball's path on stdout at the end
#   --no-import     only build the tarball (no Docker daemon needed)
#   --with "PKG…"   more Debian packages in the image (use with its own --tag;
#                   its tarball is cached apart from the plain image's)
# Exit codes: 0 ok; 77 Docker cannot run here (from start-dockerd.sh); 1 error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag="kitgate-test-agent:latest"
print_rootfs=0
do_import=1
with=()
while (($#)); do
  case "$1" in
    --print-rootfs) print_rootfs=1 ;;
    --no-import) do_import=0 ;;
    --tag) tag="$2"; shift ;;
    --with) read -ra with <<<"$2"; shift ;;
    *) echo "build-test-image: unknown argument $1" >&2; exit 1 ;;
  esac
  shift
done

log() { echo "build-test-image: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root (it unpacks a root filesystem with root-owned files)"
  exit 1
fi

cache="${KITGATE_TEST_IMAGE_CACHE:-/var/tmp/kitgate-test-image}"
mkdir -p "$cache/debs"

# What the image holds. usr-is-merged keeps usrmerge (and perl) out.
roots=(base-files usr-is-merged dash bash coreutils grep sed findutils tar gzip
       debianutils mawk curl ca-certificates openssl sudo procps passwd libc-bin
       hostname)
roots+=("${with[@]}")

# shellcheck source=../../../scripts/debian-rootfs.sh
source "$here/../../../scripts/debian-rootfs.sh"
pkgs="$(debian_rootfs_resolve "$cache" "${roots[@]}")"

hash="$( { cat "${BASH_SOURCE[0]}" "$here/../../../scripts/debian-rootfs.sh"; echo "$pkgs"; } | sha256sum | cut -c1-16)"
# The plain image's tarball is rootfs-<hash>.tar; one with --with packages
# rootfs-with-<tag>-<hash>.tar, so neither evicts the other.
prefix="rootfs"
others=(! -name 'rootfs-with-*')
if ((${#with[@]})); then
  prefix="rootfs-with-$(printf %s "$tag" | tr -c 'a-zA-Z0-9' '_')"
  others=()
fi
rootfs_tar="$cache/$prefix-$hash.tar"

if ((do_import)); then
  rc=0
  "$here/start-dockerd.sh" || rc=$?
  if ((rc != 0)); then exit "$rc"; fi
  have="$(docker image inspect --format '{{ index .Config.Labels "org.kitgate.content-hash" }}' "$tag" 2>/dev/null || true)"
  if [[ "$have" == "$hash" && -f "$rootfs_tar" ]]; then
    log "$tag is up to date (content hash $hash)"
    ((print_rootfs)) && echo "$rootfs_tar"
    exit 0
  fi
fi

if [[ ! -f "$rootfs_tar" ]]; then
  work="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  root="$work/root"
  debian_rootfs_unpack "$cache" "$root" "$pkgs"

  # Accounts: root, the agent (uid 1000) and nobody. Password-less sudo.
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
agent:x:1000:1000:agent:/home/agent:/bin/bash
PASSWD
  cat >"$root/etc/group" <<'GROUP'
root:x:0:
sudo:x:27:agent
users:x:100:
nogroup:x:65534:
agent:x:1000:
GROUP
  printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nagent:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
  printf 'root:*::\nsudo:*::agent\nusers:*::\nnogroup:*::\nagent:!::\n' >"$root/etc/gshadow"
  chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
  printf 'agent ALL=(ALL:ALL) NOPASSWD:ALL\n' >"$root/etc/sudoers.d/agent"
  chmod 0440 "$root/etc/sudoers.d/agent"
  # What pam-auth-update would have written (libpam-runtime's defaults).
  printf 'auth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\tpam_deny.so\nauth\trequired\tpam_permit.so\n' >"$root/etc/pam.d/common-auth"
  printf 'account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so\naccount\trequisite\tpam_deny.so\naccount\trequired\tpam_permit.so\n' >"$root/etc/pam.d/common-account"
  printf 'password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\npassword\trequisite\tpam_deny.so\npassword\trequired\tpam_permit.so\n' >"$root/etc/pam.d/common-password"
  printf 'session\t[default=1]\tpam_permit.so\nsession\trequisite\tpam_deny.so\nsession\trequired\tpam_permit.so\nsession\trequired\tpam_unix.so\n' >"$root/etc/pam.d/common-session"
  cp "$root/etc/pam.d/common-session" "$root/etc/pam.d/common-session-noninteractive"
  mkdir -p "$root/root" "$root/home/agent"
  cp "$root/etc/skel/." "$root/home/agent/" -r 2>/dev/null || true
  chown -R 1000:1000 "$root/home/agent"
  chmod 0700 "$root/root"
  echo kitgate-test-agent >"$root/etc/hostname"
  # ldconfig, the CA store built the normal way, no docs.
  debian_rootfs_finish "$root"

  tar --numeric-owner -C "$root" -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
  # Keep only the current tarball.
  find "$cache" -maxdepth 1 -name "$prefix-*.tar" "${others[@]}" ! -name "$prefix-$hash.tar" -delete
  log "rootfs tarball: $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1))"
fi

if ((do_import)); then
  log "importing $tag"
  docker import \
    --change "LABEL org.kitgate.content-hash=$hash" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'CMD ["/bin/bash"]' \
    "$rootfs_tar" "$tag" >/dev/null
  # The image must meet the base-image requirements, or this script fails.
  out="$(docker run --rm "$tag" id agent)"
  [[ "$out" == "uid=1000(agent) gid=1000(agent) groups=1000(agent),27(sudo)" ]] ||
    { log "unexpected 'id agent' in $tag: $out"; exit 1; }
  docker run --rm --user agent "$tag" sh -c 'curl --version >/dev/null && sudo -n true && test "$HOME" = /home/agent' ||
    { log "$tag lacks curl, sudo or the agent home"; exit 1; }
  log "$tag ready (content hash $hash)"
fi
((print_rootfs)) && echo "$rootfs_tar"
exit 0
