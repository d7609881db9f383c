#!/usr/bin/env bash
# Build the engine's base image from Debian packages alone, for hosts that reach no
# image registry (air-gapped sites, this project's CI): debootstrap a minimal Debian
# with python3 + venv, trim it, and `docker import` it.
#
#   compose/base-image.sh [TAG]            default TAG: fatectl/base:bookworm
#
# The root filesystem tarball is cached (default ~/.cache/fatectl/base/, BASE_CACHE_DIR to
# move it) so a rerun only re-imports it, and an image already built from the same suite
# and packages is kept; delete both to rebuild. MIRROR defaults to the first Debian mirror
# in apt's sources, so it works wherever apt-get does.
set -euo pipefail

TAG=${1:-${BASE_IMAGE_TAG:-fatectl/base:bookworm}}
SUITE=${SUITE:-bookworm}
CACHE_DIR=${BASE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fatectl/base}
TARBALL="$CACHE_DIR/debian-$SUITE-python3.tar"
PACKAGES=python3,python3-venv,ca-certificates
rootfs=""

log() { echo "base-image: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_mirror() {
  local found
  found=$(grep -rhoE '(URIs:|^deb)[[:space:]]+[^[:space:]]+/debian/?([[:space:]]|$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | awk '{print $2}' | head -n 1 || true)
  echo "${found:-http://deb.debian.org/debian}"
}

build_tarball() {
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    as_root apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q debootstrap >/dev/null
  }
  local mirror
  mirror=${MIRROR:-$(apt_mirror)}
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/fatectl-rootfs.XXXXXX")
  trap '[ -z "$rootfs" ] || as_root rm -rf "$rootfs"' EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror (a few minutes)"
  as_root debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" \
    >"$CACHE_DIR/debootstrap.log" 2>&1 || {
    tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
    exit 1
  }
  # Nothing in the image installs Debian packages later: drop apt's lists, docs and
  # caches that only make it bigger.
  as_root chroot "$rootfs" apt-get clean
  as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/tmp/*
  find "$rootfs/usr/lib" -name '__pycache__' -type d -prune -exec rm -rf {} + 2>/dev/null || true
  # Sorted entries and fixed times keep the tarball identical for identical packages.
  as_root tar --numeric-owner --sort=name --mtime='2000-01-01 00:00:00Z' -C "$rootfs" \
    -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
}

mkdir -p "$CACHE_DIR"
recipe="$SUITE $PACKAGES"
built_from=$(docker image inspect "$TAG" --format '{{index .Config.Labels "fatectl.base.recipe"}}' 2>/dev/null || true)
if [ ! -s "$TARBALL" ] && [ "$built_from" = "$recipe" ]; then
  log "$TAG already built from $recipe (no cached tarball needed)"
  exit 0
fi
if [ ! -s "$TARBALL" ]; then
  build_tarball
else
  log "using cached $TARBALL"
fi

# The tarball's digest labels the image, so a rerun with the same tarball imports nothing.
digest=$(sha256sum "$TARBALL" | cut -d' ' -f1)
current=$(docker image inspect "$TAG" --format '{{index .Config.Labels "fatectl.base.sha256"}}' 2>/dev/null || true)
if [ "$current" = "$digest" ]; then
  log "$TAG is up to date"
  exit 0
fi
log "importing as $TAG"
docker import \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "LABEL fatectl.base.sha256=$digest" \
  --change "LABEL fatectl.base.recipe=\"$recipe\"" \
  --change 'CMD ["python3"]' \
  --message "debootstrap $SUITE minbase + $PACKAGES" \
  "$TARBALL" "$TAG" >/dev/null
docker run --rm "$TAG" python3 -c 'import sys, venv, ssl; print("base-image: python", sys.version.split()[0])' >&2
