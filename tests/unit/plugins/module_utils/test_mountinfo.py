# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/mountinfo.py, fed with /proc/self/mountinfo captured
on real machines (Debian trixie and bookworm containers of the test bed, and their host)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.homelab.immich_pi.tests.unit.plugins.captured_mounts import RCLONE_HOST, RCLONE_OVERMOUNTED
from ansible_collections.homelab.immich_pi.plugins.module_utils.mountinfo import (
    MountinfoError,
    mount_at,
    mount_chain,
    mount_layers,
    mounts_of_devno,
    normalize_path,
    parse_line,
    parse_mountinfo,
    path_prefixes,
    read_mountinfo,
    unescape,
)

# Inside a Debian trixie systemd container (docker), with a loop device passed in as
# /dev/mmcblk0 and mounted at /boot/firmware, and two tmpfs mounted at paths holding a space
# and a backslash (cgroup lines trimmed).
TRIXIE_CONTAINER = "\n".join(
    [
        "72 48 0:39 / / rw,relatime master:2 - overlay overlay rw,"
        "lowerdir=/var/lib/docker/overlay2/l/WG32BXXRLB4CWEM3C5WMT7LKPY:/var/lib/docker/overlay2/l/"
        "QVCLXBAUPAUFKBP675UPZZOBR5,upperdir=/var/lib/docker/overlay2/"
        "2ec1fd6a39c215f6c416e8a1fe8c464e4016ae7b3f3db8f5fa3651e9020c553e/diff,"
        "workdir=/var/lib/docker/overlay2/2ec1fd6a39c215f6c416e8a1fe8c464e4016ae7b3f3db8f5fa3651e9020c553e/work",
        "73 72 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
        "74 72 0:43 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755",
        "75 74 0:44 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666",
        "76 72 0:45 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro",
        "77 74 0:41 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw",
        "78 74 0:46 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k",
        "79 72 0:47 / /run rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw",
        "80 72 254:0 /var/lib/docker/containers/b9441af4e1979fdebd47ebc58d3ff45336d77f46ac868042d3daf0bb0691ff04/"
        "resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534",
        "83 79 0:48 / /run/lock rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw",
        "84 76 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,size=4096k,nr_inodes=1024,mode=755",
        "54 72 0:53 / /tmp rw,nosuid,nodev - tmpfs tmpfs rw,nr_inodes=1048576",
        "57 72 7:4 / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw",
        r"58 72 0:57 / /mnt/old\040photos rw,relatime - tmpfs tmp\040fs rw,size=1024k",
        r"59 72 0:58 / /mnt/back\134slash rw,relatime - tmpfs tmpfs rw",
        "",
    ]
)

# The same container after the ssd role ran: the SSD (/dev/sda, a loop device 7:0) at /mnt/ssd.
TRIXIE_CONVERGED = "\n".join(
    [
        "72 48 0:39 / / rw,relatime master:2 - overlay overlay rw,"
        "lowerdir=/var/lib/docker/overlay2/l/WG32BXXRLB4CWEM3C5WMT7LKPY:/var/lib/docker/overlay2/l/"
        "QVCLXBAUPAUFKBP675UPZZOBR5,upperdir=/var/lib/docker/overlay2/"
        "2ec1fd6a39c215f6c416e8a1fe8c464e4016ae7b3f3db8f5fa3651e9020c553e/diff,"
        "workdir=/var/lib/docker/overlay2/2ec1fd6a39c215f6c416e8a1fe8c464e4016ae7b3f3db8f5fa3651e9020c553e/work",
        "73 72 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
        "57 72 7:4 / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw",
        "99 72 7:0 / /mnt/ssd rw,noatime - ext4 /dev/sda rw",
        "542 72 7:3 / /mnt/ssd2 rw,noatime - ext4 /dev/sdc rw",
        "",
    ]
)

# Debian bookworm container of the test bed (/boot/firmware as above).
BOOKWORM_CONTAINER = "\n".join(
    [
        "132 62 0:55 / / rw,relatime master:30 - overlay overlay rw,"
        "lowerdir=/var/lib/docker/overlay2/l/FUPHMVM2MDCRHJRMKAUBUPGZFG:/var/lib/docker/overlay2/l/"
        "JGUCJSRPJEIS5BRMMRGZXWNQRK,upperdir=/var/lib/docker/overlay2/"
        "2ddc22625d7fbefb2ef91ee066aa8101f7e5da99649bee0b5e679ed557e07a6b/diff,"
        "workdir=/var/lib/docker/overlay2/2ddc22625d7fbefb2ef91ee066aa8101f7e5da99649bee0b5e679ed557e07a6b/work",
        "133 132 0:59 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
        "134 132 0:60 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755",
        "136 132 0:62 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro",
        "140 132 0:64 / /run rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw",
        "141 132 254:0 /var/lib/docker/containers/93e87e487e86ca97bc659c68cb23039361ac8df5eee99db67658346290b691cc/"
        "resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534",
        "294 132 7:4 / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw",
        "",
    ]
)

# The Debian host of the test bed (virtio disk 254:0 as /): shared peer groups, a bind mount
# (root /var/lib/docker) and an nsfs entry whose root is not a path.
HOST = "\n".join(
    [
        "22 27 0:21 / /proc rw,relatime - proc proc rw",
        "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw",
        "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12355552k,nr_inodes=3088888,mode=755",
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534",
        "42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict,"
        "resuid=65534,resgid=65534",
        "46 42 0:39 / /var/lib/docker/overlay2/2ec1fd6a39c215f6c416e8a1fe8c464e4016ae7b3f3db8f5fa3651e9020c553e/"
        "merged rw,relatime shared:2 - overlay overlay rw,"
        "lowerdir=/var/lib/docker/overlay2/l/WG32BXXRLB4CWEM3C5WMT7LKPY:/var/lib/docker/overlay2/l/"
        "QVCLXBAUPAUFKBP675UPZZOBR5,upperdir=/var/lib/docker/overlay2/"
        "2ec1fd6a39c215f6c416e8a1fe8c464e4016ae7b3f3db8f5fa3651e9020c553e/diff,"
        "workdir=/var/lib/docker/overlay2/2ec1fd6a39c215f6c416e8a1fe8c464e4016ae7b3f3db8f5fa3651e9020c553e/work",
        "95 27 0:4 net:[4026532184] /run/docker/netns/058dee697460 rw - nsfs nsfs rw",
        "",
    ]
)


@pytest.mark.parametrize(
    ("text", "count", "root_line"),
    [
        (TRIXIE_CONTAINER, 15, {"devno": "0:39", "fstype": "overlay", "source": "overlay", "optional_fields": ["master:2"]}),
        (BOOKWORM_CONTAINER, 7, {"devno": "0:55", "fstype": "overlay", "source": "overlay", "optional_fields": ["master:30"]}),
        (HOST, 7, {"devno": "254:0", "fstype": "ext4", "source": "/dev/vda", "optional_fields": []}),
    ],
    ids=["trixie-container", "bookworm-container", "host"],
)
def test_parse_real_samples(text, count, root_line):
    entries = parse_mountinfo(text)
    assert len(entries) == count
    root = mount_at(entries, "/")
    assert root is not None
    for key, value in root_line.items():
        assert root[key] == value


def test_fields_of_one_line():
    entry = parse_line("57 72 7:4 / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw")
    assert entry == {
        "mount_id": 57,
        "parent_id": 72,
        "devno": "7:4",
        "major": 7,
        "minor": 4,
        "root": "/",
        "mount_point": "/boot/firmware",
        "mount_options": ["rw", "relatime"],
        "optional_fields": [],
        "fstype": "ext4",
        "source": "/dev/mmcblk0",
        "super_options": ["rw"],
    }


def test_octal_escapes_in_mount_point_and_source():
    entries = parse_mountinfo(TRIXIE_CONTAINER)
    photos = mount_at(entries, "/mnt/old photos")
    assert photos is not None
    assert photos["source"] == "tmp fs"
    assert photos["devno"] == "0:57"
    backslash = mount_at(entries, "/mnt/back\\slash")
    assert backslash is not None and backslash["devno"] == "0:58"
    assert mount_at(entries, r"/mnt/old\040photos") is None


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (r"/mnt/old\040photos", "/mnt/old photos"),
        (r"/mnt/tab\011here", "/mnt/tab\there"),
        (r"/mnt/new\012line", "/mnt/new\nline"),
        (r"/mnt/back\134slash", "/mnt/back\\slash"),
        (r"/mnt/back\134040", "/mnt/back\\040"),
        ("/mnt/ssd", "/mnt/ssd"),
    ],
)
def test_unescape(field, expected):
    assert unescape(field) == expected


def test_optional_fields_and_bind_root():
    entries = parse_mountinfo(HOST)
    docker = mount_at(entries, "/var/lib/docker")
    assert docker["optional_fields"] == ["shared:1"]
    assert docker["root"] == "/var/lib/docker"
    assert docker["devno"] == "254:0"
    netns = mount_at(entries, "/run/docker/netns/058dee697460")
    assert netns["root"] == "net:[4026532184]"
    assert netns["fstype"] == "nsfs"


def test_several_optional_fields():
    entry = parse_line("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue")
    assert entry["optional_fields"] == ["master:1", "shared:7"]
    assert entry["fstype"] == "ext3"
    assert entry["source"] == "/dev/root"
    assert entry["super_options"] == ["rw", "errors=continue"]


def test_mounts_of_devno():
    entries = parse_mountinfo(HOST)
    assert [entry["mount_point"] for entry in mounts_of_devno(entries, "254:0")] == ["/", "/var/lib/docker"]
    assert mounts_of_devno(parse_mountinfo(TRIXIE_CONVERGED), "7:0")[0]["mount_point"] == "/mnt/ssd"
    assert mounts_of_devno(entries, "8:0") == []


def test_mount_at_returns_the_top_of_a_stack():
    stacked = TRIXIE_CONVERGED + "600 99 0:70 / /mnt/ssd rw,relatime - tmpfs tmpfs rw\n"
    assert mount_at(parse_mountinfo(stacked), "/mnt/ssd")["devno"] == "0:70"
    assert mount_at(parse_mountinfo(TRIXIE_CONVERGED), "/mnt/ssd/")["devno"] == "7:0"


@pytest.mark.parametrize(
    "line",
    [
        "57 72 7:4 / /boot/firmware rw,relatime ext4 /dev/mmcblk0 rw",  # no separator
        "57 72 7:4 / /boot/firmware rw,relatime - ext4",  # fields missing after it
        "57 72 seven / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw",  # devno
        "x 72 7:4 / /boot/firmware rw,relatime - ext4 /dev/mmcblk0 rw",  # mount id
    ],
)
def test_malformed_lines_raise(line):
    with pytest.raises(MountinfoError):
        parse_line(line)


@pytest.mark.parametrize(("path", "expected"), [("/mnt/ssd/", "/mnt/ssd"), ("/", "/"), ("//", "/"), ("/mnt/ssd", "/mnt/ssd")])
def test_normalize_path(path, expected):
    assert normalize_path(path) == expected


def test_read_mountinfo_from_file(tmp_path):
    sample = tmp_path / "mountinfo"
    sample.write_text(TRIXIE_CONVERGED)
    entries = read_mountinfo(str(sample))
    assert [entry["mount_point"] for entry in entries] == ["/", "/proc", "/boot/firmware", "/mnt/ssd", "/mnt/ssd2"]


@pytest.mark.skipif(not os.path.exists("/proc/self/mountinfo"), reason="needs Linux /proc")
def test_read_live_mountinfo():
    entries = read_mountinfo()
    assert mount_at(entries, "/") is not None
    assert all(":" in entry["devno"] for entry in entries)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ["/"]),
        ("/mnt", ["/", "/mnt"]),
        ("/mnt/azure photos/", ["/", "/mnt", "/mnt/azure photos"]),
        ("//mnt//x", ["/", "/mnt", "/mnt/x"]),
    ],
)
def test_path_prefixes(path, expected):
    assert path_prefixes(path) == expected


@pytest.mark.parametrize(
    ("text", "path", "underneath", "on_top"),
    [
        (RCLONE_HOST, "/tmp/cap/mnt point", (27, "/"), (43, "azurite:capture-test")),
        (RCLONE_HOST, "/tmp/cap/mnt point/", (27, "/"), (43, "azurite:capture-test")),
        (RCLONE_HOST, "/tmp/cap/m3", (27, "/"), (44, "azurite:capture-test/sub dir")),
        (RCLONE_HOST, "/tmp/cap/m2", (27, "/"), (45, "azurite:capture-test")),  # rclone killed, line stays
        (RCLONE_HOST, "/tmp/cap", (27, "/"), None),
        (RCLONE_HOST, "/tmp/cap/mnt point/library/2024", (43, "/tmp/cap/mnt point"), None),
        (RCLONE_HOST, "/var/lib/docker/volumes", (42, "/var/lib/docker"), None),
        (RCLONE_HOST, "/var/lib/docker", (27, "/"), (42, "/dev/vda")),
        (RCLONE_HOST, "/dev/shm", (24, "/dev"), (30, "tmpfs")),  # two tmpfs stacked: the top one
        (RCLONE_HOST, "/", None, (27, "/dev/vda")),
        (RCLONE_OVERMOUNTED, "/tmp/cap/mnt point", (50, "/tmp/cap"), None),  # hidden under the tmpfs
        (RCLONE_OVERMOUNTED, "/tmp/cap/m4", (50, "/tmp/cap"), None),  # the whole stack is hidden
        (RCLONE_OVERMOUNTED, "/tmp/cap/new", (50, "/tmp/cap"), (52, "tmpfs")),
        (TRIXIE_CONTAINER, "/mnt/old photos", (72, "/"), (58, "tmp fs")),  # root's parent is outside
        (TRIXIE_CONVERGED, "/mnt/ssd/immich", (99, "/mnt/ssd"), None),
    ],
    ids=[
        "rclone-path-with-space",
        "trailing-slash",
        "rclone-subdir-remote",
        "rclone-killed",
        "not-a-mount-point",
        "inside-an-rclone-mount",
        "inside-a-bind-mount",
        "bind-mount",
        "stacked-tmpfs",
        "root",
        "hidden-under-a-later-mount",
        "hidden-stack",
        "on-the-later-mount",
        "container-root",
        "inside-the-ssd",
    ],
)
def test_mount_layers(text, path, underneath, on_top):
    below, top = mount_layers(parse_mountinfo(text), path)
    if underneath is None:
        assert below is None
    else:
        assert (below["mount_id"], below["mount_point"]) == underneath
    if on_top is None:
        assert top is None
    else:
        assert (top["mount_id"], top["source"]) == on_top


def test_mount_chain_follows_a_stack_on_one_mount_point():
    stacked = RCLONE_HOST + "60 46 0:60 / /tmp/cap/m4 rw - fuse.rclone azurite:second rw\n"
    chain = mount_chain(parse_mountinfo(stacked), "/tmp/cap/m4")
    assert [entry["mount_id"] for entry in chain] == [27, 46, 60]
    below, top = mount_layers(parse_mountinfo(stacked), "/tmp/cap/m4")
    assert below["mount_id"] == 27 and top["source"] == "azurite:second"


def test_mount_chain_without_a_root_line_matches_by_name():
    # A trimmed sample: the parent of every line is missing, no line is the root.
    text = "43 27 0:39 / /mnt/azurephotos rw - fuse.rclone azurephotos:family-photos rw\n"
    below, top = mount_layers(parse_mountinfo(text), "/mnt/azurephotos")
    assert below is None
    assert top["fstype"] == "fuse.rclone"
    assert mount_chain(parse_mountinfo(text), "/srv") == []


@pytest.mark.skipif(not os.path.exists("/proc/self/mountinfo"), reason="needs Linux /proc")
def test_mount_layers_of_the_live_root():
    below, top = mount_layers(read_mountinfo(), "/")
    assert below is None and top is not None
    assert mount_layers(read_mountinfo(), "/proc")[1]["fstype"] == "proc"
