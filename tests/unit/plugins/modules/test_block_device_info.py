# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive block_device_info's main() with ansible-core's patch_module_args.

Commands answer with output captured from the trixie test container (loop devices passed
in as /dev/sda, /dev/sdb, /dev/sdc and /dev/mmcblk0 + /dev/sdd), mountinfo is the text read
in that container, and sysfs is a tree laid out like the kernel's.
"""

from __future__ import annotations

import functools
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.homelab.immich_pi.plugins.modules import block_device_info
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner
from ansible_collections.homelab.immich_pi.tests.unit.plugins.captured_disks import (
    BLKID_EMPTY_PARTITION,
    BLKID_FOREIGN_EXT4,
    BLKID_GPT,
    WIPEFS_BLANK,
    WIPEFS_OURS,
)

BLKID = "/usr/sbin/blkid"
WIPEFS = "/usr/sbin/wipefs"

MOUNTINFO_FRESH = """72 48 0:39 / / rw,relatime master:2 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/WG32BXXRLB4CWEM3C5WMT7LKPY
73 72 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
57 72 7:4 / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw
"""
MOUNTINFO_CONVERGED = MOUNTINFO_FRESH + "99 72 7:0 / /mnt/ssd rw,noatime - ext4 /dev/sda rw\n"
# Captured on a converged simulated Pi: the Pi's Docker bind-mounts its data-root onto itself.
MOUNTINFO_WITH_DOCKER = MOUNTINFO_CONVERGED + "97 99 7:0 /docker /mnt/ssd/docker rw,noatime shared:104 - ext4 /dev/sda rw\n"

BLKID_OURS = """DEVNAME=/dev/sda
LABEL=immich-ssd
UUID=8862a0b7-ba29-47b2-af69-d7e29b4d7310
VERSION=1.0
FSBLOCKSIZE=1024
BLOCK_SIZE=1024
FSLASTBLOCK=262144
FSSIZE=268435456
TYPE=ext4
USAGE=filesystem
"""
BLKID_BOOTFS = """DEVNAME=/dev/mmcblk0
LABEL=bootfs
UUID=d9511dbc-cf20-418e-8e29-f127cfd8f358
VERSION=1.0
FSBLOCKSIZE=1024
BLOCK_SIZE=1024
FSLASTBLOCK=262144
FSSIZE=268435456
TYPE=ext4
USAGE=filesystem
"""
WIPEFS_FOREIGN = """{
   "signatures": [
      {
         "device": "sdb",
         "offset": "0x438",
         "type": "ext4",
         "uuid": "6e4d5beb-e772-4940-a485-e0a9627f2327",
         "label": "photos-old"
      }
   ]
}
"""
WIPEFS_GPT = """{
   "signatures": [
      {
         "device": "sdc",
         "offset": "0x200",
         "type": "gpt",
         "uuid": null,
         "label": null
      },{
         "device": "sdc",
         "offset": "0xffffe00",
         "type": "gpt",
         "uuid": null,
         "label": null
      },{
         "device": "sdc",
         "offset": "0x1fe",
         "type": "PMBR",
         "uuid": null,
         "label": null
      }
   ]
}
"""
# A vfat boot sector written over an ext4 superblock.
WIPEFS_AMBIVALENT = """{
   "signatures": [
      {
         "device": "sde",
         "offset": "0x36",
         "type": "vfat",
         "uuid": "00E4-DB8D",
         "label": null
      },{
         "device": "sde",
         "offset": "0x438",
         "type": "ext4",
         "uuid": "9acd5b2d-c51f-43b9-8cff-e3f3b09ff893",
         "label": "x"
      }
   ]
}
"""
AMBIVALENT_238 = "blkid: /dev/sde: ambivalent result (probably more filesystems on the device, use wipefs(8) to see more details)\n"

NOTHING = (2, "", "")

# The devices of the container: path -> (exists, block device, devno).
DEVICES = {
    "/dev/sda": (True, True, "7:0"),
    "/dev/sdb": (True, True, "7:2"),
    "/dev/sdc": (True, True, "7:3"),
    "/dev/loop3p1": (True, True, "259:0"),
    "/dev/mmcblk0": (True, True, "7:4"),
    "/dev/sdd": (True, True, "7:4"),
    "/dev/sde": (True, True, "7:5"),
    "/etc/hosts": (True, False, None),
}

# Disk kernel names as the host sees them (a container shares the host's sysfs).
SYSFS = {
    "loop0": ("", "7:0", None),
    "loop2": ("", "7:2", None),
    "loop3": ("", "7:3", None),
    "loop3p1": ("loop3", "259:0", 1),
    "loop3p2": ("loop3", "259:1", 2),
    "loop4": ("", "7:4", None),
    "loop5": ("", "7:5", None),
}


def build_sysfs(root):
    root = str(root)
    for name, (parent, devno, number) in SYSFS.items():
        directory = os.path.join(root, "devices", "virtual", "block", parent, name)
        os.makedirs(os.path.join(directory, "holders"))
        with open(os.path.join(directory, "dev"), "w") as handle:
            handle.write(devno + "\n")
        if number:
            with open(os.path.join(directory, "partition"), "w") as handle:
                handle.write("%d\n" % number)
        for link_dir in (os.path.join(root, "dev", "block"), os.path.join(root, "class", "block")):
            os.makedirs(link_dir, exist_ok=True)
        for link in (os.path.join(root, "dev", "block", devno), os.path.join(root, "class", "block", name)):
            os.symlink(os.path.relpath(directory, os.path.dirname(link)), link)
    return root


class Host:
    """The fake managed host: answers the module's commands and records them."""

    def __init__(self, tmp_path, monkeypatch, mountinfo=MOUNTINFO_FRESH):
        self.commands = {}
        self.calls = []
        mountinfo_file = tmp_path / "mountinfo"
        mountinfo_file.write_text(mountinfo)
        monkeypatch.setattr(block_device_info, "MOUNTINFO_PATH", str(mountinfo_file))
        monkeypatch.setattr(block_device_info, "SYSFS_ROOT", build_sysfs(tmp_path / "sys"))
        monkeypatch.setattr(block_device_info, "stat_device", lambda path: DEVICES.get(path, (False, False, None)))
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/sbin/" + name)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", self.run_command)

    def disk(self, device, blkid, wipefs=(0, WIPEFS_BLANK, "")):
        self.commands[(BLKID, "-p", "-o", "export", device)] = blkid
        self.commands[(WIPEFS, "--no-act", "--json", device)] = wipefs

    def tag(self, tag, value, answer):
        self.commands[(BLKID, "-c", os.devnull, "-o", "device", "-t", "%s=%s" % (tag, value))] = answer

    def run_command(self, args, **kwargs):
        assert isinstance(args, list), "commands must be argument lists, not shell strings"
        self.calls.append(args)
        return self.commands[tuple(args)]


run_module = functools.partial(module_runner.run_module, block_device_info)


@pytest.fixture
def host(tmp_path, monkeypatch):
    return Host(tmp_path, monkeypatch)


def test_blank_disk(host, capsys):
    host.disk("/dev/sda", NOTHING)
    result = run_module(capsys, {"device": "/dev/sda", "mount_point": "/mnt/ssd"})
    assert result["rc"] == 0
    assert result["changed"] is False
    assert result["verdict"] == "blank"
    assert result["exists"] and result["is_block_device"]
    assert (result["devno"], result["disk_devno"]) == ("7:0", "7:0")
    assert result["filesystem"] is None and result["partition_table"] is None
    assert result["partitions"] == [] and result["signatures"] == [] and result["mounted_at"] == []
    assert result["in_use"] is False and result["system_disk"] is False
    assert result["mount_point_devno"] is None
    assert host.calls == [[BLKID, "-p", "-o", "export", "/dev/sda"], [WIPEFS, "--no-act", "--json", "/dev/sda"]]


def test_ours_mounted_at_its_mount_point(tmp_path, monkeypatch, capsys):
    host = Host(tmp_path, monkeypatch, MOUNTINFO_CONVERGED)
    host.disk("/dev/sda", (0, BLKID_OURS, ""), (0, WIPEFS_OURS, ""))
    result = run_module(capsys, {"device": "/dev/sda", "mount_point": "/mnt/ssd/"})
    assert result["verdict"] == "ours"
    assert result["filesystem"]["uuid"] == "8862a0b7-ba29-47b2-af69-d7e29b4d7310"
    assert result["mounted_at"] == ["/mnt/ssd"]
    assert result["mount_point_devno"] == "7:0"
    assert result["in_use"] is True
    assert result["changed"] is False


def test_ours_while_docker_binds_its_data_root_on_it(tmp_path, monkeypatch, capsys):
    host = Host(tmp_path, monkeypatch, MOUNTINFO_WITH_DOCKER)
    host.disk("/dev/sda", (0, BLKID_OURS, ""), (0, WIPEFS_OURS, ""))
    result = run_module(capsys, {"device": "/dev/sda", "mount_point": "/mnt/ssd"})
    assert result["verdict"] == "ours", result["reason"]
    assert result["mounted_at"] == ["/mnt/ssd", "/mnt/ssd/docker"]


def test_ours_mounted_elsewhere_is_foreign(tmp_path, monkeypatch, capsys):
    host = Host(tmp_path, monkeypatch, MOUNTINFO_CONVERGED)
    host.disk("/dev/sda", (0, BLKID_OURS, ""), (0, WIPEFS_OURS, ""))
    result = run_module(capsys, {"device": "/dev/sda", "mount_point": "/srv/photos"})
    assert result["verdict"] == "foreign"
    assert "mounted at /mnt/ssd" in result["reason"]
    assert result["mount_point_devno"] is None


def test_foreign_filesystem(host, capsys):
    host.disk("/dev/sdb", (0, BLKID_FOREIGN_EXT4, ""), (0, WIPEFS_FOREIGN, ""))
    result = run_module(capsys, {"device": "/dev/sdb", "our_label": "immich-ssd"})
    assert result["verdict"] == "foreign"
    assert result["reason"] == (
        "/dev/sdb holds an ext4 filesystem labelled 'photos-old' (UUID 6e4d5beb-e772-4940-a485-e0a9627f2327)"
    )


def test_partition_table_and_partitions(host, capsys):
    host.disk("/dev/sdc", (0, BLKID_GPT, ""), (0, WIPEFS_GPT, ""))
    result = run_module(capsys, {"device": "/dev/sdc"})
    assert result["verdict"] == "foreign"
    assert result["partition_table"] == {"type": "gpt", "uuid": "ceeaa32a-a6f8-45b9-acec-58067cb3aa01"}
    assert result["partitions"] == [
        {"name": "loop3p1", "devno": "259:0", "number": 1, "mounted_at": []},
        {"name": "loop3p2", "devno": "259:1", "number": 2, "mounted_at": []},
    ]
    assert [sig["type"] for sig in result["signatures"]] == ["gpt", "gpt", "PMBR"]


def test_partition_resolves_to_its_disk(host, capsys):
    host.disk("/dev/loop3p1", (0, BLKID_EMPTY_PARTITION, ""))
    result = run_module(capsys, {"device": "/dev/loop3p1"})
    assert (result["devno"], result["disk_devno"]) == ("259:0", "7:3")
    assert result["partitions"] == []
    assert result["verdict"] == "blank"


@pytest.mark.parametrize(
    ("device", "reason_has"),
    [("/dev/mmcblk0", "SD card"), ("/dev/sdd", "backs /boot/firmware (mounted from /dev/mmcblk0)")],
    ids=["by-name", "same-devno-other-name"],
)
def test_system_disk(host, capsys, device, reason_has):
    host.disk(device, (0, BLKID_BOOTFS, ""), (0, WIPEFS_BLANK, ""))
    result = run_module(capsys, {"device": device, "our_label": "bootfs"})
    assert result["verdict"] == "system"
    assert result["system_disk"] is True
    assert reason_has in result["system_disk_reason"]
    assert result["mounted_at"] == ["/boot/firmware"]


@pytest.mark.parametrize(
    "blkid",
    [NOTHING, (8, "", AMBIVALENT_238)],
    ids=["util-linux-2.41-silent", "util-linux-2.38-exit-8"],
)
def test_conflicting_signatures_are_not_blank(host, capsys, blkid):
    host.disk("/dev/sde", blkid, (0, WIPEFS_AMBIVALENT, ""))
    result = run_module(capsys, {"device": "/dev/sde"})
    assert result["filesystem"] is None
    assert result["verdict"] == "foreign"
    assert "ext4, vfat" in result["reason"]


@pytest.mark.parametrize(
    ("blkid", "wipefs", "msg_has"),
    [
        ((2, "", "blkid: error: /dev/sda: Operation not permitted\n"), (0, WIPEFS_BLANK, ""), "Operation not permitted"),
        (NOTHING, (1, "", "wipefs: error: /dev/sda: probing initialization failed: Permission denied\n"), "Permission denied"),
        (NOTHING, (0, "not json", ""), "could not parse wipefs"),
    ],
    ids=["blkid-permission", "wipefs-permission", "wipefs-garbage"],
)
def test_probe_errors_fail_instead_of_looking_blank(host, capsys, blkid, wipefs, msg_has):
    host.disk("/dev/sda", blkid, wipefs)
    result = run_module(capsys, {"device": "/dev/sda"})
    assert result["rc"] == 1
    assert result["failed"] is True
    assert msg_has in result["msg"]
    assert "verdict" not in result


@pytest.mark.parametrize(
    ("device", "reason"),
    [("/dev/sdz", "/dev/sdz does not exist"), ("/etc/hosts", "/etc/hosts exists but is not a block device")],
)
def test_missing(host, capsys, device, reason):
    result = run_module(capsys, {"device": device})
    assert result["verdict"] == "missing"
    assert result["reason"] == reason
    assert result["devno"] is None
    assert host.calls == []


def test_found_by_label(host, capsys):
    host.tag("LABEL", "immich-ssd", (0, "/dev/sda\n", ""))
    host.disk("/dev/sda", (0, BLKID_OURS, ""), (0, WIPEFS_OURS, ""))
    result = run_module(capsys, {"label": "immich-ssd"})
    assert result["matches"] == ["/dev/sda"]
    assert result["device"] == "/dev/sda"
    assert result["verdict"] == "ours"


def test_label_not_found(host, capsys):
    host.tag("LABEL", "immich-ssd", NOTHING)
    result = run_module(capsys, {"label": "immich-ssd"})
    assert result["rc"] == 0
    assert result["verdict"] == "missing"
    assert result["exists"] is False and result["device"] is None
    assert "LABEL=immich-ssd" in result["reason"]


def test_label_on_two_disks_fails(host, capsys):
    host.tag("LABEL", "immich-ssd", (0, "/dev/sda\n/dev/sdb\n", ""))
    result = run_module(capsys, {"label": "immich-ssd"})
    assert result["failed"] is True
    assert "/dev/sda, /dev/sdb" in result["msg"]


def test_found_by_uuid_counts_as_ours_whatever_the_label(host, capsys):
    uuid = "6e4d5beb-e772-4940-a485-e0a9627f2327"
    host.tag("UUID", uuid, (0, "/dev/sdb\n", ""))
    host.disk("/dev/sdb", (0, BLKID_FOREIGN_EXT4, ""), (0, WIPEFS_FOREIGN, ""))
    result = run_module(capsys, {"uuid": uuid})
    assert result["verdict"] == "ours"
    assert uuid in result["reason"]


@pytest.mark.parametrize(
    ("args", "msg_has"),
    [
        ({"device": "/dev/sda", "label": "immich-ssd"}, "mutually exclusive"),
        ({"our_label": "immich-ssd"}, "one of the following is required"),
    ],
)
def test_argument_errors(host, capsys, args, msg_has):
    result = run_module(capsys, args)
    assert result["failed"] is True
    assert msg_has in result["msg"]
    assert host.calls == []
