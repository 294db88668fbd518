# SPDX-License-Identifier: GPL-3.0-or-later
"""Restore the Immich database from a backup in Azure: check all of it, then stream it into psql.

Run on the Pi next to immich_db_backup.py, with the same config:

  immich_db_restore.py --config C list
  immich_db_restore.py --config C verify (newest|NAME) [--identity FILE]
  immich_db_restore.py --config C restore NAME --etag ETAG [--identity FILE] [--force]

`verify` reads the whole backup without touching the database: its SHA-256 against the one the
job stored in the object's metadata, the decryption and decompression, and pg_dumpall's first
and last lines, so a truncated, corrupt or undecryptable backup fails here. `restore` refuses a
database that holds tables (unless --force), then downloads the same version of the object again
(the ETag from verify) and streams it: download | (age -d) | zstd -d | psql ON_ERROR_STOP.

Exit codes: 0 done (a JSON report on stdout); 1 failed; 3 refused, the database is not empty.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import immich_db_backup as job  # noqa: E402  pylint: disable=wrong-import-position

DUMP_HEAD = b"-- PostgreSQL database cluster dump"
DUMP_TAIL = b"-- PostgreSQL database cluster dump complete"
REFUSED = 3
CHUNK = 4 * 1024 * 1024
VERSION_IN_NAME = re.compile(r"-(v\d+\.\d+\.\d+)\.sql")
USER_TABLES = ("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' "
               "AND n.nspname NOT LIKE 'pg\\_%'")


class RestoreError(Exception):
    """A failure with a message for the operator."""


def log(message: str) -> None:
    print("immich-db-restore: %s" % message, file=sys.stderr, flush=True)


def blob_client(config: dict[str, t.Any], name: str) -> t.Any:
    from azure.storage.blob import BlobClient  # pylint: disable=import-outside-toplevel

    # 4 MiB per request (the SDK's first request is 32 MiB by default): a small, flat RSS.
    return BlobClient.from_connection_string(
        config["connection_string"], config["blob_container"], name,
        max_single_get_size=CHUNK, max_chunk_get_size=CHUNK, **job.client_options())


def list_backups(config: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    from azure.storage.blob import ContainerClient  # pylint: disable=import-outside-toplevel

    container = ContainerClient.from_connection_string(
        config["connection_string"], config["blob_container"], **job.client_options())
    found = job.our_backups(config, container)
    return [{"name": name, "time": when.isoformat(), "bytes": size}
            for name, when, size in sorted(found, key=lambda item: item[1], reverse=True)]


def choose(config: dict[str, t.Any], wanted: str) -> str:
    backups = list_backups(config)
    if not backups:
        raise RestoreError("no backups under %s%s in the Blob container %s"
                           % (config["prefix"], job.NAME_PREFIX, config["blob_container"]))
    if wanted == "newest":
        return backups[0]["name"]
    for backup in backups:
        if wanted in (backup["name"], backup["name"][len(config["prefix"]):]):
            return backup["name"]
    raise RestoreError("no backup named %s; the newest are: %s"
                       % (wanted, ", ".join(backup["name"] for backup in backups[:5])))


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def check_version(config: dict[str, t.Any], name: str) -> str:
    """Immich migrates an older database forward, never a newer one back."""
    found = VERSION_IN_NAME.search(name)
    if not found:
        return ""
    if version_tuple(found.group(1)) > version_tuple(config["immich_version"]):
        raise RestoreError("%s is from Immich %s, newer than %s here; Immich cannot run a database "
                           "from a newer release: set immich_version to %s or newer"
                           % (name, found.group(1), config["immich_version"], found.group(1)))
    return found.group(1)


def decode_commands(name: str, identity: str) -> list[list[str]]:
    """Decrypt and decompress, from the object's name."""
    commands = []
    if name.endswith(".age"):
        if not identity:
            raise RestoreError("%s is encrypted with age: give the identity (the secret key) that "
                               "matches backup_age_recipients" % name)
        commands.append(["age", "--decrypt", "--identity", identity])
        name = name[:-len(".age")]
    if name.endswith(".zst"):
        commands.append(["zstd", "--decompress", "--stdout", "--quiet"])
    elif name.endswith(".gz"):
        commands.append(["gzip", "--decompress", "--stdout"])
    else:
        raise RestoreError("%s: not a .sql.zst or .sql.gz dump" % name)
    return commands


def quoted_role(user: str) -> str:
    return user if re.fullmatch(r"[a-z_][a-z0-9_]*", user) else '"%s"' % user.replace('"', '""')


def psql_command(config: dict[str, t.Any], *args: str) -> list[str]:
    return [config["docker"], "exec", "--interactive", config["container"], "psql", "--no-psqlrc",
            "--username", config["db_user"], "--set", "ON_ERROR_STOP=1", *args]


def restore_commands(config: dict[str, t.Any], name: str, identity: str) -> list[list[str]]:
    # pg_dumpall --clean drops and creates every role, and psql's own role cannot be dropped:
    # leave out exactly those two lines, which would stop ON_ERROR_STOP on the first error.
    role = quoted_role(config["db_user"])
    skip_own_role = ["grep", "--invert-match", "--line-regexp", "--fixed-strings",
                     "--regexp", "DROP ROLE IF EXISTS %s;" % role, "--regexp", "CREATE ROLE %s;" % role]
    return (decode_commands(name, identity) + [skip_own_role]
            + [psql_command(config, "--quiet", "--dbname", "postgres", "--output", "/dev/null")])


class Stream:
    """The object's bytes fed into a pipeline of processes, hashed on the way."""

    def __init__(self, commands: list[list[str]], keep_output: bool) -> None:
        self.commands = commands
        self.digest = hashlib.sha256()
        self.received = 0
        self.download_error: BaseException | None = None
        self.stderr = [tempfile.TemporaryFile() for command in commands]
        self.processes: list[subprocess.Popen] = []
        for index, command in enumerate(commands):
            stdin = self.processes[-1].stdout if self.processes else subprocess.PIPE
            last = index == len(commands) - 1
            stdout = subprocess.PIPE if not last or keep_output else subprocess.DEVNULL
            try:
                self.processes.append(subprocess.Popen(command, stdin=stdin, stdout=stdout,
                                                       stderr=self.stderr[index]))
            except OSError as error:
                self.kill()
                raise RestoreError("cannot run %s: %s" % (command[0], error)) from error
            if self.processes[:-1]:
                self.processes[-2].stdout.close()  # the next process owns it now

    def feed(self, chunks: t.Iterable[bytes]) -> None:
        stdin = self.processes[0].stdin
        try:
            for chunk in chunks:
                self.digest.update(chunk)
                self.received += len(chunk)
                stdin.write(chunk)
        except BrokenPipeError:
            pass  # a later stage stopped; its exit code tells why
        except Exception as error:  # pylint: disable=broad-exception-caught
            self.download_error = error
            self.kill()  # never let a half download look like a whole one downstream
        finally:
            try:
                stdin.close()
            except BrokenPipeError:
                pass

    def output(self) -> t.BinaryIO:
        return self.processes[-1].stdout

    def kill(self) -> None:
        for process in self.processes:
            process.kill()

    def finish(self) -> None:
        codes = [process.wait() for process in self.processes]
        if self.download_error is not None:
            raise RestoreError("the download failed: %s" % job.error_summary(self.download_error))
        for command, code, stderr in zip(self.commands, codes, self.stderr):
            if code not in (0, -13):  # -13: SIGPIPE after a later stage stopped
                stderr.seek(0)
                said = stderr.read()[-600:].decode(errors="replace").strip().replace("\n", " | ")
                raise RestoreError("%s exited %d: %s" % (stage_name(command), code, said or "(no message)"))
        if any(code for code in codes):
            raise RestoreError("the pipeline stopped early (exit codes %s)" % codes)


def stage_name(command: list[str]) -> str:
    return "psql" if "psql" in command else command[0]


def download(blob: t.Any, etag: str) -> t.Iterable[bytes]:
    """The object's chunks, only while it is still the version with this ETag."""
    from azure.core import MatchConditions  # pylint: disable=import-outside-toplevel
    from azure.core.exceptions import ResourceModifiedError  # pylint: disable=import-outside-toplevel

    try:
        return blob.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).chunks()
    except ResourceModifiedError as error:
        raise RestoreError("%s changed in Azure after it was verified: verify it again" % blob.blob_name) from error


def verify(config: dict[str, t.Any], wanted: str, identity: str) -> dict[str, t.Any]:
    name = choose(config, wanted)
    version = check_version(config, name)
    blob = blob_client(config, name)
    properties = blob.get_blob_properties()
    expected = (properties.metadata or {}).get("sha256", "")
    chunks = download(blob, properties.etag)
    stream = Stream(decode_commands(name, identity), keep_output=True)
    feeder = threading.Thread(target=stream.feed, args=(chunks,), daemon=True)
    feeder.start()
    head, tail, size = b"", b"", 0
    for chunk in iter(lambda: stream.output().read(CHUNK), b""):
        head = head or chunk[:200]
        tail = (tail + chunk)[-200:]
        size += len(chunk)
    feeder.join()
    try:
        stream.finish()
    except RestoreError as error:
        raise RestoreError("%s cannot be read: %s" % (name, error)) from error
    problems = []
    if stream.received != properties.size:
        problems.append("%d bytes downloaded, the object holds %d" % (stream.received, properties.size))
    if expected and stream.digest.hexdigest() != expected:
        problems.append("its SHA-256 is %s, the backup job stored %s" % (stream.digest.hexdigest(), expected))
    if DUMP_HEAD not in head:
        problems.append("it does not start like a pg_dumpall dump")
    if DUMP_TAIL not in tail:
        problems.append("it does not end with pg_dumpall's last line (cut off)")
    if problems:
        raise RestoreError("%s is damaged: %s" % (name, "; ".join(problems)))
    return {"backup": name, "etag": properties.etag, "bytes": properties.size, "dump_bytes": size,
            "sha256": stream.digest.hexdigest(), "sha256_checked": bool(expected),
            "immich_version": version, "created": properties.creation_time.isoformat()}


def tables_by_database(config: dict[str, t.Any]) -> dict[str, int]:
    def query(database: str, sql: str) -> list[str]:
        done = subprocess.run(psql_command(config, "--dbname", database, "--tuples-only", "--no-align",
                                           "--command", sql), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RestoreError("cannot read the database in %s: %s" % (config["container"], done.stderr.strip()))
        return done.stdout.split()

    databases = query("postgres", "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate")
    return {database: int(query(database, USER_TABLES)[0]) for database in databases}


def restore(config: dict[str, t.Any], wanted: str, etag: str, identity: str, force: bool) -> dict[str, t.Any]:
    started = time.monotonic()
    name = choose(config, wanted)
    check_version(config, name)
    tables = {database: count for database, count in tables_by_database(config).items() if count}
    if tables and not force:
        raise RestoreError("refused: the database is not empty (%s); restoring would replace it. "
                           "Force it only if that is what you want"
                           % ", ".join("%s has %d tables" % item for item in sorted(tables.items())))
    chunks = download(blob_client(config, name), etag)
    stream = Stream(restore_commands(config, name, identity), keep_output=False)
    stream.feed(chunks)
    try:
        stream.finish()
    except RestoreError as error:
        raise RestoreError("the restore of %s stopped, the database may be partly restored: %s"
                           % (name, error)) from error
    return {"backup": name, "etag": etag, "sha256": stream.digest.hexdigest(), "bytes": stream.received,
            "replaced": sorted(tables), "duration_s": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/immich-backup/config.json")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the backups in Azure, newest first")
    check = commands.add_parser("verify", help="read a whole backup without touching the database")
    check.add_argument("backup", help="'newest' or an object name")
    check.add_argument("--identity", default="", help="age identity file for an encrypted backup")
    put = commands.add_parser("restore", help="stream a verified backup into the database")
    put.add_argument("backup")
    put.add_argument("--etag", required=True, help="the version that verify checked")
    put.add_argument("--identity", default="")
    put.add_argument("--force", action="store_true", help="replace a database that holds tables")
    args = parser.parse_args(argv)
    try:
        config = job.load_config(args.config)
        if args.command == "list":
            result: t.Any = list_backups(config)
        elif args.command == "verify":
            result = verify(config, args.backup, args.identity)
        else:
            result = restore(config, args.backup, args.etag, args.identity, args.force)
    except RestoreError as error:
        log(str(error))
        return REFUSED if str(error).startswith("refused") else 1
    except (OSError, ValueError, job.BackupError) as error:
        log(job.error_summary(error))
        return 1
    except Exception as error:  # pylint: disable=broad-exception-caught
        log(job.error_summary(error))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
