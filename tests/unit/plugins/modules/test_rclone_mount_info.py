# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive rclone_mount_info's main() with ansible-core's patch_module_args.

mountinfo is the text captured on the test machine with live and killed rclone mounts
(tests/unit/plugins/module_utils/test_mountinfo.py); the probes answer as they do for a
live, a dead (SIGKILL) and a hung (SIGSTOP) mount, which
tests/integration/test_rclone_mount_info.py shows with real ones.
"""

from __future__ import annotations

import errno
import os
import re

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils import fuse_probe
from ansible_collections.homelab.immich_pi.plugins.modules import rclone_mount_info
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner
from ansible_collections.homelab.immich_pi.tests.unit.plugins.captured_mounts import RCLONE_HOST

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

LIVE = "/tmp/cap/mnt point"  # fuse.rclone azurite:capture-test
DEAD = "/tmp/cap/m2"  # fuse.rclone, its rclone killed
PLAIN = "/tmp/cap"  # a directory on /
TMPFS = "/dev/shm"


def done(value=None, number=None, error=None):
    return {"finished": True, "value": value, "errno": number, "error": error, "elapsed": 0.01}


TIMED_OUT = {"finished": False, "value": None, "errno": None, "error": None, "elapsed": 5.0}
STALE = done(number=errno.ENOTCONN, error="ENOTCONN: Transport endpoint is not connected")
MISSING = done({"exists": False, "is_dir": False, "realpath": "/srv/nothing", "entries": None})
WROTE = done({"ok": True, "step": None, "errno": None, "error": None, "left_behind": False})
READ_ONLY = done({"ok": False, "step": "create", "errno": errno.EROFS, "error": "EROFS: Read-only file system",
                  "left_behind": False})


def answered(path, entries=0, is_dir=True):
    return done({"exists": True, "is_dir": is_dir, "realpath": path, "entries": entries})


def shadow(count=0, sample=(), truncated=False):
    return done({"exists": True, "count": count, "truncated": truncated, "sample": list(sample), "unreadable": 0})


SHADOW_EMPTY = shadow()
SHADOW_EPERM = done(number=errno.EPERM, error="EPERM: unshare: Operation not permitted")


class Probes:
    """Stands in for fuse_probe's probes, records the calls, and trips on any direct access
    to the checked path from the module's own process."""

    def __init__(self, tmp_path, monkeypatch, mountinfo=RCLONE_HOST):
        self.answer = answered(LIVE)
        self.write = WROTE
        self.shadow = SHADOW_EMPTY
        self.calls = []
        self.guarded = None
        mountinfo_file = tmp_path / "mountinfo"
        mountinfo_file.write_text(mountinfo)
        monkeypatch.setattr(rclone_mount_info, "MOUNTINFO_PATH", str(mountinfo_file))
        monkeypatch.setattr(fuse_probe, "answer_probe", self.answer_probe)
        monkeypatch.setattr(fuse_probe, "write_probe", self.write_probe)
        monkeypatch.setattr(fuse_probe, "shadow_probe", self.shadow_probe)
        for name in ("stat", "lstat", "listdir", "scandir", "access", "open"):
            monkeypatch.setattr(os, name, self.tripwire(getattr(os, name)))

    def tripwire(self, real):
        def guarded(target, *args, **kwargs):
            if self.guarded and isinstance(target, (str, bytes)) and os.fsdecode(target).startswith(self.guarded):
                raise AssertionError("the module touched %s in its own process" % target)
            return real(target, *args, **kwargs)

        return guarded

    def answer_probe(self, path, timeout):
        self.calls.append(("answer", path, timeout))
        return self.answer

    def write_probe(self, path, name, timeout):
        self.calls.append(("write", path, name, timeout))
        return self.write

    def shadow_probe(self, holder, relative, limit, timeout):
        self.calls.append(("shadow", holder, relative, limit, timeout))
        return self.shadow


@pytest.fixture
def probes(tmp_path, monkeypatch):
    return Probes(tmp_path, monkeypatch)


def run_module(capsys, args, guard=None, probes=None):
    if probes is not None:
        probes.guarded = guard or args.get("path")
    try:
        return module_runner.run_module(rclone_mount_info, capsys, args)
    finally:
        if probes is not None:
            probes.guarded = None


def test_live_mount(probes, capsys):
    result = run_module(capsys, {"path": LIVE + "/", "remote": "azurite:capture-test"}, probes=probes)
    assert result["rc"] == 0
    assert result["changed"] is False
    assert (result["mounted"], result["status"], result["responsive"]) == (True, "live", True)
    assert (result["fstype"], result["remote"]) == ("fuse.rclone", "azurite:capture-test")
    assert result["resolved_path"] == LIVE
    assert result["writable"] is None
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (0, [])
    assert result["problems"] == []
    assert result["mount"]["mount_id"] == 43 and result["mount"]["mount_point"] == LIVE
    # exit_json() would stat a returned "path" in this process (and hang on a hung mount).
    assert "path" not in result and "uid" not in result and "mode" not in result
    assert probes.calls == [("answer", LIVE, 5.0), ("shadow", "/", "tmp/cap/mnt point", 10000, 5.0)]


def test_live_mount_takes_a_write(probes, capsys):
    result = run_module(capsys, {"path": LIVE, "writable": True, "timeout": 2}, probes=probes)
    assert result["writable"] is True
    assert result["problems"] == []
    write = [call for call in probes.calls if call[0] == "write"]
    assert len(write) == 1
    assert write[0][1] == LIVE and write[0][3] == 2.0
    assert re.match(r"^\.rclone_mount_info\.[0-9a-f]{16}$", write[0][2])


def test_live_mount_refuses_writes(probes, capsys):
    probes.write = READ_ONLY
    result = run_module(capsys, {"path": LIVE, "writable": True}, probes=probes)
    assert result["writable"] is False
    assert result["mounted"] is True
    assert result["problems"] == [
        "/tmp/cap/mnt point does not take writes (create failed: EROFS: Read-only file system): check that the mount "
        "is not --read-only and that the remote's credentials may write"
    ]


def test_write_probe_that_hangs(probes, capsys):
    probes.write = TIMED_OUT
    result = run_module(capsys, {"path": LIVE, "writable": True, "timeout": 3}, probes=probes)
    assert result["writable"] is False
    assert len(result["problems"]) == 1
    assert result["problems"][0].startswith("writing a test file to /tmp/cap/mnt point did not finish within 3s")
    assert re.search(r"delete /tmp/cap/mnt point/\.rclone_mount_info\.[0-9a-f]{16} if it is left behind", result["problems"][0])


@pytest.mark.parametrize(
    ("expected", "problem"),
    [
        ("azurite:capture-test", None),
        ("azurite:/capture-test/", None),
        ("azurite:capture-test/sub dir", "mounted remote azurite:capture-test is not the expected azurite:capture-test/sub dir"),
        ("azurephotos:capture-test", "mounted remote azurite:capture-test is not the expected azurephotos:capture-test"),
    ],
)
def test_expected_remote(probes, capsys, expected, problem):
    result = run_module(capsys, {"path": LIVE, "remote": expected, "service": "rclone-azurephotos.service"}, probes=probes)
    assert result["mounted"] is True
    if problem is None:
        assert result["problems"] == []
    else:
        assert result["problems"] == [
            problem + ": point rclone-azurephotos.service at %s and restart it" % expected
        ]


def test_dead_mount(probes, capsys):
    probes.answer = STALE
    result = run_module(capsys, {"path": DEAD, "service": "rclone-azurephotos.service", "writable": True}, probes=probes)
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "stale", False)
    assert (result["fstype"], result["remote"]) == ("fuse.rclone", "azurite:capture-test")
    assert result["writable"] is None
    assert result["problems"] == [
        "/tmp/cap/m2 is a stale FUSE mount (transport endpoint is not connected: its rclone process is gone): "
        "unmount it with 'fusermount3 -uz /tmp/cap/m2' and restart rclone-azurephotos.service"
    ]
    assert [call[0] for call in probes.calls] == ["answer", "shadow"]


def test_hung_mount_still_counts_what_is_under_it(probes, capsys):
    probes.answer = TIMED_OUT
    probes.shadow = shadow(2, ["IMG_0001.jpg", "library"])
    result = run_module(capsys, {"path": LIVE, "timeout": 2.5, "writable": True}, probes=probes)
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "hung", False)
    assert result["fstype"] == "fuse.rclone"
    assert result["writable"] is None
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (2, ["IMG_0001.jpg", "library"])
    assert result["problems"] == [
        "/tmp/cap/mnt point does not answer within 2.5s: the rclone process may be hung or dead; restart the rclone "
        "mount service",
        "files were written under the mount point /tmp/cap/mnt point while it was down and are hidden on the local "
        "disk under the mount: move them into the mounted folder after the mount is back (2 entries, e.g. "
        "IMG_0001.jpg, library)",
    ]


def test_other_filesystem(probes, capsys):
    probes.answer = answered(TMPFS)
    result = run_module(capsys, {"path": TMPFS}, probes=probes)
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "other_filesystem", True)
    assert (result["fstype"], result["remote"]) == ("tmpfs", None)
    assert result["mount"]["mount_id"] == 30
    assert result["problems"] == [
        "/dev/shm is a tmpfs mount (source tmpfs), not an rclone mount: find out what mounted it, unmount it and "
        "start the rclone mount service"
    ]
    assert probes.calls[1] == ("shadow", "/dev", "shm", 10000, 5.0)


def test_plain_directory_with_files_in_it(probes, capsys):
    probes.answer = answered(PLAIN, entries=5)
    probes.shadow = shadow(1, ["IMG_0001.jpg"])
    result = run_module(capsys, {"path": PLAIN, "writable": True}, probes=probes)
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "not_mounted", True)
    assert (result["fstype"], result["remote"], result["mount"]) == (None, None, None)
    assert result["writable"] is None  # never writes to the disk under a missing mount
    assert result["shadowed_entries"] == 1
    assert result["problems"] == [
        "/tmp/cap is not mounted: start the rclone mount service",
        "/tmp/cap holds 1 entry on the local disk although nothing is mounted there (e.g. IMG_0001.jpg): files were "
        "written while the mount was down; move them out of the way, start the mount, then move them into the "
        "mounted folder",
    ]
    assert [call[0] for call in probes.calls] == ["answer", "shadow"]


def test_missing_path(probes, capsys):
    probes.answer = MISSING
    probes.shadow = done({"exists": False, "count": 0, "truncated": False, "sample": [], "unreadable": 0})
    result = run_module(capsys, {"path": "/srv/nothing"}, probes=probes)
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "missing", False)
    assert result["shadowed_entries"] == 0
    assert result["problems"] == ["/srv/nothing does not exist: create the mount point directory and start the rclone mount service"]


def test_symlink_to_the_mount_point(probes, capsys):
    probes.answer = answered(LIVE)
    result = run_module(capsys, {"path": "/srv/photos"}, probes=probes)
    assert result["resolved_path"] == LIVE
    assert result["mounted"] is True
    assert probes.calls[0] == ("answer", "/srv/photos", 5.0)


@pytest.mark.parametrize(
    ("answer", "extra"),
    [
        (TIMED_OUT, "/tmp/cap does not answer within 5s although nothing is mounted on it: a filesystem it lives on may be hung"),
        (STALE, "/tmp/cap lives on a stale FUSE mount (transport endpoint is not connected)"),
        (answered(PLAIN, is_dir=False), "/tmp/cap is not a directory: a mount point must be a directory"),
        (done(number=errno.EACCES, error="EACCES: Permission denied"), "/tmp/cap cannot be read (EACCES: Permission denied)"),
    ],
    ids=["timeout", "stale", "not-a-directory", "unreadable"],
)
def test_unmounted_path_that_does_not_answer(probes, capsys, answer, extra):
    probes.answer = answer
    result = run_module(capsys, {"path": PLAIN}, probes=probes)
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "not_mounted", False)
    assert result["problems"] == ["/tmp/cap is not mounted: start the rclone mount service", extra]


def test_rclone_mount_that_answers_with_an_error(probes, capsys):
    probes.answer = done(number=errno.EACCES, error="EACCES: Permission denied")
    result = run_module(capsys, {"path": LIVE}, probes=probes)
    assert (result["mounted"], result["status"]) == (False, "error")
    assert result["problems"] == [
        "/tmp/cap/mnt point is an rclone mount but cannot be read (EACCES: Permission denied): check the rclone log "
        "of the rclone mount service; a mount made by another user needs --allow-other"
    ]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (SHADOW_EPERM, "cannot look under /tmp/cap/mnt point: entering a private mount namespace was refused "
                       "(EPERM: unshare: Operation not permitted); run the check as root (become)"),
        (TIMED_OUT, "counting the files on the local disk under /tmp/cap/mnt point did not finish within 5s"),
        (done(error="the probe process ended without a report (killed by SIGKILL)"),
         "cannot look under /tmp/cap/mnt point (the probe process ended without a report (killed by SIGKILL))"),
    ],
    ids=["not-root", "timeout", "crashed"],
)
def test_shadow_scan_that_fails(probes, capsys, answer, problem):
    probes.shadow = answer
    result = run_module(capsys, {"path": LIVE}, probes=probes)
    assert result["mounted"] is True
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (None, [])
    assert result["problems"] == [problem]


def test_shadow_scan_stops_at_the_limit(probes, capsys):
    probes.shadow = shadow(3, ["a", "b", "c"], truncated=True)
    result = run_module(capsys, {"path": LIVE, "shadow_scan_limit": 3}, probes=probes)
    assert result["shadowed_entries"] == 3
    assert "(at least 3 entries, e.g. a, b, c)" in result["problems"][0]
    assert probes.calls[1] == ("shadow", "/", "tmp/cap/mnt point", 3, 5.0)


def test_shadow_scan_switched_off(probes, capsys):
    result = run_module(capsys, {"path": LIVE, "shadow_scan_limit": 0}, probes=probes)
    assert result["shadowed_entries"] is None
    assert result["problems"] == []
    assert [call[0] for call in probes.calls] == ["answer"]


def test_fail_on_problems(probes, capsys):
    probes.answer = STALE
    result = run_module(capsys, {"path": DEAD, "remote": "azurite:other", "fail_on_problems": True}, probes=probes)
    assert result["rc"] == 1
    assert result["failed"] is True
    assert result["status"] == "stale"
    assert result["msg"] == "; ".join(result["problems"])
    assert len(result["problems"]) == 2


def test_fail_on_problems_passes_a_live_mount(probes, capsys):
    result = run_module(capsys, {"path": LIVE, "fail_on_problems": True}, probes=probes)
    assert result["rc"] == 0 and result["mounted"] is True


@pytest.mark.parametrize(
    ("args", "msg_has"),
    [
        ({"path": "mnt/azurephotos"}, "path must be absolute"),
        ({"path": LIVE, "timeout": 0}, "timeout must be more than 0 seconds"),
        ({"path": LIVE, "shadow_scan_limit": -1}, "shadow_scan_limit must be 0 (no scan) or more"),
        ({"remote": "azurite:x"}, "missing required arguments: path"),
    ],
)
def test_argument_errors(probes, capsys, args, msg_has):
    result = run_module(capsys, args, probes=probes)
    assert result["failed"] is True
    assert msg_has in result["msg"]
    assert probes.calls == []


def test_unreadable_mountinfo(probes, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(rclone_mount_info, "MOUNTINFO_PATH", str(tmp_path / "absent"))
    result = run_module(capsys, {"path": LIVE}, probes=probes)
    assert result["failed"] is True
    assert result["msg"].startswith("cannot read %s" % tmp_path)


def test_probe_that_cannot_start(probes, capsys, monkeypatch):
    def no_fork(path, timeout):
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(fuse_probe, "answer_probe", no_fork)
    result = run_module(capsys, {"path": LIVE}, probes=probes)
    assert result["failed"] is True
    assert result["msg"] == "cannot start a probe process for /tmp/cap/mnt point: [Errno 11] Resource temporarily unavailable"


@pytest.mark.parametrize(
    ("remote", "canonical"),
    [
        ("azurephotos:family-photos", "azurephotos:family-photos"),
        ("azurephotos:/family-photos/", "azurephotos:family-photos"),
        ("azurephotos:family-photos/2024/", "azurephotos:family-photos/2024"),
        ("azurephotos:", "azurephotos:"),
        (":azureblob,account=x:family-photos/", ":azureblob,account=x:family-photos"),
        ("/srv/photos/", "/srv/photos"),
        ("/", "/"),
    ],
)
def test_canonical_remote(remote, canonical):
    assert rclone_mount_info.canonical_remote(remote) == canonical


@pytest.mark.parametrize(
    ("path", "clean"),
    [("/mnt/azurephotos/", "/mnt/azurephotos"), ("//mnt/./azurephotos", "/mnt/azurephotos"), ("/mnt/a/../b", "/mnt/b"), ("/", "/")],
)
def test_clean_path(path, clean):
    assert rclone_mount_info.clean_path(path) == clean


def test_printable():
    assert rclone_mount_info.printable(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"
    assert rclone_mount_info.printable("café.jpg") == "café.jpg"


@pytest.mark.skipif(not IS_ROOT, reason="the scan under the mount point needs root")
def test_real_probes_on_a_plain_directory(tmp_path, capsys):
    (tmp_path / "IMG_0001.jpg").write_text("x")
    (tmp_path / "library").mkdir()
    result = run_module(capsys, {"path": str(tmp_path), "writable": True})
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "not_mounted", True)
    assert result["writable"] is None
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (2, ["IMG_0001.jpg", "library"])
    assert len(result["problems"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["IMG_0001.jpg", "library"]
