# SPDX-License-Identifier: GPL-3.0-or-later
"""The health report (the filters immich_health_checks and immich_health_summary) on what
playbooks/health.yml registered on the simulated Pi, healthy and broken, and on variations of it
for the thresholds and the readings the simulated Pi lacks."""

from __future__ import annotations

import base64
import copy
import datetime
import importlib.util
import json
import os
import re
import sys

import pytest

# Only plugin_utils: importing the filter modules would load Ansible's controller code, which
# changes how the modules' unit tests in the same pytest process see warnings.
from ansible_collections.homelab.immich_pi.plugins.plugin_utils import immich_health as plugin
from ansible_collections.homelab.immich_pi.tests.unit.plugins import captured_health as captured

ORDER = ["ssd_mount", "azure_mount", "azure_mount_shadowed", "sd_card_space", "ssd_space", "vfs_cache",
         "blob_container", "backup_newest", "backup_job", "database", "containers", "immich_ping",
         "stack_service", "tunnel_service", "memory", "cpu_temperature", "throttling"]
BACKUP = "backup/immich-db-20261122T031924Z-v3.2.2.sql.zst"
BACKUP_TIME = datetime.datetime(2026, 11, 22, 3, 19, 24, tzinfo=datetime.timezone.utc)


def run(raw, **options):
    options.setdefault("now", captured.CAPTURED_AT)
    return plugin.health_checks(raw, **options)


def by_name(checks):
    return {item["check"]: item for item in checks}


def healthy(**changes):
    raw = copy.deepcopy(captured.HEALTHY)
    raw.update(copy.deepcopy(changes))
    return raw


def broken(case):
    return healthy(**captured.BROKEN[case])


def statuses(checks):
    return {item["check"]: item["status"] for item in checks if item["status"] != "OK"}


def slurped(text):
    return {"changed": False, "content": base64.b64encode(text.encode()).decode(), "encoding": "base64",
            "failed": False, "source": "/x"}


def slurp_missing(path):
    return {"changed": False, "failed": False, "msg": "File not found: %s" % path}


def command(stdout="", rc=0, stderr="", msg=""):
    return {"changed": False, "failed": False, "rc": rc, "stdout": stdout, "stderr": stderr, "msg": msg}


def df(root=(270553174016, 64479789056, "overlay", "overlay", "/"),
       ssd=(4143677440, 3065401344, "ext4", "/dev/sda", "/mnt/ssd")):
    lines = ["   1B-blocks       Avail Type    Filesystem     Mounted on File"]
    lines.append("%d %d %s %s %s /" % root)
    lines.append("%d %d %s %s %s /mnt/ssd" % ssd)
    return command("\n".join(lines))


# --- the captures -----------------------------------------------------------------------------


def test_healthy_pi_is_all_ok_in_order():
    checks = run(healthy())
    assert [item["check"] for item in checks] == ORDER
    assert statuses(checks) == {}
    assert all(item["fix"] is None for item in checks)
    found = by_name(checks)
    assert found["ssd_mount"]["detail"] == "ext4 on /dev/sda (/mnt/ssd)"
    assert found["azure_mount"]["detail"] == "/mnt/azurephotos is live: azurephotos:immich-pi-demo, answers"
    assert found["backup_newest"]["detail"] == "%s, 2 min old, 1.5 KiB" % BACKUP
    assert found["backup_job"]["detail"].startswith("last run 2026-11-22 03:19 UTC: ok, stored %s" % BACKUP)
    assert found["containers"]["detail"] == \
        "4 of 4 running and healthy (database, immich-machine-learning, immich-server, redis)"
    assert found["database"]["detail"] == "Postgres 17.11, pgvector (cube 1.5, earthdistance 1.2, vector 0.8.0)"
    assert found["vfs_cache"]["detail"] == \
        "/mnt/ssd/rclone-cache: 68.0 KiB used of 20.0 GiB max (0 %), 0 files waiting to upload"
    # The simulated Pi has no thermal zone and no vcgencmd: not reported is never a failure.
    assert found["cpu_temperature"]["detail"].startswith("not reported")
    assert found["throttling"]["detail"].startswith("not reported")


@pytest.mark.parametrize("case, expected", [
    ("mount_stopped", {"azure_mount": "FAIL", "database": "FAIL", "containers": "FAIL", "immich_ping": "FAIL",
                       "stack_service": "FAIL"}),
    ("shadowed_down", {"azure_mount": "FAIL", "azure_mount_shadowed": "FAIL", "database": "FAIL",
                       "containers": "FAIL", "immich_ping": "FAIL", "stack_service": "FAIL"}),
    ("rclone_crashloop", {"azure_mount": "FAIL", "database": "FAIL", "containers": "FAIL", "immich_ping": "FAIL",
                          "stack_service": "FAIL"}),
    ("container_paused", {"containers": "FAIL"}),
    ("container_stopped", {"database": "FAIL", "containers": "FAIL", "immich_ping": "FAIL", "stack_service": "FAIL"}),
    ("blob_unreachable", {"blob_container": "FAIL", "backup_newest": "FAIL", "backup_job": "FAIL"}),
    ("blob_badkey", {"blob_container": "FAIL", "backup_newest": "FAIL"}),
    ("no_backup", {"backup_newest": "FAIL", "backup_job": "WARN"}),
])
def test_broken_pi_fails_the_right_checks(case, expected):
    checks = run(broken(case))
    assert statuses(checks) == expected
    for item in checks:
        if item["status"] != "OK":
            assert item["fix"], item


def test_mount_stopped_names_the_service_and_puts_the_mount_first():
    found = by_name(run(broken("mount_stopped")))
    assert found["azure_mount"]["detail"] == \
        "/mnt/azurephotos is not mounted; rclone-azurephotos.service is inactive (dead)"
    assert found["azure_mount"]["fix"].startswith("sudo systemctl restart rclone-azurephotos.service")
    # The mount guard holds the stack back: its failures point at the mount first.
    for name in ("database", "containers", "immich_ping", "stack_service"):
        assert found[name]["fix"].startswith("fix azure_mount first (immich-stack.service starts only behind both mounts)")
    assert found["immich_ping"]["detail"] == \
        "http://127.0.0.1:2283/api/server/ping does not answer: <urlopen error [Errno 111] Connection refused>"


def test_files_under_the_stopped_mount():
    found = by_name(run(broken("shadowed_down")))
    shadowed = found["azure_mount_shadowed"]
    assert shadowed["detail"] == ("2 entries on the SD card under /mnt/azurephotos, written while the mount was "
                                  "down: originals, originals/stranded.jpg")
    assert "sudo systemctl stop immich-stack.service rclone-azurephotos.service" in shadowed["fix"]
    assert "mv -t /root/immich-stranded" in shadowed["fix"]
    # rclone refuses to mount over them: a restart alone does not help.
    assert found["azure_mount"]["fix"].startswith("move the files under /mnt/azurephotos away first")


def test_files_hidden_under_a_live_mount():
    mount = dict(captured.HEALTHY["azure_mount"], shadowed_entries=1, shadowed_paths=["library"], problems=[
        "files were written under the mount point /mnt/azurephotos while it was down and are hidden on the local "
        "disk under the mount: move them into the mounted folder after the mount is back (1 entry, e.g. library)"])
    found = by_name(run(healthy(azure_mount=mount)))
    assert found["azure_mount"]["status"] == "OK"
    assert found["azure_mount_shadowed"]["status"] == "FAIL"
    assert "(hidden under the live mount)" in found["azure_mount_shadowed"]["detail"]


def test_dead_mount_is_unmounted_before_the_restart():
    found = by_name(run(broken("rclone_crashloop")))
    assert found["azure_mount"]["detail"].startswith("/mnt/azurephotos is a dead mount (transport endpoint is not "
                                                     "connected: rclone is gone); rclone-azurephotos.service is "
                                                     "activating (start)")
    assert found["azure_mount"]["fix"] == \
        "sudo fusermount3 -uz /mnt/azurephotos && sudo systemctl restart rclone-azurephotos.service"


def test_paused_container_is_named_in_the_fix():
    found = by_name(run(broken("container_paused")))
    assert found["containers"]["detail"] == "1 of 4 not running and healthy: immich-machine-learning paused"
    assert found["containers"]["fix"].endswith("logs --tail 50 immich-machine-learning")
    assert found["immich_ping"]["status"] == "OK"


def test_failed_backup_run():
    found = by_name(run(broken("backup_failed_mount_down")))
    assert found["backup_job"] == {
        "check": "backup_job", "status": "FAIL",
        "detail": "last run 2026-11-22 03:29 UTC: failed, nothing stored: pg_dumpall exited 1",
        "fix": "ansible-playbook playbooks/backup.yml -i inventory.ini (it shows the job's message); on the Pi: "
               "sudo journalctl -t immich-db-backup --since -2d"}


@pytest.mark.parametrize("case, kind, fix_word", [
    ("blob_unreachable", "unreachable", "rclone_mount_endpoint"),
    ("blob_badkey", "authentication_failed", "rclone_mount_account_key"),
])
def test_blob_container_errors(case, kind, fix_word):
    found = by_name(run(broken(case)))
    assert "(%s)" % kind in found["blob_container"]["detail"]
    assert fix_word in found["blob_container"]["fix"]
    assert found["backup_newest"]["detail"] == "unknown: the Blob container cannot be listed (see blob_container)"


def test_no_backup_in_azure_although_the_job_says_ok():
    found = by_name(run(broken("no_backup"), inventory="tests/testbed/demo/inventory.yml"))
    assert found["backup_newest"]["detail"] == "no backup in backup/ in immich-pi-demo"
    assert found["backup_newest"]["fix"].startswith(
        "ansible-playbook playbooks/backup.yml -i tests/testbed/demo/inventory.yml")
    assert found["backup_job"]["detail"].endswith("but %s is not in Azure any more" % BACKUP)


# --- the newest backup's age, size and name -----------------------------------------------------


@pytest.mark.parametrize("hours, status", [(0.1, "OK"), (25.9, "OK"), (26.1, "WARN"), (49.9, "WARN"), (50.1, "FAIL")])
def test_backup_age(hours, status):
    now = BACKUP_TIME + datetime.timedelta(hours=hours)
    found = by_name(run(healthy(), now=now.isoformat()))
    assert found["backup_newest"]["status"] == status
    if status != "OK":
        assert "older than %d h" % (26 if status == "WARN" else 50) in found["backup_newest"]["detail"]


def test_backup_age_thresholds_are_options():
    now = BACKUP_TIME + datetime.timedelta(hours=13)
    assert by_name(run(healthy(), now=now.isoformat(), backup_warn_hours=12, backup_fail_hours="24"))[
        "backup_newest"]["status"] == "WARN"


def blob(name, size=1587):
    return {"name": name, "size": size, "last_modified": "2026-11-22T03:19:26Z", "etag": "0x1", "content_md5": None,
            "metadata": {}, "directory_marker": False}


def listing(*blobs):
    return dict(captured.HEALTHY["blobs"], blobs=list(blobs), count=len(blobs))


def test_newest_backup_by_the_time_in_its_name_and_only_the_jobs_names():
    blobs = listing(
        blob("backup/immich-db-20261121T033000Z-v3.2.2.sql.gz"),
        blob("backup/immich-db-20261122T033000Z-v3.2.2.sql.zst.age", 4096),
        blob("backup/immich-db-20261123T000000Z-manual.sql"),           # hand-made: not the job's
        blob("backup/immich-db-20261124T000000Z-v3.2.2.sql.zst.tmp"),   # not a backup name
        blob("backup/old/immich-db-20261125T000000Z-v3.2.2.sql.zst"),   # another folder
    )
    found = by_name(run(healthy(blobs=blobs), now="2026-11-22T04:00:00Z"))
    assert found["backup_newest"]["status"] == "OK"
    assert found["backup_newest"]["detail"].startswith("backup/immich-db-20261122T033000Z-v3.2.2.sql.zst.age, 30 min old")


def test_empty_backup_fails():
    found = by_name(run(healthy(blobs=listing(blob(BACKUP, 0)))))
    assert found["backup_newest"]["status"] == "FAIL"
    assert found["backup_newest"]["detail"].endswith(": empty")


def test_the_backup_jobs_own_names_are_recognised():
    files = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "backup", "files")
    spec = importlib.util.spec_from_file_location("immich_db_backup", os.path.join(files, "immich_db_backup.py"))
    job = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.abspath(files))
    try:
        spec.loader.exec_module(job)
    finally:
        sys.path.pop(0)
    for compression in ("zstd", "gzip"):
        for recipients in ([], ["age1example"]):
            config = dict(job.DEFAULTS, compression=compression, age_recipients=recipients, immich_version="v3.2.2")
            name = job.object_name(config, BACKUP_TIME)
            found = plugin.newest_backup([blob(name)], "backup/")
            assert found is not None and found[1] == BACKUP_TIME, name


# --- the backup job's status file ---------------------------------------------------------------


@pytest.mark.parametrize("result, status", [
    (slurp_missing("/var/lib/immich-backup/status.json"), "WARN"),
    (slurped("{not json"), "WARN"),
    (slurped(json.dumps(dict(captured.STATUS_HEALTHY, result="suspicious",
                             message="the new dump is 10 bytes, less than half of the previous one"))), "WARN"),
    (slurped(json.dumps(captured.STATUS_BACKUP_FAILED_MOUNT_DOWN)), "FAIL"),
])
def test_backup_job_status(result, status):
    assert by_name(run(healthy(backup_status=result)))["backup_job"]["status"] == status


def test_a_run_whose_ping_failed_fails_naming_backup_ping_url_and_that_the_dump_is_stored():
    found = by_name(run(healthy(backup_status=slurped(json.dumps(captured.HANDMADE_STATUS_PING_FAILED)))))
    job = found["backup_job"]
    assert job["status"] == "FAIL"
    assert job["detail"].startswith("last run 2026-11-22 03:19 UTC: failed, stored %s" % BACKUP)
    assert "the ping to https://hc-ping.com failed: HTTPError: HTTP Error 500" in job["detail"]
    assert job["fix"].startswith("the backup is stored (see backup_newest), but the ping failed: check backup_ping_url "
                                 "(the ping URL of your healthchecks-style check, http:// or https://")
    assert job["fix"].endswith("run playbooks/site.yml, then ansible-playbook playbooks/backup.yml -i inventory.ini "
                               "(it shows the job's message); on the Pi: sudo journalctl -t immich-db-backup --since -2d")
    # The dump itself is in Azure: backup_newest stays OK.
    assert found["backup_newest"]["status"] == "OK"


def ping_failed(**changes):
    return slurped(json.dumps(dict(captured.HANDMADE_STATUS_PING_FAILED, **changes)))


@pytest.mark.parametrize("status, words", [
    # A suspicious dump (exit 2) whose /fail ping failed: both fixes.
    (ping_failed(backup_result="suspicious"), ["a dump much smaller than the one before", "the backup is stored",
                                               "check backup_ping_url"]),
    # A failed dump whose /fail ping failed too: the backup's fix first.
    (ping_failed(backup_result="failed", message="nothing stored: pg_dumpall exited 1; and the /fail ping to "
                 "https://hc-ping.com failed: HTTPError: HTTP Error 500: Internal Server Error (check backup_ping_url)"),
     ["ansible-playbook playbooks/backup.yml", "; the ping to /fail failed too: check backup_ping_url"]),
    # Stored, ping failed, and the object gone since.
    (ping_failed(object="backup/immich-db-20261121T031924Z-v3.2.2.sql.zst"),
     ["the backup was stored (find out who deleted it", "check backup_ping_url"]),
])
def test_a_failed_ping_fails_the_job_whatever_the_dump_did(status, words):
    job = by_name(run(healthy(backup_status=status)))["backup_job"]
    assert job["status"] == "FAIL"
    for word in words:
        assert word in job["fix"], job["fix"]


@pytest.mark.parametrize("ping", [
    None,                                                                     # no ping URL
    {"to": "https://hc-ping.com", "signal": "success", "result": "ok", "http_status": 200},
])
def test_a_ping_that_went_through_or_none_changes_nothing(ping):
    status = dict(captured.STATUS_HEALTHY, backup_result="ok", ping=ping)
    assert by_name(run(healthy(backup_status=slurped(json.dumps(status)))))["backup_job"]["status"] == "OK"


# --- the thumbnail copy's status file --------------------------------------------------------------


def media_status(result="ok", hours=3.0, message="thumbs: 1000 files (9 MB) copied, 0 deleted"):
    finished = plugin.parse_time(captured.CAPTURED_AT) - datetime.timedelta(hours=hours)
    return slurped(json.dumps({"result": result, "message": message, "started": finished.isoformat(),
                               "finished": finished.isoformat()}))


@pytest.mark.parametrize("result, status", [
    (media_status(), "OK"),
    (media_status(hours=30), "WARN"),
    (media_status(hours=60), "FAIL"),
    (media_status("failed", message="thumbs: Failed to copy: connection refused"), "FAIL"),
    (slurp_missing("/var/lib/immich-backup/media-status.json"), "WARN"),
    (slurped("{cut off"), "WARN"),
])
def test_media_copy_status(result, status):
    found = by_name(run(healthy(media_status=result)))
    assert found["media_copy"]["status"] == status
    assert [item["check"] for item in run(healthy(media_status=result))].index("media_copy") == \
        ORDER.index("backup_job") + 1


def test_a_refused_media_copy_fails_and_says_how_to_go_on():
    found = by_name(run(healthy(media_status=media_status(
        "refused", message="thumbs holds 3 files, its copy in Azure 1000; nothing in Azure was touched"))))
    assert found["media_copy"]["status"] == "FAIL"
    assert "holds 3 files" in found["media_copy"]["detail"]
    assert "--accept-loss" in found["media_copy"]["fix"] and "nothing in Azure was deleted" in found["media_copy"]["fix"]


def test_a_media_copy_whose_ping_failed_fails_naming_backup_media_ping_url():
    found = by_name(run(healthy(media_status=slurped(json.dumps(captured.HANDMADE_MEDIA_STATUS_PING_MALFORMED)))))
    media = found["media_copy"]
    assert media["status"] == "FAIL"
    assert "the ping to the ping URL (not shown) failed: not an http:// or https:// URL" in media["detail"]
    assert media["fix"].startswith("the thumbnails are copied, but the ping failed: check backup_media_ping_url (")
    assert "sudo journalctl -t immich-media-backup" in media["fix"]
    assert "backup_ping_url" not in media["fix"].replace("backup_media_ping_url", "")


def test_a_refused_media_copy_whose_fail_ping_failed_keeps_the_refusals_fix():
    status = dict(captured.HANDMADE_MEDIA_STATUS_PING_MALFORMED, result="refused", backup_result="refused",
                  message="/mnt/ssd is not a mount point: the SSD is not mounted; nothing in Azure was touched; and "
                          "the /fail ping to https://hc-ping.com failed: HTTPError: HTTP Error 404: Not Found")
    media = by_name(run(healthy(media_status=slurped(json.dumps(status)))))["media_copy"]
    assert media["status"] == "FAIL"
    assert media["fix"].startswith("nothing in Azure was deleted;") and "--accept-loss" in media["fix"]
    assert media["fix"].endswith("the ping to /fail failed too: check backup_media_ping_url (the ping URL of your "
                                 "healthchecks-style check, http:// or https://, such as https://hc-ping.com/<uuid>) "
                                 "and that its service answers from the Pi; after changing it run playbooks/site.yml")


def test_the_media_copy_is_not_checked_when_it_is_off():
    checks = run(healthy(media_status=media_status("failed")), media_enabled="false")
    assert "media_copy" not in by_name(checks)


# --- the SSD and free space -----------------------------------------------------------------------


def test_ssd_not_mounted_fails_and_is_blamed_for_the_stack():
    raw = broken("mount_stopped")
    raw["azure_mount"] = captured.HEALTHY["azure_mount"]
    raw["df"] = df(ssd=(270553174016, 64479789056, "overlay", "overlay", "/"))
    found = by_name(run(raw))
    assert found["ssd_mount"]["status"] == "FAIL"
    assert found["ssd_mount"]["detail"] == "/mnt/ssd is not mounted: it is a folder on / (overlay, the SD card)"
    assert "sudo mount /mnt/ssd" in found["ssd_mount"]["fix"]
    assert found["ssd_space"]["status"] == "WARN"
    assert found["stack_service"]["fix"].startswith("fix ssd_mount first")


@pytest.mark.parametrize("source, fstype, detail", [
    ("/dev/mmcblk0p3", "ext4", "/mnt/ssd is mounted from /dev/mmcblk0p3, the SD card, not the SSD"),
    ("overlay", "ext4", "/mnt/ssd is mounted from overlay, the SD card, not the SSD"),
    ("/dev/sda1", "exfat", "/mnt/ssd is exfat on /dev/sda1, not ext4"),
])
def test_ssd_on_the_wrong_disk_or_filesystem(source, fstype, detail):
    found = by_name(run(healthy(df=df(ssd=(4143677440, 3065401344, fstype, source, "/mnt/ssd")))))
    assert (found["ssd_mount"]["status"], found["ssd_mount"]["detail"]) == ("FAIL", detail)


@pytest.mark.parametrize("free, status", [(50, "OK"), (15, "OK"), (14.9, "WARN"), (5, "WARN"), (4.9, "FAIL"), (0, "FAIL")])
def test_free_space_thresholds(free, status):
    size = 1000 * 1024 ** 3
    avail = int(size * free / 100)
    found = by_name(run(healthy(df=df(root=(size, avail, "ext4", "/dev/mmcblk0p2", "/"),
                                      ssd=(size, avail, "ext4", "/dev/sda", "/mnt/ssd")))))
    assert found["sd_card_space"]["status"] == status
    assert found["ssd_space"]["status"] == status
    if status != "OK":
        assert "journalctl --vacuum-size" in found["sd_card_space"]["fix"]
        assert "docker image prune" in found["ssd_space"]["fix"]


def test_free_space_thresholds_are_options():
    size = 1000 * 1024 ** 3
    found = by_name(run(healthy(df=df(ssd=(size, size // 4, "ext4", "/dev/sda", "/mnt/ssd"))),
                        space_warn_percent=30, space_fail_percent=26))
    assert found["ssd_space"]["status"] == "FAIL"
    assert found["ssd_space"]["detail"].endswith("below 26 %")


def test_ssd_at_another_mount_point():
    raw = healthy(df=command("   1B-blocks       Avail Type    Filesystem     Mounted on File\n"
                             "270553174016 64479789056 overlay overlay        /          /\n"
                             "  4143677440  3065401344 ext4    /dev/sdb1      /srv/ssd   /srv/ssd"))
    found = by_name(run(raw, ssd_mount_point="/srv/ssd"))
    assert (found["ssd_mount"]["status"], found["ssd_space"]["status"]) == ("OK", "OK")


def test_df_failure():
    found = by_name(run(healthy(df=command("", rc=1, stderr="df: /mnt/ssd: Input/output error"))))
    assert found["ssd_mount"]["status"] == "FAIL"
    assert "Input/output error" in found["ssd_mount"]["detail"]


# --- the VFS cache ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, size", [
    ("20G", 20 * 1024 ** 3), ("512M", 512 * 1024 ** 2), ("1.5G", int(1.5 * 1024 ** 3)), ("100", 100 * 1024),
    ("off", None),
])
def test_rclone_sizes(text, size):
    assert plugin.parse_size(text) == size


def test_bad_rclone_size():
    with pytest.raises(ValueError, match="vfs_cache_max_size"):
        run(healthy(), vfs_cache_max_size="twenty gigs")


def rclone_status(to_upload, uploading):
    """The units' capture with rclone's StatusText saying how many files wait to be uploaded."""
    units = copy.deepcopy(captured.HEALTHY["units"])
    units["stdout"] = re.sub(r"to upload \d+, uploading \d+", "to upload %d, uploading %d" % (to_upload, uploading),
                             units["stdout"])
    return units


def cache_of(used):
    return command("%d\t/mnt/ssd/rclone-cache" % used)


GiB = 1024 ** 3


@pytest.mark.parametrize("used, to_upload, uploading, status", [
    (8 * GiB, 0, 0, "OK"),
    # Full of photos read recently, nothing waiting: what --vfs-cache-mode full looks like.
    (19 * GiB, 0, 0, "OK"),
    (20 * GiB, 0, 0, "OK"),
    # Near the limit with uploads waiting: they may be stuck.
    (19 * GiB, 3, 0, "WARN"),
    (19 * GiB, 0, 1, "WARN"),
    (8 * GiB, 40, 4, "OK"),
    # Far over the limit: rclone could not evict (files not uploaded, or held open).
    (25 * GiB, 0, 0, "FAIL"),
    (25 * GiB, 7, 1, "FAIL"),
])
def test_vfs_cache_use(used, to_upload, uploading, status):
    found = by_name(run(healthy(vfs_cache=cache_of(used), units=rclone_status(to_upload, uploading))))
    assert found["vfs_cache"]["status"] == status
    waiting = to_upload + uploading
    assert "%d file%s waiting to upload" % (waiting, "" if waiting == 1 else "s") in found["vfs_cache"]["detail"]
    if status != "OK":
        assert "journalctl -u rclone-azurephotos.service" in found["vfs_cache"]["fix"]


def test_vfs_cache_near_its_limit_is_a_warning_when_rclone_did_not_say_what_waits():
    """rclone down or too old to report: a nearly full cache may hold stuck uploads."""
    found = by_name(run(healthy(vfs_cache=cache_of(19 * GiB), units=captured.BROKEN["mount_stopped"]["units"])))
    assert found["vfs_cache"]["status"] == "WARN"
    assert "uploads waiting: unknown" in found["vfs_cache"]["detail"]


def test_vfs_cache_without_limit_and_missing():
    found = by_name(run(healthy(), vfs_cache_max_size="off"))
    assert found["vfs_cache"]["status"] == "OK" and "no limit" in found["vfs_cache"]["detail"]
    missing = command("", rc=1, stderr="du: cannot access '/mnt/ssd/rclone-cache': No such file or directory")
    assert by_name(run(healthy(vfs_cache=missing)))["vfs_cache"]["status"] == "WARN"


# --- the database, the containers, Immich, the units ---------------------------------------------


def test_database_problems_fail_with_the_modules_repair():
    problem = ("vector is not installed although Immich has set up the database: CREATE EXTENSION IF NOT EXISTS vector "
               "in database immich")
    database = dict(captured.HEALTHY["database"], problems=[problem])
    found = by_name(run(healthy(database=database)))
    assert found["database"]["status"] == "FAIL"
    assert found["database"]["detail"].endswith(": " + problem)


def test_database_module_error():
    found = by_name(run(healthy(database={"failed": False, "msg": "docker: not found"})))
    assert (found["database"]["status"], found["database"]["detail"]) == ("FAIL", "immich_db_info failed: docker: not found")


def test_compose_ps_as_a_json_array_and_a_missing_service():
    rows = [dict(row) for row in captured.PS_HEALTHY if row["Service"] != "redis"]
    found = by_name(run(healthy(compose_ps=command(json.dumps(rows)))))
    assert found["containers"]["status"] == "FAIL"
    assert found["containers"]["detail"] == "1 of 4 not running and healthy: redis has no container"


def test_unhealthy_and_restarting_containers():
    rows = [dict(row) for row in captured.PS_HEALTHY]
    rows[0].update(Health="unhealthy")
    rows[1].update(State="restarting", Health="")
    found = by_name(run(healthy(compose_ps=command(captured.ndjson(rows)))))
    assert found["containers"]["detail"] == \
        "2 of 4 not running and healthy: database restarting, immich-machine-learning unhealthy"


def test_docker_down():
    ps = command("", rc=1, stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
                                  "daemon running?")
    found = by_name(run(healthy(compose_ps=ps)))
    assert found["containers"]["status"] == "FAIL"
    assert found["containers"]["fix"] == "sudo systemctl start docker immich-stack.service"


@pytest.mark.parametrize("ping, detail", [
    (dict(captured.HEALTHY["ping"], json={"res": "nope"}, content='{"res":"nope"}'), "answered HTTP 200"),
    ({"changed": False, "failed": False, "status": 502, "content": "Bad Gateway", "url": "http://127.0.0.1:2283/api/server/ping",
      "msg": "Status code was 502 and not [200]: HTTP Error 502: Bad Gateway"}, "answered HTTP 502: Bad Gateway"),
])
def test_ping_without_pong(ping, detail):
    found = by_name(run(healthy(ping=ping)))
    assert found["immich_ping"]["status"] == "FAIL"
    assert detail in found["immich_ping"]["detail"]


def units(*blocks):
    text = "\n\n".join("Result=%s\nId=%s\nLoadState=%s\nActiveState=%s\nSubState=%s" % block for block in blocks)
    return command(text)


RCLONE_OK = ("success", "rclone-azurephotos.service", "loaded", "active", "running")
STACK_OK = ("success", "immich-stack.service", "loaded", "active", "running")


@pytest.mark.parametrize("tunnel, enabled, status, detail", [
    (("exit-code", "cloudflared.service", "loaded", "failed", "failed"), True, "FAIL",
     "cloudflared.service is failed (failed), last result exit-code"),
    (("success", "cloudflared.service", "not-found", "inactive", "dead"), True, "FAIL", "cloudflared.service is not installed"),
    (("success", "cloudflared.service", "not-found", "inactive", "dead"), False, "OK",
     "cloudflared.service not installed (not used: cloudflared_enabled is false)"),
    (("success", "cloudflared.service", "loaded", "inactive", "dead"), "false", "OK",
     "cloudflared.service inactive (dead) (not used: cloudflared_enabled is false)"),
])
def test_tunnel(tunnel, enabled, status, detail):
    found = by_name(run(healthy(units=units(RCLONE_OK, STACK_OK, tunnel)), tunnel_enabled=enabled))
    assert (found["tunnel_service"]["status"], found["tunnel_service"]["detail"]) == (status, detail)


# --- memory, temperature, throttling -------------------------------------------------------------


def meminfo(total_kb, available_kb):
    return slurped("MemTotal:       %d kB\nMemFree:          100000 kB\nMemAvailable:   %d kB\n" % (total_kb, available_kb))


@pytest.mark.parametrize("available, status", [(2000000, "OK"), (380000, "WARN"), (190000, "FAIL")])
def test_memory(available, status):
    assert by_name(run(healthy(meminfo=meminfo(3884000, available))))["memory"]["status"] == status


def test_memory_not_reported():
    found = by_name(run(healthy(meminfo=slurped("MemTotal: 100 kB\n"))))
    assert found["memory"]["status"] == "OK" and found["memory"]["detail"].startswith("not reported")


@pytest.mark.parametrize("reading, status, detail", [
    (slurped("48312\n"), "OK", "48.3 °C"),
    (slurped("71000\n"), "WARN", "71.0 °C, at or above 70 °C"),
    (slurped("83500\n"), "FAIL", "83.5 °C, at or above 80 °C"),
    (slurp_missing("/sys/class/thermal/thermal_zone0/temp"), "OK",
     "not reported (no /sys/class/thermal/thermal_zone0/temp)"),
])
def test_temperature(reading, status, detail):
    found = by_name(run(healthy(thermal=reading)))
    assert (found["cpu_temperature"]["status"], found["cpu_temperature"]["detail"]) == (status, detail)


@pytest.mark.parametrize("reading, status, detail", [
    (command("throttled=0x0"), "OK", "none (0x0)"),
    (command("throttled=0x50000"), "WARN", "0x50000: since boot: under-voltage, throttling"),
    (command("throttled=0xa"), "WARN", "0xa: now: ARM frequency capped, soft temperature limit"),
    (command("throttled=0x50005"), "FAIL", "0x50005: now: under-voltage, throttled; since boot: under-voltage, throttling"),
    # vcgencmd without the firmware interface (a container, another board).
    (command("", rc=255, stderr="VCHI initialization failed"), "OK", "not reported (no vcgencmd get_throttled on this host)"),
])
def test_throttling(reading, status, detail):
    found = by_name(run(healthy(throttled=reading)))
    assert (found["throttling"]["status"], found["throttling"]["detail"]) == (status, detail)


# --- the filter itself -----------------------------------------------------------------------------


def test_only_what_was_gathered():
    assert [item["check"] for item in run({"ping": captured.HEALTHY["ping"]})] == ["immich_ping"]
    assert run({}) == []


def test_skipped_task_is_not_checked():
    found = by_name(run(healthy(compose_ps={"changed": False, "skipped": True, "skip_reason": "Conditional result was False"})))
    assert found["containers"]["status"] == "WARN"
    assert found["containers"]["detail"] == "not checked: skipped (Conditional result was False)"


def test_bad_options():
    with pytest.raises(ValueError, match="unknown option"):
        run(healthy(), space_warn=10)
    with pytest.raises(ValueError, match="space_warn_percent must be a number"):
        run(healthy(), space_warn_percent="lots")
    with pytest.raises(ValueError, match="dict of registered results"):
        run(["not", "a", "dict"])


def test_now_defaults_to_the_current_time():
    hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    name = "backup/immich-db-%s-v3.2.2.sql.zst" % hour_ago.strftime("%Y%m%dT%H%M%SZ")
    found = by_name(run(healthy(blobs=listing(blob(name))), now=None))
    assert found["backup_newest"]["status"] == "OK"
    assert ", 60 min old," in found["backup_newest"]["detail"] or ", 1.0 h old," in found["backup_newest"]["detail"]


# --- the summary ---------------------------------------------------------------------------------


summary = plugin.summary_lines


def test_lines_line_up_and_carry_the_fix():
    checks = [
        {"check": "ssd_mount", "status": "OK", "detail": "ext4 on /dev/sda (/mnt/ssd)", "fix": None},
        {"check": "azure_mount", "status": "FAIL", "detail": "/mnt/azurephotos is not mounted",
         "fix": "sudo systemctl restart rclone-azurephotos.service"},
        {"check": "backup_job", "status": "WARN", "detail": "no status file", "fix": "ansible-playbook playbooks/backup.yml"},
        {"check": "memory", "status": "OK", "detail": "not reported", "fix": "ignored when OK"},
    ]
    assert summary(checks) == [
        "OK    ssd_mount    ext4 on /dev/sda (/mnt/ssd)",
        "FAIL  azure_mount  /mnt/azurephotos is not mounted  [fix: sudo systemctl restart rclone-azurephotos.service]",
        "WARN  backup_job   no status file  [fix: ansible-playbook playbooks/backup.yml]",
        "OK    memory       not reported",
    ]


def test_summary_of_the_stopped_mount_capture():
    raw = dict(captured.HEALTHY, **captured.BROKEN["mount_stopped"])
    lines = summary(run(raw))
    assert len(lines) == 17
    assert lines[1] == ("FAIL  azure_mount           /mnt/azurephotos is not mounted; rclone-azurephotos.service is "
                        "inactive (dead)  [fix: sudo systemctl restart rclone-azurephotos.service (then: journalctl -u "
                        "rclone-azurephotos.service -n 50)]")
    assert [line.split()[0] for line in lines].count("FAIL") == 5


def test_empty_and_bad_input():
    assert summary([]) == []
    with pytest.raises(ValueError):
        summary({"check": "x"})
