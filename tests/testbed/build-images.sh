#!/usr/bin/env bash
# Builds the test bed's images offline and caches them: no registry is reachable here.
#   immich-pi-testbed/pi:trixie, :bookworm   systemd roots made with debootstrap (a "fresh Pi OS")
#   immich-pi-testbed/busybox:latest          a tiny image to load into a simulated Pi's Docker
# Immich's compose stack, FROM pi:trixie (postgres/, valkey/, immich-*-standin/ hold the recipes):
#   immich-pi-testbed/postgres-pgvector:17    PostgreSQL 17 + pgvector (Debian trixie), a real
#                                             database for Immich's pgvector mode
#   immich-pi-testbed/valkey:testbed          Debian trixie's valkey, run as the official image
#   immich-pi-testbed/immich-server-standin:testbed             stand-ins (NOT Immich) for the
#   immich-pi-testbed/immich-machine-learning-standin:testbed   images no registry serves here
# An image is rebuilt only when its recipe (this file's inputs) changed: each carries a
# label with the recipe's hash, compared before building.
# The four stack images are also saved together, for a simulated Pi's own Docker, to
# /var/tmp/immich-pi-testbed/images/immich-stack-testbed.tar (rewritten only when one of
# their image IDs changed; the IDs are kept beside it in immich-stack-testbed.tar.ids).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo="immich-pi-testbed"
work=$(mktemp -d /var/tmp/immich-pi-testbed-build.XXXXXX)
stack_images=("$repo/postgres-pgvector:17" "$repo/valkey:testbed" "$repo/immich-server-standin:testbed"
  "$repo/immich-machine-learning-standin:testbed")
stack_archive=/var/tmp/immich-pi-testbed/images/immich-stack-testbed.tar
trap 'rm -rf "$work"' EXIT

# What a Raspberry Pi OS Lite image already has that matters to the roles: systemd, python3
# for Ansible, sudo, apt's Python bindings. Everything else the roles must install themselves.
pi_packages="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,kmod,e2fsprogs,util-linux,cron"

recipe_hash() {
  printf '%s\n' "$@" | sha256sum | cut -c1-16
}

image_is_current() {
  local image=$1 hash=$2
  [ "$(docker image inspect -f '{{ index .Config.Labels "org.homelab.testbed.recipe" }}' "$image" 2>/dev/null)" = "$hash" ]
}

build_pi_base() {
  local suite=$1 image="$repo/pi:$1" hash
  hash=$(recipe_hash "$suite" "$pi_packages" "$(cat "$here/files/immich-pi-testbed-fstab.service")")
  if image_is_current "$image" "$hash"; then
    echo "build-images: $image is current, skipped"
    return
  fi
  echo "build-images: debootstrap $suite (about a minute)"
  local started=$SECONDS
  debootstrap --variant=minbase --include="$pi_packages" "$suite" "$work/$suite" >"$work/$suite.log" 2>&1 || {
    tail -n 30 "$work/$suite.log" >&2
    echo "build-images: debootstrap $suite failed" >&2
    exit 1
  }
  # A Pi OS host name and an empty machine-id (systemd fills it on first boot, as on a new SD card).
  echo "raspberrypi" >"$work/$suite/etc/hostname"
  : >"$work/$suite/etc/machine-id"
  # systemd skips fstab's block devices inside a container; this stand-in mounts them at boot
  # as systemd-fstab-generator does on a real Pi (see files/immich-pi-testbed-fstab.service).
  install -m 0644 "$here/files/immich-pi-testbed-fstab.service" "$work/$suite/etc/systemd/system/"
  mkdir -p "$work/$suite/etc/systemd/system/local-fs.target.wants"
  ln -sf ../immich-pi-testbed-fstab.service "$work/$suite/etc/systemd/system/local-fs.target.wants/"
  tar -C "$work/$suite" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' \
    -c "LABEL org.homelab.testbed.recipe=$hash" \
    - "$image" >/dev/null
  rm -rf "${work:?}/$suite"
  echo "build-images: $image built in $((SECONDS - started)) s"
}

build_busybox() {
  local image="$repo/busybox:latest" hash busybox
  busybox=$(command -v busybox)
  hash=$(recipe_hash "busybox" "$(sha256sum "$busybox")")
  if image_is_current "$image" "$hash"; then
    echo "build-images: $image is current, skipped"
    return
  fi
  mkdir -p "$work/busybox/bin"
  cp "$busybox" "$work/busybox/bin/busybox"
  "$work/busybox/bin/busybox" --install -s "$work/busybox/bin" 2>/dev/null || \
    for applet in sh echo cat ls sleep httpd wget; do ln -sf busybox "$work/busybox/bin/$applet"; done
  # busybox --install writes absolute links to the host path; make them relative.
  find "$work/busybox/bin" -type l -exec ln -sfn busybox {} \;
  tar -C "$work/busybox" -c . | docker import -c 'CMD ["/bin/sh"]' \
    -c "LABEL org.homelab.testbed.recipe=$hash" - "$image" >/dev/null
  echo "build-images: $image built"
}

# An image built with `docker build` FROM pi:trixie out of the recipe directory $here/$3, plus
# any further arguments: files under $here copied into the build context beside the recipe (one
# copy in git, in files/; the context is a temporary directory, the recipe's hash covers it all).
build_from_trixie() {
  local image=$1 estimate=$2 recipe=$3 base="$repo/pi:trixie" hash context file
  shift 3
  context="$work/context-$recipe"
  mkdir -p "$context"
  cp -a "$here/$recipe/." "$context/"
  for file in "$@"; do
    if [ ! -f "$here/$file" ]; then
      echo "build-images: $image needs $here/$file, which is missing" >&2
      exit 1
    fi
    cp "$here/$file" "$context/"
  done
  # The base image's recipe label is part of this recipe: a rebuilt base rebuilds this one.
  # The context goes in as a normalised tar (names, modes, contents; no times or owners).
  hash=$(recipe_hash "$recipe" "$(docker image inspect -f '{{ index .Config.Labels "org.homelab.testbed.recipe" }}' "$base")" \
    "$(tar -C "$context" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c . | sha256sum)")
  if image_is_current "$image" "$hash"; then
    echo "build-images: $image is current, skipped"
    return
  fi
  local started=$SECONDS
  echo "build-images: $image (about $estimate)"
  docker build --label "org.homelab.testbed.recipe=$hash" -t "$image" "$context" >"$work/$recipe.log" 2>&1 || {
    tail -n 30 "$work/$recipe.log" >&2
    echo "build-images: $image failed" >&2
    exit 1
  }
  echo "build-images: $image built in $((SECONDS - started)) s ($(image_size "$image"))"
}

# Sizes in SI units, as `docker images` shows them.
image_size() {
  docker image inspect -f '{{ .Size }}' "$1" | numfmt --to=si --suffix=B
}

file_size() {
  stat -c %s "$1" | numfmt --to=si --suffix=B
}

# One `docker save` of the four stack images: their shared base layers are stored once.
save_stack_archive() {
  local ids image started=$SECONDS
  ids=$(for image in "${stack_images[@]}"; do
    printf '%s %s\n' "$(docker image inspect -f '{{ .Id }}' "$image")" "$image"
  done)
  if [ -s "$stack_archive" ] && [ "$(cat "$stack_archive.ids" 2>/dev/null)" = "$ids" ]; then
    echo "build-images: $stack_archive is current ($(file_size "$stack_archive")), skipped"
    return
  fi
  echo "build-images: saving the stack images to $stack_archive"
  mkdir -p "$(dirname "$stack_archive")"
  rm -f "$stack_archive.ids"
  docker save -o "$stack_archive.partial" "${stack_images[@]}"
  mv -f "$stack_archive.partial" "$stack_archive"
  printf '%s\n' "$ids" >"$stack_archive.ids"
  echo "build-images: $stack_archive written in $((SECONDS - started)) s ($(file_size "$stack_archive"))"
}

"$here/ensure-docker.sh"
# The two debootstraps are mostly waiting on downloads: run them side by side.
build_pi_base trixie &
trixie_build=$!
build_pi_base bookworm &
bookworm_build=$!
build_busybox
wait "$trixie_build"
wait "$bookworm_build"
# FROM pi:trixie, so after it; side by side (apt downloads, mostly).
build_from_trixie "$repo/postgres-pgvector:17" "30 s" postgres &
postgres_build=$!
build_from_trixie "$repo/valkey:testbed" "15 s" valkey &
valkey_build=$!
# The server stand-in applies Immich v3.2.2's schema on a first start, as Immich's migrations do.
build_from_trixie "$repo/immich-server-standin:testbed" "15 s" immich-server-standin files/immich_v3_schema.sql &
server_build=$!
build_from_trixie "$repo/immich-machine-learning-standin:testbed" "5 s" immich-machine-learning-standin
wait "$postgres_build"
wait "$valkey_build"
wait "$server_build"
save_stack_archive
