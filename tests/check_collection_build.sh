#!/usr/bin/env bash
# The collection builds with ansible-galaxy, installs, and runs from the installed copy as
# `ansible-playbook homelab.immich_pi.site` (syntax check: no host is touched); the
# documentation of every module, filter and role renders with ansible-doc.
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

# The documentation of every module, filter and role of the installed copy renders (a broken
# DOCUMENTATION block, a missing doc fragment or a bad argument spec fails here).
installed="$work/installed/ansible_collections/homelab/immich_pi"
doc_check() {  # doc_check TYPE NAME...
  local type=$1 name out
  shift
  for name in "$@"; do
    if ! out=$(ansible-doc -t "$type" "homelab.immich_pi.$name" 2>&1) || [ -z "$out" ] \
        || grep -qE '^(\[(ERROR|WARNING)\]|ERROR!)' <<<"$out"; then
      echo "check_collection_build: ansible-doc -t $type homelab.immich_pi.$name does not render:" >&2
      echo "$out" >&2
      exit 1
    fi
    documented=$((documented + 1))
  done
}
documented=0
names() {  # names DIR: the plugin files (or role folders) in DIR, without .py
  find "$installed/$1" -mindepth 1 -maxdepth 1 \( -name '*.py' -o -type d \) ! -name '__*' \
    -printf '%f\n' | sed 's/\.py$//' | sort
}
mapfile -t modules < <(names plugins/modules)
mapfile -t filters < <(names plugins/filter)
mapfile -t roles < <(names roles)
if [ "${#modules[@]}" -eq 0 ] || [ "${#roles[@]}" -eq 0 ]; then
  echo "check_collection_build: no modules or roles found in $installed" >&2
  exit 1
fi
doc_check module "${modules[@]}"
doc_check filter "${filters[@]}"
doc_check role "${roles[@]}"
echo "check_collection_build: $(basename "$tarball") builds, installs, and runs as homelab.immich_pi.site;" \
  "ansible-doc renders ${#modules[@]} modules, ${#filters[@]} filters and ${#roles[@]} roles"
