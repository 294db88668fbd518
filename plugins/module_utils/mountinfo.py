# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parse /proc/<pid>/mountinfo (see proc_pid_mountinfo(5)).

Pure functions: text in, plain dicts out, so modules can return them as facts and unit
tests can feed them text captured on real hosts.

A line looks like::

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)

(7) is zero or more optional fields, (8) the ``-`` separator. The kernel escapes space,
tab, newline and backslash in paths and the source as ``\\ooo`` octal (``\\040``).
"""

from __future__ import annotations

import re
import typing as t

MOUNTINFO_PATH = "/proc/self/mountinfo"

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class MountinfoError(ValueError):
    """A line of mountinfo text does not have the documented layout."""


def unescape(field: str) -> str:
    """Decode the kernel's octal escapes (``\\040`` -> space, ``\\134`` -> backslash)."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse_line(line: str) -> dict[str, t.Any]:
    """Parse one mountinfo line into a dict; raise MountinfoError when it is malformed."""
    # split(" ") and not split(): an empty source field must stay a field.
    fields = line.rstrip("\n").split(" ")
    try:
        separator = fields.index("-", 6)
    except ValueError:
        raise MountinfoError("no ' - ' separator after the optional fields: %r" % line) from None
    if len(fields) < separator + 4:
        raise MountinfoError("fewer than 3 fields after the ' - ' separator: %r" % line)
    devno = fields[2]
    major, sep, minor = devno.partition(":")
    if not (sep and major.isdigit() and minor.isdigit()):
        raise MountinfoError("field 3 is not MAJOR:MINOR: %r" % line)
    try:
        mount_id = int(fields[0])
        parent_id = int(fields[1])
    except ValueError:
        raise MountinfoError("mount and parent ids are not numbers: %r" % line) from None
    return {
        "mount_id": mount_id,
        "parent_id": parent_id,
        "devno": "%d:%d" % (int(major), int(minor)),
        "major": int(major),
        "minor": int(minor),
        "root": unescape(fields[3]),
        "mount_point": unescape(fields[4]),
        "mount_options": fields[5].split(","),
        "optional_fields": fields[6:separator],
        "fstype": fields[separator + 1],
        "source": unescape(fields[separator + 2]),
        # Super options never contain spaces, but be lenient with anything after them.
        "super_options": " ".join(fields[separator + 3:]).split(","),
    }


def parse_mountinfo(text: str) -> list[dict[str, t.Any]]:
    """Parse mountinfo text (all lines, in kernel order) into a list of dicts."""
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def read_mountinfo(path: str = MOUNTINFO_PATH) -> list[dict[str, t.Any]]:
    """Read and parse a mountinfo file (default: this process's mount namespace)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return parse_mountinfo(handle.read())


def mounts_of_devno(entries: list[dict[str, t.Any]], devno: str) -> list[dict[str, t.Any]]:
    """Entries whose filesystem lives on the device MAJOR:MINOR."""
    return [entry for entry in entries if entry["devno"] == devno]


def mount_at(entries: list[dict[str, t.Any]], mount_point: str) -> dict[str, t.Any] | None:
    """The entry visible at mount_point (the last one: later mounts stack on top), or None."""
    wanted = normalize_path(mount_point)
    found = None
    for entry in entries:
        if entry["mount_point"] == wanted:
            found = entry
    return found


def normalize_path(path: str) -> str:
    """Drop trailing slashes the way the kernel prints mount points ("/mnt/ssd/" -> "/mnt/ssd")."""
    stripped = path.rstrip("/")
    return stripped or "/"


def path_prefixes(path: str) -> list[str]:
    """Every ancestor of an absolute path and the path itself, outermost first.

    ``/mnt/azure photos`` -> ``["/", "/mnt", "/mnt/azure photos"]``.
    """
    wanted = normalize_path(path)
    prefixes = ["/"]
    current = ""
    for part in wanted.split("/"):
        if part:
            current += "/" + part
            prefixes.append(current)
    return prefixes


def mount_chain(entries: list[dict[str, t.Any]], path: str) -> list[dict[str, t.Any]]:
    """The mounts crossed when the kernel resolves path, outermost first.

    Follows the mount tree (parent ids) from the root mount: at every prefix of path the
    mounts stacked there are crossed bottom to top, and a mount hidden under a later mount
    on a shorter prefix is never reached. Falls back to matching mount points by name when
    no root mount can be told (a mountinfo without parent links, such as a trimmed sample).
    """
    ids = {entry["mount_id"] for entry in entries}
    roots = [
        entry
        for entry in entries
        if entry["mount_point"] == "/" and (entry["parent_id"] not in ids or entry["parent_id"] == entry["mount_id"])
    ]
    chain: list[dict[str, t.Any]] = []
    if not roots:
        for prefix in path_prefixes(path):
            chain.extend(entry for entry in entries if entry["mount_point"] == prefix)
        return chain
    chain.append(roots[0])
    for prefix in path_prefixes(path):
        while True:
            top = chain[-1]
            children = [
                entry
                for entry in entries
                if entry["parent_id"] == top["mount_id"] and entry["mount_point"] == prefix and entry is not top
            ]
            if not children:
                break
            chain.append(children[-1])
    return chain


def mount_layers(
    entries: list[dict[str, t.Any]], path: str
) -> tuple[dict[str, t.Any] | None, dict[str, t.Any] | None]:
    """(filesystem holding the directory path, mount on top of path) as the kernel sees them.

    The first is the filesystem the mount point directory lives in: what lies under a mount
    at path (None for ``/``); the second is the visible mount at path, None when nothing is
    mounted on it (then the first is simply the filesystem path is on).
    """
    wanted = normalize_path(path)
    underneath = None
    on_top = None
    for entry in mount_chain(entries, wanted):
        if entry["mount_point"] == wanted:
            on_top = entry
        else:
            underneath = entry
    return underneath, on_top
