# SPDX-License-Identifier: GPL-3.0-or-later
"""A STAND-IN for ghcr.io/immich-app/immich-server, which cannot be pulled on the test machines.

It is not Immich. It does, against the real database and valkey of the stack, what Immich v3's
start does that the collection's tooling observes or depends on, as strictly as Immich does it,
and nothing else:

1. waits until PostgreSQL answers (psql, the password in PGPASSWORD) and redis answers PING;
2. picks the vector extension as Immich v3 does (DB_VECTOR_EXTENSION, or when it is unset the
   first of vchord, vector that the database offers; pgvecto.rs is no longer supported). Only
   pgvector can be provided here: it creates the extensions vector, cube and earthdistance, and
   exits 1 for VectorChord, pgvecto.rs or no extension at all;
3. like Immich's migrations on a first start: when the database has no ``kysely_migrations``
   table, applies Immich v3.2.2's schema (``immich_v3_schema.sql``, built into the image) in one
   transaction;
4. Immich's folder checks: reads ``system-flags`` from ``system_metadata``; for each media folder
   (encoded-video, library, upload, profile, thumbs, backups, in Immich's order) under
   IMMICH_MEDIA_LOCATION writes the ``.immich`` marker (the time in ms) when the folder is not
   verified yet (an existing file is left), then reads and overwrites every marker. A verified
   folder whose marker cannot be read or written stops the start with Immich's message and
   exit 1 (IMMICH_IGNORE_MOUNT_CHECK_ERRORS=true logs and goes on, as Immich does); newly
   verified folders are recorded in ``system-flags``;
5. serves GET /api/server/ping and GET /api/server/version on $IMMICH_PORT; the rest is 404.

SIGTERM or SIGINT ends it at once with code 0. Python standard library only, plus psql.

Upstream facts (immich-app/immich; read through the public code index, no code copied):
  S  server/src/services/storage.service.ts at 52605e82da96c05d9c871c80607ccbeb5a69b4fd
  E  server/src/enum.ts at 52605e82da96c05d9c871c80607ccbeb5a69b4fd
  R  server/src/repositories/database.repository.ts at 52605e82da96c05d9c871c80607ccbeb5a69b4fd
  C  server/src/repositories/config.repository.ts at 06b24baa327f72d86ef3dfb3fd7a9e7b82a55760
  K  server/src/cores/storage.core.ts at 033dc30202383991b756dc360c94a402b9f3d744
  D  server/src/services/database.service.ts at 5ec25369c6898861e6eb64e0baef419be85c093d
  P  pull request #28159 "chore(server)!: drop pgvecto.rs support" (merged for v3.0)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "immich-server-standin"
DESCRIPTION = ("immich-pi-testbed stand-in for ghcr.io/immich-app/immich-server: NOT Immich; "
               "it waits for the database and redis, applies Immich v3's schema on a first start, "
               "checks the media folders' .immich markers as Immich does, and answers /api/server/ping")
# The schema Immich v3.2.2's migrations leave; build-images.sh copies it into the image beside this file.
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "immich_v3_schema.sql")
# E: StorageFolder, in declaration order; S iterates Object.values(StorageFolder), so a failure
# at one folder leaves the folders after it unchecked.
STORAGE_FOLDERS = ("encoded-video", "library", "upload", "profile", "thumbs", "backups")
# E: SystemMetadataKey.SystemFlags.
SYSTEM_FLAGS_KEY = "system-flags"
# S: the docsMessage appended to every startup error of the folder checks.
DOCS_MESSAGE = ("Please see https://docs.immich.app/administration/system-integrity#folder-checks "
                "for more information.")
# R: getVectorExtension tries VECTOR_EXTENSIONS in order; P: v3 dropped pgvecto.rs (vectors), which
# leaves vchord, then vector. The values are DB_VECTOR_EXTENSION's names for them.
VECTOR_EXTENSIONS = (("vchord", "vectorchord"), ("vector", "pgvector"))
PGVECTOR_EXTENSIONS = "CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS cube; " \
                      "CREATE EXTENSION IF NOT EXISTS earthdistance;"
RETRY_SECONDS = 1.0
LOG_EVERY_SECONDS = 10.0


class Stop(BaseException):
    """Raised by the SIGTERM/SIGINT handler; not an Exception, so nothing swallows it."""


class StartupError(Exception):
    """Immich's ImmichStartupError: the start stops with this message."""


def log(message: str) -> None:
    print("%s: %s" % (NAME, message), flush=True)


def settings() -> dict:
    env = os.environ
    return {
        "db_host": env.get("DB_HOSTNAME", "database"),
        "db_port": env.get("DB_PORT", "5432"),
        "db_user": env.get("DB_USERNAME", "postgres"),
        "db_password": env.get("DB_PASSWORD", ""),
        "db_name": env.get("DB_DATABASE_NAME", "immich"),
        "vector_extension": env.get("DB_VECTOR_EXTENSION", ""),
        "redis_host": env.get("REDIS_HOSTNAME", "redis"),
        "redis_port": int(env.get("REDIS_PORT", "6379")),
        "media": env.get("IMMICH_MEDIA_LOCATION", "/data"),
        "port": int(env.get("IMMICH_PORT", "2283")),
        # C: storage.ignoreMountCheckErrors comes from IMMICH_IGNORE_MOUNT_CHECK_ERRORS (a boolean).
        "ignore_mount_check_errors": env.get("IMMICH_IGNORE_MOUNT_CHECK_ERRORS", "").strip().lower() == "true",
    }


def psql(config: dict, sql: str | None = None, script: str | None = None,
         variables: dict | None = None, single_transaction: bool = False) -> subprocess.CompletedProcess:
    """Run SQL (-c), or a script file, as Immich's user; the password travels in the environment,
    never in argv. psql variables (:'name') are interpolated in scripts only, so SQL with variables
    goes in through standard input."""
    env = dict(os.environ, PGPASSWORD=config["db_password"], PGCONNECT_TIMEOUT="3")
    argv = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", config["db_host"], "-p", config["db_port"],
            "-U", config["db_user"], "-d", config["db_name"]]
    for name, value in (variables or {}).items():
        argv += ["-v", "%s=%s" % (name, value)]
    if single_transaction:
        argv.append("--single-transaction")
    stdin = None
    if script is not None:
        argv += ["-f", script]
    elif variables:
        argv += ["-f", "-"]
        stdin = sql
    else:
        argv += ["-c", sql]
    return subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, check=False)


def psql_error(result: subprocess.CompletedProcess) -> str:
    return (result.stderr.strip().splitlines() or ["psql exited %d" % result.returncode])[-1]


def redis_ping(host: str, port: int) -> str:
    """PING in RESP; returns the first reply line."""
    with socket.create_connection((host, port), timeout=3) as connection:
        connection.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = connection.recv(256)
            if not chunk:
                break
            reply += chunk
    return reply.decode("utf-8", "replace").strip()


def wait_for(what: str, attempt) -> None:
    """Call attempt() until it returns None (ready); it returns the reason otherwise."""
    started = time.monotonic()
    logged = None
    while True:
        reason = attempt()
        if reason is None:
            log("%s answers (after %.1f s)" % (what, time.monotonic() - started))
            return
        if logged is None or time.monotonic() - logged >= LOG_EVERY_SECONDS:
            log("waiting for %s (%.0f s so far): %s" % (what, time.monotonic() - started, reason))
            logged = time.monotonic()
        time.sleep(RETRY_SECONDS)


def wait_for_database(config: dict) -> None:
    def attempt():
        result = psql(config, "SELECT 1")
        return None if result.returncode == 0 else psql_error(result)

    wait_for("PostgreSQL at %s:%s (database %s, user %s)"
             % (config["db_host"], config["db_port"], config["db_name"], config["db_user"]), attempt)


def wait_for_redis(config: dict) -> None:
    def attempt():
        try:
            reply = redis_ping(config["redis_host"], config["redis_port"])
        except OSError as error:
            return str(error)
        return None if reply == "+PONG" else "PING answered %r" % reply

    wait_for("redis at %s:%d" % (config["redis_host"], config["redis_port"]), attempt)


def vector_extension(config: dict) -> str | None:
    """DB_VECTOR_EXTENSION, or what Immich v3 picks when it is unset (R, P): the first of vchord,
    vector in pg_available_extensions; None when the database offers neither."""
    chosen = config["vector_extension"]
    if chosen:
        return chosen
    names = ", ".join("'%s'" % name for name, _mode in VECTOR_EXTENSIONS)
    result = psql(config, "SELECT name FROM pg_available_extensions WHERE name IN (%s)" % names)
    available = set(result.stdout.split()) if result.returncode == 0 else set()
    for name, mode in VECTOR_EXTENSIONS:
        if name in available:
            log("DB_VECTOR_EXTENSION is unset; the database offers %s, so Immich v3 would use %s" % (name, mode))
            return mode
    # R: the error getVectorExtension throws, with v3's list (P).
    log("No vector extension found. Available extensions: %s"
        % ", ".join(name for name, _mode in VECTOR_EXTENSIONS))
    return None


def create_extensions(config: dict) -> bool:
    mode = vector_extension(config)
    if mode is None:
        return False
    if mode == "pgvecto.rs":
        # P: v3 refuses pgvecto.rs as the target extension.
        log("vector extension 'pgvecto.rs': Immich v3 no longer supports pgvecto.rs and refuses to start. Exiting.")
        return False
    if mode != "pgvector":
        log("vector extension %r: this stand-in cannot provide VectorChord; only pgvector "
            "(DB_VECTOR_EXTENSION=pgvector, the database's vector, cube and earthdistance). Exiting." % mode)
        return False
    result = psql(config, PGVECTOR_EXTENSIONS)
    if result.returncode != 0:
        log("creating the extensions failed: %s" % result.stderr.strip())
        return False
    log("extensions vector, cube and earthdistance exist in %s" % config["db_name"])
    return True


def has_migrations_table(config: dict) -> bool | None:
    result = psql(config, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'kysely_migrations')")
    if result.returncode != 0:
        log("cannot look for kysely_migrations: %s" % psql_error(result))
        return None
    return result.stdout.strip() == "t"


def run_migrations(config: dict) -> bool:
    """D: after the vector extension, Immich runs its migrations (kysely, recorded in
    kysely_migrations, R). A database without that table gets v3.2.2's whole schema at once."""
    present = has_migrations_table(config)
    if present is None:
        return False
    if present:
        log("kysely_migrations exists: the schema is Immich's already, no migration to run")
        return True
    log("Running migrations: %s has no kysely_migrations, applying Immich v3.2.2's schema (%s)"
        % (config["db_name"], os.path.basename(SCHEMA_FILE)))
    result = psql(config, script=SCHEMA_FILE, single_transaction=True)
    if result.returncode != 0:
        log("Migrations failed: %s" % psql_error(result))
        return False
    if not has_migrations_table(config):
        log("Migrations failed: %s did not create kysely_migrations" % os.path.basename(SCHEMA_FILE))
        return False
    log("Finished running migrations")
    return True


def read_system_flags(config: dict) -> dict | None:
    """S: the system-flags value, or {"mountChecks": {}} when there is no such row."""
    result = psql(config, "SELECT value::text FROM system_metadata WHERE key = '%s'" % SYSTEM_FLAGS_KEY)
    if result.returncode != 0:
        log("cannot read %s: %s" % (SYSTEM_FLAGS_KEY, psql_error(result)))
        return None
    text = result.stdout.strip()
    try:
        flags = json.loads(text) if text else {}
    except ValueError as error:
        log("%s is not JSON (%s): %r" % (SYSTEM_FLAGS_KEY, error, text))
        return None
    if not isinstance(flags, dict):
        flags = {}
    # S: a value without mountChecks gets an empty one; its other keys (mountFiles) are kept.
    if not isinstance(flags.get("mountChecks"), dict):
        flags["mountChecks"] = {}
    return flags


def write_system_flags(config: dict, flags: dict) -> bool:
    """S: systemMetadataRepository.set, an upsert of the key's value."""
    result = psql(config, "INSERT INTO system_metadata (key, value) VALUES (:'key', CAST(:'flags' AS jsonb)) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value;\n",
                  variables={"key": SYSTEM_FLAGS_KEY, "flags": json.dumps(flags, separators=(",", ":"))})
    if result.returncode != 0:
        log("cannot write %s: %s" % (SYSTEM_FLAGS_KEY, psql_error(result)))
        return False
    return True


def mount_file_paths(media: str, folder: str) -> tuple[str, str, str]:
    """S getMountFilePaths with K getBaseFolder: the folder, its marker, and the marker as the
    messages name it."""
    folder_path = os.path.join(media, folder)
    return folder_path, os.path.join(folder_path, ".immich"), "<UPLOAD_LOCATION>/%s/.immich" % folder


def now_ms() -> bytes:
    # S: a marker's content is `${Date.now()}`, milliseconds since the epoch.
    return str(int(time.time() * 1000)).encode()


def create_mount_file(media: str, folder: str) -> None:
    """S createMountFile: make the folder, write the marker exclusively; an existing one is
    left (EEXIST), any other failure stops the start."""
    folder_path, internal, external = mount_file_paths(media, folder)
    try:
        os.makedirs(folder_path, exist_ok=True)
        with open(internal, "xb") as marker:
            marker.write(now_ms())
    except FileExistsError:
        log("Found existing mount file, skipping creation")
    except OSError as error:
        log("Failed to create %s: %s" % (internal, error))
        raise StartupError('Failed to create "%s - %s"' % (external, DOCS_MESSAGE)) from error


def verify_read_access(media: str, folder: str) -> None:
    """S verifyReadAccess, with its log line and message (quotes and parentheses as upstream)."""
    _folder_path, internal, external = mount_file_paths(media, folder)
    try:
        with open(internal, "rb") as marker:
            marker.read()
    except OSError as error:
        log("Failed to read (%s): %s" % (internal, error))
        raise StartupError('Failed to read: "%s (%s) - %s"' % (external, internal, DOCS_MESSAGE)) from error


def verify_write_access(media: str, folder: str) -> None:
    """S verifyWriteAccess: overwrite the marker with the time."""
    _folder_path, internal, external = mount_file_paths(media, folder)
    try:
        with open(internal, "wb") as marker:
            marker.write(now_ms())
    except OSError as error:
        log("Failed to write %s: %s" % (internal, error))
        raise StartupError('Failed to write "%s - %s"' % (external, DOCS_MESSAGE)) from error


def check_mount_folders(config: dict) -> bool:
    """S onBootstrap's folder checks; False when Immich would not start."""
    flags = read_system_flags(config)
    if flags is None:
        return False
    checks = flags["mountChecks"]
    media = config["media"]
    updated = False
    log("Verifying system mount folder checks, current state: %s" % json.dumps(flags, separators=(",", ":")))
    try:
        for folder in STORAGE_FOLDERS:
            if not checks.get(folder):
                log("Writing initial mount file for the %s folder" % folder)
                create_mount_file(media, folder)
            verify_read_access(media, folder)
            verify_write_access(media, folder)
            if not checks.get(folder):
                checks[folder] = True
                updated = True
        if updated:
            if not write_system_flags(config, flags):
                return False
            log("Successfully enabled system mount folders checks")
        log("Successfully verified system mount folder checks")
    except StartupError as error:
        # S: the error is thrown (the start fails) unless IMMICH_IGNORE_MOUNT_CHECK_ERRORS (C);
        # then it is logged, nothing is recorded, and the start goes on.
        log("ImmichStartupError: %s" % error)
        if not config["ignore_mount_check_errors"]:
            return False
        log("Ignoring mount folder errors")
    return True


class Handler(BaseHTTPRequestHandler):
    server_version = "immich-server-standin"

    def _send(self, status: int, body: dict | None) -> None:
        payload = json.dumps(body or {"message": "Not found (immich-server stand-in)", "statusCode": 404},
                             separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/api/server/ping":
            self._send(200, {"res": "pong"})
        elif path == "/api/server/version":
            self._send(200, {"major": 0, "minor": 0, "patch": 0, "standIn": DESCRIPTION})
        else:
            self._send(404, None)

    def _not_found(self) -> None:
        self._send(404, None)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_found  # noqa: N815

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log("%s %s" % (self.address_string(), format % args))


def stop(signum, _frame) -> None:
    raise Stop(signal.Signals(signum).name)


def main() -> int:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(DESCRIPTION)
    config = settings()
    server = None
    try:
        wait_for_database(config)
        wait_for_redis(config)
        # D: the database service (the vector extension, then the migrations) runs before the
        # storage service's folder checks (E: BootstrapEventPriority).
        if not create_extensions(config) or not run_migrations(config) or not check_mount_folders(config):
            return 1
        server = ThreadingHTTPServer(("0.0.0.0", config["port"]), Handler)
        server.daemon_threads = True
        log("listening on 0.0.0.0:%d (GET /api/server/ping, /api/server/version)" % config["port"])
        server.serve_forever(poll_interval=0.2)
    except Stop as signal_name:
        log("%s: stopping" % signal_name)
    finally:
        if server is not None:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
