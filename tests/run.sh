#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). Installs what it needs itself.
# Cheap checks first so a typo fails in seconds, then the simulated Pis.
#   tests/run.sh            everything
#   tests/run.sh static     pins, argument specs, ansible-lint, ansible-test sanity
#   tests/run.sh unit       pytest unit tests
#   tests/run.sh integration  pytest against real things on this machine (rclone FUSE, Azurite)
#   tests/run.sh molecule   the molecule scenarios (default: the foundation; site: everything)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "$#" -gt 0 ]; then
  stages=("$@")
else
  stages=(static unit integration molecule)
fi

bash tests/testbed/setup.sh
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1

banner() { printf '\n==== %s ====\n' "$*"; }

run_static() {
  banner "collection pins, argument specs, README variable tables, build and install"
  python tests/check_collection_pins.py
  python tests/check_argument_specs.py
  python tests/role_variables_table.py
  bash tests/check_collection_build.sh
  banner "ansible-lint (production profile)"
  ansible-lint --profile production
  banner "ansible-test sanity"
  bash tests/sanity.sh
}

run_unit() {
  banner "pytest: unit tests"
  python -m pytest tests/unit
}

run_integration() {
  banner "pytest: integration tests (real rclone FUSE mounts of Azurite, the Blob API)"
  python -m pytest tests/integration
}

run_molecule() {
  banner "molecule default: the foundation (SSD, Docker, Azure mount) on simulated Pis (trixie, bookworm)"
  molecule test --scenario-name default
  banner "molecule site: the whole site, the Immich stack and the tunnel, on a simulated Pi (trixie)"
  molecule test --scenario-name site
}

for stage in "${stages[@]}"; do
  "run_$stage"
done
banner "all stages passed: ${stages[*]}"
