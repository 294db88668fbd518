# SPDX-License-Identifier: GPL-3.0-or-later
"""The media backup job's decisions that need neither rclone nor Azure: the loss guard and the
--max-delete it implies, the rclone calls it makes, and how it reads rclone's JSON log."""

from __future__ import annotations

import json

import pytest

from ansible_collections.homelab.immich_pi.tests.unit.roles.backup_job_files import load

media = load("immich_media_backup")

CONFIG = dict(media.DEFAULTS, rclone="/usr/bin/rclone", rclone_config="/etc/rclone/azurephotos.conf",
              remote="azurephotos:photos", ssd_mount_point="/mnt/ssd",
              folders={"thumbs": "/mnt/ssd/immich/thumbs", "encoded-video": "/mnt/ssd/immich/encoded-video"})


@pytest.mark.parametrize("local, remote, ratio, refused", [
    (80, 100, 0.2, False),   # exactly the share: allowed
    (79, 100, 0.2, True),
    (0, 0, 0.2, False),      # no copy yet (the job refuses an empty folder on its own)
    (1, 0, 0.2, False),
    (200, 100, 0.2, False),  # more files than the copy: new thumbnails
    (9, 10, 0.1, False),     # 0.9 * 10 is 9.000000000000002 in floats: still allowed
    (8, 10, 0.1, True),
    (99, 100, 0.0, True),    # ratio 0: no loss at all
    (1, 3, 0.5, True),       # at least ceil(1.5) = 2
    (2, 3, 0.5, False),
])
def test_the_loss_guard_refuses_a_folder_that_lost_more_than_the_share(local, remote, ratio, refused):
    message = media.loss_refusal("thumbs", local, remote, ratio)
    assert bool(message) is refused
    if refused:
        assert "thumbs holds %d files, its copy in Azure %d" % (local, remote) in message
        assert "backup_media_max_loss_ratio" in message and "--accept-loss" in message


@pytest.mark.parametrize("remote, ratio, limit", [
    (100, 0.2, 20), (10, 0.1, 1), (0, 0.2, 0), (4, 0.2, 0), (5, 0.2, 1), (3, 0.5, 1), (100, 0.0, 0),
])
def test_max_delete_lets_through_as_many_deletions_as_the_loss_guard_and_no_more(remote, ratio, limit):
    assert media.max_delete(remote, ratio) == limit
    # The guard's boundary: as many files gone as --max-delete allows is not refused, one more is.
    assert media.loss_refusal("thumbs", remote - limit, remote, ratio) == ""
    if remote - limit > 0:
        assert media.loss_refusal("thumbs", remote - limit - 1, remote, ratio)


def test_the_destination_is_the_remote_the_prefix_and_the_folder():
    assert media.destination(CONFIG, "thumbs") == "azurephotos:photos/backup/thumbs/"
    assert media.destination(dict(CONFIG, remote="azurephotos:photos/", prefix=""), "thumbs") == \
        "azurephotos:photos/thumbs/"


def test_the_sync_leaves_out_the_marker_stays_on_the_ssd_and_limits_deletions():
    args = media.sync_args(CONFIG, "thumbs", 20)
    assert args[:3] == ["sync", "/mnt/ssd/immich/thumbs", "azurephotos:photos/backup/thumbs/"]
    assert args[args.index("--exclude") + 1] == "/.immich"
    assert args[args.index("--max-delete") + 1] == "20"
    assert {"--fast-list", "--one-file-system"} <= set(args)
    assert int(args[args.index("--transfers") + 1]) > 4 and int(args[args.index("--checkers") + 1]) > 8
    assert "--max-delete" not in media.sync_args(CONFIG, "thumbs", None)  # --accept-loss
    back = media.copy_back_args(CONFIG, "thumbs")
    assert back[:3] == ["copy", "azurephotos:photos/backup/thumbs/", "/mnt/ssd/immich/thumbs"]
    assert back[back.index("--exclude") + 1] == "/.immich"


def test_rclone_gets_the_config_file_and_no_secret():
    call = media.Rclone(CONFIG, "thumbs", media.sync_args(CONFIG, "thumbs", 0))
    assert call.command[0] == "/usr/bin/rclone" and "--use-json-log" in call.command
    assert call.command[call.command.index("--config") + 1] == "/etc/rclone/azurephotos.conf"
    assert not [arg for arg in call.command if "key" in arg.lower() or "sas" in arg.lower()]


# Captured from rclone v1.75.2 (the test bed's): a sync's final stats, --max-delete hit.
FINAL_STATS = {
    "time": "2026-12-04T18:43:31.094580796Z", "level": "notice",
    "msg": "\nTransferred:   \t          4 B / 4 B, 100%, 0 B/s, ETA -\nChecks:                 3 / 3, 100%\n",
    "stats": {"bytes": 4, "checks": 3, "deletedDirs": 0, "deletes": 1, "elapsedTime": 0.017376391, "errors": 0,
              "eta": None, "fatalError": False, "listed": 12, "renames": 0, "retryError": False, "speed": 0,
              "totalBytes": 4, "totalChecks": 3, "totalTransfers": 1, "transferTime": 0.01059928, "transfers": 1},
    "source": "accounting/stats.go:549"}
MAX_DELETE = ('{"time":"2026-12-04T18:43:39.346956769Z","level":"error","msg":"Got fatal error on delete: '
              '--max-delete threshold reached","object":"a/1","objectType":"*azureblob.Object",'
              '"source":"operations/operations.go:618"}')


def test_rclones_final_stats_are_the_files_and_bytes_copied_and_the_files_deleted():
    entry = media.log_entry(json.dumps(FINAL_STATS) + "\n")
    assert media.transfer_summary(entry["stats"]) == {"files": 1, "bytes": 4, "deleted": 1, "errors": 0,
                                                      "elapsed_s": 0.0}
    assert media.transfer_summary(None) == {"files": 0, "bytes": 0, "deleted": 0, "errors": 0, "elapsed_s": 0.0}


def test_rclones_errors_are_kept_for_the_status_and_other_lines_are_errors_too(capsys):
    call = media.Rclone(CONFIG, "thumbs", ["sync"])
    call.read(media.log_entry(MAX_DELETE))
    call.read(media.log_entry("panic: runtime error\n"))
    call.read(media.log_entry('{"level":"info","msg":"Copied (new)","object":"a/2"}'))
    call.read(media.log_entry(json.dumps(FINAL_STATS)))
    assert call.errors == ["a/1: Got fatal error on delete: --max-delete threshold reached", "panic: runtime error"]
    assert call.stats["deletes"] == 1
    call.code = 7
    assert call.failure() == "rclone sync exited 7: a/1: Got fatal error on delete: --max-delete threshold reached " \
                             "(and 1 more errors)"
    logged = capsys.readouterr().err.splitlines()
    assert logged[0] == "immich-media-backup: thumbs: rclone error: a/1: Got fatal error on delete: " \
                        "--max-delete threshold reached"
    assert "Copied (new)" not in "\n".join(logged)
    assert logged[-1] == "immich-media-backup: thumbs: rclone: 1 files (4 bytes) copied, 1 deleted, 0 errors"


def test_rclone_size_json_is_files_and_bytes():
    assert media.size_summary('{"count":3,"bytes":9,"sizeless":0}\n') == (3, 9)


@pytest.mark.parametrize("change, problem", [
    ({"remote": ""}, "remote is missing"),
    ({"folders": {}}, "folders is missing"),
    ({"folders": ["thumbs"]}, "folders must be an object"),
    ({"folders": {"a/b": "/mnt/ssd/x"}}, "not a plain name"),
    ({"folders": {"thumbs": "immich/thumbs"}}, "not a plain name and an absolute path"),
    ({"max_loss_ratio": 1}, "max_loss_ratio"),
])
def test_a_config_that_cannot_work_is_refused_at_once(tmp_path, change, problem):
    path = tmp_path / "media.json"
    data = {key: CONFIG[key] for key in media.REQUIRED}
    path.write_text(json.dumps(dict(data, **change)))
    with pytest.raises(media.job.BackupError, match=problem):
        media.load_config(str(path))
    path.write_text(json.dumps(data))
    assert media.load_config(str(path))["status_file"] == "/var/lib/immich-backup/media-status.json"
