# SPDX-License-Identifier: GPL-3.0-or-later
"""rclone_mount_info against real mounts: an rclone FUSE mount of an Azurite container that
is live, killed (SIGKILL: a dead mount, "Transport endpoint is not connected") or stopped
(SIGSTOP: a hung mount, every access blocks), files hidden under a mount point, a plain
directory and a tmpfs.

Needs root, /dev/fuse and Azurite (tests/testbed/ensure-azurite.sh). Every mount and rclone
process a test starts is removed again, whatever the test did to it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils.mountinfo import mount_at, read_mountinfo
from ansible_collections.homelab.immich_pi.plugins.modules import rclone_mount_info
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="needs root and /dev/fuse for FUSE and tmpfs mounts"
)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MOUNT_WAIT = 20.0
# What a module call may take beyond its probe timeout: forks, the scan under the mount
# point (which never touches the FUSE mount), reaping the killed probe.
MARGIN = 2.0


def mounted_at(path):
    return mount_at(read_mountinfo(), path)


def detach(path):
    """Lazily unmount whatever is at path, FUSE or not."""
    while mounted_at(path) is not None:
        entry = mounted_at(path)
        if entry["fstype"].startswith("fuse"):
            done = subprocess.run(["fusermount3", "-uz", path], capture_output=True, check=False)
            if done.returncode == 0:
                continue
        subprocess.run(["umount", "-l", path], capture_output=True, check=True)


class RcloneMount:
    """``rclone mount`` in the foreground, as a systemd unit would run it."""

    def __init__(self, rclone, config, remote, mount_point, work, extra_args=()):
        self.remote = remote
        self.mount_point = mount_point
        self.log_path = os.path.join(work, "rclone.log")
        self.process = None
        self.args = [
            rclone, "mount", remote, mount_point,
            "--config", config,
            "--cache-dir", os.path.join(work, "cache"),
            "--vfs-cache-mode", "writes",
            "--vfs-write-back", "1s",
            "--log-file", self.log_path,
            "-v",
        ] + list(extra_args)

    def start(self):
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + MOUNT_WAIT
        while time.monotonic() < deadline:
            entry = mounted_at(self.mount_point)
            if entry is not None and entry["fstype"] == "fuse.rclone":
                return entry
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail("rclone did not mount %s within %gs:\n%s" % (self.mount_point, MOUNT_WAIT, self.log()))

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return "(no log)"

    def kill(self, sig):
        self.process.send_signal(sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()  # rclone unmounts on SIGTERM
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        detach(self.mount_point)


@pytest.fixture
def rclone_mount(tmp_path, azurite, blob_container, rclone_binary):
    """Factory: mount the test's container at tmp_path/"azure photos"; always cleaned up."""
    config = azurite.rclone_config(str(tmp_path / "rclone.conf"))
    mount_point = tmp_path / "azure photos"  # a space, escaped as \040 in mountinfo
    mount_point.mkdir()
    mounts = []

    def start(*extra_args):
        work = tmp_path / ("rclone-%d" % len(mounts))
        work.mkdir()
        mount = RcloneMount(rclone_binary, config, "azurite:" + blob_container, str(mount_point), str(work), extra_args)
        mounts.append(mount)
        mount.start()
        return mount

    yield start
    for mount in mounts:
        mount.stop()
    detach(str(mount_point))


@pytest.fixture
def tmpfs(tmp_path):
    """Factory: mount a tmpfs on a directory; always unmounted afterwards."""
    mounted = []

    def mount(path):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "rclone-mount-info-test", str(path)], check=True)
        mounted.append(str(path))

    yield mount
    for path in reversed(mounted):
        detach(path)


def run_module_timed(capsys, args):
    """main() in this process; returns the result and how long the call took."""
    started = time.monotonic()
    result = module_runner.run_module(rclone_mount_info, capsys, args)
    return result, time.monotonic() - started


def run_module(capsys, args):
    return run_module_timed(capsys, args)[0]


def run_ansible(args, timeout):
    """The module through ansible's ad-hoc command (AnsiballZ, module_utils, stdout pipe)."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    started = time.monotonic()
    done = subprocess.run(
        [os.path.join(REPO_ROOT, ".venv", "bin", "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + os.path.join(REPO_ROOT, ".venv", "bin", "python"),
         "-m", "homelab.immich_pi.rclone_mount_info", "-a", json.dumps(args)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode in (0, 2), done.stderr
    output = json.loads(done.stdout)
    return output["plays"][0]["tasks"][0]["hosts"]["localhost"], elapsed


def blob_names(azurite, container):
    return [blob.name for blob in azurite.service_client().get_container_client(container).list_blobs()]


def test_live_mount(rclone_mount, azurite, blob_container, capsys):
    mount = rclone_mount()
    result = run_module(
        capsys, {"path": mount.mount_point, "remote": "azurite:" + blob_container, "writable": True}
    )
    assert result["changed"] is False
    assert (result["mounted"], result["status"], result["responsive"]) == (True, "live", True)
    assert (result["fstype"], result["remote"]) == ("fuse.rclone", "azurite:" + blob_container)
    assert result["writable"] is True
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (0, [])
    assert result["problems"] == []
    assert result["mount"]["mount_point"] == mount.mount_point
    # The write probe removed its file, in the mount and in the container.
    assert os.listdir(mount.mount_point) == []
    time.sleep(2)  # past --vfs-write-back
    assert [name for name in blob_names(azurite, blob_container) if ".rclone_mount_info." in name] == []


def test_live_mount_of_another_remote(rclone_mount, blob_container, capsys):
    mount = rclone_mount()
    result = run_module(capsys, {"path": mount.mount_point, "remote": "azurite:/%s/photos/" % blob_container})
    assert result["mounted"] is True
    assert result["problems"] == [
        "mounted remote azurite:{0} is not the expected azurite:/{0}/photos/: point the rclone mount service at "
        "azurite:/{0}/photos/ and restart it".format(blob_container)
    ]


def test_live_mount_through_ansible(rclone_mount, blob_container):
    mount = rclone_mount()
    result = run_ansible(
        {"path": mount.mount_point, "remote": "azurite:" + blob_container, "writable": True, "fail_on_problems": True},
        timeout=60,
    )[0]
    assert result.get("failed") is not True, result
    assert (result["mounted"], result["writable"], result["problems"]) == (True, True, [])
    assert "path" not in result and "uid" not in result


def test_killed_rclone_leaves_a_dead_mount(rclone_mount, capsys):
    mount = rclone_mount()
    mount.kill(signal.SIGKILL)
    assert mounted_at(mount.mount_point)["fstype"] == "fuse.rclone"  # the line stays
    result, elapsed = run_module_timed(capsys, {"path": mount.mount_point, "timeout": 3, "service": "rclone-test.service"})
    assert elapsed < 3 + MARGIN
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "stale", False)
    assert result["fstype"] == "fuse.rclone"
    assert result["shadowed_entries"] == 0  # counted under the dead mount without touching it
    assert result["problems"] == [
        "%s is a stale FUSE mount (transport endpoint is not connected: its rclone process is gone): unmount it with "
        "'fusermount3 -uz %s' and restart rclone-test.service" % (mount.mount_point, shlex.quote(mount.mount_point))
    ]


@pytest.mark.parametrize("through_ansible", [False, True], ids=["in-process", "ansible"])
def test_stopped_rclone_leaves_a_hung_mount(rclone_mount, tmp_path, capsys, through_ansible):
    # Files written under the mount point before it was mounted: the scan must still see
    # them while every access to the mount blocks. rclone refuses a non-empty mount point
    # without --allow-non-empty; the test forces it to build the situation (a real setup
    # must not: writes hidden under a mount are what this check finds).
    mount_point = tmp_path / "azure photos"
    mount_point.mkdir(exist_ok=True)
    (mount_point / "IMG_0001.jpg").write_text("written while the mount was down")
    mount = rclone_mount("--allow-non-empty")
    mount.kill(signal.SIGSTOP)
    args = {"path": mount.mount_point, "timeout": 2, "writable": True}
    if through_ansible:
        result, elapsed = run_ansible(args, timeout=60)
        assert elapsed < 2 + MARGIN + 10  # plus ansible's own start-up
    else:
        result, elapsed = run_module_timed(capsys, args)
        assert elapsed < 2 + MARGIN
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "hung", False)
    assert result["fstype"] == "fuse.rclone"
    assert result["writable"] is None
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (1, ["IMG_0001.jpg"])
    assert result["problems"][0] == (
        "%s does not answer within 2s: the rclone process may be hung or dead; restart the rclone mount service"
        % mount.mount_point
    )
    assert result["problems"][1].startswith("files were written under the mount point %s while it was down" % mount.mount_point)
    # The mount comes back when rclone does.
    mount.kill(signal.SIGCONT)
    result = run_module(capsys, {"path": mount.mount_point})
    assert result["status"] == "live"


def test_files_hidden_under_a_live_mount(rclone_mount, tmp_path, capsys):
    mount_point = tmp_path / "azure photos"
    mount_point.mkdir(exist_ok=True)
    (mount_point / "library" / "admin").mkdir(parents=True)
    (mount_point / "library" / "admin" / "IMG_0001.jpg").write_text("x")
    (mount_point / ".hidden").write_text("x")
    # See test_stopped_rclone_leaves_a_hung_mount for --allow-non-empty.
    mount = rclone_mount("--allow-non-empty")
    (mount_point / "in the cloud.txt").write_text("written through the mount")
    result = run_module(capsys, {"path": mount.mount_point, "shadow_scan_limit": 100})
    assert (result["mounted"], result["status"]) == (True, "live")
    assert result["shadowed_entries"] == 4
    assert result["shadowed_paths"] == [".hidden", "library", "library/admin", "library/admin/IMG_0001.jpg"]
    assert result["problems"] == [
        "files were written under the mount point %s while it was down and are hidden on the local disk under the "
        "mount: move them into the mounted folder after the mount is back (4 entries, e.g. .hidden, library, "
        "library/admin)" % mount.mount_point
    ]
    result = run_module(capsys, {"path": mount.mount_point, "shadow_scan_limit": 2})
    assert result["shadowed_entries"] == 2
    assert "(at least 2 entries" in result["problems"][0]


def test_unmounted_directory_with_files(tmp_path, capsys):
    mount_point = tmp_path / "azurephotos"
    (mount_point / "upload").mkdir(parents=True)
    (mount_point / "upload" / "a.jpg").write_text("x")
    (mount_point / "b.jpg").write_text("x")
    result = run_module(capsys, {"path": str(mount_point), "writable": True})
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "not_mounted", True)
    assert (result["fstype"], result["remote"], result["writable"]) == (None, None, None)
    assert result["shadowed_entries"] == 3
    assert result["problems"][0] == "%s is not mounted: start the rclone mount service" % mount_point
    assert result["problems"][1].startswith("%s holds 3 entries on the local disk although nothing is mounted there" % mount_point)
    assert sorted(os.listdir(mount_point)) == ["b.jpg", "upload"]  # nothing written, nothing removed


def test_tmpfs_is_not_an_rclone_mount(tmp_path, tmpfs, capsys):
    mount_point = tmp_path / "azurephotos"
    mount_point.mkdir()
    (mount_point / "under.jpg").write_text("on the disk, under the tmpfs")
    tmpfs(mount_point)
    for name in ("a", "b", "c"):
        (mount_point / name).write_text("in the tmpfs")
    result = run_module(capsys, {"path": str(mount_point), "writable": True})
    assert (result["mounted"], result["status"], result["responsive"]) == (False, "other_filesystem", True)
    assert (result["fstype"], result["remote"], result["writable"]) == ("tmpfs", None, None)
    assert result["mount"]["source"] == "rclone-mount-info-test"
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (1, ["under.jpg"])
    assert result["problems"][0] == (
        "%s is a tmpfs mount (source rclone-mount-info-test), not an rclone mount: find out what mounted it, unmount "
        "it and start the rclone mount service" % mount_point
    )


def test_scan_of_a_plain_directory_leaves_submounts_out(tmp_path, tmpfs, capsys):
    mount_point = tmp_path / "azurephotos"
    (mount_point / "sub").mkdir(parents=True)
    (mount_point / "a.jpg").write_text("x")
    tmpfs(mount_point / "sub")
    (mount_point / "sub" / "in-tmpfs.jpg").write_text("x")
    result = run_module(capsys, {"path": str(mount_point)})
    assert result["status"] == "not_mounted"
    assert (result["shadowed_entries"], result["shadowed_paths"]) == (2, ["a.jpg", "sub"])
