# SPDX-License-Identifier: GPL-3.0-or-later
"""Real /proc/self/mountinfo with rclone FUSE mounts, captured on the test machine, shared by
the unit tests of mountinfo and rclone_mount_info."""

from __future__ import annotations

# The test machine's host namespace with four rclone mounts of an Azurite container, one at
# a path holding a space and one of a sub directory holding a space (rclone shows the remote
# as the source, leading and trailing slashes of the remote path dropped), captured while
# they were live; the rclone of /tmp/cap/m2 was then killed with SIGKILL, and its line stayed
# as it was (cgroup lines trimmed).
RCLONE_HOST = "\n".join(
    [
        "22 27 0:21 / /proc rw,relatime - proc proc rw",
        "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw",
        "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12355552k,nr_inodes=3088888,mode=755",
        "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24731272k",
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534",
        "30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24731272k",
        "42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict,"
        "resuid=65534,resgid=65534",
        r"43 27 0:39 / /tmp/cap/mnt\040point rw,nosuid,nodev,relatime - fuse.rclone azurite:capture-test "
        "rw,user_id=0,group_id=0",
        r"44 27 0:40 / /tmp/cap/m3 rw,nosuid,nodev,relatime - fuse.rclone azurite:capture-test/sub\040dir "
        "rw,user_id=0,group_id=0",
        "45 27 0:41 / /tmp/cap/m2 rw,nosuid,nodev,relatime - fuse.rclone azurite:capture-test rw,user_id=0,group_id=0",
        "46 27 0:42 / /tmp/cap/m4 rw,nosuid,nodev,relatime - fuse.rclone azurite:capture-test "
        "rw,user_id=0,group_id=0,allow_other",
        "",
    ]
)

# Made up from the lines above: an rclone mount with a tmpfs mounted over /tmp/cap later
# (the rclone mount is hidden under it), a second rclone mount stacked on /tmp/cap/m4, and a
# tmpfs inside a live rclone mount.
RCLONE_OVERMOUNTED = RCLONE_HOST + "\n".join(
    [
        "50 27 0:50 / /tmp/cap rw,relatime - tmpfs tmpfs rw",
        "51 46 0:51 / /tmp/cap/m4 rw,nosuid,nodev,relatime - fuse.rclone azurite:other rw,user_id=0,group_id=0",
        "52 50 0:52 / /tmp/cap/new rw,relatime - tmpfs tmpfs rw",
        "",
    ]
)
