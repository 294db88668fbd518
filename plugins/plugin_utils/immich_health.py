# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health report of playbooks/health.yml: what the playbook registered on the Pi and in Azure
in, a list of checks (OK, WARN or FAIL, what was found, the fix) out.

Pure functions of their input, used by the filters immich_health_checks and
immich_health_summary. Nothing here imports Ansible's controller code, so the unit tests can
feed it captured results directly; bad input raises ValueError, which the filters turn into
AnsibleFilterError.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import typing as t

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"
STATUSES = (OK, WARN, FAIL)
# immich-db-<UTC time>-v<Immich release>.sql.zst|.sql.gz[.age]: the backup job's names.
BACKUP_NAME = re.compile(r"immich-db-(\d{8}T\d{6}Z)-v\d+\.\d+\.\d+\.sql\.(?:zst|gz)(?:\.age)?")
# rclone's size suffixes are powers of 1024; a bare number is KiB.
SIZE_UNITS = {"B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4, "P": 1024 ** 5}
# vcgencmd get_throttled: bit -> what it means (0-3 now, 16-19 since boot).
THROTTLE_NOW = {0x1: "under-voltage", 0x2: "ARM frequency capped", 0x4: "throttled", 0x8: "soft temperature limit"}
THROTTLE_SINCE_BOOT = {0x10000: "under-voltage", 0x20000: "ARM frequency capping", 0x40000: "throttling",
                       0x80000: "soft temperature limit"}
DEFAULTS: dict[str, t.Any] = {
    "ssd_mount_point": "/mnt/ssd",
    "ssd_fstype": "ext4",
    "rclone_service": "rclone-azurephotos.service",
    "stack_service": "immich-stack.service",
    "tunnel_service": "cloudflared.service",
    "tunnel_enabled": True,
    "media_enabled": True,
    "project_dir": "/opt/immich",
    "backup_prefix": "backup/",
    "inventory": "inventory.ini",
    "backup_playbook": "playbooks/backup.yml",
    "space_warn_percent": 15.0,
    "space_fail_percent": 5.0,
    "vfs_cache_max_size": "20G",
    "vfs_cache_warn_percent": 90.0,
    "vfs_cache_fail_percent": 120.0,
    "backup_warn_hours": 26.0,
    "backup_fail_hours": 50.0,
    "memory_warn_percent": 10.0,
    "memory_fail_percent": 5.0,
    "temperature_warn": 70.0,
    "temperature_fail": 80.0,
    "now": None,
}
NUMBERS = [name for name, value in DEFAULTS.items() if isinstance(value, float)]


# --- small helpers --------------------------------------------------------------------------


def check(name: str, status: str, detail: str, fix: str | None = None) -> dict[str, t.Any]:
    return {"check": name, "status": status, "detail": detail, "fix": None if status == OK else fix}


def human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024.0
    return "%d B" % value  # not reached


def human_age(hours: float) -> str:
    if hours < 1:
        return "%d min" % max(0, round(hours * 60))
    if hours < 72:
        return "%.1f h" % hours
    return "%.1f days" % (hours / 24)


def parse_size(text: str) -> int | None:
    """rclone's SizeSuffix in bytes; None for "off" (no limit)."""
    value = str(text).strip()
    if value.lower() == "off" or value == "-1":
        return None
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([BKMGTP]?)(?:i?B)?", value, re.IGNORECASE)
    if not match:
        raise ValueError("vfs_cache_max_size must be an rclone size such as 20G or off, got %r" % text)
    return int(float(match.group(1)) * SIZE_UNITS[(match.group(2) or "K").upper()])


def parse_time(text: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def not_gathered(result: t.Any) -> str | None:
    """Why a registered result holds nothing to judge (skipped, or the task itself failed)."""
    if not isinstance(result, dict):
        return "no result"
    if result.get("skipped"):
        return "skipped (%s)" % (result.get("skip_reason") or result.get("false_condition") or "condition")
    if result.get("unreachable"):
        return "host unreachable"
    return None


def slurped_text(result: dict[str, t.Any]) -> str | None:
    content = result.get("content")
    if content is None:
        return None
    if result.get("encoding", "base64") == "base64":
        return base64.b64decode(content).decode("utf-8", "replace")
    return str(content)


def first_line(text: t.Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def command_error(result: dict[str, t.Any]) -> str:
    return first_line(result.get("stderr")) or first_line(result.get("msg")) or "exit code %s" % result.get("rc")


def backup_commands(opts: dict[str, t.Any]) -> str:
    return ("ansible-playbook %s -i %s (it shows the job's message); on the Pi: "
            "sudo journalctl -t immich-db-backup --since -2d" % (opts["backup_playbook"], opts["inventory"]))


# --- the SSD and free space -------------------------------------------------------------------


def df_rows(result: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    """df --output=size,avail,fstype,source,target,file rows by the file asked about."""
    rows: dict[str, dict[str, t.Any]] = {}
    for line in str(result.get("stdout") or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) != 6 or not fields[0].isdigit() or not fields[1].isdigit():
            continue
        rows[fields[5]] = {"size": int(fields[0]), "avail": int(fields[1]), "fstype": fields[2],
                           "source": fields[3], "target": fields[4]}
    return rows


def ssd_fix(opts: dict[str, t.Any]) -> str:
    return ("on the Pi: lsblk -f (is the SSD there?), then sudo mount %s (its /etc/fstab entry) and "
            "sudo systemctl restart docker %s; a USB SSD that drops out often lacks power: use the official "
            "power supply or a powered USB hub" % (opts["ssd_mount_point"], opts["stack_service"]))


def check_ssd_mount(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name, point = "ssd_mount", opts["ssd_mount_point"]
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, ssd_fix(opts))
    rows = df_rows(result)
    row, root = rows.get(point), rows.get("/")
    if row is None:
        return check(name, FAIL, "%s cannot be read (%s)" % (point, command_error(result)), ssd_fix(opts))
    if row["target"] != point:
        return check(name, FAIL, "%s is not mounted: it is a folder on %s (%s, the SD card)"
                     % (point, row["target"], row["source"]), ssd_fix(opts))
    on_sd_card = row["source"].startswith("/dev/mmcblk") or (root is not None and root["source"] == row["source"])
    if on_sd_card:
        return check(name, FAIL, "%s is mounted from %s, the SD card, not the SSD" % (point, row["source"]),
                     "set ssd_device (or ssd_uuid) to the USB SSD (lsblk -f) and run playbooks/site.yml")
    if row["fstype"] != opts["ssd_fstype"]:
        return check(name, FAIL, "%s is %s on %s, not %s" % (point, row["fstype"], row["source"], opts["ssd_fstype"]),
                     "unmount it and mount the SSD's %s filesystem there (sudo umount %s && sudo mount %s)"
                     % (opts["ssd_fstype"], point, point))
    return check(name, OK, "%s on %s (%s)" % (row["fstype"], row["source"], point))


def space_check(name: str, label: str, row: dict[str, t.Any] | None, opts: dict[str, t.Any], fix: str) -> dict[str, t.Any]:
    if row is None or row["size"] <= 0:
        return check(name, WARN, "%s: free space not measured" % label, fix)
    percent = 100.0 * row["avail"] / row["size"]
    detail = "%s: %.0f %% free (%s of %s)" % (label, percent, human_bytes(row["avail"]), human_bytes(row["size"]))
    if percent < opts["space_fail_percent"]:
        return check(name, FAIL, detail + ", below %g %%" % opts["space_fail_percent"], fix)
    if percent < opts["space_warn_percent"]:
        return check(name, WARN, detail + ", below %g %%" % opts["space_warn_percent"], fix)
    return check(name, OK, detail)


def check_sd_card_space(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    fix = ("on the Pi: sudo du -xh --max-depth=2 / | sort -h | tail -20 to find what grew; "
           "sudo journalctl --vacuum-size=200M; sudo apt-get clean")
    reason = not_gathered(result)
    if reason:
        return check("sd_card_space", WARN, "not checked: %s" % reason, fix)
    row = df_rows(result).get("/")
    return space_check("sd_card_space", "/ (SD card)", row, opts, fix)


def check_ssd_space(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    point = opts["ssd_mount_point"]
    fix = ("on the Pi: sudo du -xh --max-depth=2 %s | sort -h | tail; sudo docker image prune -a "
           "(unused images); lower rclone_mount_vfs_cache_max_size; or a larger SSD" % point)
    reason = not_gathered(result)
    if reason:
        return check("ssd_space", WARN, "not checked: %s" % reason, fix)
    row = df_rows(result).get(point)
    if row is not None and row["target"] != point:
        return check("ssd_space", WARN, "%s: not measured, the SSD is not mounted (see ssd_mount)" % point,
                     ssd_fix(opts))
    return space_check("ssd_space", "%s (SSD)" % point, row, opts, fix)


# --- the Azure mount ---------------------------------------------------------------------------


def unit_states(result: t.Any) -> dict[str, dict[str, str]]:
    """systemctl show's Key=Value blocks by unit Id."""
    units: dict[str, dict[str, str]] = {}
    if not isinstance(result, dict) or not_gathered(result):
        return units
    for block in re.split(r"\n\s*\n", str(result.get("stdout") or "")):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("Id"):
            units[fields["Id"]] = fields
    return units


def describe_unit(unit: dict[str, str] | None) -> str:
    if not unit:
        return "unknown"
    if unit.get("LoadState") == "not-found":
        return "not installed"
    state = "%s (%s)" % (unit.get("ActiveState", "?"), unit.get("SubState", "?"))
    if unit.get("Result") not in (None, "", "success"):
        state += ", last result %s" % unit["Result"]
    return state


# rclone_mount_info's status -> what the line says.
MOUNT_STATES = {
    "not_mounted": "not mounted",
    "missing": "missing (no such folder)",
    "hung": "hung (it does not answer)",
    "stale": "a dead mount (transport endpoint is not connected: rclone is gone)",
    "error": "an rclone mount that cannot be read",
    "other_filesystem": "another filesystem, not rclone",
}
# The words of rclone_mount_info's problems about the local disk under the mount point.
SHADOW_PROBLEM_WORDS = ("was down", "cannot look under", "counting the files on the local disk")
# Where the fix parks files found under the mount point (on the SD card, so mv only renames).
STRANDED = "/root/immich-stranded"


def check_azure_mount(result: t.Any, units: dict[str, dict[str, str]], opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name, service = "azure_mount", opts["rclone_service"]
    fix = "sudo systemctl restart %s (then: journalctl -u %s -n 50)" % (service, service)
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, fix)
    if "status" not in result:
        return check(name, FAIL, "rclone_mount_info failed: %s" % first_line(result.get("msg")), fix)
    path = result.get("resolved_path") or "the mount point"
    unit = "%s is %s" % (service, describe_unit(units.get(service)))
    # The shadowed entries are a check of their own (azure_mount_shadowed).
    problems = [problem for problem in result.get("problems") or []
                if not any(word in problem for word in SHADOW_PROBLEM_WORDS)]
    status = str(result.get("status"))
    if status == "stale":
        fix = "sudo fusermount3 -uz %s && sudo systemctl restart %s" % (path, service)
    if result.get("shadowed_entries") and not result.get("mounted"):
        # rclone refuses to mount over a folder that is not empty.
        fix = "move the files under %s away first (see azure_mount_shadowed), then %s" % (path, fix)
    if not result.get("mounted"):
        state = MOUNT_STATES.get(status, status)
        if status == "other_filesystem":
            state += " (%s)" % result.get("fstype")
        return check(name, FAIL, "%s is %s; %s" % (path, state, unit), fix)
    if problems:
        return check(name, WARN, "%s is live (%s) but: %s" % (path, result.get("remote"), "; ".join(problems)), fix)
    return check(name, OK, "%s is live: %s, answers" % (path, result.get("remote")))


def check_azure_shadowed(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any] | None:
    name = "azure_mount_shadowed"
    if not_gathered(result) or "status" not in result:
        return None
    path = result.get("resolved_path") or "the mount point"
    count = result.get("shadowed_entries")
    if count is None:
        cause = [p for p in result.get("problems") or [] if "cannot look under" in p or "counting" in p]
        return check(name, WARN, "the SD card under %s could not be looked at: %s" % (path, cause[0] if cause else "not counted"),
                     "run the playbook with become (root)")
    if count == 0:
        return check(name, OK, "nothing on the SD card under %s" % path)
    examples = ", ".join((result.get("shadowed_paths") or [])[:3])
    hidden = " (hidden under the live mount)" if result.get("mounted") else ""
    stack, service = opts["stack_service"], opts["rclone_service"]
    return check(name, FAIL, "%d entr%s on the SD card under %s%s, written while the mount was down: %s"
                 % (count, "y" if count == 1 else "ies", path, hidden, examples),
                 "on the Pi: sudo systemctl stop %s %s && sudo mkdir -p %s && sudo find %s -mindepth 1 -maxdepth 1 "
                 "-exec mv -t %s {} + && sudo systemctl start %s %s && sudo cp -a -n %s/. %s/ (then check and "
                 "delete %s)" % (stack, service, STRANDED, path, STRANDED, service, stack, STRANDED, path, STRANDED))


# rclone's cache cleaner reports to systemd after every poll (sd_notify STATUS, seen in the
# unit's StatusText), e.g. "[13:05] vfs cache: objects 1 (was 1) in use 1, to upload 1,
# uploading 0, total size 3 (was 3)" (rclone/rclone vfs/vfscache/cache.go, clean()).
VFS_CACHE_STATUS = re.compile(r"\bto upload (\d+), uploading (\d+)\b")


def vfs_cache_waiting(units: dict[str, dict[str, str]], service: str) -> int | None:
    """Files in the VFS cache that rclone has not uploaded yet, or None when rclone did not say."""
    found = VFS_CACHE_STATUS.search((units.get(service) or {}).get("StatusText", ""))
    return int(found.group(1)) + int(found.group(2)) if found else None


def check_vfs_cache(result: t.Any, units: dict[str, dict[str, str]], opts: dict[str, t.Any]) -> dict[str, t.Any]:
    """A full cache is normal: it holds photos read recently and rclone evicts them as it needs
    room. A cache near its limit with uploads waiting, or far over it, is not: only files that
    are uploaded (and not open) can be evicted."""
    name, service = "vfs_cache", opts["rclone_service"]
    fix = ("uploads to Azure may be stuck: journalctl -u %s -n 100 (look for upload errors); "
           "or raise rclone_mount_vfs_cache_max_size and run playbooks/site.yml" % service)
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, fix)
    fields = str(result.get("stdout") or "").split(None, 1)
    if result.get("rc") not in (0, None) or not fields or not fields[0].isdigit():
        return check(name, WARN, "the VFS cache's size could not be read (%s)" % command_error(result),
                     "check rclone_mount_cache_dir; sudo systemctl restart %s creates it" % service)
    used = int(fields[0])
    where = fields[1].strip() if len(fields) > 1 else "the cache"
    waiting = vfs_cache_waiting(units, service)
    uploads = ("uploads waiting: unknown (rclone reported none)" if waiting is None
               else "%d file%s waiting to upload" % (waiting, "" if waiting == 1 else "s"))
    limit = parse_size(opts["vfs_cache_max_size"])
    if limit is None:
        return check(name, OK, "%s: %s used, no limit (rclone_mount_vfs_cache_max_size: off), %s"
                     % (where, human_bytes(used), uploads))
    percent = 100.0 * used / limit if limit else 100.0
    detail = "%s: %s used of %s max (%.0f %%), %s" % (where, human_bytes(used), human_bytes(limit), percent, uploads)
    if percent >= opts["vfs_cache_fail_percent"]:
        return check(name, FAIL, detail, fix)
    if percent >= opts["vfs_cache_warn_percent"] and waiting != 0:
        return check(name, WARN, detail, fix)
    return check(name, OK, detail)


# --- Azure: the container, the backups, the job -------------------------------------------------


BLOB_FIXES = {
    "container_not_found": "check rclone_mount_container (the container must exist in the storage account)",
    "authentication_failed": "fix the credentials in the vault (rclone_mount_account_key or rclone_mount_sas_url, "
                             "with rclone_mount_account): Azure did not accept them",
    "sas_expired": "make a new SAS URL in the Azure portal, put it in rclone_mount_sas_url and run playbooks/site.yml",
    "sas_not_yet_valid": "the SAS URL's start time is in the future: make a new one or fix the clock",
    "authorization_failed": "give the credentials read, write, delete and list on the container (a SAS with sp=rwdl)",
    "unknown_account": "check rclone_mount_account (and rclone_mount_endpoint)",
    "unreachable": "check rclone_mount_endpoint and this machine's network and DNS",
    "invalid_input": "set one of rclone_mount_account_key, rclone_mount_sas_url or rclone_mount_service_principal "
                     "(with rclone_mount_account and rclone_mount_container) in the inventory or vault",
}


def check_blob_container(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "blob_container"
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, BLOB_FIXES["invalid_input"])
    kind = result.get("error_kind")
    if kind or "count" not in result:
        problems = result.get("problems") or [first_line(result.get("msg")) or "listing failed"]
        return check(name, FAIL, "%s cannot be listed (%s): %s" % (result.get("container") or "the container",
                                                                   kind or "error", " ".join(problems)),
                     BLOB_FIXES.get(kind or "", "check the Azure settings (rclone_mount_*) and the network"))
    return check(name, OK, "%s at %s answers (read from the controller)" % (result.get("container"), result.get("endpoint")))


def newest_backup(blobs: list[dict[str, t.Any]], prefix: str) -> tuple[dict[str, t.Any], datetime.datetime] | None:
    best = None
    for blob in blobs:
        blob_name = str(blob.get("name") or "")
        if not blob_name.startswith(prefix):
            continue
        match = BACKUP_NAME.fullmatch(blob_name[len(prefix):])
        if not match:
            continue
        when = datetime.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        if best is None or (when, blob_name) > (best[1], best[0]["name"]):
            best = (blob, when)
    return best


def check_backup_newest(result: t.Any, now: datetime.datetime, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "backup_newest"
    fix = backup_commands(opts)
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, fix)
    if result.get("error_kind") or "count" not in result:
        return check(name, FAIL, "unknown: the Blob container cannot be listed (see blob_container)",
                     "see blob_container")
    found = newest_backup(result.get("blobs") or [], opts["backup_prefix"])
    where = "%s in %s" % (opts["backup_prefix"], result.get("container"))
    if found is None:
        return check(name, FAIL, "no backup in %s" % where, fix)
    blob, when = found
    hours = (now - when).total_seconds() / 3600.0
    detail = "%s, %s old, %s" % (blob["name"], human_age(hours), human_bytes(int(blob.get("size") or 0)))
    if result.get("truncated"):
        detail += " (listing truncated: newer ones may be missing)"
    if not blob.get("size"):
        return check(name, FAIL, detail + ": empty", fix)
    if hours > opts["backup_fail_hours"]:
        return check(name, FAIL, detail + ", older than %g h" % opts["backup_fail_hours"], fix)
    if hours > opts["backup_warn_hours"]:
        return check(name, WARN, detail + ", older than %g h" % opts["backup_warn_hours"], fix)
    if hours < -1:
        return check(name, WARN, detail + ": in the future (is a clock wrong?)", "check the time on the Pi and here (timedatectl)")
    return check(name, OK, detail)


def short_time(text: t.Any) -> str:
    try:
        return parse_time(text).astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return str(text)


def failed_ping(status: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """The status file's ping when it failed; None when it went through, or there was none (and
    in a status file from before the jobs recorded their ping)."""
    ping = status.get("ping")
    return ping if isinstance(ping, dict) and ping.get("result") == "failed" else None


def ping_fix(setting: str, stored: str | None, fix: str) -> str:
    """The fix of a run whose ping failed: `stored` says what the run put in Azure all the same
    (None: the run failed on its own too, and `fix` is for that first)."""
    url = ("check %s (the ping URL of your healthchecks-style check, http:// or https://, such as "
           "https://hc-ping.com/<uuid>) and that its service answers from the Pi; after changing it run "
           "playbooks/site.yml" % setting)
    if stored is None:
        return "%s; the ping to /fail failed too: %s" % (fix, url)
    return "%s, but the ping failed: %s, then %s" % (stored, url, fix)


def check_backup_job(result: t.Any, blobs: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "backup_job"
    fix = backup_commands(opts)
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, fix)
    text = slurped_text(result)
    if text is None:
        return check(name, WARN, "no status file: the job has not run on this Pi yet (%s)" % first_line(result.get("msg")),
                     fix)
    try:
        status = json.loads(text)
    except ValueError:
        return check(name, WARN, "the status file is not JSON (a run may have been cut off)", fix)
    last = short_time(status.get("finished") or status.get("started") or "?")
    message = status.get("message") or ""
    detail = "last run %s: %s" % (last, status.get("result") or "unknown")
    if message:
        detail += ", %s" % message
    # The dump's own result: a run whose ping failed stored it all the same (backup_result).
    work = status.get("backup_result", status.get("result"))
    ping = failed_ping(status) is not None
    listed = None
    if isinstance(blobs, dict) and not not_gathered(blobs) and not blobs.get("error_kind") and "blobs" in blobs \
            and not blobs.get("truncated"):
        listed = {blob.get("name") for blob in blobs["blobs"]}
    stored = work in ("ok", "suspicious")
    missing = stored and listed is not None and status.get("object") and status["object"] not in listed
    deleted = "find out who deleted it (the job never prunes its newest backup)"
    if missing:
        detail += "; but %s is not in Azure any more" % status["object"]
    suspicious = ("a dump much smaller than the one before: check the database (is the library still there?); "
                  "the job pruned nothing. ")
    if ping:
        # FAIL, not WARN, though the dump is stored: the job exited non-zero and says failed, and
        # the ping is how a failed backup is heard of between runs of this playbook; until it
        # goes through, the next failed backup goes unnoticed. Whether the dump is in Azure is
        # backup_newest's to say.
        what = ("the backup was stored (%s)" % deleted if missing else "the backup is stored (see backup_newest)")
        return check(name, FAIL, detail, (suspicious if work == "suspicious" else "")
                     + ping_fix("backup_ping_url", what if stored else None, fix))
    if missing:
        return check(name, WARN, detail, "%s; %s" % (deleted, fix))
    if status.get("result") == "ok":
        return check(name, OK, detail)
    if status.get("result") == "suspicious":
        return check(name, WARN, detail, suspicious + fix)
    return check(name, FAIL, detail, fix)


def media_commands(opts: dict[str, t.Any]) -> str:
    return ("ansible-playbook %s -i %s (it runs the thumbnail copy after the database backup); on the Pi: "
            "sudo journalctl -t immich-media-backup --since -2d" % (opts["backup_playbook"], opts["inventory"]))


def check_media_copy(result: t.Any, now: datetime.datetime, opts: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """The thumbnail copy's last run (roles/backup/files/immich_media_backup.py's status file)."""
    name = "media_copy"
    if not opts["media_enabled"]:
        return None
    fix = media_commands(opts)
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, fix)
    text = slurped_text(result)
    if text is None:
        return check(name, WARN, "no status file: the thumbnail copy has not run on this Pi yet (%s)"
                     % first_line(result.get("msg")), fix)
    try:
        status = json.loads(text)
        finished = parse_time(status.get("finished") or status.get("started"))
    except (TypeError, ValueError):
        return check(name, WARN, "the status file is not readable JSON (a run may have been cut off)", fix)
    hours = (now - finished).total_seconds() / 3600
    detail = "last run %s (%s ago): %s" % (
        short_time(finished.isoformat()), human_age(hours), status.get("result") or "unknown")
    if status.get("message"):
        detail += ", %s" % status["message"]
    if status.get("result") == "refused":
        fix = ("nothing in Azure was deleted; if the SSD really lost those files (it was replaced, or Immich "
               "regenerated them), run once on the Pi: sudo /usr/bin/python3 /opt/immich-backup/immich_media_backup.py "
               "--accept-loss; otherwise check the SSD. " + fix)
    if failed_ping(status) is not None:
        # FAIL, for backup_job's reason (a failed ping there).
        stored = "the thumbnails are copied" if status.get("backup_result") == "ok" else None
        return check(name, FAIL, detail, ping_fix("backup_media_ping_url", stored, fix))
    if status.get("result") != "ok":
        return check(name, FAIL, detail, fix)
    if hours > opts["backup_fail_hours"]:
        return check(name, FAIL, detail + ", older than %g h" % opts["backup_fail_hours"], fix)
    if hours > opts["backup_warn_hours"]:
        return check(name, WARN, detail + ", older than %g h" % opts["backup_warn_hours"], fix)
    return check(name, OK, detail)


# --- the database, the containers, Immich, the services ---------------------------------------------


def check_database(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "database"
    reason = not_gathered(result)
    stack_fix = ("sudo systemctl restart %s; sudo docker compose --project-directory %s logs --tail 50 database"
                 % (opts["stack_service"], opts["project_dir"]))
    if reason:
        return check(name, WARN, "not checked: %s" % reason, stack_fix)
    if "reachable" not in result:
        return check(name, FAIL, "immich_db_info failed: %s" % first_line(result.get("msg")), stack_fix)
    problems = result.get("problems") or []
    if not result.get("reachable"):
        return check(name, FAIL, "not reachable: %s" % "; ".join(problems), stack_fix)
    detail = "Postgres %s, %s" % (result.get("server_version"), result.get("vector_mode") or "no vector extension yet")
    versions = result.get("extensions") or {}
    if versions:
        detail += " (%s)" % ", ".join("%s %s" % item for item in sorted(versions.items()))
    if problems:
        return check(name, FAIL, detail + ": " + "; ".join(problems),
                     "the repair each problem names; Immich's database image is set by immich_database_image")
    return check(name, OK, detail)


def compose_containers(text: str) -> list[dict[str, t.Any]]:
    """docker compose ps --format json: a JSON array (compose < 2.21) or one object per line."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def check_containers(ps: t.Any, services: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "containers"
    fix = ("sudo systemctl restart %s; sudo docker compose --project-directory %s logs --tail 50 <service>"
           % (opts["stack_service"], opts["project_dir"]))
    reason = not_gathered(ps)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, fix)
    if ps.get("rc") not in (0, None):
        return check(name, FAIL, "docker compose ps failed: %s" % command_error(ps),
                     "sudo systemctl start docker %s" % opts["stack_service"])
    try:
        containers = compose_containers(str(ps.get("stdout") or ""))
    except ValueError as error:
        return check(name, WARN, "docker compose ps answered something that is not JSON (%s)" % error, fix)
    expected: list[str] = []
    if isinstance(services, dict) and not not_gathered(services) and services.get("rc") in (0, None):
        expected = [line.strip() for line in str(services.get("stdout") or "").splitlines() if line.strip()]
    bad: list[str] = []
    seen = set()
    for container in sorted(containers, key=lambda item: str(item.get("Service") or item.get("Name"))):
        service = str(container.get("Service") or container.get("Name"))
        seen.add(service)
        state, health = str(container.get("State") or "?"), str(container.get("Health") or "")
        if state != "running":
            exit_code = container.get("ExitCode")
            bad.append("%s %s%s" % (service, state, (" (exit %s)" % exit_code) if exit_code not in (None, "") and state == "exited" else ""))
        elif health not in ("", "healthy"):
            bad.append("%s %s" % (service, health))
    missing = [service for service in expected if service not in seen]
    bad.extend("%s has no container" % service for service in missing)
    if bad:
        fix = fix.replace("<service>", bad[0].split()[0])
    total = len(set(expected) | seen)
    if not total:
        return check(name, FAIL, "no containers in the compose project %s" % opts["project_dir"],
                     "sudo systemctl start %s (journalctl -u %s)" % (opts["stack_service"], opts["stack_service"]))
    if bad:
        return check(name, FAIL, "%d of %d not running and healthy: %s" % (len(bad), total, ", ".join(bad)), fix)
    return check(name, OK, "%d of %d running and healthy (%s)" % (total, total, ", ".join(sorted(seen))))


def check_ping(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "immich_ping"
    fix = ("sudo docker compose --project-directory %s logs --tail 50 immich-server; sudo systemctl restart %s"
           % (opts["project_dir"], opts["stack_service"]))
    reason = not_gathered(result)
    if reason:
        return check(name, WARN, "not checked: %s" % reason, fix)
    url = result.get("url") or "/api/server/ping"
    body = result.get("json")
    if body is None and result.get("content"):
        try:
            body = json.loads(result["content"])
        except ValueError:
            body = None
    if result.get("status") == 200 and isinstance(body, dict) and body.get("res") == "pong":
        return check(name, OK, "%s answers pong" % url)
    if result.get("status", -1) in (-1, None):
        why = first_line(result.get("msg"))
        why = why.split("Request failed: ", 1)[-1]
        return check(name, FAIL, "%s does not answer: %s" % (url, why), fix)
    return check(name, FAIL, "%s answered HTTP %s: %s" % (url, result.get("status"),
                                                          (str(result.get("content") or result.get("msg") or ""))[:120]), fix)


def check_service(name: str, units: dict[str, dict[str, str]], unit_name: str, gathered: bool, fix: str,
                  enabled: bool = True) -> dict[str, t.Any]:
    unit = units.get(unit_name)
    if not gathered or unit is None:
        return check(name, WARN, "%s: not checked" % unit_name, fix)
    if unit.get("ActiveState") == "active":
        return check(name, OK, "%s %s" % (unit_name, describe_unit(unit)))
    if not enabled:
        return check(name, OK, "%s %s (not used: cloudflared_enabled is false)" % (unit_name, describe_unit(unit)))
    if unit.get("LoadState") == "not-found":
        return check(name, FAIL, "%s is not installed" % unit_name, "run playbooks/site.yml")
    return check(name, FAIL, "%s is %s" % (unit_name, describe_unit(unit)), fix)


# --- the Pi itself ------------------------------------------------------------------------------


def check_memory(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "memory"
    fix = ("on a 4 GB Pi set immich_machine_learning_enabled: false and run playbooks/site.yml; "
           "see what uses memory: sudo docker stats --no-stream")
    text = None if not_gathered(result) else slurped_text(result)
    if text is None:
        return check(name, OK, "not reported")
    values = {}
    for line in text.splitlines():
        match = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if match:
            values[match.group(1)] = int(match.group(2)) * 1024
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    if not total or available is None:
        return check(name, OK, "not reported (no MemAvailable in /proc/meminfo)")
    percent = 100.0 * available / total
    detail = "%s available of %s (%.0f %%)" % (human_bytes(available), human_bytes(total), percent)
    if percent < opts["memory_fail_percent"]:
        return check(name, FAIL, detail, fix)
    if percent < opts["memory_warn_percent"]:
        return check(name, WARN, detail, fix)
    return check(name, OK, detail)


def check_temperature(result: t.Any, opts: dict[str, t.Any]) -> dict[str, t.Any]:
    name = "cpu_temperature"
    fix = "cool the Pi: a heatsink with a fan (the Pi 5 Active Cooler, a fan case), and air around it"
    text = None if not_gathered(result) else slurped_text(result)
    value = text.strip() if text else ""
    if not re.fullmatch(r"-?\d+", value):
        return check(name, OK, "not reported (no /sys/class/thermal/thermal_zone0/temp)")
    celsius = int(value) / 1000.0
    detail = "%.1f °C" % celsius
    if celsius >= opts["temperature_fail"]:
        return check(name, FAIL, detail + ", at or above %g °C" % opts["temperature_fail"], fix)
    if celsius >= opts["temperature_warn"]:
        return check(name, WARN, detail + ", at or above %g °C" % opts["temperature_warn"], fix)
    return check(name, OK, detail)


def check_throttling(result: t.Any) -> dict[str, t.Any]:
    name = "throttling"
    fix = ("use the official power supply (5 V 3 A for a Pi 4, 5 V 5 A for a Pi 5) and power the SSD from a "
           "powered USB hub; cool the Pi")
    if not_gathered(result) or result.get("rc") not in (0, None):
        return check(name, OK, "not reported (no vcgencmd get_throttled on this host)")
    match = re.search(r"throttled=(0x[0-9a-fA-F]+)", str(result.get("stdout") or ""))
    if not match:
        return check(name, OK, "not reported (vcgencmd said %r)" % first_line(result.get("stdout")))
    bits = int(match.group(1), 16)
    now = [text for bit, text in THROTTLE_NOW.items() if bits & bit]
    before = [text for bit, text in THROTTLE_SINCE_BOOT.items() if bits & bit]
    if not now and not before:
        return check(name, OK, "none (%s)" % match.group(1))
    detail = "%s: %s" % (match.group(1), "; ".join(
        (["now: " + ", ".join(now)] if now else []) + (["since boot: " + ", ".join(before)] if before else [])))
    if bits & 0x1:
        return check(name, FAIL, detail, fix)
    return check(name, WARN, detail, fix)


# --- the filter ---------------------------------------------------------------------------------


def options(kwargs: dict[str, t.Any]) -> dict[str, t.Any]:
    unknown = sorted(set(kwargs) - set(DEFAULTS))
    if unknown:
        raise ValueError("unknown option(s) %s" % ", ".join(unknown))
    opts = dict(DEFAULTS, **{key: value for key, value in kwargs.items() if value is not None})
    for key in NUMBERS:
        try:
            opts[key] = float(opts[key])
        except (TypeError, ValueError):
            raise ValueError("%s must be a number, got %r" % (key, opts[key])) from None
    for flag in ("tunnel_enabled", "media_enabled"):
        opts[flag] = str(opts[flag]).lower() in ("true", "yes", "1", "on")
    return opts


def health_checks(raw: dict[str, t.Any], **kwargs: t.Any) -> list[dict[str, t.Any]]:
    """The checks, in order, from the registered results in raw."""
    if not isinstance(raw, dict):
        raise ValueError("expected a dict of registered results, got %s" % type(raw).__name__)
    opts = options(kwargs)
    now = parse_time(opts["now"]) if opts["now"] else datetime.datetime.now(datetime.timezone.utc)
    units = unit_states(raw.get("units"))
    checks: list[dict[str, t.Any] | None] = []
    if "df" in raw:
        checks.append(check_ssd_mount(raw["df"], opts))
    if "azure_mount" in raw:
        checks.append(check_azure_mount(raw["azure_mount"], units, opts))
        checks.append(check_azure_shadowed(raw["azure_mount"], opts))
    if "df" in raw:
        checks.append(check_sd_card_space(raw["df"], opts))
        checks.append(check_ssd_space(raw["df"], opts))
    if "vfs_cache" in raw:
        checks.append(check_vfs_cache(raw["vfs_cache"], units, opts))
    if "blobs" in raw:
        checks.append(check_blob_container(raw["blobs"], opts))
        checks.append(check_backup_newest(raw["blobs"], now, opts))
    if "backup_status" in raw:
        checks.append(check_backup_job(raw["backup_status"], raw.get("blobs"), opts))
    if "media_status" in raw:
        checks.append(check_media_copy(raw["media_status"], now, opts))
    if "database" in raw:
        checks.append(check_database(raw["database"], opts))
    if "compose_ps" in raw:
        checks.append(check_containers(raw["compose_ps"], raw.get("compose_services"), opts))
    if "ping" in raw:
        checks.append(check_ping(raw["ping"], opts))
    if "units" in raw:
        gathered = isinstance(raw["units"], dict) and not not_gathered(raw["units"])
        stack, tunnel = opts["stack_service"], opts["tunnel_service"]
        checks.append(check_service("stack_service", units, stack, gathered,
                                    "sudo systemctl start %s; journalctl -u %s -n 30 (the mount guard says why it "
                                    "refused)" % (stack, stack)))
        checks.append(check_service("tunnel_service", units, tunnel, gathered,
                                    "sudo systemctl restart %s; journalctl -u %s -n 30" % (tunnel, tunnel),
                                    enabled=opts["tunnel_enabled"]))
    if "meminfo" in raw:
        checks.append(check_memory(raw["meminfo"], opts))
    if "thermal" in raw:
        checks.append(check_temperature(raw["thermal"], opts))
    if "throttled" in raw:
        checks.append(check_throttling(raw["throttled"]))
    return mount_guard_first([item for item in checks if item is not None], opts)


# What the mount guard stops when a mount is down.
GUARDED = ("database", "containers", "immich_ping", "stack_service")


def mount_guard_first(checks: list[dict[str, t.Any]], opts: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Point the stack's failures at a failed mount: the mount guard holds the stack back without it."""
    down = [item["check"] for item in checks if item["check"] in ("ssd_mount", "azure_mount") and item["status"] == FAIL]
    if not down:
        return checks
    for item in checks:
        if item["check"] in GUARDED and item["status"] != OK:
            item["fix"] = "fix %s first (%s starts only behind both mounts), then: %s" % (
                " and ".join(down), opts["stack_service"], item["fix"])
    return checks


# --- the summary ---------------------------------------------------------------------------------


def summary_lines(checks: list[dict[str, t.Any]]) -> list[str]:
    """One line per check: status, name, detail, and the fix of what is not OK."""
    if not isinstance(checks, list) or not all(isinstance(item, dict) for item in checks):
        raise ValueError("expected the list of checks of immich_health_checks")
    width = max([len(str(item.get("check", ""))) for item in checks] or [0])
    lines = []
    for item in checks:
        line = "%-4s  %-*s  %s" % (item.get("status", "?"), width, item.get("check", ""), item.get("detail", ""))
        if item.get("status") != "OK" and item.get("fix"):
            line += "  [fix: %s]" % item["fix"]
        lines.append(line)
    return lines
