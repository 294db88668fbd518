#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rclone_mount_info
short_description: Check an rclone FUSE mount without hanging on it
version_added: 0.1.0
description:
  - Tells whether a live C(rclone mount) is at O(path), which remote it serves, whether it
    answers and (optionally) takes writes, and whether files were written on the local disk
    under the mount point while the mount was down.
  - Reads C(/proc/self/mountinfo) to find the mount at O(path) (filesystem type
    C(fuse.rclone), source the remote) and the filesystem that holds the mount point
    directory.
  - Everything that touches O(path) runs in a forked child process that is killed after
    O(timeout) seconds, so a hung FUSE mount (the rclone process stopped or deadlocked)
    makes the module report RV(responsive=false) instead of hanging the play. The module
    never stats O(path) in its own process.
  - A dead mount (rclone killed; every access fails with C(Transport endpoint is not
    connected)) and a hung mount both count as not mounted, RV(mounted=false); RV(status)
    tells them apart, and RV(problems) says how to repair each.
  - To count what lies under the mount point, a child process enters a private mount
    namespace and bind-mounts, non-recursively and read-only, the filesystem that holds
    the mount point directory on a temporary directory. That bind does not carry the FUSE
    mount, so the scan never touches it, and nothing of it is visible outside the child.
  - Read-only, except for the write probe of O(writable=true), which creates one hidden
    file named C(.rclone_mount_info.<random hex>) in the mounted folder, reads it back and
    deletes it again.
author:
  - Immich Pi maintainers (@homelab)
options:
  path:
    description:
      - The mount point, an absolute path. Symlinks are resolved (in the child process).
    type: path
    required: true
  remote:
    description:
      - The remote expected at O(path), as given to C(rclone mount), for example
        V(azurephotos:family-photos). rclone shows it as the source of the mount without
        leading and trailing slashes of the remote path, and so does the comparison.
      - A different remote is a problem; omit the option to accept any remote.
    type: str
  service:
    description:
      - Name of the systemd unit that runs the mount, for example
        V(rclone-azurephotos.service). Only used in the repair hints of RV(problems).
    type: str
  timeout:
    description:
      - Seconds each probe (answering, writing, counting under the mount point) may take
        before its child process is killed and the probe counts as failed.
    type: float
    default: 5
  writable:
    description:
      - Also check that a live mount takes a write, by creating, reading back and
        deleting a hidden file C(.rclone_mount_info.<random hex>) in it.
      - This is the only write the module ever makes; nothing is written when O(path) is
        not a live rclone mount (RV(writable) is then V(null)).
    type: bool
    default: false
  shadow_scan_limit:
    description:
      - At most this many entries (files and directories, recursively) are counted under
        the mount point. V(0) skips the scan (RV(shadowed_entries) is then V(null)).
    type: int
    default: 10000
  fail_on_problems:
    description:
      - Fail when RV(problems) is not empty, with the problems as the message.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module runs the same in check mode; only O(writable=true) writes, and it removes what it wrote.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - Run it as root (become). Looking under the mount point needs C(CAP_SYS_ADMIN) for the
    private mount namespace; without it RV(shadowed_entries) is V(null) and RV(problems)
    says so. A FUSE mount made by another user without C(allow_other) cannot be read by
    root either.
  - A probe child stuck in the kernel on a hung mount cannot always be killed at once; it
    is left behind with its standard streams on C(/dev/null) and dies when the mount is
    released (rclone restarted or the mount detached).
  - Only C(rclone mount) (filesystem type C(fuse.rclone)) counts as an rclone mount, not
    C(rclone nfsmount). C(rclone mount --devname) changes the source that O(remote) is
    compared with.
seealso:
  - module: ansible.posix.mount
  - name: rclone mount
    description: The rclone mount command.
    link: https://rclone.org/commands/rclone_mount/
"""

EXAMPLES = r"""
- name: Check the photo mount
  homelab.immich_pi.rclone_mount_info:
    path: /mnt/azurephotos
    remote: "azurephotos:family-photos"
    service: rclone-azurephotos.service
    writable: true
  become: true
  register: photos_mount

- name: Stop when the mount is not live or files landed on the SD card
  ansible.builtin.assert:
    that: photos_mount.problems | length == 0
    fail_msg: "{{ photos_mount.problems }}"

- name: Unmount a dead mount before restarting its service
  ansible.builtin.command: fusermount3 -uz /mnt/azurephotos
  when: photos_mount.status == 'stale'
  changed_when: true
  become: true

- name: The same check, failing at once
  homelab.immich_pi.rclone_mount_info:
    path: /mnt/azurephotos
    fail_on_problems: true
  become: true
"""

RETURN = r"""
resolved_path:
  description: The path checked, O(path) with symlinks resolved when it answered.
  returned: always
  type: str
  sample: /mnt/azurephotos
mounted:
  description:
    - Whether a live rclone mount is at RV(resolved_path) - a C(fuse.rclone) mount that answered.
    - V(false) for a dead (RV(status=stale)) or hung (RV(status=hung)) rclone mount too.
  returned: always
  type: bool
  sample: true
status:
  description:
    - C(live) (a working rclone mount), C(hung) (an rclone mount that did not answer within
      O(timeout)), C(stale) (an rclone mount whose rclone process is gone - transport
      endpoint not connected), C(error) (an rclone mount that answered with another error),
      C(other_filesystem) (something else is mounted at RV(resolved_path)), C(not_mounted) (a plain
      directory), C(missing) (RV(resolved_path) does not exist).
  returned: always
  type: str
  sample: live
fstype:
  description: Filesystem type of the mount at RV(resolved_path) (C(fuse.rclone) for rclone), V(null) when nothing is mounted there.
  returned: always
  type: str
  sample: fuse.rclone
remote:
  description: The remote an rclone mount at RV(resolved_path) serves (the source of the mount), V(null) when it is not an rclone mount.
  returned: always
  type: str
  sample: "azurephotos:family-photos"
responsive:
  description:
    - Whether RV(resolved_path) answered a stat and a directory listing within O(timeout).
    - V(true) for a plain directory too; V(false) when the path does not exist.
  returned: always
  type: bool
  sample: true
writable:
  description:
    - Whether a test file could be created, read back and deleted, V(null) when not probed
      (O(writable=false), or RV(resolved_path) is not a live rclone mount).
  returned: always
  type: bool
  sample: true
shadowed_entries:
  description:
    - Files and directories (recursively, at most O(shadow_scan_limit)) on the local disk
      in the directory under the mount point - writes that landed on the SD card while the
      mount was down. When nothing is mounted, what the directory itself holds.
    - V(null) when it could not be counted (see RV(problems)) or O(shadow_scan_limit=0).
  returned: always
  type: int
  sample: 0
shadowed_paths:
  description: Up to 10 of the shadowed entries, relative to RV(resolved_path), shallowest first.
  returned: always
  type: list
  elements: str
  sample: ["library", "library/admin", "library/admin/2024"]
problems:
  description: What is wrong, each with the repair; empty when the mount is live, as expected, and has nothing under it.
  returned: always
  type: list
  elements: str
  sample: ["/mnt/azurephotos is not mounted: start the rclone mount service"]
mount:
  description: The C(/proc/self/mountinfo) entry of the mount at RV(resolved_path), V(null) when nothing is mounted there.
  returned: always
  type: dict
  sample: {"mount_id": 43, "parent_id": 27, "devno": "0:39", "major": 0, "minor": 39, "root": "/",
           "mount_point": "/mnt/azurephotos", "mount_options": ["rw", "nosuid", "nodev", "relatime"],
           "optional_fields": [], "fstype": "fuse.rclone", "source": "azurephotos:family-photos",
           "super_options": ["rw", "user_id=0", "group_id=0", "allow_other"]}
  contains:
    mount_id:
      description: Mount ID.
      type: int
      sample: 43
    parent_id:
      description: Mount ID of the parent mount.
      type: int
      sample: 27
    devno:
      description: Device number as V(MAJOR:MINOR).
      type: str
      sample: "0:39"
    major:
      description: Major device number.
      type: int
      sample: 0
    minor:
      description: Minor device number.
      type: int
      sample: 39
    root:
      description: The directory of the filesystem mounted here.
      type: str
      sample: /
    mount_point:
      description: The mount point.
      type: str
      sample: /mnt/azurephotos
    mount_options:
      description: Per-mount options.
      type: list
      elements: str
      sample: ["rw", "nosuid", "nodev", "relatime"]
    optional_fields:
      description: Propagation fields such as C(shared:1).
      type: list
      elements: str
      sample: []
    fstype:
      description: Filesystem type.
      type: str
      sample: fuse.rclone
    source:
      description: Mount source; the remote for rclone.
      type: str
      sample: "azurephotos:family-photos"
    super_options:
      description: Per-filesystem options.
      type: list
      elements: str
      sample: ["rw", "user_id=0", "group_id=0", "allow_other"]
"""

import errno
import os
import secrets
import shlex
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.immich_pi.plugins.module_utils import fuse_probe
from ansible_collections.homelab.immich_pi.plugins.module_utils.mountinfo import (
    MOUNTINFO_PATH,
    MountinfoError,
    mount_layers,
    read_mountinfo,
)

RCLONE_FSTYPE = "fuse.rclone"
DEFAULT_SERVICE = "the rclone mount service"


def clean_path(path: str) -> str:
    """Normalize an absolute path as the kernel prints mount points, without touching it."""
    return "/" + os.path.normpath(path).lstrip("/")


def canonical_remote(remote: str) -> str:
    """``azurephotos:/family-photos/`` -> ``azurephotos:family-photos``, as rclone shows it.

    A remote name holds no colon, so the path starts after the first one; on-the-fly
    remotes (``:azureblob,account=...:container``) only lose trailing slashes.
    """
    if remote.startswith(":") or ":" not in remote:
        return remote.rstrip("/") or remote
    name, rest = remote.split(":", 1)
    return "%s:%s" % (name, rest.strip("/"))


def relative_to(path: str, mount_point: str) -> str:
    """Path of path inside the filesystem mounted at mount_point (``.`` for itself)."""
    return os.path.relpath(path, mount_point)


def printable(path: str) -> str:
    """Undecodable bytes of a file name as backslash escapes, for JSON and messages."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def answer_state(answer: dict[str, t.Any]) -> str:
    """ok, timeout, stale (ENOTCONN), missing, not_dir or error, from answer_probe()."""
    if not answer["finished"]:
        return "timeout"
    if answer["errno"] == errno.ENOTCONN:
        return "stale"
    value = answer["value"]
    if answer["error"] or not isinstance(value, dict):
        return "error"
    if not value["exists"]:
        return "missing"
    if not value["is_dir"]:
        return "not_dir"
    return "ok"


def assess(
    path: str,
    mount: dict[str, t.Any] | None,
    answer: dict[str, t.Any],
    write: dict[str, t.Any] | None,
    shadow: dict[str, t.Any] | None,
    expected_remote: str | None,
    service: str | None,
    timeout: float,
    write_name: str | None = None,
) -> dict[str, t.Any]:
    """Turn what mountinfo and the probes saw into the module's facts and problems.

    mount is the entry at path (or None); answer, write and shadow are run_in_child()
    results of the probes (write and shadow None when they did not run).
    """
    unit = service or DEFAULT_SERVICE
    state = answer_state(answer)
    problems: list[str] = []
    is_rclone = mount is not None and mount["fstype"] == RCLONE_FSTYPE
    facts: dict[str, t.Any] = dict(
        mounted=False,
        status="",
        fstype=mount["fstype"] if mount else None,
        remote=mount["source"] if is_rclone and mount else None,
        responsive=state == "ok",
        writable=None,
        shadowed_entries=None,
        shadowed_paths=[],
        mount=mount,
    )
    answer_error = answer["error"] or "no answer"

    if mount is None:
        if state == "missing":
            facts["status"] = "missing"
            problems.append("%s does not exist: create the mount point directory and start %s" % (path, unit))
        else:
            facts["status"] = "not_mounted"
            problems.append("%s is not mounted: start %s" % (path, unit))
            if state == "timeout":
                problems.append(
                    "%s does not answer within %gs although nothing is mounted on it: a filesystem it lives on may be hung"
                    % (path, timeout)
                )
            elif state == "stale":
                problems.append("%s lives on a stale FUSE mount (transport endpoint is not connected)" % path)
            elif state == "not_dir":
                problems.append("%s is not a directory: a mount point must be a directory" % path)
            elif state == "error":
                problems.append("%s cannot be read (%s)" % (path, answer_error))
    elif not is_rclone:
        facts["status"] = "other_filesystem"
        problems.append(
            "%s is a %s mount (source %s), not an rclone mount: find out what mounted it, unmount it and start %s"
            % (path, mount["fstype"], mount["source"], unit)
        )
        if state == "timeout":
            problems.append("%s does not answer within %gs" % (path, timeout))
    elif state == "ok":
        facts["status"] = "live"
        facts["mounted"] = True
    elif state == "timeout":
        facts["status"] = "hung"
        problems.append(
            "%s does not answer within %gs: the rclone process may be hung or dead; restart %s" % (path, timeout, unit)
        )
    elif state == "stale":
        facts["status"] = "stale"
        problems.append(
            "%s is a stale FUSE mount (transport endpoint is not connected: its rclone process is gone): "
            "unmount it with 'fusermount3 -uz %s' and restart %s" % (path, shlex.quote(path), unit)
        )
    else:
        facts["status"] = "error"
        problems.append(
            "%s is an rclone mount but cannot be read (%s): check the rclone log of %s; a mount made by another user "
            "needs --allow-other" % (path, answer_error if state == "error" else "not a directory", unit)
        )

    if is_rclone and mount and expected_remote is not None:
        if canonical_remote(mount["source"]) != canonical_remote(expected_remote):
            problems.append(
                "mounted remote %s is not the expected %s: point %s at %s and restart it"
                % (mount["source"], expected_remote, unit, expected_remote)
            )

    if write is not None:
        problems.extend(_write_facts(facts, path, write, timeout, write_name))
    if shadow is not None:
        problems.extend(_shadow_facts(facts, path, shadow, timeout))
    facts["problems"] = problems
    return facts


def _write_facts(facts: dict[str, t.Any], path: str, write: dict[str, t.Any], timeout: float, name: str | None) -> list[str]:
    probe_file = os.path.join(path, name or fuse_probe.WRITE_PROBE_PREFIX + "*")
    if not write["finished"]:
        facts["writable"] = False
        return ["writing a test file to %s did not finish within %gs: the mount may be hung; delete %s if it is left behind"
                % (path, timeout, probe_file)]
    value = write["value"]
    if not isinstance(value, dict):
        facts["writable"] = False
        return ["the write probe of %s failed (%s)" % (path, write["error"] or "no report")]
    facts["writable"] = bool(value["ok"])
    if value["ok"]:
        return []
    problem = "%s does not take writes (%s failed: %s): check that the mount is not --read-only and that the remote's " \
              "credentials may write" % (path, value["step"], value["error"])
    if value["left_behind"]:
        problem += "; delete %s" % probe_file
    return [problem]


def _shadow_facts(facts: dict[str, t.Any], path: str, shadow: dict[str, t.Any], timeout: float) -> list[str]:
    if not shadow["finished"]:
        return ["counting the files on the local disk under %s did not finish within %gs" % (path, timeout)]
    value = shadow["value"]
    if not isinstance(value, dict):
        if shadow["errno"] == errno.EPERM:
            return ["cannot look under %s: entering a private mount namespace was refused (%s); run the check as "
                    "root (become)" % (path, shadow["error"])]
        return ["cannot look under %s (%s)" % (path, shadow["error"] or "no report")]
    facts["shadowed_entries"] = value["count"]
    facts["shadowed_paths"] = [printable(entry) for entry in value["sample"]]
    if not value["count"]:
        return []
    count = "%s%d entr%s" % ("at least " if value["truncated"] else "", value["count"], "y" if value["count"] == 1 else "ies")
    examples = ", ".join(facts["shadowed_paths"][:3])
    if facts["status"] in ("not_mounted", "missing"):
        return ["%s holds %s on the local disk although nothing is mounted there (e.g. %s): files were written while the "
                "mount was down; move them out of the way, start the mount, then move them into the mounted folder"
                % (path, count, examples)]
    return ["files were written under the mount point %s while it was down and are hidden on the local disk under the "
            "mount: move them into the mounted folder after the mount is back (%s, e.g. %s)" % (path, count, examples)]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            remote=dict(type="str"),
            service=dict(type="str"),
            timeout=dict(type="float", default=5.0),
            writable=dict(type="bool", default=False),
            shadow_scan_limit=dict(type="int", default=10000),
            fail_on_problems=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isabs(params["path"]):
        module.fail_json(msg="path must be absolute, got %s" % params["path"])
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be more than 0 seconds, got %s" % params["timeout"])
    if params["shadow_scan_limit"] < 0:
        module.fail_json(msg="shadow_scan_limit must be 0 (no scan) or more, got %d" % params["shadow_scan_limit"])
    path = clean_path(params["path"])
    timeout = params["timeout"]

    try:
        mounts = read_mountinfo(MOUNTINFO_PATH)
    except (OSError, MountinfoError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (MOUNTINFO_PATH, exc), changed=False)
        return  # not reached

    try:
        answer = fuse_probe.answer_probe(path, timeout)
        if answer["finished"] and isinstance(answer["value"], dict):
            path = clean_path(answer["value"]["realpath"])
        underneath, mount = mount_layers(mounts, path)

        write = None
        write_name = None
        if params["writable"] and mount is not None and mount["fstype"] == RCLONE_FSTYPE and answer_state(answer) == "ok":
            write_name = fuse_probe.WRITE_PROBE_PREFIX + secrets.token_hex(8)
            write = fuse_probe.write_probe(path, write_name, timeout)

        shadow = None
        if params["shadow_scan_limit"] > 0 and underneath is not None:
            shadow = fuse_probe.shadow_probe(
                underneath["mount_point"], relative_to(path, underneath["mount_point"]), params["shadow_scan_limit"], timeout
            )
    except OSError as exc:  # fork, pipe or the scratch directory
        module.fail_json(msg="cannot start a probe process for %s: %s" % (path, exc), changed=False)
        return  # not reached

    facts = assess(path, mount, answer, write, shadow, params["remote"], params["service"], timeout, write_name)
    # Not "path": exit_json() stats a returned "path" (or "dest") in this process to add
    # owner and mode, and a stat on a hung mount never returns.
    result: dict[str, t.Any] = dict(changed=False, resolved_path=path, **facts)
    if params["fail_on_problems"] and result["problems"]:
        module.fail_json(msg="; ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
