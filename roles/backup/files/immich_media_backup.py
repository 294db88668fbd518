# SPDX-License-Identifier: GPL-3.0-or-later
"""Immich's generated media (thumbnails, encoded videos) on the SSD, copied to Azure with rclone and back.

Run on the Pi by cron after the database backup, next to immich_db_backup.py:

  immich_media_backup.py --config /etc/immich-backup/media.json [--accept-loss] [backup]
  immich_media_backup.py --config /etc/immich-backup/media.json restore

`backup` makes <remote>/<prefix><folder>/ a copy of each folder (rclone sync: what Immich
deleted goes too), but first refuses to touch Azure when the SSD is not mounted, a folder is
not on it or holds no files, or holds fewer than (1 - max_loss_ratio) of the files in its copy
(an SSD replaced or wiped looks like this); --max-delete from the same ratio guards the sync
itself. --accept-loss runs once past both guards. Immich's .immich marker files stay out.
`restore` copies each folder back onto the SSD (never elsewhere) and gives the files the
folder's owner; it prints a JSON report on stdout.

After the copy, `backup` pings ``ping_url`` (URL on success, URL/fail otherwise), then writes
the status file with the ping's outcome in it, as immich_db_backup.py does: a failed ping, or a
status file that cannot be written (said in the log), fails the run.

Exit codes: backup: 0 ok, or another run holds the lock; 1 refused or failed (the status
file says which); 4 copied, but the ping failed or the status file could not be written.
restore: 0 done; 1 failed; 3 refused (a folder is not on the SSD).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import immich_db_backup as job  # noqa: E402  pylint: disable=wrong-import-position

TAG = "immich-media-backup"
PING_SETTING = "backup_media_ping_url"  # the role variable behind ping_url
MARKER = ".immich"  # Immich's folder check; the restore writes it from the database instead
REFUSED = 3
DIRECTORY_NOT_FOUND = 3  # rclone's exit code: nothing stored under that path yet
DEFAULTS: dict[str, t.Any] = {
    "rclone": "rclone",
    "prefix": "backup/",
    "max_loss_ratio": 0.2,
    "ping_url": "",
    "status_file": "/var/lib/immich-backup/media-status.json",
    "lock_file": "/run/lock/immich-media-backup.lock",
    # A first copy of years of thumbnails over a home uplink takes long; the next run goes on.
    "timeout": 6 * 3600,
    # Many small files: more in flight than rclone's 4/8. Each large file (an encoded video)
    # uploads UPLOAD_CONCURRENCY blocks of 4 MiB at once, so 8 transfers stay under 128 MiB.
    "transfers": 8,
    "checkers": 16,
}
REQUIRED = ("rclone_config", "remote", "ssd_mount_point", "folders")
UPLOAD_CONCURRENCY = 4


class Refused(job.BackupError):
    """A guard stopped the run before anything in Azure (or on the SD card) was touched."""


def log(message: str) -> None:
    job.log(message, TAG)


def load_config(path: str) -> dict[str, t.Any]:
    with open(path, encoding="utf-8") as handle:
        config = dict(DEFAULTS, **json.load(handle))
    for key in REQUIRED:
        if not config.get(key):
            raise job.BackupError("%s is missing from the config" % key)
    if not isinstance(config["folders"], dict):
        raise job.BackupError("folders must be an object: name -> local path")
    for name, path in config["folders"].items():
        if not name or "/" in name or name in (".", "..") or not os.path.isabs(str(path)):
            raise job.BackupError("folders: %r -> %r is not a plain name and an absolute path" % (name, path))
    unknown = sorted(set(backup_folders(config)) - set(config["folders"]))
    if unknown:
        raise job.BackupError("backup_folders names folders that are not in folders: %s" % ", ".join(unknown))
    if not 0 <= float(config["max_loss_ratio"]) < 1:
        raise job.BackupError("max_loss_ratio must be at least 0 and less than 1")
    return config


def backup_folders(config: dict[str, t.Any]) -> list[str]:
    """The folders the backup copies (``backup_folders``, all of ``folders`` when unset); a
    restore brings back every folder of ``folders`` that has a copy."""
    names = config.get("backup_folders")
    return list(config["folders"]) if names is None else list(names)


def destination(config: dict[str, t.Any], name: str) -> str:
    """<remote>/<prefix><name>/, e.g. azurephotos:photos/backup/thumbs/."""
    return "%s/%s%s/" % (config["remote"].rstrip("/"), config["prefix"], name)


def least_kept(remote_files: int, ratio: float) -> int:
    """The fewest files a folder may hold next to `remote_files` in its copy."""
    return math.ceil(round((1 - ratio) * remote_files, 6))


def loss_refusal(name: str, local_files: int, remote_files: int, ratio: float) -> str:
    """Why a backup of this folder would lose too much of its copy, or "" when it would not."""
    if local_files >= least_kept(remote_files, ratio):
        return ""
    return ("%s holds %d files, its copy in Azure %d: more than %g%% would be deleted "
            "(backup_media_max_loss_ratio is %g). If that is right (thumbnails regenerated in "
            "another format, many assets deleted), run the job once with --accept-loss"
            % (name, local_files, remote_files, ratio * 100, ratio))


def max_delete(remote_files: int, ratio: float) -> int:
    """rclone's --max-delete: as many deletions as the loss guard lets through, no more."""
    return remote_files - least_kept(remote_files, ratio)


def log_entry(line: str) -> dict[str, t.Any]:
    """One line of rclone's --use-json-log output; anything else (a Go panic) as an error."""
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        return {"level": "error", "msg": line.strip()}
    return entry


def transfer_summary(stats: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """rclone's stats object -> files and bytes copied, files deleted, errors, seconds."""
    stats = stats or {}
    return {"files": int(stats.get("transfers") or 0), "bytes": int(stats.get("bytes") or 0),
            "deleted": int(stats.get("deletes") or 0), "errors": int(stats.get("errors") or 0),
            "elapsed_s": round(float(stats.get("elapsedTime") or 0), 1)}


def size_summary(output: str) -> tuple[int, int]:
    """`rclone size --json` -> (files, bytes)."""
    found = json.loads(output)
    return int(found["count"]), int(found["bytes"])


def entry_text(entry: dict[str, t.Any]) -> str:
    message = " ".join(str(entry.get("msg", "")).split())
    return "%s: %s" % (entry["object"], message) if entry.get("object") else message


class Rclone:
    """One rclone call: its JSON log read as it comes (errors and progress to our log), the last
    stats kept, stdout kept; killed after the config's timeout."""

    def __init__(self, config: dict[str, t.Any], label: str, args: list[str]) -> None:
        self.command = [config["rclone"], *args, "--config", config["rclone_config"], "--use-json-log"]
        self.label, self.timeout = label, float(config["timeout"])
        self.stats: dict[str, t.Any] | None = None
        self.errors: list[str] = []
        self.output = ""
        self.code = -1
        self.timed_out = False

    def run(self) -> Rclone:
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stdout:
            try:
                process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=stdout,
                                           stderr=subprocess.PIPE, text=True, errors="replace")
            except OSError as error:
                raise job.BackupError("cannot run %s: %s" % (self.command[0], error)) from error
            timer = threading.Timer(self.timeout, self.kill, (process,))
            timer.start()
            try:
                for line in process.stderr:
                    if line.strip():
                        self.read(log_entry(line))
                self.code = process.wait()
            finally:
                timer.cancel()
                process.kill()  # only when reading failed: it has exited otherwise
                process.wait()
            stdout.seek(0)
            self.output = stdout.read()
        return self

    def kill(self, process: subprocess.Popen) -> None:
        self.timed_out = True
        process.kill()

    def read(self, entry: dict[str, t.Any]) -> None:
        if isinstance(entry.get("stats"), dict):
            self.stats = entry["stats"]
            done = transfer_summary(self.stats)
            log("%s: rclone: %d files (%d bytes) copied, %d deleted, %d errors"
                % (self.label, done["files"], done["bytes"], done["deleted"], done["errors"]))
        elif entry.get("level") in ("error", "critical", "fatal", "warning", "notice"):
            self.errors += [entry_text(entry)] if entry.get("level") != "notice" else []
            log("%s: rclone %s: %s" % (self.label, entry.get("level"), entry_text(entry)))

    def failure(self) -> str:
        """Why the call failed, in one line (the first error: the cause), or "" when it did not."""
        if self.timed_out:
            return "rclone %s timed out after %d s" % (self.command[1], self.timeout)
        if self.code == 0:
            return ""
        more = " (and %d more errors)" % (len(self.errors) - 1) if len(self.errors) > 1 else ""
        return "rclone %s exited %d: %s%s" % (self.command[1], self.code,
                                              self.errors[0] if self.errors else "(no message)", more)


def remote_size(config: dict[str, t.Any], name: str) -> tuple[int, int]:
    """Files and bytes in a folder's copy, in one listing; (0, 0) when there is none yet."""
    call = Rclone(config, name, ["size", "--json", "--fast-list", "--exclude", "/" + MARKER,
                                 destination(config, name)]).run()
    if call.code == DIRECTORY_NOT_FOUND and not call.timed_out:
        return 0, 0
    if call.failure():
        raise job.BackupError("%s: cannot count the copy in Azure: %s" % (name, call.failure()))
    return size_summary(call.output)


def transfer_flags(config: dict[str, t.Any]) -> list[str]:
    return ["--exclude", "/" + MARKER, "--fast-list", "--transfers", str(config["transfers"]),
            "--checkers", str(config["checkers"]), "--azureblob-upload-concurrency", str(UPLOAD_CONCURRENCY),
            "--stats", "1m", "--stats-log-level", "NOTICE"]


def sync_args(config: dict[str, t.Any], name: str, limit: int | None) -> list[str]:
    """rclone sync of one folder; `limit` is --max-delete (None: --accept-loss, no limit)."""
    args = ["sync", config["folders"][name], destination(config, name), "--one-file-system", *transfer_flags(config)]
    return args + (["--max-delete", str(limit)] if limit is not None else [])


def copy_back_args(config: dict[str, t.Any], name: str) -> list[str]:
    return ["copy", destination(config, name), config["folders"][name], *transfer_flags(config)]


def local_files(root: str) -> tuple[int, int]:
    """Files and bytes as rclone sees them: regular files on root's file system, not the marker."""
    device = os.stat(root).st_dev
    files = size = 0
    pending = [root]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.stat(follow_symlinks=False).st_dev == device:
                        pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and not (folder == root and entry.name == MARKER):
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
    return files, size


def ssd_device(config: dict[str, t.Any]) -> int:
    mount_point = config["ssd_mount_point"]
    if not os.path.ismount(mount_point):
        raise Refused("%s is not a mount point: the SSD is not mounted" % mount_point)
    return os.stat(mount_point).st_dev


def on_ssd(path: str, device: int) -> bool:
    try:
        return os.stat(path).st_dev == device
    except OSError:
        return False


def check_folders(config: dict[str, t.Any], folders: dict[str, dict[str, t.Any]]) -> None:
    """The local side of the guards: every folder on the SSD, holding files; counts into `folders`."""
    device = ssd_device(config)
    for name in backup_folders(config):
        path = config["folders"][name]
        if not os.path.isdir(path):
            raise Refused("%s: %s is missing" % (name, path))
        if not on_ssd(path, device):
            raise Refused("%s: %s is not on the SSD mounted at %s" % (name, path, config["ssd_mount_point"]))
        files, size = local_files(path)
        folders[name] = {"path": path, "destination": destination(config, name), "local_files": files,
                         "local_bytes": size}
        log("%s: %d files (%d bytes) in %s" % (name, files, size, path))


def check_remote(config: dict[str, t.Any], folders: dict[str, dict[str, t.Any]], accept_loss: bool) -> None:
    """The Azure side: each copy's count, and the loss guard on it."""
    refusals = []
    for name, folder in folders.items():
        folder["remote_files"], folder["remote_bytes"] = remote_size(config, name)
        log("%s: %d files (%d bytes) in %s" % (name, folder["remote_files"], folder["remote_bytes"],
                                               folder["destination"]))
        refusal = loss_refusal(name, folder["local_files"], folder["remote_files"], float(config["max_loss_ratio"]))
        if folder["local_files"] == 0 and folder["remote_files"] > 0:
            # Never mirrored, whatever --accept-loss says: an empty folder next to a copy is a
            # new or wiped SSD, and the copy is what a restore needs.
            refusals.append("%s: %s holds no files (an empty or new SSD?) while its copy in Azure holds %d"
                            % (name, folder["path"], folder["remote_files"]))
        elif refusal and accept_loss:
            log("%s; going on: --accept-loss" % refusal)
        elif refusal:
            refusals.append(refusal)
    if refusals:
        raise Refused("; ".join(refusals))


def sync(config: dict[str, t.Any], name: str, folder: dict[str, t.Any], accept_loss: bool) -> str:
    """Sync one folder; its counts into `folder`; returns why it failed, or ""."""
    limit = None if accept_loss else max_delete(folder["remote_files"], float(config["max_loss_ratio"]))
    call = Rclone(config, name, sync_args(config, name, limit)).run()
    done = transfer_summary(call.stats)
    folder.update(copied_files=done["files"], copied_bytes=done["bytes"], deleted_files=done["deleted"],
                  errors=done["errors"], duration_s=done["elapsed_s"])
    failure = call.failure()
    if failure and any("max-delete" in error for error in call.errors):
        failure += ("; the new files are copied, but deleting more than %d in Azure (--max-delete, from "
                    "backup_media_max_loss_ratio) is refused: --accept-loss runs past it" % limit)
    return "%s: %s" % (name, failure) if failure else ""


def nothing_yet(name: str, folder: dict[str, t.Any]) -> str:
    log("%s: no files and no copy yet, nothing to copy" % name)
    folder.update(copied_files=0, copied_bytes=0, deleted_files=0, errors=0, duration_s=0.0)
    return ""


def copied(name: str, folder: dict[str, t.Any]) -> str:
    return "%s: %d files (%d bytes) copied, %d deleted" % (name, folder["copied_files"], folder["copied_bytes"],
                                                           folder["deleted_files"])


def backup(config: dict[str, t.Any], accept_loss: bool) -> int:
    started = time.monotonic()
    status: dict[str, t.Any] = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                                "accept_loss": accept_loss, "folders": {}}
    folders = status["folders"]
    try:
        check_folders(config, folders)
        check_remote(config, folders, accept_loss)
        # One folder failing (a file rclone cannot read) still lets the others be copied.
        # A new library (no files, no copy yet) has nothing to copy.
        failures = [sync(config, name, folder, accept_loss) if folder["local_files"] else nothing_yet(name, folder)
                    for name, folder in folders.items()]
        if any(failures):
            raise job.BackupError("; ".join(failure for failure in failures if failure))
        status["result"], status["message"] = "ok", "; ".join(copied(name, folder) for name, folder in folders.items())
    except Refused as error:
        status["result"], status["message"] = "refused", "%s; nothing in Azure was touched" % error
    except job.BackupError as error:
        status["result"], status["message"] = "failed", str(error)
    except Exception as error:  # pylint: disable=broad-exception-caught
        status["result"], status["message"] = "failed", job.error_summary(error)
    for key, field in (("files", "local_files"), ("bytes", "local_bytes"), ("copied_files", "copied_files"),
                       ("copied_bytes", "copied_bytes"), ("deleted_files", "deleted_files")):
        status[key] = sum(folder.get(field, 0) for folder in folders.values())
    copies = ", ".join(folder["destination"] for folder in folders.values())
    return job.finish(config, status, job.OK if status["result"] == "ok" else job.FAILED, started,
                      "the copy itself (%s)" % copies, TAG, private=True, setting=PING_SETTING)


def restore_target(path: str, device: int) -> str:
    """Where the folder is, or its nearest existing parent when the restore is to create it
    (whose owner the files get then); refused unless that is on the SSD."""
    existing = os.path.dirname(missing_folders(path)[0]) if not os.path.lexists(path) else path
    if os.path.islink(existing) or not os.path.isdir(existing) or not on_ssd(existing, device):
        raise Refused("%s is not a folder on the SSD" % path)
    return existing


def missing_folders(path: str) -> list[str]:
    """path and its parents that do not exist yet, outermost first."""
    missing = []
    while not os.path.lexists(path):
        missing.insert(0, path)
        path = os.path.dirname(path)
    return missing


def give_to_owner(path: str, uid: int, gid: int) -> None:
    """Everything under path (and path) owned by uid:gid, as Immich's files are."""
    device = os.stat(path).st_dev
    for top, folders, files in os.walk(path):
        folders[:] = [name for name in folders if os.lstat(os.path.join(top, name)).st_dev == device]
        for name in [top] + [os.path.join(top, item) for item in folders + files]:
            found = os.lstat(name)
            if (found.st_uid, found.st_gid) != (uid, gid):
                os.lchown(name, uid, gid)


def copy_back(config: dict[str, t.Any], name: str, existing: str) -> dict[str, t.Any] | None:
    """Copy one folder back; None when Azure holds no copy of it."""
    path = config["folders"][name]
    in_azure = remote_size(config, name)[0]
    if in_azure == 0:
        log("%s: no copy in %s, nothing to restore" % (name, destination(config, name)))
        return None
    owner = os.stat(existing)
    created = missing_folders(path)
    os.makedirs(path, exist_ok=True)
    for folder in created:
        os.chown(folder, owner.st_uid, owner.st_gid)
    call = Rclone(config, name, copy_back_args(config, name)).run()
    if call.failure():
        raise job.BackupError("%s: %s" % (name, call.failure()))
    give_to_owner(path, owner.st_uid, owner.st_gid)
    done = transfer_summary(call.stats)
    log("%s: %d files (%d bytes) copied back into %s" % (name, done["files"], done["bytes"], path))
    return {"path": path, "files": done["files"], "bytes": done["bytes"], "in_azure": in_azure,
            "duration_s": done["elapsed_s"]}


def restore(config: dict[str, t.Any]) -> dict[str, t.Any]:
    started = time.monotonic()
    device = ssd_device(config)
    targets = {name: restore_target(path, device) for name, path in config["folders"].items()}
    report: dict[str, t.Any] = {"folders": {}, "missing": []}
    for name, existing in targets.items():
        copied = copy_back(config, name, existing)
        if copied is None:
            report["missing"].append(name)
        else:
            report["folders"][name] = copied
    report["duration_s"] = round(time.monotonic() - started, 1)
    return report


def run_restore(config: dict[str, t.Any]) -> int:
    try:
        with job.exclusive(config["lock_file"]) as locked:
            if not locked:
                raise job.BackupError("a backup is running (%s is locked): try again when it is done"
                                      % config["lock_file"])
            report = restore(config)
    except Refused as error:
        log("refused: %s; nothing was copied" % error)
        return REFUSED
    except (OSError, ValueError, job.BackupError) as error:
        log(job.error_summary(error) if not isinstance(error, job.BackupError) else str(error))
        return 1
    print(json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("backup", "restore"), default="backup",
                        help="backup (the default): copy the folders to Azure; restore: copy them back")
    parser.add_argument("--config", default="/etc/immich-backup/media.json")
    parser.add_argument("--accept-loss", action="store_true",
                        help="back up even when a folder lost more than max_loss_ratio of its copy's files")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (OSError, ValueError, job.BackupError) as error:
        log("cannot read %s: %s" % (args.config, error))
        return 1
    if args.command == "restore":
        return run_restore(config)
    with job.exclusive(config["lock_file"]) as locked:
        if not locked:
            log("another backup is running (%s is locked); this run does nothing" % config["lock_file"])
            return 0
        return backup(config, args.accept_loss)


if __name__ == "__main__":
    sys.exit(main())
