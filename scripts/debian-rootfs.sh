# Sourced, not run: assembles a Debian 12 root filesystem from Debian's own
# .deb packages without any image registry (apt-get download + dpkg-deb; no
# maintainer scripts run). Used by tests/e2e/support/build-test-image.sh (the
# agent test image) and deploy/container/build-image.sh (the proxy image).
#
#   pkgs="$(debian_rootfs_resolve CACHE ROOT_PACKAGE…)"   # name=version lines
#   debian_rootfs_unpack CACHE ROOTDIR "$pkgs"            # fetch + unpack
#   … accounts, files …
#   debian_rootfs_finish ROOTDIR                          # ldconfig, CA store, no docs
#
# CACHE keeps the downloaded .deb files ($CACHE/debs) between runs. Callers
# log through their own log() function.

# The package closure of ROOT_PACKAGE… as apt would install it on an empty
# system (no recommends), one name=version a line. Runs `apt-get update` once
# when apt has no package lists yet.
_debian_rootfs_simulate() {
  local cache="$1"; shift
  apt-get -o Dir::State::status="$cache/empty-status" \
    -o APT::Install-Recommends=false -s install "$@" |
    awk '/^Inst /{ gsub(/[()]/, "", $3); print $2 "=" $3 }'
}
debian_rootfs_resolve() {
  local cache="$1"; shift
  mkdir -p "$cache/debs"
  # apt's simulation is slow: reuse its answer while the roots and apt's
  # package lists are the same.
  local key memo
  key="$( { echo "$@"; ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null; } | sha256sum | cut -c1-16)"
  memo="$cache/resolved-$key"
  if [[ -s "$memo" ]]; then
    cat "$memo"
    return
  fi
  : >"$cache/empty-status"
  local out
  out="$(_debian_rootfs_simulate "$cache" "$@" 2>/dev/null || true)"
  if [[ -z "$out" ]]; then
    log "apt has no package lists yet; running apt-get update"
    apt-get update -qq
    out="$(_debian_rootfs_simulate "$cache" "$@")"
  else
    echo "$out" >"$memo"
  fi
  echo "$out"
}

# Fetches the packages named by PKGS (name=version lines) into $CACHE/debs
# when missing and unpacks them into ROOTDIR, a merged-/usr layout.
debian_rootfs_unpack() {
  local cache="$1" root="$2" pkgs="$3"
  local spec name ver deb
  local -a missing=()
  log "fetching $(wc -l <<<"$pkgs") Debian packages into $cache/debs"
  while read -r spec; do
    name="${spec%%=*}"; ver="${spec#*=}"
    # apt-get download names files NAME_VERSION_ARCH.deb with ':' as %3a.
    ls "$cache/debs/${name}_${ver//:/%3a}_"*.deb >/dev/null 2>&1 || missing+=("$spec")
  done <<<"$pkgs"
  if ((${#missing[@]})); then
    (cd "$cache/debs" && apt-get -q -o APT::Sandbox::User=root download "${missing[@]}" >/dev/null)
  fi
  mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"
  local d
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
  log "unpacking into a fresh root"
  while read -r spec; do
    name="${spec%%=*}"; ver="${spec#*=}"
    deb="$(ls "$cache/debs/${name}_${ver//:/%3a}_"*.deb | head -n1)"
    dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root"
  done <<<"$pkgs"
}

# Makes an unpacked ROOTDIR usable: the dynamic linker cache, the CA store
# (every bundled certificate, built the normal way, when ca-certificates is
# in it) and no docs or manuals.
debian_rootfs_finish() {
  local root="$1"
  mkdir -p "$root/tmp" "$root/var/tmp" "$root/run" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  if [[ -d "$root/usr/share/ca-certificates" ]]; then
    (cd "$root/usr/share/ca-certificates" && find . -name '*.crt' | sed 's|^\./||' | sort) >"$root/etc/ca-certificates.conf"
  fi
  chroot "$root" /sbin/ldconfig
  if [[ -x "$root/usr/sbin/update-ca-certificates" && -x "$root/bin/sh" ]]; then
    chroot "$root" /usr/sbin/update-ca-certificates >/dev/null
  elif [[ -d "$root/usr/share/ca-certificates" ]]; then
    # No shell in the root for the script: the bundle it would write.
    mkdir -p "$root/etc/ssl/certs"
    (cd "$root/usr/share/ca-certificates" && sed 's|^|./|' "$root/etc/ca-certificates.conf" | xargs cat) \
      >"$root/etc/ssl/certs/ca-certificates.crt"
  fi
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale"
}
