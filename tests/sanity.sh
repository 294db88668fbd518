#!/usr/bin/env bash
# ansible-test needs the collection at ansible_collections/homelab/immich_pi: copy the files
# git knows about (tracked or new, not ignored) there and run sanity with an empty ignore file.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /var/tmp/immich-pi-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/homelab/immich_pi"
mkdir -p "$dest"
(cd "$root" && git ls-files --cached --others --exclude-standard -z | grep -zv '^collections/'
  | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' | tar --null -T - -cf -) | tar -C "$dest" -xf -
cd "$dest"
git init -q && git add -A
ansible-test sanity --venv --python "$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" "$@"
