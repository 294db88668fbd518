# SPDX-License-Identifier: GPL-3.0-or-later
"""Real output of blkid and wipefs, captured from loop devices on the test machine and in
the trixie simulated Pi, shared by the unit tests of block_devices and block_device_info."""

from __future__ import annotations

# host: the first (empty) partition of the GPT disk below (BLKID_GPT).
BLKID_EMPTY_PARTITION = """DEVNAME=/dev/loop3p1
PART_ENTRY_SCHEME=gpt
PART_ENTRY_UUID=de2fc3f5-113d-48f8-be8e-fde1f82e2018
PART_ENTRY_TYPE=0fc63daf-8483-4772-8e79-3d69d8477de4
PART_ENTRY_NUMBER=1
PART_ENTRY_OFFSET=2048
PART_ENTRY_SIZE=131072
PART_ENTRY_DISK=7:3
"""

# trixie, 2.41.5: ext4 with another label (a disk from some other machine).
BLKID_FOREIGN_EXT4 = """DEVNAME=/dev/sdb
LABEL=photos-old
UUID=6e4d5beb-e772-4940-a485-e0a9627f2327
VERSION=1.0
FSBLOCKSIZE=1024
BLOCK_SIZE=1024
FSLASTBLOCK=262144
FSSIZE=268435456
TYPE=ext4
USAGE=filesystem
"""

# trixie: a GPT made by sfdisk, two partitions.
BLKID_GPT = """DEVNAME=/dev/sdc
PTUUID=ceeaa32a-a6f8-45b9-acec-58067cb3aa01
PTTYPE=gpt
"""

WIPEFS_BLANK = """{
   "signatures": [

   ]
}
"""

WIPEFS_OURS = """{
   "signatures": [
      {
         "device": "sda",
         "offset": "0x438",
         "type": "ext4",
         "uuid": "8862a0b7-ba29-47b2-af69-d7e29b4d7310",
         "label": "immich-ssd"
      }
   ]
}
"""
