# SPDX-License-Identifier: GPL-3.0-or-later
"""A STAND-IN for ghcr.io/immich-app/immich-server, which cannot be pulled on the test machines.

It is not Immich. It does, against the real database and valkey of the stack, the few things
of Immich's first start that the collection's tooling observes, and nothing else:

1. waits until PostgreSQL answers (psql, the password in PGPASSWORD) and redis answers PING;
2. with DB_VECTOR_EXTENSION=pgvector creates the extensions vector, cube and earthdistance
   (Immich's migrations do); VectorChord or pgvecto.rs it cannot provide, so it exits 1;
3. creates the media folders with their empty ``.immich`` markers (Immich's storage
   integrity check), leaving existing files alone;
4. serves GET /api/server/ping and GET /api/server/version on $IMMICH_PORT; the rest is 404.

SIGTERM or SIGINT ends it at once with code 0. Python standard library only, plus psql.
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
               "it waits for the database and redis, creates Immich's extensions and media markers, "
               "and answers /api/server/ping")
MEDIA_FOLDERS = ("upload", "library", "thumbs", "encoded-video", "profile", "backups")
PGVECTOR_EXTENSIONS = "CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS cube; " \
                      "CREATE EXTENSION IF NOT EXISTS earthdistance;"
RETRY_SECONDS = 1.0
LOG_EVERY_SECONDS = 10.0


class Stop(BaseException):
    """Raised by the SIGTERM/SIGINT handler; not an Exception, so nothing swallows it."""


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
    }


def psql(config: dict, sql: str) -> subprocess.CompletedProcess:
    """Run SQL as Immich's user; the password travels in the environment, never in argv."""
    env = dict(os.environ, PGPASSWORD=config["db_password"], PGCONNECT_TIMEOUT="3")
    return subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", config["db_host"], "-p", config["db_port"],
         "-U", config["db_user"], "-d", config["db_name"], "-c", sql],
        env=env, capture_output=True, text=True, check=False)


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
        if result.returncode == 0:
            return None
        return (result.stderr.strip().splitlines() or ["psql exited %d" % result.returncode])[-1]

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


def vector_extension(config: dict) -> str:
    """DB_VECTOR_EXTENSION, or what Immich picks when it is unset: vchord, then vectors, then vector."""
    chosen = config["vector_extension"]
    if chosen:
        return chosen
    result = psql(config, "SELECT name FROM pg_available_extensions WHERE name IN ('vchord', 'vectors', 'vector')")
    available = set(result.stdout.split()) if result.returncode == 0 else set()
    for name, mode in (("vchord", "vectorchord"), ("vectors", "pgvecto.rs"), ("vector", "pgvector")):
        if name in available:
            log("DB_VECTOR_EXTENSION is unset; the database offers %s, so Immich would use %s" % (name, mode))
            return mode
    return "none available"


def create_extensions(config: dict) -> bool:
    mode = vector_extension(config)
    if mode != "pgvector":
        log("vector extension %r: this stand-in cannot provide VectorChord (or pgvecto.rs); only pgvector "
            "(DB_VECTOR_EXTENSION=pgvector, the database's vector, cube and earthdistance). Exiting." % mode)
        return False
    result = psql(config, PGVECTOR_EXTENSIONS)
    if result.returncode != 0:
        log("creating the extensions failed: %s" % result.stderr.strip())
        return False
    log("extensions vector, cube and earthdistance exist in %s" % config["db_name"])
    return True


def create_media_markers(media: str) -> bool:
    created = []
    try:
        for folder in MEDIA_FOLDERS:
            path = os.path.join(media, folder)
            os.makedirs(path, exist_ok=True)
            try:
                with open(os.path.join(path, ".immich"), "x", encoding="utf-8"):
                    created.append(folder)
            except FileExistsError:
                pass
    except OSError as error:
        log("cannot write the media location %s: %s" % (media, error))
        return False
    log("media location %s: .immich markers %s" % (
        media, "created in " + ", ".join(created) if created else "already present"))
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
        if not create_extensions(config) or not create_media_markers(config["media"]):
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
