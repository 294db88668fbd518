#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: block_device_info
short_description: Tell whether a disk is blank, ours, foreign or the system disk
version_added: 0.1.0
description:
  - Finds a block device by path, filesystem label or filesystem UUID and reports what is on
    it (C(blkid -p), C(wipefs --no-act)), where it is mounted (C(/proc/self/mountinfo)),
    its partitions and holders (sysfs), and whether it is, or lives on, the disk the system
    runs from.
  - Returns a RV(verdict) the caller acts on; C(blank) is the only verdict under which
    formatting is safe without being forced, C(system) is never safe.
  - The SD card (C(/dev/mmcblk*)) and the disk (or any partition of the disk) behind V(/),
    V(/boot) or V(/boot/firmware) are always C(system). Disks are compared by device
    number, partitions and device-mapper/RAID devices are resolved to the disks under them.
  - Read-only; never changes the host.
author:
  - Immich Pi maintainers (@homelab)
options:
  device:
    description:
      - Path of the block device, for example V(/dev/sda). Symlinks such as
        C(/dev/disk/by-id/...) are resolved.
      - Exactly one of O(device), O(label) and O(uuid) is required.
    type: path
  label:
    description:
      - Find the device by filesystem label (C(blkid -t LABEL=...)).
      - The module fails when several devices carry the label.
    type: str
  uuid:
    description:
      - Find the device by filesystem UUID (C(blkid -t UUID=...)).
      - A device found this way that holds O(our_fstype) is C(ours) whatever its label.
    type: str
  our_label:
    description:
      - The label of a filesystem this collection created. A device holding O(our_fstype)
        with this label is C(ours).
    type: str
    default: immich-ssd
  our_fstype:
    description:
      - The filesystem type this collection creates.
    type: str
    default: ext4
  mount_point:
    description:
      - Where the caller mounts the device. When given, a device mounted anywhere else is
        C(foreign), and RV(mount_point_devno) reports what is mounted there now.
    type: path
attributes:
  check_mode:
    support: full
    description: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - Needs C(blkid) and C(wipefs) (util-linux) on the managed host, and read access to the
    device node (run it with become).
  - C(blkid -p) alone is not enough to call a device blank; util-linux 2.41 exits with code
    2 and prints nothing on a device carrying two conflicting signatures, so the module
    also asks C(wipefs) for every signature it can see.
seealso:
  - module: community.general.filesystem
  - module: ansible.posix.mount
"""

EXAMPLES = r"""
- name: Look at the disk the user named
  homelab.immich_pi.block_device_info:
    device: /dev/sda
    our_label: immich-ssd
    mount_point: /mnt/ssd
  register: ssd_probe

- name: Refuse anything but a blank disk or our own filesystem
  ansible.builtin.assert:
    that: ssd_probe.verdict in ['blank', 'ours']
    fail_msg: "{{ ssd_probe.reason }}"

- name: Find the SSD again by its label
  homelab.immich_pi.block_device_info:
    label: immich-ssd
  register: ssd_probe
"""

RETURN = r"""
exists:
  description: Whether the device was found (by path, label or UUID).
  returned: always
  type: bool
  sample: true
is_block_device:
  description: Whether the path is a block device node.
  returned: always
  type: bool
  sample: true
device:
  description: The device path, symlinks resolved; V(null) when nothing was found by label or UUID.
  returned: always
  type: str
  sample: /dev/sda
devno:
  description: The device number as V(MAJOR:MINOR), as in C(/proc/self/mountinfo) and C(/sys/dev/block).
  returned: always
  type: str
  sample: "8:0"
disk_devno:
  description: Device number of the whole disk; the disk of a partition, the device itself otherwise.
  returned: always
  type: str
  sample: "8:0"
matches:
  description: Every device carrying the requested label or UUID (empty when looked up by path).
  returned: always
  type: list
  elements: str
  sample: ["/dev/sda"]
filesystem:
  description: The superblock C(blkid -p) found on the device (a filesystem, swap, LUKS, RAID member), or V(null).
  returned: always
  type: dict
  sample: {"type": "ext4", "label": "immich-ssd", "uuid": "c9ee5a09-e9f0-47dd-9771-c4cd40cc2019",
           "usage": "filesystem", "version": "1.0"}
  contains:
    type:
      description: Filesystem type (C(blkid) TYPE).
      type: str
      sample: ext4
    label:
      description: Filesystem label, V(null) when none.
      type: str
      sample: immich-ssd
    uuid:
      description: Filesystem UUID.
      type: str
      sample: c9ee5a09-e9f0-47dd-9771-c4cd40cc2019
    usage:
      description: C(blkid) USAGE (filesystem, other, crypto, raid).
      type: str
      sample: filesystem
    version:
      description: Superblock version as C(blkid) reports it.
      type: str
      sample: "1.0"
partition_table:
  description: The partition table on the device, or V(null).
  returned: always
  type: dict
  sample: {"type": "gpt", "uuid": "ceeaa32a-a6f8-45b9-acec-58067cb3aa01"}
  contains:
    type:
      description: Partition table type (C(gpt), C(dos)).
      type: str
      sample: gpt
    uuid:
      description: Partition table UUID or disk identifier.
      type: str
      sample: ceeaa32a-a6f8-45b9-acec-58067cb3aa01
partitions:
  description: Partitions the kernel knows on the device (empty for a partition).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "sda1", "devno": "8:1", "number": 1, "mounted_at": []}]
  contains:
    name:
      description: Kernel name of the partition.
      type: str
      sample: sda1
    number:
      description: Partition number.
      type: int
      sample: 1
    devno:
      description: Device number of the partition.
      type: str
      sample: "8:1"
    mounted_at:
      description: Where the partition is mounted.
      type: list
      elements: str
      sample: []
signatures:
  description: Every signature C(wipefs) sees (filesystems, partition tables, protective MBRs).
  returned: always
  type: list
  elements: dict
  sample: [{"type": "ext4", "offset": "0x438", "uuid": "c9ee5a09-e9f0-47dd-9771-c4cd40cc2019", "label": "immich-ssd"}]
  contains:
    type:
      description: Signature type.
      type: str
      sample: ext4
    offset:
      description: Byte offset of the signature on the device, in hex.
      type: str
      sample: "0x438"
    uuid:
      description: UUID carried by the signature, if any.
      type: str
      sample: c9ee5a09-e9f0-47dd-9771-c4cd40cc2019
    label:
      description: Label carried by the signature, if any.
      type: str
      sample: immich-ssd
mounted_at:
  description: Mount points of the device, from C(/proc/self/mountinfo) entries with its device number.
  returned: always
  type: list
  elements: str
  sample: ["/mnt/ssd"]
holders:
  description: Kernel names of devices stacked on this one or on its partitions (device-mapper, RAID).
  returned: always
  type: list
  elements: str
  sample: []
in_use:
  description: Whether the device, one of its partitions, or a holder is in use (mounted or stacked on).
  returned: always
  type: bool
  sample: false
mount_point_devno:
  description: Device number of the filesystem mounted at O(mount_point) now, V(null) when nothing is (or no O(mount_point) was given).
  returned: always
  type: str
  sample: "8:0"
system_disk:
  description: Whether the device is the SD card, or is (on) the disk behind V(/), V(/boot) or V(/boot/firmware).
  returned: always
  type: bool
  sample: false
system_disk_reason:
  description: Why the device counts as the system disk, V(null) when it does not.
  returned: always
  type: str
  sample: "/dev/mmcblk0 is an SD card/eMMC device (mmcblk*), the medium a Raspberry Pi boots from"
verdict:
  description:
    - C(blank) (nothing on it, safe to format), C(ours) (our filesystem, keep it),
      C(foreign) (something else, format only when forced), C(system) (never touch),
      C(missing) (not found, or not a block device).
  returned: always
  type: str
  sample: blank
reason:
  description: The verdict in words, naming the device and what is on it.
  returned: always
  type: str
  sample: "/dev/sdb holds a ext4 filesystem labelled 'photos-old' (UUID 6e4d5beb-e772-4940-a485-e0a9627f2327)"
"""

import os
import stat
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.immich_pi.plugins.module_utils.block_devices import (
    decide_verdict,
    devno_string,
    filesystem_from_probe,
    list_holders,
    list_partitions,
    parent_disk,
    parse_blkid_export,
    parse_wipefs_json,
    partition_table_from_probe,
    system_disk_check,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.mountinfo import (
    MOUNTINFO_PATH,
    MountinfoError,
    mount_at,
    mounts_of_devno,
    normalize_path,
    read_mountinfo,
)

SYSFS_ROOT = "/sys"
# blkid exit codes (blkid(8)): 2 = nothing found, 8 = ambivalent low-level probe.
BLKID_NOTHING_FOUND = 2
BLKID_AMBIVALENT = 8


def find_by_tag(module: AnsibleModule, blkid: str, tag: str, value: str) -> list[str]:
    """Every device carrying TAG=value; blkid scans all devices (no stale cache)."""
    rc, out, err = module.run_command([blkid, "-c", os.devnull, "-o", "device", "-t", "%s=%s" % (tag, value)])
    if rc == BLKID_NOTHING_FOUND and not err.strip():
        return []
    if rc != 0:
        module.fail_json(msg="blkid could not search for %s=%s: %s" % (tag, value, err.strip() or "exit code %d" % rc))
    return sorted({os.path.realpath(line.strip()) for line in out.splitlines() if line.strip()})


def probe_device(module: AnsibleModule, blkid: str, device: str) -> dict[str, str]:
    """``blkid -p -o export``: low-level probe, bypassing the cache."""
    rc, out, err = module.run_command([blkid, "-p", "-o", "export", device])
    if rc == 0:
        return parse_blkid_export(out)
    if rc == BLKID_NOTHING_FOUND and not err.strip():
        return {}
    if rc == BLKID_AMBIVALENT:
        # util-linux 2.38 reports conflicting signatures this way (2.41 exits 2, silently);
        # either way wipefs lists them, so the device does not pass as blank.
        return {}
    module.fail_json(msg="blkid -p could not read %s: %s" % (device, err.strip() or "exit code %d" % rc))
    return {}  # not reached


def list_signatures(module: AnsibleModule, wipefs: str, device: str) -> list[dict[str, t.Any]]:
    """``wipefs --no-act --json``: every signature on the device, never writes."""
    rc, out, err = module.run_command([wipefs, "--no-act", "--json", device])
    if rc != 0:
        module.fail_json(msg="wipefs could not read %s: %s" % (device, err.strip() or "exit code %d" % rc))
    try:
        return parse_wipefs_json(out)
    except ValueError as exc:
        module.fail_json(msg="could not parse wipefs --json output for %s: %s" % (device, exc))
    return []  # not reached


def stat_device(path: str) -> tuple[bool, bool, str | None]:
    """(exists, is a block device, "MAJOR:MINOR" of a block device)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False, False, None
    if not stat.S_ISBLK(info.st_mode):
        return True, False, None
    return True, True, devno_string(info.st_rdev)


def unique(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            device=dict(type="path"),
            label=dict(type="str"),
            uuid=dict(type="str"),
            our_label=dict(type="str", default="immich-ssd"),
            our_fstype=dict(type="str", default="ext4"),
            mount_point=dict(type="path"),
        ),
        mutually_exclusive=[("device", "label", "uuid")],
        required_one_of=[("device", "label", "uuid")],
        supports_check_mode=True,
    )
    params = module.params
    mount_point = normalize_path(params["mount_point"]) if params["mount_point"] else None

    result: dict[str, t.Any] = dict(
        changed=False,
        exists=False,
        is_block_device=False,
        device=None,
        devno=None,
        disk_devno=None,
        matches=[],
        filesystem=None,
        partition_table=None,
        partitions=[],
        signatures=[],
        mounted_at=[],
        holders=[],
        in_use=False,
        mount_point_devno=None,
        system_disk=False,
        system_disk_reason=None,
    )

    try:
        mounts = read_mountinfo(MOUNTINFO_PATH)
    except (OSError, MountinfoError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (MOUNTINFO_PATH, exc), **result)
    if mount_point:
        current = mount_at(mounts, mount_point)
        result["mount_point_devno"] = current["devno"] if current else None

    blkid = module.get_bin_path("blkid", required=True)
    wipefs = module.get_bin_path("wipefs", required=True)

    requested = params["device"]
    wanted_uuid = params["uuid"]
    if requested is None:
        tag, value = ("LABEL", params["label"]) if params["label"] is not None else ("UUID", wanted_uuid)
        result["matches"] = find_by_tag(module, blkid, tag, value)
        if len(result["matches"]) > 1:
            module.fail_json(
                msg="%s=%s is carried by several devices (%s): name the device by path or UUID instead"
                % (tag, value, ", ".join(result["matches"])),
                **result,
            )
        if not result["matches"]:
            result["verdict"] = "missing"
            result["reason"] = "no block device holds a filesystem with %s=%s" % (tag, value)
            module.exit_json(**result)
        requested = result["matches"][0]

    device = os.path.realpath(requested)
    result["device"] = device
    result["exists"], result["is_block_device"], devno = stat_device(device)

    if result["is_block_device"]:
        result["devno"] = devno
        result["disk_devno"] = parent_disk(devno, SYSFS_ROOT)
        probe = probe_device(module, blkid, device)
        result["filesystem"] = filesystem_from_probe(probe)
        result["partition_table"] = partition_table_from_probe(probe)
        result["signatures"] = list_signatures(module, wipefs, device)
        result["mounted_at"] = unique([entry["mount_point"] for entry in mounts_of_devno(mounts, devno)])
        result["partitions"] = [
            dict(partition, mounted_at=unique([entry["mount_point"] for entry in mounts_of_devno(mounts, partition["devno"])]))
            for partition in list_partitions(devno, SYSFS_ROOT)
        ]
        result["holders"] = list_holders(devno, SYSFS_ROOT)
        for partition in result["partitions"]:
            result["holders"].extend(list_holders(partition["devno"], SYSFS_ROOT))
        result["in_use"] = bool(
            result["mounted_at"] or result["holders"] or any(p["mounted_at"] for p in result["partitions"])
        )
        result["system_disk"], result["system_disk_reason"] = system_disk_check(
            unique([requested, device]), devno, mounts, SYSFS_ROOT
        )

    result["verdict"], result["reason"] = decide_verdict(
        exists=result["exists"],
        is_block_device=result["is_block_device"],
        system_disk=result["system_disk"],
        system_disk_reason=result["system_disk_reason"],
        filesystem=result["filesystem"],
        partition_table=result["partition_table"],
        partitions=result["partitions"],
        signatures=result["signatures"],
        mounted_at=result["mounted_at"],
        holders=result["holders"],
        our_label=params["our_label"],
        our_fstype=params["our_fstype"],
        wanted_uuid=wanted_uuid,
        mount_point=mount_point,
        device=requested if requested == device else "%s (%s)" % (requested, device),
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
