#!/usr/bin/env bash
# The collection builds with ansible-galaxy, installs, and runs from the installed copy as
# `ansible-playbook homelab.immich_pi.site` (syntax check: no host is touched); its
# module documentation renders with ansible-doc.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /var/tmp/immich-pi-build.XXXXXX)
trap 'rm -rf "$work"' EXIT

ansible-galaxy collection build "$root" --output-path "$work" >/dev/null
tarball=$(ls "$work"/homelab-immich_pi-*.tar.gz)
if tar -tzf "$tarball" | grep -E '^(\.venv|collections|tests/output|\.ansible)/' >/dev/null; then
  echo "check_collection_build: $tarball carries local-only folders" >&2
  exit 1
fi

# Outside the checkout, so its ansible.cfg (which maps the checkout itself) is not used.
# The collections this one needs come from the `ansible` bundle in site-packages.
cd "$work"
: >"$work/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$work/installed"
ansible-galaxy collection install "$tarball" >/dev/null
printf '[immich_pi]\nphotos ansible_host=192.0.2.10\n' >"$work/inventory.ini"
ansible-playbook homelab.immich_pi.site -i "$work/inventory.ini" --syntax-check >/dev/null
ansible-doc homelab.immich_pi.block_device_info >/dev/null
ansible-doc -t role homelab.immich_pi.ssd >/dev/null
ansible-doc -t role homelab.immich_pi.docker >/dev/null
echo "check_collection_build: $(basename "$tarball") builds, installs, and runs as homelab.immich_pi.site"
