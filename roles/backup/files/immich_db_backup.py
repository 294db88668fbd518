# SPDX-License-Identifier: GPL-3.0-or-later
"""The daily Immich database backup: pg_dumpall -> zstd/gzip -> (age) -> Azure Blob, streamed.

Run on the Pi by cron as ``python3 immich_db_backup.py --config /etc/immich-backup/config.json``.
Nothing of the dump is written to local disk: pg_dumpall runs in the database container
through Docker's API, the compressed stream is staged as blocks of one block blob (the next
block is read while the last one uploads), and the blob is committed (made visible) only
when every stage exited 0 and bytes came out. A failure at any stage leaves no object; the
staged blocks are never committed and Azure drops them after a week.

After the work, the job pings ``ping_url`` (a healthchecks-style URL: the URL itself on
success, URL/fail otherwise), then writes the status file with the ping's outcome in it, then
logs one line. A failed ping fails the run, and so does a status file that cannot be written
(said in the log); the log and the status file name the ping's scheme and host only, since the
rest of a healthchecks URL is the check's secret.

Exit codes: 0 a good backup; 1 a failure (nothing stored); 2 stored, but suspiciously small
next to the previous one, so nothing was pruned; 4 stored (good or suspicious), but the ping
failed or the status file could not be written; 0 too when another run holds the lock.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import typing as t
import urllib.parse
import urllib.request

TAG = "immich-db-backup"  # the log prefix; the media job passes its own
NAME_PREFIX = "immich-db-"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
EXTENSIONS = {"zstd": ".sql.zst", "gzip": ".sql.gz"}
# immich-db-<UTC time>-<Immich release>.sql.zst|.sql.gz[.age]: any compression, so a changed
# setting still prunes the older backups; nothing else (a hand-made dump) is ever pruned.
OUR_NAME = re.compile(r"immich-db-(\d{8}T\d{6}Z)-v\d+\.\d+\.\d+\.sql\.(?:zst|gz)(?:\.age)?")
# A ping URL the job sends to: http or https, a host, no whitespace. The backup role's preflight
# refuses anything else with the same pattern (__backup_ping_url_pattern in roles/backup/vars).
PING_URL = re.compile(r"(?P<scheme>https?)://(?:[^\s/?#@]*@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/?#@:\[\]]+)"
                      r"(?::[0-9]{1,5})?(?:[/?#]\S*)?\Z", re.IGNORECASE)
PING_TIMEOUT = 10  # seconds
PING_SETTING = "backup_ping_url"  # the role variable behind ping_url, named in the messages
# Exit codes (the module docstring says what each means).
OK, FAILED, SUSPICIOUS, REPORT_FAILED = 0, 1, 2, 4
DEFAULTS: dict[str, t.Any] = {
    "container": "immich_postgres",
    "db_user": "postgres",
    "compression": "zstd",
    "compression_level": 1,
    "age_recipients": [],
    "prefix": "backup/",
    "keep_days": 7,
    "keep_min": 1,
    "min_size_ratio": 0.5,
    # Two blocks live at once (one uploading, one being read): 2 MiB keeps the job's RSS
    # low and is still few requests (225 for a 450 MB dump).
    "block_size": 2 * 1024 * 1024,
    "ping_url": "",
    "status_file": "/var/lib/immich-backup/status.json",
    "lock_file": "/run/lock/immich-db-backup.lock",
    "docker": "docker",
    "docker_host": "unix:///var/run/docker.sock",
    # pg_dumpall silent this long (a lock held by a migration, a hung database) fails the run.
    "dump_timeout": 600,
}


class BackupError(Exception):
    """A failure with a message for the log and the status file."""


def error_summary(error: BaseException) -> str:
    """One line for the log and status.json: the error's type and its message's first line."""
    lines = str(error).strip().splitlines()
    return "%s: %s" % (type(error).__name__, lines[0]) if lines else type(error).__name__


def log(message: str, tag: str = TAG) -> None:
    print("%s: %s" % (tag, message), file=sys.stderr, flush=True)


def load_config(path: str) -> dict[str, t.Any]:
    with open(path, encoding="utf-8") as handle:
        config = dict(DEFAULTS, **json.load(handle))
    if config["compression"] not in EXTENSIONS:
        raise BackupError("compression must be one of %s" % ", ".join(EXTENSIONS))
    for key in ("blob_container", "immich_version", "connection_string"):
        if not config.get(key):
            raise BackupError("%s is missing from the config" % key)
    return config


def client_options() -> dict[str, t.Any]:
    """A few quick retries (a blip on a home uplink), not the SDK's 15 s + 18 s backoffs."""
    from azure.storage.blob import ExponentialRetry  # pylint: disable=import-outside-toplevel

    return dict(connection_timeout=10, read_timeout=60,
                retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3,
                                              retry_connect=2, retry_read=2, random_jitter_range=1))


def object_name(config: dict[str, t.Any], now: datetime.datetime) -> str:
    suffix = EXTENSIONS[config["compression"]] + (".age" if config["age_recipients"] else "")
    return "%s%s%s-%s%s" % (config["prefix"], NAME_PREFIX, now.strftime(TIMESTAMP_FORMAT),
                            config["immich_version"], suffix)


def backup_time(name: str, prefix: str) -> datetime.datetime | None:
    """The UTC time in a backup's name, or None for anything this job did not write."""
    base = name[len(prefix):] if name.startswith(prefix) else ""
    ours = OUR_NAME.fullmatch(base)
    if not ours:
        return None
    try:
        return datetime.datetime.strptime(ours.group(1), TIMESTAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def prune_plan(backups: list[tuple[str, datetime.datetime]], now: datetime.datetime,
               keep_days: int, keep_min: int) -> list[str]:
    """Names to delete: older than keep_days, never one of the keep_min newest."""
    newest_first = sorted(backups, key=lambda item: item[1], reverse=True)
    cutoff = now - datetime.timedelta(days=keep_days)
    return [name for name, when in newest_first[max(keep_min, 1):] if when < cutoff]


def dump_command(config: dict[str, t.Any]) -> list[str]:
    return ["pg_dumpall", "--clean", "--if-exists", "--username", config["db_user"]]


def filter_commands(config: dict[str, t.Any]) -> list[list[str]]:
    """The compressor, then age when there are recipients."""
    level = str(config["compression_level"])
    if config["compression"] == "zstd":
        # --single-thread: zstd's worker mode (even --threads=1) buffers ~40 MiB.
        commands = [["zstd", "--quiet", "--single-thread", "-" + level, "--stdout"]]
    else:
        commands = [["gzip", "-" + level, "--stdout"]]
    if config["age_recipients"]:
        age = ["age", "--encrypt"]
        for recipient in config["age_recipients"]:
            age += ["--recipient", recipient]
        commands.append(age)
    return commands


def start_filters(commands: list[list[str]]) -> list[subprocess.Popen]:
    processes: list[subprocess.Popen] = []
    for command in commands:
        stdin = processes[-1].stdout if processes else subprocess.PIPE
        try:
            processes.append(subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE))
        except OSError as error:
            for process in processes:
                process.kill()
            raise BackupError("cannot run %s: %s" % (command[0], error)) from error
        if stdin is not subprocess.PIPE:
            stdin.close()  # the next process owns it now
    return processes


class Dump(threading.Thread):
    """pg_dumpall in the database container, its output copied into the compressor's stdin.

    Through Docker's API rather than the docker CLI: one process less (the CLI alone is
    ~24 MiB of RSS). pg_dumpall's stderr goes to the job's log. After join(): `code` is
    pg_dumpall's exit code, or None with `error` saying why it did not run to the end.
    """

    def __init__(self, config: dict[str, t.Any], sink: t.BinaryIO):
        super().__init__(name="pg_dumpall", daemon=True)
        self.config, self.sink = config, sink
        self.code: int | None = None
        self.error = ""

    def run(self) -> None:
        api = None
        try:
            import docker  # pylint: disable=import-outside-toplevel

            api = docker.APIClient(base_url=self.config["docker_host"], version="auto",
                                   timeout=self.config["dump_timeout"])
            exec_id = api.exec_create(self.config["container"], dump_command(self.config))["Id"]
            for out, err in api.exec_start(exec_id, stream=True, demux=True):
                if out:
                    self.sink.write(out)
                if err:
                    sys.stderr.buffer.write(err)
                    sys.stderr.buffer.flush()
            self.code = api.exec_inspect(exec_id)["ExitCode"]
        except Exception as error:  # pylint: disable=broad-exception-caught
            message = str(getattr(error, "explanation", None) or error).splitlines() or [type(error).__name__]
            self.error = "%s: %s" % (self.config["container"], message[0])
        finally:
            try:
                self.sink.close()  # the compressor's end of input
            except OSError:
                pass
            if api is not None:
                api.close()


def block_id(index: int) -> str:
    return base64.b64encode(b"%08d" % index).decode()


def upload(config: dict[str, t.Any], name: str) -> tuple[int, str]:
    """Stream the dump's compressed output into `name`; commit only after every stage exited 0."""
    from azure.storage.blob import BlobClient  # pylint: disable=import-outside-toplevel

    blob = BlobClient.from_connection_string(
        config["connection_string"], config["blob_container"], name, **client_options())
    commands = filter_commands(config)
    processes = start_filters(commands)
    dump = Dump(config, processes[0].stdin)
    dump.start()
    digest = hashlib.sha256()
    sent = 0
    blocks: list[str] = []
    in_flight: list[concurrent.futures.Future] = []
    # Only full blocks are staged while the dump runs; the short last one after the pipeline
    # succeeded. A dump that fails at once (a stopped database; zstd still writes an empty
    # frame) leaves nothing in Azure at all.
    last = b""

    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload") as uploader:

        def stage(chunk: bytes) -> None:
            """Upload `chunk` while the next one is read: at most one upload in flight."""
            while in_flight:
                in_flight.pop().result()
            blocks.append(block_id(len(blocks)))
            in_flight.append(uploader.submit(blob.stage_block, blocks[-1], chunk))

        try:
            output = processes[-1].stdout
            while True:
                chunk = output.read(config["block_size"])  # short only at the end
                digest.update(chunk)
                sent += len(chunk)
                if len(chunk) < config["block_size"]:
                    last = chunk
                    break
                stage(chunk)
            while in_flight:
                in_flight.pop().result()
        except Exception as error:
            for process in processes:
                process.kill()
            raise BackupError("upload of %s failed: %s" % (name, error_summary(error))) from error
        finally:
            codes = [process.wait() for process in processes]
            dump.join()
        if dump.error or dump.code is None:
            raise BackupError("nothing stored: pg_dumpall in %s" % (dump.error or "did not finish"))
        failed = [("pg_dumpall", dump.code)] if dump.code else []
        failed += [(command[0], code) for command, code in zip(commands, codes) if code != 0]
        if failed:
            raise BackupError("nothing stored: %s" % ", ".join("%s exited %d" % item for item in failed))
        if sent == 0:
            raise BackupError("nothing stored: the pipeline produced no bytes")
        try:
            if last:
                stage(last)
            while in_flight:
                in_flight.pop().result()
        except Exception as error:
            raise BackupError("upload of %s failed: %s" % (name, error_summary(error))) from error
    blob.commit_block_list(blocks, metadata={"sha256": digest.hexdigest(),
                                             "immich_version": config["immich_version"]})
    size = blob.get_blob_properties().size
    if size != sent:
        raise BackupError("%s holds %d bytes in Azure, %d were sent" % (name, size, sent))
    return sent, digest.hexdigest()


def our_backups(config: dict[str, t.Any], container: t.Any) -> list[tuple[str, datetime.datetime, int]]:
    found = []
    for item in container.list_blobs(name_starts_with=config["prefix"] + NAME_PREFIX):
        when = backup_time(item.name, config["prefix"])
        if when is not None:
            found.append((item.name, when, item.size))
    return found


def retention(config: dict[str, t.Any], name: str, sent: int, now: datetime.datetime) -> tuple[list[str], str]:
    """Prune old backups unless the new one looks like an empty database; returns (deleted, warning)."""
    from azure.storage.blob import ContainerClient  # pylint: disable=import-outside-toplevel

    container = ContainerClient.from_connection_string(
        config["connection_string"], config["blob_container"], **client_options())
    backups = our_backups(config, container)
    older = sorted((item for item in backups if item[0] != name), key=lambda item: item[1])
    if older and sent < config["min_size_ratio"] * older[-1][2]:
        return [], ("%s is %d bytes, less than %.0f%% of the previous backup %s (%d bytes): kept "
                    "everything, pruned nothing (an empty database after a missing SSD looks like this)"
                    % (name, sent, config["min_size_ratio"] * 100, older[-1][0], older[-1][2]))
    doomed = prune_plan([(item[0], item[1]) for item in backups], now, config["keep_days"], config["keep_min"])
    for old in doomed:
        container.delete_blob(old)
    return doomed, ""


def ping_target(url: str) -> str:
    """Where a ping goes, for the log and the status file: scheme and host only (the rest of a
    healthchecks URL is the check's secret UUID), or why it is no ping URL at all."""
    found = PING_URL.match(url)
    if not found:
        return "the ping URL (not shown)"
    return "%s://%s" % (found.group("scheme").lower(), found.group("host"))


def without_secrets(text: str, url: str) -> str:
    """`text` with the parts of `url` after its host left out (an error may quote them)."""
    split = urllib.parse.urlsplit(url)
    secrets = {url, url.rstrip("/"), split.path, split.query, split.fragment, split.netloc.rpartition("@")[0]}
    for secret in sorted((item for item in secrets if len(item) > 1), key=len, reverse=True):
        text = text.replace(secret, "...")
    return text


def ping(config: dict[str, t.Any], ok: bool) -> dict[str, t.Any] | None:
    """Ping `ping_url` (on success) or its /fail; None when there is no ping URL. Returns what
    happened, for the status file: to (scheme and host), signal (success, or fail: URL/fail),
    result (ok or failed), and the HTTP status or the error. Never raises: a ping that fails
    is the run's failure, not a crash."""
    url = str(config["ping_url"] or "")
    if not url:
        return None
    outcome: dict[str, t.Any] = {"to": ping_target(url), "signal": "success" if ok else "fail", "result": "ok"}
    if not PING_URL.match(url):
        outcome.update(result="failed", error="not an http:// or https:// URL with a host and no spaces")
        return outcome
    try:
        with urllib.request.urlopen(url.rstrip("/") + ("" if ok else "/fail"),  # nosec: the operator's own URL
                                    timeout=PING_TIMEOUT) as answer:
            outcome["http_status"] = answer.status
    except Exception as error:  # pylint: disable=broad-exception-caught
        # HTTPError (the service answered 4xx/5xx), URLError, a timeout, a malformed answer.
        outcome.update(result="failed", error=without_secrets(error_summary(error), url))
    return outcome


def write_status(config: dict[str, t.Any], status: dict[str, t.Any], private: bool = False) -> None:
    """Replace the status file in one step; `private`: readable by its owner only (0600, a new folder 0700)."""
    path = config["status_file"]
    os.makedirs(os.path.dirname(path), mode=0o700 if private else 0o777, exist_ok=True)
    temporary = path + ".tmp"
    opener = (lambda name, flags: os.open(name, flags, 0o600)) if private else None
    with open(temporary, "w", encoding="utf-8", opener=opener) as handle:
        if private:
            os.fchmod(handle.fileno(), 0o600)  # a .tmp left by a killed run keeps its old mode otherwise
        json.dump(status, handle, indent=2)
    os.replace(temporary, path)


@contextlib.contextmanager
def exclusive(path: str) -> t.Iterator[bool]:
    """Hold an exclusive lock on `path` for the block: True, or False when another run holds it."""
    with open(path, "a", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def finish(config: dict[str, t.Any], status: dict[str, t.Any], code: int, started: float, stored: str,
           tag: str = TAG, private: bool = False, setting: str = PING_SETTING) -> int:
    """The end of a run, after the work: ping, then write the status file (with the ping's
    outcome), then log one line. `code` is the work's own exit code and `status["result"]` its
    result; `stored` names what the work put in Azure (the backup object), `setting` the role
    variable of the ping URL. A failed ping or an unwritable status file fails the run: the
    code stays FAILED when the work failed already, and is REPORT_FAILED when the work had
    stored something. Returns the run's exit code."""
    status["backup_result"] = status["result"]
    outcome = ping(config, code == OK)
    status["ping"] = outcome
    if outcome is not None and outcome["result"] != "ok":
        which = "" if outcome["signal"] == "success" else "/fail "
        why = "the %sping to %s failed: %s (check %s)" % (which, outcome["to"], outcome["error"], setting)
        if code == FAILED:
            status["message"] += "; and %s" % why
        else:
            code, status["result"] = REPORT_FAILED, "failed"
            status["message"] += "; %s is stored, but %s" % (stored, why)
    status["duration_s"] = round(time.monotonic() - started, 1)
    status["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    try:
        write_status(config, status, private)
    except Exception as error:  # pylint: disable=broad-exception-caught
        why = "the status file %s cannot be written: %s" % (config["status_file"], error_summary(error))
        if code in (OK, SUSPICIOUS):
            code, status["result"] = REPORT_FAILED, "failed"
            status["message"] += "; %s is stored, but %s" % (stored, why)
        else:
            status["message"] += "; and %s" % why
    log("%s in %.1f s: %s" % (status["result"], status["duration_s"], status["message"]), tag)
    return code


def run(config: dict[str, t.Any]) -> int:
    started = time.monotonic()
    now = datetime.datetime.now(datetime.timezone.utc)
    name = object_name(config, now)
    status: dict[str, t.Any] = {"started": now.isoformat(), "object": name, "bytes": 0, "pruned": []}
    code = OK
    try:
        sent, sha256 = upload(config, name)
        pruned, warning = retention(config, name, sent, now)
        status.update(bytes=sent, sha256=sha256, pruned=pruned)
        if warning:
            code, status["result"], status["message"] = SUSPICIOUS, "suspicious", warning
        else:
            status["result"], status["message"] = "ok", "stored %s (%d bytes), pruned %d" % (name, sent, len(pruned))
    except BackupError as error:
        code, status["result"], status["message"] = FAILED, "failed", str(error)
    except Exception as error:  # pylint: disable=broad-exception-caught
        code, status["result"], status["message"] = FAILED, "failed", error_summary(error)
    return finish(config, status, code, started, "the backup itself (%s)" % name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/immich-backup/config.json")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (OSError, ValueError, BackupError) as error:
        log("cannot read %s: %s" % (args.config, error))
        return 1
    with exclusive(config["lock_file"]) as locked:
        if not locked:
            log("another backup is running (%s is locked); this run does nothing" % config["lock_file"])
            return 0
        return run(config)


if __name__ == "__main__":
    sys.exit(main())
