#!/bin/sh
# Runs PostgreSQL in the foreground as the postgres user, as Immich's compose database does:
# on first start it creates the cluster in $PGDATA (superuser "postgres" with password
# $POSTGRES_PASSWORD, scram-sha-256 over TCP, trust over the local socket) and the database
# $POSTGRES_DB; later starts reuse it. Extra arguments go to postgres (-c name=value).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --pgdata="$PGDATA" --username=postgres --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  postgres -D "$PGDATA" -c listen_addresses='' -k /run/postgresql &
  pid=$!
  until pg_isready -q -h /run/postgresql; do sleep 0.2; done
  psql -v ON_ERROR_STOP=1 -h /run/postgresql -U postgres -d postgres -q -c "CREATE DATABASE \"$POSTGRES_DB\""
  kill -INT "$pid"
  wait "$pid" || true
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /run/postgresql "$@"
