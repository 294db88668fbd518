# SPDX-License-Identifier: GPL-3.0-or-later
"""The media backup job (roles/backup/files/immich_media_backup.py) with the test bed's rclone
against Azurite: what a copy uploads, deletes and reports, what its guards refuse (and that a
refused run leaves Azure as it was), and what a restore brings back and where it will not write.

The "SSD" is a tmpfs the test mounts, so the job's mount checks are real; needs root.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount the stand-in SSD and chown")

JOB = os.path.join(REPO_ROOT, "roles", "backup", "files", "immich_media_backup.py")
DOWN_ENDPOINT = "http://127.0.0.1:10009/devstoreaccount1"  # nothing listens there
OWNER = (1234, 2345)  # Immich's files belong to the container's user, not root
THUMBNAILS = 20


@pytest.fixture
def ssd(tmp_path):
    """A tmpfs mounted at tmp_path/ssd, with Immich's thumbs folder holding THUMBNAILS files in
    Immich's layout, its .immich marker, and an encoded video larger than one upload block."""
    point = tmp_path / "ssd"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "immich-pi-test-ssd", str(point)], check=True)
    try:
        thumbs = point / "immich" / "thumbs"
        for index in range(THUMBNAILS):
            write(thumbs / "user-1" / ("%02x" % index)[:2] / ("asset-%03d-preview.webp" % index),
                  os.urandom(1000 + 97 * index))
        write(thumbs / ".immich", b"")
        write(point / "immich" / "encoded-video" / "user-1" / "ab" / "asset-1.mp4", os.urandom(5 * 1024 * 1024 + 3))
        yield point
    finally:
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)  # a test may have


def write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def config(tmp_path, ssd, azurite, blob_container, rclone_binary, pings):
    """Write the job's config; returns write(**changes) -> its path, so a test can change it first."""
    data = {
        "rclone": rclone_binary,
        "rclone_config": azurite.rclone_config(str(tmp_path / "rclone.conf")),
        "remote": "azurite:" + blob_container,
        "ssd_mount_point": str(ssd),
        "folders": {"thumbs": str(ssd / "immich" / "thumbs"), "encoded-video": str(ssd / "immich" / "encoded-video")},
        "ping_url": pings.url,
        "status_file": str(tmp_path / "state" / "media-status.json"),
        "lock_file": str(tmp_path / "media.lock"),
        "timeout": 120,
    }
    path = tmp_path / "media.json"

    def write_config(**changes):
        data.update(changes)
        path.write_text(json.dumps(data))
        return str(path)

    write_config()
    return write_config


def run_job(config_path: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, JOB, "--config", config_path, *args], capture_output=True, text=True,
                          timeout=300, check=False, env=dict(os.environ, **(env or {})))


def status(config_path: str) -> dict:
    with open(json.loads(open(config_path, encoding="utf-8").read())["status_file"], encoding="utf-8") as handle:
        return json.load(handle)


def run_ok(config_path: str, *args: str) -> dict:
    result = run_job(config_path, *args)
    assert result.returncode == 0, result.stderr
    report = status(config_path)
    assert report["result"] == "ok", report
    return report


def local(folder) -> dict[str, str]:
    """Every file under folder but the marker: relative name -> MD5."""
    found = {}
    for top, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(top, name)
            relative = os.path.relpath(path, folder)
            if relative != ".immich":
                with open(path, "rb") as handle:
                    found[relative] = hashlib.md5(handle.read(), usedforsecurity=False).hexdigest()
    return found


def in_azure(azurite, container: str, folder: str = "thumbs") -> dict[str, tuple[str, str]]:
    """Every object under backup/<folder>/ but rclone's directory markers: name -> (etag, MD5)."""
    client = azurite.service_client().get_container_client(container)
    prefix = "backup/%s/" % folder
    found = {}
    for item in client.list_blobs(name_starts_with=prefix):
        if not item.name.endswith("/"):
            data = client.download_blob(item.name).readall()
            found[item.name[len(prefix):]] = (item.etag, hashlib.md5(data, usedforsecurity=False).hexdigest())
    return found


def contents(objects: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: md5 for name, (_etag, md5) in objects.items()}


def thumbnails(ssd) -> list:
    return sorted((ssd / "immich" / "thumbs" / "user-1").rglob("*.webp"))


def assert_refused(result, config_path: str, pings, *words: str) -> dict:
    """Exit 1, status refused naming `words`, the ping at /fail."""
    assert result.returncode == 1, result.stderr
    report = status(config_path)
    assert report["result"] == "refused", report
    for word in words:
        assert word in report["message"], report["message"]
    assert pings.paths[-1] == pings.path + "/fail"
    return report


def test_a_first_copy_uploads_every_file_and_reports_it(config, ssd, azurite, blob_container, pings):
    report = run_ok(config())
    thumbs = local(ssd / "immich" / "thumbs")
    assert contents(in_azure(azurite, blob_container)) == thumbs and len(thumbs) == THUMBNAILS
    assert contents(in_azure(azurite, blob_container, "encoded-video")) == local(ssd / "immich" / "encoded-video")
    folder = report["folders"]["thumbs"]
    sizes = sum(path.stat().st_size for path in thumbnails(ssd))
    assert folder["local_files"] == folder["copied_files"] == THUMBNAILS and folder["remote_files"] == 0
    assert folder["local_bytes"] == folder["copied_bytes"] == sizes and folder["deleted_files"] == 0
    assert folder["destination"] == "azurite:%s/backup/thumbs/" % blob_container
    assert report["copied_files"] == THUMBNAILS + 1 and report["files"] == THUMBNAILS + 1
    assert report["copied_bytes"] == sizes + 5 * 1024 * 1024 + 3
    assert {"started", "finished", "duration_s", "message"} <= set(report)
    assert pings.paths == [pings.path]
    assert report["ping"] == {"to": "http://127.0.0.1", "signal": "success", "result": "ok", "http_status": 200}
    assert stat.S_IMODE(os.stat(json.loads(open(config()).read())["status_file"]).st_mode) == 0o600


def test_a_second_run_uploads_nothing_new(config, azurite, blob_container):
    run_ok(config())
    before = in_azure(azurite, blob_container)
    report = run_ok(config())
    assert report["copied_files"] == report["deleted_files"] == 0
    assert report["folders"]["thumbs"]["remote_files"] == THUMBNAILS
    assert in_azure(azurite, blob_container) == before  # same etags: nothing rewritten


def test_a_deleted_thumbnail_is_deleted_in_azure_on_the_next_run(config, ssd, azurite, blob_container):
    run_ok(config())
    gone = thumbnails(ssd)[3]
    gone.unlink()
    write(ssd / "immich" / "thumbs" / "user-1" / "ff" / "asset-new-preview.webp", b"new")
    report = run_ok(config())
    assert report["folders"]["thumbs"]["deleted_files"] == 1 and report["folders"]["thumbs"]["copied_files"] == 1
    assert contents(in_azure(azurite, blob_container)) == local(ssd / "immich" / "thumbs")


def test_an_unmounted_ssd_is_refused_and_azure_is_left_alone(config, ssd, azurite, blob_container, pings):
    run_ok(config())
    before = in_azure(azurite, blob_container)
    subprocess.run(["umount", str(ssd)], check=True)
    (ssd / "immich" / "thumbs").mkdir(parents=True)  # Immich started on the SD card
    write(ssd / "immich" / "thumbs" / "x" / "one.webp", b"one")
    assert_refused(run_job(config()), config(), pings, "not a mount point")
    assert in_azure(azurite, blob_container) == before


def test_an_empty_thumbs_folder_is_refused_and_azure_is_left_alone(config, ssd, azurite, blob_container, pings):
    run_ok(config())
    before = in_azure(azurite, blob_container)
    for path in thumbnails(ssd):
        path.unlink()
    assert_refused(run_job(config()), config(), pings, "thumbs", "holds no files")
    assert in_azure(azurite, blob_container) == before


def test_an_empty_folder_with_no_copy_yet_is_nothing_to_copy(config, ssd, azurite, blob_container, pings):
    for path in thumbnails(ssd):
        path.unlink()
    done = run_ok(config(backup_folders=["thumbs"]))
    assert done["copied_files"] == 0 and done["folders"]["thumbs"]["remote_files"] == 0
    assert in_azure(azurite, blob_container) == {}
    assert pings.paths == [pings.path]


def test_only_the_backup_folders_are_copied(config, azurite, blob_container):
    run_ok(config(backup_folders=["thumbs"]))
    assert len(in_azure(azurite, blob_container)) == THUMBNAILS
    assert in_azure(azurite, blob_container, "encoded-video") == {}


def test_a_folder_off_the_ssd_is_refused(config, tmp_path, azurite, blob_container, pings):
    write(tmp_path / "sdcard" / "thumbs" / "a.webp", b"a")
    assert_refused(run_job(config(folders={"thumbs": str(tmp_path / "sdcard" / "thumbs")})), config(), pings,
                   "is not on the SSD")
    assert in_azure(azurite, blob_container) == {}


def test_losing_more_than_the_share_is_refused_until_accepted(config, ssd, azurite, blob_container, pings):
    run_ok(config())
    before = in_azure(azurite, blob_container)
    for path in thumbnails(ssd)[:5]:  # 25% > max_loss_ratio 0.2
        path.unlink()
    report = assert_refused(run_job(config()), config(), pings,
                            "thumbs holds 15 files, its copy in Azure 20", "backup_media_max_loss_ratio")
    assert report["folders"]["thumbs"]["remote_files"] == THUMBNAILS
    assert in_azure(azurite, blob_container) == before
    report = run_ok(config(), "--accept-loss")
    assert report["accept_loss"] is True and report["deleted_files"] == 5
    assert contents(in_azure(azurite, blob_container)) == local(ssd / "immich" / "thumbs")
    assert len(in_azure(azurite, blob_container)) == 15


def test_more_deletions_than_the_share_stop_at_max_delete(config, ssd, azurite, blob_container, pings):
    """As many files as before, but 5 of 20 renamed: the count passes, the sync uploads the new
    names and deletes no more than 20% (4) of the old ones, and the run is a failure."""
    run_ok(config())
    for path in thumbnails(ssd)[:5]:
        path.rename(path.with_name("renamed-" + path.name))
    result = run_job(config())
    assert result.returncode == 1, result.stderr
    report = status(config())
    assert report["result"] == "failed" and "max-delete" in report["message"], report
    assert "backup_media_max_loss_ratio" in report["message"]
    assert pings.paths[-1] == pings.path + "/fail"
    names = set(in_azure(azurite, blob_container))
    assert set(local(ssd / "immich" / "thumbs")) <= names and len(names) == THUMBNAILS + 5 - 4


def test_an_azure_that_is_down_fails_and_is_reported(config, tmp_path, azurite, pings):
    down = tmp_path / "down.conf"
    down.write_text((tmp_path / "rclone.conf").read_text(encoding="utf-8").replace(azurite.endpoint, DOWN_ENDPOINT))
    # One low-level try (rclone's default is 10, 90 s against a closed port): the test stays short.
    result = run_job(config(rclone_config=str(down)), env={"RCLONE_LOW_LEVEL_RETRIES": "1"})
    assert result.returncode == 1, result.stderr
    report = status(config())
    assert report["result"] == "failed" and "connection refused" in report["message"], report
    assert "cannot count the copy in Azure" in report["message"]
    assert pings.paths == [pings.path + "/fail"]


@pytest.mark.parametrize("answer, malformed, why", [
    (500, "", "the ping to http://127.0.0.1 failed: HTTPError: HTTP Error 500: Internal Server Error"),
    (200, "127.0.0.1:{port}/ping/{secret}",
     "the ping to the ping URL (not shown) failed: not an http:// or https:// URL with a host and no spaces"),
])
def test_a_ping_that_fails_fails_the_run_though_the_thumbnails_are_copied(
        config, ssd, azurite, blob_container, pings, answer, malformed, why):
    pings.answer = answer
    secret = pings.path.rsplit("/", 1)[1]
    url = malformed.format(port=pings.url.split(":")[2].split("/")[0], secret=secret) if malformed else pings.url
    result = run_job(config(ping_url=url))
    assert result.returncode == 4, result.stderr
    report = status(config())
    assert report["result"] == "failed" and report["backup_result"] == "ok", report
    assert contents(in_azure(azurite, blob_container)) == local(ssd / "immich" / "thumbs")
    assert report["message"].startswith("thumbs: %d files" % THUMBNAILS)
    assert ("; the copy itself (azurite:{0}/backup/thumbs/, azurite:{0}/backup/encoded-video/) is stored, but {1} "
            "(check backup_media_ping_url)".format(blob_container, why)) in report["message"], report["message"]
    assert report["ping"]["result"] == "failed"
    assert pings.paths == ([] if malformed else [pings.path])
    assert secret not in result.stderr + json.dumps(report)


def test_a_refused_copy_whose_fail_ping_fails_too_says_both(config, ssd, azurite, blob_container, pings):
    subprocess.run(["umount", str(ssd)], check=True)
    pings.answer = 404
    result = run_job(config())
    assert result.returncode == 1, result.stderr
    report = status(config())
    assert report["result"] == report["backup_result"] == "refused"
    assert report["message"].endswith("; and the /fail ping to http://127.0.0.1 failed: HTTPError: HTTP Error 404: "
                                      "Not Found (check backup_media_ping_url)")
    assert pings.paths == [pings.path + "/fail"]
    assert in_azure(azurite, blob_container) == {}


def test_a_second_run_while_one_holds_the_lock_exits_cleanly(config, azurite, blob_container):
    path = config()
    with open(json.loads(open(path, encoding="utf-8").read())["lock_file"], "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run_job(path)
    assert result.returncode == 0 and "another backup is running" in result.stderr
    assert not os.path.exists(json.loads(open(path, encoding="utf-8").read())["status_file"])
    assert in_azure(azurite, blob_container) == {}


def test_a_restore_brings_every_file_back_with_the_folders_owner(config, ssd, tmp_path, azurite, blob_container):
    run_ok(config(folders={"thumbs": str(ssd / "immich" / "thumbs")}))
    expected = local(ssd / "immich" / "thumbs")
    sizes = sum(path.stat().st_size for path in thumbnails(ssd))
    empty = ssd / "new" / "thumbs"  # a new SSD: Immich made the folder, nothing in it
    empty.mkdir(parents=True)
    os.chown(empty, *OWNER)
    path = config(folders={"thumbs": str(empty), "encoded-video": str(ssd / "new" / "encoded-video")})
    result = run_job(path, "restore")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["missing"] == ["encoded-video"]
    assert report["folders"]["thumbs"]["files"] == THUMBNAILS and report["folders"]["thumbs"]["bytes"] == sizes
    assert report["folders"]["thumbs"]["in_azure"] == THUMBNAILS
    assert local(empty) == expected and not (empty / ".immich").exists()
    for top, dirs, files in os.walk(empty):
        for name in [top] + [os.path.join(top, item) for item in dirs + files]:
            assert (os.lstat(name).st_uid, os.lstat(name).st_gid) == OWNER, name
    assert not (ssd / "new" / "encoded-video").exists()


def test_a_restore_into_a_folder_off_the_ssd_is_refused_and_writes_nothing(config, tmp_path, azurite, blob_container):
    run_ok(config())
    sdcard = tmp_path / "sdcard" / "thumbs"
    sdcard.mkdir(parents=True)
    result = run_job(config(folders={"thumbs": str(tmp_path / "ssd" / "immich" / "thumbs"),
                                     "encoded-video": str(sdcard)}), "restore")
    assert result.returncode == 3 and "not a folder on the SSD" in result.stderr, result.stderr
    assert result.stdout == "" and list(sdcard.iterdir()) == []
