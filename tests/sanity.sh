#!/usr/bin/env bash
# ansible-test needs the collection at ansible_collections/homelab/immich_pi: copy the files
# git knows about (tracked or new, not ignored) there and run sanity with an empty ignore file.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /var/tmp/immich-pi-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/homelab/immich_pi"
mkdir -p "$dest"
(
  cd "$root"
  git ls-files --cached --others --exclude-standard -z \
    | grep -zv '^collections/' \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null
) | tar -C "$dest" -xf -
# ansible-test bootstraps pip in its venvs with a script from a host that is not reachable here.
pip_version=$(python - <<'PY'
import pathlib, re, ansible_test
source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([^']+)'", source.read_text()).group(1))
PY
)
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cp "$root/tests/ansible_test_get_pip.py" "$cache/get_pip_${pip_version//./_}.py"
cd "$dest"
git init -q && git add -A
python_version=$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
ansible-test sanity --venv --python "$python_version" "$@"
