#!/usr/bin/env bash
# Starts the machine's Docker engine when none answers (CI machines boot without one and
# PID 1 is not systemd, so there is no service manager to ask).
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: dockerd is not installed; run tests/testbed/setup.sh first" >&2
  exit 1
fi
echo "ensure-docker: starting dockerd (log: /var/log/immich-pi-testbed-dockerd.log)"
nohup dockerd >/var/log/immich-pi-testbed-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "ensure-docker: engine is up"
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within 60 s; see /var/log/immich-pi-testbed-dockerd.log" >&2
tail -n 20 /var/log/immich-pi-testbed-dockerd.log >&2 || true
exit 1
