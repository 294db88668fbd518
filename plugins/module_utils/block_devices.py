# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Facts about a block device and the decision whether it may be formatted.

Parsing (``blkid -p -o export``, ``wipefs --json``), the sysfs walk (partition -> disk,
device-mapper -> slaves) and the verdict are plain functions so unit tests can drive them
with output captured on real hosts and with a copy of a real sysfs layout.

Verdicts:

``missing``  the device does not exist or is not a block device;
``system``   the SD card, or the disk behind ``/``, ``/boot`` or ``/boot/firmware``:
             never touched, not even when formatting is forced;
``ours``     holds the wanted filesystem type with our label (or the requested UUID):
             mount it and keep its data;
``blank``    no filesystem, no partition table, no partitions, no signature at all:
             safe to format;
``foreign``  anything else: formatting it destroys data, only when forced.
"""

from __future__ import annotations

import json
import os
import typing as t

# Mount points whose backing disk(s) the Pi runs from.
SYSTEM_MOUNT_POINTS = ("/", "/boot", "/boot/firmware")
# Kernel names of SD/eMMC devices (/dev/mmcblk0, /dev/mmcblk0p2): a Pi's boot medium.
SD_CARD_PREFIX = "mmcblk"

VERDICTS = ("blank", "ours", "foreign", "system", "missing")


# --- parsing -------------------------------------------------------------------------------


def parse_blkid_export(text: str) -> dict[str, str]:
    """Parse ``blkid -p -o export DEVICE`` output (KEY=value lines) into a dict.

    Values are printed raw by blkid in export mode except for shell-unsafe characters,
    which it escapes with a backslash; the escapes are removed.
    """
    probe = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key:
            continue
        probe[key] = _unescape_export(value)
    return probe


def _unescape_export(value: str) -> str:
    out = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            out.append(next(chars, ""))
        else:
            out.append(char)
    return "".join(out)


def parse_wipefs_json(text: str) -> list[dict[str, t.Any]]:
    """Parse ``wipefs --json DEVICE`` (list-only mode) into a list of signatures.

    Each signature is ``{"type", "offset", "uuid", "label"}``. Empty output means none.
    """
    if not text.strip():
        return []
    data = json.loads(text)
    return [
        {
            "type": item.get("type"),
            "offset": item.get("offset"),
            "uuid": item.get("uuid"),
            "label": item.get("label"),
        }
        for item in data.get("signatures", [])
    ]


def filesystem_from_probe(probe: dict[str, str]) -> dict[str, t.Any] | None:
    """The superblock blkid found (any TYPE: filesystem, swap, LUKS, RAID member), or None."""
    fstype = probe.get("TYPE")
    if not fstype:
        return None
    return {
        "type": fstype,
        "label": probe.get("LABEL"),
        "uuid": probe.get("UUID"),
        "usage": probe.get("USAGE"),
        "version": probe.get("VERSION"),
    }


def partition_table_from_probe(probe: dict[str, str]) -> dict[str, t.Any] | None:
    """The partition table blkid found on the device itself, or None."""
    pttype = probe.get("PTTYPE")
    if not pttype:
        return None
    return {"type": pttype, "uuid": probe.get("PTUUID")}


# --- device numbers and sysfs ----------------------------------------------------------------


def devno_string(rdev: int) -> str:
    """os.stat().st_rdev -> "MAJOR:MINOR"."""
    return "%d:%d" % (os.major(rdev), os.minor(rdev))


def is_sd_card_name(path: str | None) -> bool:
    """True for /dev/mmcblk0 and its partitions (/dev/mmcblk0p2)."""
    return bool(path) and os.path.basename(path).startswith(SD_CARD_PREFIX)


def _sysfs_dir(devno: str, sysfs_root: str) -> str | None:
    """Resolved /sys/dev/block/MAJ:MIN directory, or None when the kernel has no such block device."""
    link = os.path.join(sysfs_root, "dev", "block", devno)
    if not os.path.exists(link):
        return None
    return os.path.realpath(link)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _devno_of_name(name: str, sysfs_root: str) -> str | None:
    return _read(os.path.join(sysfs_root, "class", "block", name, "dev"))


def kernel_name(devno: str, sysfs_root: str = "/sys") -> str | None:
    """Kernel name (sda, loop3p1, mmcblk0p2) of MAJ:MIN, or None."""
    directory = _sysfs_dir(devno, sysfs_root)
    return os.path.basename(directory) if directory else None


def parent_disk(devno: str, sysfs_root: str = "/sys") -> str:
    """The whole disk of a partition (MAJ:MIN of sda for sda2); a disk maps to itself."""
    directory = _sysfs_dir(devno, sysfs_root)
    if directory is None or not os.path.exists(os.path.join(directory, "partition")):
        return devno
    return _read(os.path.join(os.path.dirname(directory), "dev")) or devno


def backing_disks(devno: str, sysfs_root: str = "/sys") -> set[str]:
    """Whole disks a device lives on: a partition's disk, a dm/md device's slaves' disks.

    The device itself is always part of the set (a device with no sysfs entry, such as an
    overlay's anonymous 0:NN, only backs itself).
    """
    found = {devno}
    pending = [devno]
    while pending:
        current = pending.pop()
        disk = parent_disk(current, sysfs_root)
        if disk not in found:
            found.add(disk)
            pending.append(disk)
        directory = _sysfs_dir(current, sysfs_root)
        slaves_dir = os.path.join(directory, "slaves") if directory else None
        if slaves_dir and os.path.isdir(slaves_dir):
            for name in sorted(os.listdir(slaves_dir)):
                slave = _devno_of_name(name, sysfs_root)
                if slave and slave not in found:
                    found.add(slave)
                    pending.append(slave)
    return found


def list_partitions(devno: str, sysfs_root: str = "/sys") -> list[dict[str, str]]:
    """Partitions the kernel knows on the disk MAJ:MIN: ``[{"name", "devno", "number"}]``, by number."""
    directory = _sysfs_dir(devno, sysfs_root)
    if directory is None:
        return []
    partitions = []
    for name in os.listdir(directory):
        entry = os.path.join(directory, name)
        number = _read(os.path.join(entry, "partition"))
        dev = _read(os.path.join(entry, "dev"))
        if number and dev:
            partitions.append((int(number) if number.isdigit() else 0, name, dev))
    return [{"name": name, "devno": dev, "number": number} for number, name, dev in sorted(partitions)]


def list_holders(devno: str, sysfs_root: str = "/sys") -> list[str]:
    """Kernel names of devices stacked on MAJ:MIN (device-mapper, md RAID, bcache)."""
    directory = _sysfs_dir(devno, sysfs_root)
    holders_dir = os.path.join(directory, "holders") if directory else None
    if not holders_dir or not os.path.isdir(holders_dir):
        return []
    return sorted(os.listdir(holders_dir))


# --- decisions ---------------------------------------------------------------------------------


def system_disk_check(
    paths: list[str],
    devno: str,
    mounts: list[dict[str, t.Any]],
    sysfs_root: str = "/sys",
) -> tuple[bool, str | None]:
    """Is this device (or the disk it is on) the one the system runs from?

    paths: the names the caller knows it by (as given, resolved); devno: its MAJ:MIN;
    mounts: parsed mountinfo entries. Returns (system_disk, reason).
    """
    for path in paths:
        if is_sd_card_name(path):
            return True, "%s is an SD card/eMMC device (mmcblk*), the medium a Raspberry Pi boots from" % path
    ours = backing_disks(devno, sysfs_root)
    for entry in mounts:
        if entry["mount_point"] not in SYSTEM_MOUNT_POINTS:
            continue
        shared = ours & backing_disks(entry["devno"], sysfs_root)
        if shared:
            disk = sorted(shared)[0]
            return True, "%s (%s) is on disk %s, which backs %s (mounted from %s)" % (
                paths[-1] if paths else devno,
                devno,
                kernel_name(disk, sysfs_root) or disk,
                entry["mount_point"],
                entry["source"],
            )
    return False, None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def describe_contents(
    filesystem: dict[str, t.Any] | None,
    partition_table: dict[str, t.Any] | None,
    partitions: list[dict[str, t.Any]],
    signatures: list[dict[str, t.Any]],
) -> str:
    """Human summary of what is on a device ("ext4 filesystem labelled 'photos'")."""
    parts = []
    if filesystem:
        text = "%s %s filesystem" % (_article(filesystem["type"]), filesystem["type"])
        if filesystem.get("label"):
            text += " labelled '%s'" % filesystem["label"]
        if filesystem.get("uuid"):
            text += " (UUID %s)" % filesystem["uuid"]
        parts.append(text)
    if partition_table:
        parts.append("%s %s partition table" % (_article(partition_table["type"]), partition_table["type"]))
    if partitions:
        parts.append("%d partition(s) (%s)" % (len(partitions), ", ".join(p["name"] for p in partitions)))
    if not parts and signatures:
        types = sorted({str(sig.get("type")) for sig in signatures})
        parts.append("signatures blkid cannot tell apart (%s; see wipefs)" % ", ".join(types))
    return " and ".join(parts) if parts else "nothing"


def decide_verdict(
    exists: bool,
    is_block_device: bool,
    system_disk: bool,
    system_disk_reason: str | None,
    filesystem: dict[str, t.Any] | None,
    partition_table: dict[str, t.Any] | None,
    partitions: list[dict[str, t.Any]],
    signatures: list[dict[str, t.Any]],
    mounted_at: list[str],
    holders: list[str],
    our_label: str | None,
    our_fstype: str = "ext4",
    wanted_uuid: str | None = None,
    mount_point: str | None = None,
    device: str | None = None,
) -> tuple[str, str]:
    """Return (verdict, reason) for a probed device. See the module docstring for verdicts.

    mounted_at: where the device itself is mounted; partitions may carry their own
    ``mounted_at`` lists. mount_point: where the caller will mount it; being mounted
    anywhere else makes the device foreign.
    """
    name = device or "the device"
    if not exists:
        return "missing", "%s does not exist" % name
    if not is_block_device:
        return "missing", "%s exists but is not a block device" % name
    if system_disk:
        return "system", system_disk_reason or "%s is the system disk" % name

    contents = describe_contents(filesystem, partition_table, partitions, signatures)
    # Mounted where the caller wants it, further mounts of the same filesystem are uses of it
    # (Docker bind-mounts its data-root onto itself), not another owner.
    if mount_point is None or mount_point in mounted_at:
        elsewhere = []
    else:
        elsewhere = [path for path in mounted_at if path != mount_point]
    if holders:
        return "foreign", "%s is in use by %s (device-mapper/RAID) and holds %s" % (
            name, ", ".join(holders), contents)
    if elsewhere:
        return "foreign", "%s holds %s and is mounted at %s" % (name, contents, ", ".join(elsewhere))

    matches_type = bool(filesystem) and filesystem["type"] == our_fstype
    if matches_type and wanted_uuid and filesystem.get("uuid") == wanted_uuid:
        return "ours", "%s holds the requested %s filesystem with UUID %s" % (name, our_fstype, wanted_uuid)
    if matches_type and our_label and filesystem.get("label") == our_label:
        return "ours", "%s holds our filesystem: %s" % (name, contents)

    if not filesystem and not partition_table and not partitions and not signatures and not mounted_at:
        return "blank", "%s is blank: no filesystem, no partition table, no partitions, no signatures" % name
    return "foreign", "%s holds %s" % (name, contents)
