#!/usr/bin/env bash
# Starts Azurite (Microsoft's Azure Storage emulator, npm package `azurite`) on the Docker
# bridge address when none answers, so the test machine (pytest, benchmarks, the Azure
# modules run from the controller) and the simulated Pis reach the same Blob endpoint:
#   http://172.17.0.1:10000/devstoreaccount1
# Azurite 3.35.0 is the newest release that runs on this machine's Node.js 20 (3.36 needs 21).
set -euo pipefail

version=3.35.0
address=172.17.0.1
port=10000
home=/var/tmp/immich-pi-testbed/azurite
log=/var/log/immich-pi-testbed-azurite.log

answering() { curl -s -o /dev/null --max-time 2 "http://$address:$port/devstoreaccount1?comp=list"; }

if answering; then
  exit 0
fi
if ! ip -4 addr show docker0 2>/dev/null | grep -q "inet $address/"; then
  echo "ensure-azurite: the Docker bridge docker0 does not have $address; the test bed expects Docker's default bridge" >&2
  exit 1
fi
if [ "$(cat "$home/.version" 2>/dev/null)" != "$version" ]; then
  echo "ensure-azurite: installing azurite@$version from npm into $home"
  mkdir -p "$home"
  npm install --silent --no-audit --no-fund --prefix "$home" "azurite@$version" >/dev/null
  echo "$version" >"$home/.version"
fi
mkdir -p "$home/data"
echo "ensure-azurite: starting Azurite's Blob service on http://$address:$port (log: $log)"
nohup "$home/node_modules/.bin/azurite-blob" --blobHost "$address" --blobPort "$port" \
  --location "$home/data" --skipApiVersionCheck --loose --disableTelemetry >"$log" 2>&1 &
for _ in $(seq 1 30); do
  if answering; then
    echo "ensure-azurite: Blob service is up"
    exit 0
  fi
  sleep 1
done
echo "ensure-azurite: Azurite did not answer within 30 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
