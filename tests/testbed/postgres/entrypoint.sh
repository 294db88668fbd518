#!/bin/sh
# Runs PostgreSQL in the foreground as the postgres user (uid 999), as the official postgres
# images do for Immich's compose database. On the first start (no PG_VERSION in $PGDATA) it
# creates the cluster: superuser $POSTGRES_USER (default postgres) with password
# $POSTGRES_PASSWORD, scram-sha-256 over TCP, trust over the local socket, initdb given
# $POSTGRES_INITDB_ARGS (Immich passes --data-checksums), then the database $POSTGRES_DB.
# Later starts reuse the cluster. Extra arguments go to postgres (-c name=value).
# $PGDATA is never chowned or chmodded: it must already belong to uid 999 (the ssd role
# makes the host directory 999:999 0700; initdb keeps 0700).
set -eu
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "immich-pi-testbed-postgres: POSTGRES_PASSWORD is empty; set it (Immich's compose passes DB_PASSWORD)" >&2
    exit 1
  fi
  if ! mkdir -p "$PGDATA" 2>/dev/null || [ ! -w "$PGDATA" ] || [ ! -x "$PGDATA" ]; then
    echo "immich-pi-testbed-postgres: cannot write $PGDATA as $(id -un) (uid $(id -u)):" \
      "$(stat -c '%u:%g %a' "$PGDATA" 2>/dev/null || echo missing); it must be owned by 999:999" >&2
    exit 1
  fi
  private=$(mktemp -d)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$private/pwfile"
  # Word-split on purpose, as the official entrypoint does; no globbing.
  set -f
  # shellcheck disable=SC2086
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$private/pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  set +f
  rm -f "$private/pwfile"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  # A socket-only server on a private socket: nothing (healthcheck, clients) sees it as ready.
  postgres -D "$PGDATA" -c listen_addresses='' -k "$private" &
  pid=$!
  until pg_isready -q -h "$private" -U "$user" -d postgres; do
    kill -0 "$pid" 2>/dev/null || { echo "immich-pi-testbed-postgres: the first start failed" >&2; exit 1; }
    sleep 0.2
  done
  if [ "$database" != "postgres" ]; then
    # From stdin, where psql quotes :"name" (it does not interpolate -c).
    echo 'CREATE DATABASE :"name"' | psql -X -q -v ON_ERROR_STOP=1 -h "$private" -U "$user" -d postgres -v name="$database"
  fi
  kill -INT "$pid"
  wait "$pid" || true
  rmdir "$private"
  echo "immich-pi-testbed-postgres: cluster initialised (user $user, database $database)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /run/postgresql "$@"
