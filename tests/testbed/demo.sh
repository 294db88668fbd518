#!/usr/bin/env bash
# Quick start: converge the whole site onto a local simulated Raspberry Pi.
#   tests/testbed/demo.sh           create the Pi (if needed) and run playbooks/site.yml on it
#   tests/testbed/demo.sh destroy   remove the Pi, its loop devices and disk images
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash tests/testbed/setup.sh
export PATH="$root/.venv/bin:$PATH"

if [ "${1:-up}" = "destroy" ]; then
  ansible-playbook tests/testbed/pi_down.yml -e @tests/testbed/demo/pis.yml
  exit 0
fi

ansible-playbook tests/testbed/pi_up.yml -e @tests/testbed/demo/pis.yml
ansible-playbook playbooks/site.yml -i tests/testbed/demo/inventory.yml
cat <<'DONE'

The simulated Pi is converged: SSD, Docker, the Azure mount (Azurite) and the Immich stack
(test images: a real Postgres with pgvector and valkey; the server and machine learning are
stand-ins that only answer health checks, not Immich), and a stand-in cloudflared that only
records how it was started. Look around:
  docker exec -it immich-pi-demo bash
    findmnt /mnt/ssd; findmnt /mnt/azurephotos; systemctl status immich-stack cloudflared
    docker compose --project-directory /opt/immich ps
    python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:2283/api/server/ping").read())'
Back the database up to Azurite now:
  .venv/bin/ansible-playbook playbooks/backup.yml -i tests/testbed/demo/inventory.yml
Run it again (nothing changes):  bash tests/testbed/demo.sh
Remove it:                       bash tests/testbed/demo.sh destroy
DONE
