# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/fuse_probe.py: the child-process runner with real
forks, the probe bodies on a temporary tree, and the namespace scan on the live host (root
only). Hung and dead FUSE mounts are in tests/integration/test_rclone_mount_info.py."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils import fuse_probe
from ansible_collections.homelab.immich_pi.plugins.module_utils.mountinfo import mount_layers, read_mountinfo

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def raise_enotconn():
    raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")


def raise_value_error():
    raise ValueError("bad")


def test_child_reports_its_value():
    result = fuse_probe.run_in_child(lambda: {"pid": os.getpid()}, 5)
    assert result["finished"] is True
    assert result["error"] is None and result["errno"] is None
    assert result["value"]["pid"] != os.getpid()


@pytest.mark.parametrize(
    ("body", "errno_", "error"),
    [
        (raise_enotconn, errno.ENOTCONN, "ENOTCONN: Transport endpoint is not connected"),
        (raise_value_error, None, "ValueError: bad"),
        (lambda: os._exit(3), None, "the probe process ended without a report (exit code 3)"),
        (lambda: os.kill(os.getpid(), signal.SIGKILL), None, "the probe process ended without a report (killed by SIGKILL)"),
    ],
    ids=["oserror", "exception", "exit", "killed"],
)
def test_child_failures_are_reported(body, errno_, error):
    result = fuse_probe.run_in_child(body, 5)
    assert result["finished"] is True
    assert result["value"] is None
    assert (result["errno"], result["error"]) == (errno_, error)


def test_child_past_the_deadline_is_killed_and_reaped():
    started = time.monotonic()
    result = fuse_probe.run_in_child(lambda: time.sleep(60) or {}, 0.3)
    elapsed = time.monotonic() - started
    assert result["finished"] is False
    assert result["value"] is None
    assert 0.3 <= result["elapsed"] < 1.0
    assert elapsed < 0.3 + fuse_probe.REAP_GRACE + 0.5
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # nothing left to reap


def test_report_larger_than_a_pipe_buffer():
    result = fuse_probe.run_in_child(lambda: {"names": ["x" * 100] * 5000}, 5)
    assert result["finished"] is True
    assert len(result["value"]["names"]) == 5000


def test_descendant_holding_the_pipe_does_not_delay_the_report(tmp_path):
    pid_file = tmp_path / "grandchild"

    def body():
        grandchild = os.fork()
        if grandchild == 0:
            time.sleep(30)
            os._exit(0)
        pid_file.write_text(str(grandchild))
        return {"ok": True}

    try:
        result = fuse_probe.run_in_child(body, 5)
        assert result["finished"] is True and result["value"] == {"ok": True}
        assert result["elapsed"] < 2
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_child_left_behind_does_not_hold_the_callers_stdout(tmp_path):
    """Ansible reads a module's stdout until EOF: a probe child (here its grandchild, which
    stands for a child stuck in the kernel) must not keep it open after the module exits."""
    pid_file = tmp_path / "stuck"
    script = textwrap.dedent(
        """
        import os, sys, time
        from ansible_collections.homelab.immich_pi.plugins.module_utils import fuse_probe

        def body():
            stuck = os.fork()
            if stuck == 0:
                time.sleep(60)
                os._exit(0)
            with open(sys.argv[1], "w") as handle:
                handle.write(str(stuck))
            time.sleep(60)
            return {}

        result = fuse_probe.run_in_child(body, 0.5)
        print("finished" if result["finished"] else "timed out")
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", script, str(pid_file)], capture_output=True, text=True, timeout=20, env=env, check=True
        )
        assert done.stdout == "timed out\n"
        assert time.monotonic() - started < 10
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_answer_body(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a").write_text("a")
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    assert fuse_probe.answer_body(str(tmp_path / "dir")) == {
        "exists": True, "is_dir": True, "realpath": str(tmp_path / "dir"), "entries": 1
    }
    assert fuse_probe.answer_body(str(tmp_path / "link"))["realpath"] == str(tmp_path / "dir")
    assert fuse_probe.answer_body(str(tmp_path / "file"))["is_dir"] is False
    for missing in (tmp_path / "nope", tmp_path / "file" / "below"):
        assert fuse_probe.answer_body(str(missing))["exists"] is False


def test_answer_probe_of_a_directory(tmp_path):
    result = fuse_probe.answer_probe(str(tmp_path), 5)
    assert result["finished"] is True
    assert result["value"]["is_dir"] is True


def test_write_body_leaves_nothing(tmp_path):
    result = fuse_probe.write_body(str(tmp_path), ".rclone_mount_info.0123")
    assert result == {"ok": True, "step": None, "errno": None, "error": None, "left_behind": False}
    assert os.listdir(tmp_path) == []


def test_write_body_reports_the_failed_step(tmp_path):
    result = fuse_probe.write_body(str(tmp_path / "gone"), ".rclone_mount_info.0123")
    assert result["ok"] is False
    assert (result["step"], result["errno"], result["left_behind"]) == ("create", errno.ENOENT, False)
    assert result["error"].startswith("ENOENT: ")


def test_write_probe_in_a_child(tmp_path):
    result = fuse_probe.write_probe(str(tmp_path), ".rclone_mount_info.0123", 5)
    assert result["value"]["ok"] is True
    assert os.listdir(tmp_path) == []


def make_tree(root):
    for directory in ("library/admin/2024", "upload", "thumbs"):
        os.makedirs(os.path.join(root, directory))
    for name in ("library/admin/2024/IMG_0001.jpg", "upload/b.jpg", "upload/a.jpg", "z.txt"):
        with open(os.path.join(root, name), "w") as handle:
            handle.write(name)
    os.symlink("/", os.path.join(root, "thumbs", "root-link"))


def test_count_entries_breadth_first_without_following_symlinks(tmp_path):
    make_tree(str(tmp_path))
    result = fuse_probe.count_entries(str(tmp_path), 100, sample_size=6)
    assert result == {
        "exists": True,
        "count": 10,
        "truncated": False,
        "sample": ["library", "thumbs", "upload", "z.txt", "library/admin", "thumbs/root-link"],
        "unreadable": 0,
    }


@pytest.mark.parametrize(("limit", "count", "truncated"), [(1, 1, True), (4, 4, True), (9, 9, True), (10, 10, False), (11, 10, False)])
def test_count_entries_stops_at_the_limit(tmp_path, limit, count, truncated):
    make_tree(str(tmp_path))
    result = fuse_probe.count_entries(str(tmp_path), limit)
    assert (result["count"], result["truncated"]) == (count, truncated)


def test_count_entries_of_no_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path)
    for top in ("nope", "file", "link", "file/below"):
        assert fuse_probe.count_entries(str(tmp_path / top), 10) == {
            "exists": False, "count": 0, "truncated": False, "sample": [], "unreadable": 0
        }
    (tmp_path / "empty").mkdir()
    assert fuse_probe.count_entries(str(tmp_path / "empty"), 10)["exists"] is True


@pytest.mark.skipif(not IS_ROOT, reason="a private mount namespace needs root")
def test_shadow_probe_counts_the_directory_on_its_filesystem(tmp_path):
    make_tree(str(tmp_path))
    holder, mounted = mount_layers(read_mountinfo(), str(tmp_path))
    assert mounted is None
    result = fuse_probe.shadow_probe(holder["mount_point"], os.path.relpath(str(tmp_path), holder["mount_point"]), 100, 10)
    assert result["finished"] is True, result
    assert result["value"]["count"] == 10
    assert [name for name in os.listdir("/tmp") if name.startswith("rclone_mount_info-")] == []


def as_nobody(function):
    """Call function() in a child that dropped root to nobody (65534); return its JSON result."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(reader)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = json.dumps(function()).encode()
        except BaseException as error:  # pylint: disable=broad-except
            payload = json.dumps({"child_error": repr(error)}).encode()
        os.write(writer, payload)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_shadow_probe_without_root(tmp_path):
    """A user without CAP_SYS_ADMIN cannot make a mount namespace: the probe says so."""
    tmp_path.chmod(0o755)
    relative = os.path.relpath(str(tmp_path), "/")

    def probe():
        return fuse_probe.shadow_probe("/", relative, 100, 10)

    result = as_nobody(probe) if IS_ROOT else probe()
    assert "child_error" not in result, result
    assert result["value"] is None
    assert result["errno"] == errno.EPERM


def test_shadow_probe_when_unshare_is_refused(tmp_path, monkeypatch):
    def refuse(self, flags):
        raise OSError(errno.EPERM, "unshare: Operation not permitted")

    monkeypatch.setattr(fuse_probe._Libc, "unshare", refuse)
    result = fuse_probe.shadow_probe("/", os.path.relpath(str(tmp_path), "/"), 100, 10)
    assert result["finished"] is True
    assert (result["value"], result["errno"]) == (None, errno.EPERM)
    assert result["error"] == "EPERM: unshare: Operation not permitted"


@pytest.mark.parametrize(
    ("status", "text"),
    [(0, "exit code 0"), (3 << 8, "exit code 3"), (signal.SIGKILL, "killed by SIGKILL")],
)
def test_describe_status(status, text):
    assert fuse_probe.describe_status(status) == text
