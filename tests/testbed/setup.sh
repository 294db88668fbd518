#!/usr/bin/env bash
# Prepares this machine for the test bed and the demo, idempotently:
# host packages, the pinned Python venv (.venv), a running Docker engine, and the images.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
host_packages=(docker.io debootstrap busybox-static e2fsprogs util-linux git shellcheck fuse3 curl zstd age)

missing=()
for package in "${host_packages[@]}"; do
  dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing host packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

requirements_hash=$(sha256sum "$root/requirements.txt" | cut -c1-16)
if [ "$(cat "$root/.venv/.requirements-hash" 2>/dev/null)" != "$requirements_hash" ]; then
  echo "setup: installing the pinned Python requirements into .venv"
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements.txt"
  echo "$requirements_hash" >"$root/.venv/.requirements-hash"
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing Node.js and npm (for Azurite)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

"$root/tests/testbed/ensure-docker.sh"
"$root/tests/testbed/ensure-azurite.sh"
# The stand-in of rclone's download site, in Azurite (rclone_mount_install_source: release).
"$root/.venv/bin/python" "$root/tests/testbed/files/rclone_release_mirror.py" "$root/.venv/bin/rclone" >/dev/null
"$root/tests/testbed/build-images.sh"
echo "setup: ready"
