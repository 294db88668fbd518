# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/block_devices.py.

The blkid and wipefs texts were captured from real loop devices (util-linux 2.41.5 in the
Debian trixie test container, 2.38.1 on bookworm and on the Debian host). The sysfs trees
copy the kernel's layout (/sys/dev/block/MAJ:MIN -> ../../devices/.../block/DISK[/PART]).
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils.block_devices import (
    VERDICTS,
    backing_disks,
    decide_verdict,
    describe_contents,
    filesystem_from_probe,
    kernel_name,
    list_holders,
    list_partitions,
    parent_disk,
    parse_blkid_export,
    parse_wipefs_json,
    partition_table_from_probe,
    system_disk_check,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.mountinfo import parse_mountinfo
from ansible_collections.homelab.immich_pi.tests.unit.plugins.captured_disks import (
    BLKID_EMPTY_PARTITION,
    BLKID_FOREIGN_EXT4,
    BLKID_GPT,
    WIPEFS_BLANK,
    WIPEFS_OURS,
)

# --- real `blkid -p -o export DEVICE` output ------------------------------------------------

# bookworm/host, 2.38.1: ext4 made by the role (label immich-ssd).
BLKID_OURS = """DEVNAME=/dev/loop1
LABEL=immich-ssd
UUID=c9ee5a09-e9f0-47dd-9771-c4cd40cc2019
VERSION=1.0
BLOCK_SIZE=1024
TYPE=ext4
USAGE=filesystem
"""
# host: mkfs.vfat -n PHOTOCARD (a camera card).
BLKID_VFAT = """DEVNAME=/dev/loop4
SEC_TYPE=msdos
LABEL_FATBOOT=PHOTOCARD
LABEL=PHOTOCARD
UUID=00E4-DB8D
VERSION=FAT16
BLOCK_SIZE=512
TYPE=vfat
USAGE=filesystem
"""
# trixie: mkfs.ext4 -L 'my photos' (blkid escapes the space).
BLKID_LABEL_WITH_SPACE = """DEVNAME=/sp.img
LABEL=my\\ photos
UUID=73e3d983-c9ff-4bc7-9536-d74c8d1f8453
VERSION=1.0
FSBLOCKSIZE=1024
BLOCK_SIZE=1024
FSLASTBLOCK=65536
FSSIZE=67108864
TYPE=ext4
USAGE=filesystem
"""
# A blank disk: exit code 2 and no output at all (both versions). So is a disk carrying a
# vfat boot sector over an ext4 superblock on 2.41.5 (2.38.1 exits 8, "ambivalent result").
BLKID_NOTHING = ""

# --- real `wipefs --no-act --json DEVICE` output --------------------------------------------

WIPEFS_GPT = """{
   "signatures": [
      {
         "device": "sdb",
         "offset": "0x200",
         "type": "gpt",
         "uuid": null,
         "label": null
      },{
         "device": "sdb",
         "offset": "0xffffe00",
         "type": "gpt",
         "uuid": null,
         "label": null
      },{
         "device": "sdb",
         "offset": "0x1fe",
         "type": "PMBR",
         "uuid": null,
         "label": null
      }
   ]
}
"""
WIPEFS_AMBIVALENT = """{
   "signatures": [
      {
         "device": "amb.img",
         "offset": "0x36",
         "type": "vfat",
         "uuid": "00E4-DB8D",
         "label": null
      },{
         "device": "amb.img",
         "offset": "0x0",
         "type": "vfat",
         "uuid": "00E4-DB8D",
         "label": null
      },{
         "device": "amb.img",
         "offset": "0x1fe",
         "type": "vfat",
         "uuid": "00E4-DB8D",
         "label": null
      },{
         "device": "amb.img",
         "offset": "0x438",
         "type": "ext4",
         "uuid": "9acd5b2d-c51f-43b9-8cff-e3f3b09ff893",
         "label": "x"
      }
   ]
}
"""

# --- sysfs -------------------------------------------------------------------------------------

USB = "devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb2/2-2/2-2:1.0/host0/target0:0:0/0:0:0:0/block"
USB2 = "devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb2/2-1/2-1:1.0/host1/target1:0:0/1:0:0:0/block"
MMC = "devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block"
LOOP = "devices/virtual/block"

# name: (parent directory in sysfs, devno, partition number or None, slaves)
SYSFS_LAYOUT = {
    "mmcblk0": (MMC, "179:0", None, []),
    "mmcblk0p1": (MMC + "/mmcblk0", "179:1", 1, []),
    "mmcblk0p2": (MMC + "/mmcblk0", "179:2", 2, []),
    "sda": (USB, "8:0", None, []),
    "sda1": (USB + "/sda", "8:1", 1, []),
    "sda2": (USB + "/sda", "8:2", 2, []),
    "sdb": (USB2, "8:16", None, []),
    "dm-0": (LOOP, "254:0", None, ["sda2"]),
    "loop3": (LOOP, "7:3", None, []),
    "loop3p1": (LOOP + "/loop3", "259:0", 1, []),
    "loop3p2": (LOOP + "/loop3", "259:1", 2, []),
    "loop4": (LOOP, "7:4", None, []),
}


def make_sysfs(root, layout=None):
    """Build a sysfs tree under root the way the kernel lays it out, return its path."""
    layout = SYSFS_LAYOUT if layout is None else layout
    root = str(root)
    paths = {}
    for name, (parent, devno, number, dummy) in layout.items():
        directory = os.path.join(root, parent, name)
        os.makedirs(os.path.join(directory, "holders"), exist_ok=True)
        os.makedirs(os.path.join(directory, "slaves"), exist_ok=True)
        with open(os.path.join(directory, "dev"), "w") as handle:
            handle.write(devno + "\n")
        if number is not None:
            with open(os.path.join(directory, "partition"), "w") as handle:
                handle.write("%d\n" % number)
        paths[name] = directory
    for sub in ("dev/block", "class/block"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for name, (dummy, devno, dummy2, slaves) in layout.items():
        for link in (os.path.join(root, "dev", "block", devno), os.path.join(root, "class", "block", name)):
            os.symlink(os.path.relpath(paths[name], os.path.dirname(link)), link)
        for slave in slaves:
            slave_link = os.path.join(paths[name], "slaves", slave)
            os.symlink(os.path.relpath(paths[slave], os.path.dirname(slave_link)), slave_link)
            holder_link = os.path.join(paths[slave], "holders", name)
            os.symlink(os.path.relpath(paths[name], os.path.dirname(holder_link)), holder_link)
    return root


@pytest.fixture
def sysfs(tmp_path):
    return make_sysfs(tmp_path / "sys")


# A Raspberry Pi booted from its SD card, and one booted from the USB SSD with root on LVM.
PI_SD_BOOT = parse_mountinfo(
    """22 1 179:2 / / rw,noatime - ext4 /dev/mmcblk0p2 rw
25 22 179:1 / /boot/firmware rw,relatime - vfat /dev/mmcblk0p1 rw,fmask=0022,dmask=0022
"""
)
PI_USB_BOOT = parse_mountinfo(
    """22 1 8:2 / / rw,noatime - ext4 /dev/sda2 rw
25 22 8:1 / /boot/firmware rw,relatime - vfat /dev/sda1 rw
"""
)
PI_LVM_ROOT = parse_mountinfo("22 1 254:0 / / rw,noatime - ext4 /dev/mapper/vg-root rw\n")
TRIXIE_CONTAINER = parse_mountinfo(
    """72 48 0:39 / / rw,relatime master:2 - overlay overlay rw,lowerdir=/l
57 72 7:4 / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw
"""
)


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "filesystem", "partition_table"),
    [
        (BLKID_FOREIGN_EXT4, {"type": "ext4", "label": "photos-old", "uuid": "6e4d5beb-e772-4940-a485-e0a9627f2327"}, None),
        (BLKID_OURS, {"type": "ext4", "label": "immich-ssd", "uuid": "c9ee5a09-e9f0-47dd-9771-c4cd40cc2019"}, None),
        (BLKID_GPT, None, {"type": "gpt", "uuid": "ceeaa32a-a6f8-45b9-acec-58067cb3aa01"}),
        (BLKID_EMPTY_PARTITION, None, None),
        (BLKID_VFAT, {"type": "vfat", "label": "PHOTOCARD", "uuid": "00E4-DB8D"}, None),
        (BLKID_LABEL_WITH_SPACE, {"type": "ext4", "label": "my photos", "uuid": "73e3d983-c9ff-4bc7-9536-d74c8d1f8453"}, None),
        (BLKID_NOTHING, None, None),
    ],
    ids=["foreign-ext4", "ours", "gpt", "empty-partition", "vfat", "label-with-space", "nothing"],
)
def test_blkid_export(text, filesystem, partition_table):
    probe = parse_blkid_export(text)
    found = filesystem_from_probe(probe)
    if filesystem is None:
        assert found is None
    else:
        assert {key: found[key] for key in filesystem} == filesystem
        assert found["usage"] == "filesystem"
    assert partition_table_from_probe(probe) == partition_table


def test_blkid_export_keeps_equal_signs_in_values():
    assert parse_blkid_export("LABEL=a=b\nnot a pair\n=x\n") == {"LABEL": "a=b"}


@pytest.mark.parametrize(
    ("text", "types"),
    [
        (WIPEFS_BLANK, []),
        ("", []),
        (WIPEFS_OURS, ["ext4"]),
        (WIPEFS_GPT, ["gpt", "gpt", "PMBR"]),
        (WIPEFS_AMBIVALENT, ["vfat", "vfat", "vfat", "ext4"]),
    ],
    ids=["blank", "no-output", "ours", "gpt", "ambivalent"],
)
def test_wipefs_json(text, types):
    signatures = parse_wipefs_json(text)
    assert [sig["type"] for sig in signatures] == types
    assert all(set(sig) == {"type", "offset", "uuid", "label"} for sig in signatures)


def test_wipefs_json_keeps_label_and_offset():
    assert parse_wipefs_json(WIPEFS_OURS) == [
        {"type": "ext4", "offset": "0x438", "uuid": "8862a0b7-ba29-47b2-af69-d7e29b4d7310", "label": "immich-ssd"}
    ]


# --- sysfs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("devno", "disk"),
    [("259:0", "7:3"), ("259:1", "7:3"), ("7:3", "7:3"), ("8:2", "8:0"), ("179:2", "179:0"), ("8:16", "8:16"), ("0:39", "0:39")],
    ids=["loop-partition", "loop-partition-2", "loop-disk", "usb-partition", "sd-partition", "usb-disk", "no-sysfs-entry"],
)
def test_parent_disk(sysfs, devno, disk):
    assert parent_disk(devno, sysfs) == disk


def test_list_partitions(sysfs):
    assert list_partitions("7:3", sysfs) == [
        {"name": "loop3p1", "devno": "259:0", "number": 1},
        {"name": "loop3p2", "devno": "259:1", "number": 2},
    ]
    assert list_partitions("8:16", sysfs) == []
    assert list_partitions("259:0", sysfs) == []
    assert list_partitions("9:9", sysfs) == []


def test_holders_and_slaves(sysfs):
    assert list_holders("8:2", sysfs) == ["dm-0"]
    assert list_holders("8:1", sysfs) == []
    assert backing_disks("254:0", sysfs) == {"254:0", "8:2", "8:0"}
    assert backing_disks("0:39", sysfs) == {"0:39"}


def test_kernel_name(sysfs):
    assert kernel_name("179:0", sysfs) == "mmcblk0"
    assert kernel_name("259:1", sysfs) == "loop3p2"
    assert kernel_name("1:99", sysfs) is None


@pytest.mark.parametrize(
    ("paths", "devno", "mounts", "expected", "reason_has"),
    [
        (["/dev/mmcblk0"], "179:0", PI_SD_BOOT, True, "SD card"),
        (["/dev/disk/by-id/mmc-SC64G_0x1", "/dev/mmcblk0"], "179:0", [], True, "SD card"),
        (["/dev/sda"], "8:0", PI_SD_BOOT, False, None),
        (["/dev/sda"], "8:0", PI_USB_BOOT, True, "backs /"),
        (["/dev/sda1"], "8:1", PI_USB_BOOT, True, "is on disk sda"),
        (["/dev/sdb"], "8:16", PI_USB_BOOT, False, None),
        (["/dev/sda"], "8:0", PI_LVM_ROOT, True, "backs /"),
        (["/dev/sdd"], "7:4", TRIXIE_CONTAINER, True, "backs /boot/firmware (mounted from /dev/mmcblk0)"),
        (["/dev/sda"], "7:3", TRIXIE_CONTAINER, False, None),
    ],
    ids=[
        "sd-card-by-name",
        "sd-card-behind-symlink",
        "usb-ssd-on-sd-booted-pi",
        "usb-disk-that-boots-the-pi",
        "partition-of-the-boot-disk",
        "second-usb-disk",
        "disk-under-lvm-root",
        "same-device-other-name",
        "container-data-disk",
    ],
)
def test_system_disk_check(sysfs, paths, devno, mounts, expected, reason_has):
    system, reason = system_disk_check(paths, devno, mounts, sysfs)
    assert system is expected
    if expected:
        assert reason_has in reason
    else:
        assert reason is None


# --- decisions ------------------------------------------------------------------------------------

FS_OURS = filesystem_from_probe(parse_blkid_export(BLKID_OURS))
FS_FOREIGN = filesystem_from_probe(parse_blkid_export(BLKID_FOREIGN_EXT4))
FS_VFAT_OUR_LABEL = dict(filesystem_from_probe(parse_blkid_export(BLKID_VFAT)), label="immich-ssd")
PT_GPT = partition_table_from_probe(parse_blkid_export(BLKID_GPT))
PARTS = [{"name": "loop3p1", "devno": "259:0", "number": 1, "mounted_at": []}]


def verdict(**overrides):
    facts = dict(
        exists=True,
        is_block_device=True,
        system_disk=False,
        system_disk_reason=None,
        filesystem=None,
        partition_table=None,
        partitions=[],
        signatures=[],
        mounted_at=[],
        holders=[],
        our_label="immich-ssd",
        our_fstype="ext4",
        wanted_uuid=None,
        mount_point="/mnt/ssd",
        device="/dev/sda",
    )
    facts.update(overrides)
    return decide_verdict(**facts)


@pytest.mark.parametrize(
    ("overrides", "expected", "reason_has"),
    [
        ({}, "blank", "is blank"),
        ({"filesystem": FS_OURS, "signatures": parse_wipefs_json(WIPEFS_OURS)}, "ours", "holds our filesystem"),
        ({"filesystem": FS_OURS, "mounted_at": ["/mnt/ssd"]}, "ours", "labelled 'immich-ssd'"),
        ({"filesystem": FS_OURS, "mounted_at": ["/mnt/ssd"], "mount_point": None}, "ours", "our filesystem"),
        ({"filesystem": FS_OURS, "mounted_at": ["/mnt/ssd", "/mnt/ssd/docker"]}, "ours", "labelled 'immich-ssd'"),
        ({"filesystem": FS_OURS, "mounted_at": ["/media/pi/immich-ssd"]}, "foreign", "mounted at /media/pi/immich-ssd"),
        ({"filesystem": FS_OURS, "mounted_at": ["/media/pi/immich-ssd", "/srv/x"]}, "foreign", "/media/pi/immich-ssd, /srv/x"),
        ({"filesystem": FS_FOREIGN}, "foreign", "labelled 'photos-old'"),
        ({"filesystem": FS_FOREIGN, "wanted_uuid": "6e4d5beb-e772-4940-a485-e0a9627f2327"}, "ours", "requested ext4"),
        ({"filesystem": FS_FOREIGN, "wanted_uuid": "00000000-0000-0000-0000-000000000000"}, "foreign", "photos-old"),
        ({"filesystem": FS_VFAT_OUR_LABEL}, "foreign", "a vfat filesystem"),
        ({"partition_table": PT_GPT, "signatures": parse_wipefs_json(WIPEFS_GPT)}, "foreign", "a gpt partition table"),
        ({"partitions": PARTS}, "foreign", "1 partition(s) (loop3p1)"),
        ({"signatures": parse_wipefs_json(WIPEFS_AMBIVALENT)}, "foreign", "ext4, vfat"),
        ({"holders": ["dm-0"]}, "foreign", "in use by dm-0"),
        ({"filesystem": FS_OURS, "our_label": "other-ssd"}, "foreign", "immich-ssd"),
        ({"filesystem": FS_OURS, "our_fstype": "xfs"}, "foreign", "ext4"),
        ({"system_disk": True, "system_disk_reason": "/dev/mmcblk0 is an SD card"}, "system", "SD card"),
        ({"system_disk": True, "filesystem": FS_OURS}, "system", "system disk"),
        ({"exists": False, "is_block_device": False}, "missing", "does not exist"),
        ({"is_block_device": False}, "missing", "not a block device"),
    ],
    ids=[
        "blank",
        "ours",
        "ours-mounted-here",
        "ours-mounted-no-mount-point-given",
        "ours-mounted-here-and-docker-bind-of-data-root",
        "ours-mounted-elsewhere",
        "ours-mounted-elsewhere-twice",
        "foreign-label",
        "foreign-label-but-requested-uuid",
        "other-uuid-requested",
        "our-label-wrong-type",
        "partition-table",
        "stale-kernel-partitions",
        "ambivalent-signatures-only",
        "held-by-device-mapper",
        "label-changed",
        "type-changed",
        "system",
        "system-beats-ours",
        "missing",
        "not-a-block-device",
    ],
)
def test_decide_verdict(overrides, expected, reason_has):
    result, reason = verdict(**overrides)
    assert result == expected
    assert result in VERDICTS
    assert reason_has in reason


def test_blank_needs_every_check_clean():
    """Any single trace of data is enough to make a disk not blank."""
    traces = [
        {"filesystem": FS_FOREIGN},
        {"partition_table": PT_GPT},
        {"partitions": PARTS},
        {"signatures": parse_wipefs_json(WIPEFS_AMBIVALENT)},
        {"mounted_at": ["/mnt/ssd"]},
        {"holders": ["md0"]},
    ]
    for trace in traces:
        assert verdict(**trace)[0] != "blank", trace


def test_describe_contents():
    assert describe_contents(FS_FOREIGN, None, [], []) == (
        "an ext4 filesystem labelled 'photos-old' (UUID 6e4d5beb-e772-4940-a485-e0a9627f2327)"
    )
    assert describe_contents(None, PT_GPT, PARTS, []) == "a gpt partition table and 1 partition(s) (loop3p1)"
    assert describe_contents(None, None, [], []) == "nothing"
