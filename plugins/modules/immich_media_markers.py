#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: immich_media_markers
short_description: Write the .immich markers a restored Immich database expects on a new disk
version_added: 0.2.0
description:
  - Immich records in its database (table C(system_metadata), key C(system-flags), field
    C(mountChecks)) which media folders it has verified. At every start it reads and rewrites
    C(<folder>/.immich) in each folder, writes a new marker only for folders not verified yet,
    and refuses to start when a verified folder has no marker ("Failed to read
    <UPLOAD_LOCATION>/thumbs/.immich"), as immich-app/immich
    C(server/src/services/storage.service.ts) does in C(onBootstrap), C(createMountFile) and
    C(verifyReadAccess) (read at commits 06c83fa6a8d2198f3973843ce0975cb4d8183edc and
    52605e82da96c05d9c871c80607ccbeb5a69b4fd), and as the docs page
    administration/system-integrity says ("restored from a backup, but did not restore each
    folder").
  - A restored database brings that record back while a new SSD is blank. For each folder in
    O(write) that O(system_flags) says was verified and that has no marker, this module writes
    one (the current time in milliseconds, as Immich does), owned like the folder. Existing
    markers are left alone; folders Immich has not verified are left to Immich.
  - Folders in O(expect) (those that were not lost, such as the ones in the Azure mount) are
    only checked; a verified one without its marker is reported in RV(problems), never papered
    over, since Immich's check exists to catch exactly that, a wrong or empty mount.
author:
  - Immich Pi maintainers (@homelab)
options:
  system_flags:
    description:
      - The value of C(system-flags) in the restored database, as JSON text or a dict.
        Empty, C(null) or C({}) means no folder was verified (nothing to write).
    type: raw
    required: true
  write:
    description:
      - Immich's folder name (C(thumbs), C(encoded-video), ...) to the host path of that folder,
        for the folders this module may write a marker into.
    type: dict
    default: {}
  expect:
    description:
      - The same, for the folders whose markers must already be there.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Reports the markers it would write, writes none.
  diff_mode:
    support: none
    description: A marker's content is a timestamp; there is nothing useful to show.
"""

EXAMPLES = r"""
- name: Write the markers of the folders on the new SSD
  homelab.immich_pi.immich_media_markers:
    system_flags: '{"mountChecks": {"thumbs": true, "upload": true}}'
    write:
      thumbs: /mnt/ssd/immich/thumbs
    expect:
      upload: /mnt/azurephotos/originals/upload
  register: markers
"""

RETURN = r"""
verified:
  description: The folders the database says Immich verified.
  returned: always
  type: list
  elements: str
  sample: [upload, library, thumbs, encoded-video, profile, backups]
written:
  description: The folders a marker was written into (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [thumbs, encoded-video]
present:
  description: The verified folders whose marker was already there.
  returned: always
  type: list
  elements: str
  sample: [upload, library, profile, backups]
problems:
  description: Verified folders in O(expect) without a marker, each with the path and the fix.
  returned: always
  type: list
  elements: str
  sample: []
"""

import json
import os
import time
import typing as t

from ansible.module_utils.basic import AnsibleModule

MARKER = ".immich"


def verified_folders(system_flags: t.Any) -> list[str]:
    """The folders with ``mountChecks[folder]`` true; anything unreadable means none."""
    if isinstance(system_flags, str):
        system_flags = json.loads(system_flags) if system_flags.strip() else None
    if not isinstance(system_flags, dict):
        return []
    checks = system_flags.get("mountChecks")
    if not isinstance(checks, dict):
        return []
    return sorted(name for name, checked in checks.items() if checked is True)


def marker_path(folder_path: str) -> str:
    return os.path.join(folder_path, MARKER)


def missing_marker_problem(name: str, path: str) -> str:
    return ("Immich verified its %s folder on the old Pi, but %s is missing: Immich would refuse to start "
            "(Failed to read <UPLOAD_LOCATION>/%s/.immich). Check that the mount shows the old Pi's files; "
            "this marker is not written for you, since its absence can mean a wrong or empty mount."
            % (name, marker_path(path), name))


def write_marker(path: str) -> None:
    """Create the marker (never overwrite one), owned like its folder."""
    folder = os.stat(path)
    descriptor = os.open(marker_path(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(descriptor, str(int(time.time() * 1000)).encode())
        os.fchown(descriptor, folder.st_uid, folder.st_gid)
    finally:
        os.close(descriptor)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            system_flags=dict(type="raw", required=True),
            write=dict(type="dict", default={}),
            expect=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    params = module.params
    overlap = sorted(set(params["write"]) & set(params["expect"]))
    if overlap:
        module.fail_json(msg="a folder is in both write and expect: %s" % ", ".join(overlap))
    try:
        verified = verified_folders(params["system_flags"])
    except ValueError as exc:
        module.fail_json(msg="system_flags is not JSON: %s" % exc)
    result: dict[str, t.Any] = dict(changed=False, verified=verified, written=[], present=[], problems=[])
    for name in verified:
        path = params["write"].get(name) or params["expect"].get(name)
        if path is None:
            continue
        if os.path.lexists(marker_path(path)):
            result["present"].append(name)
        elif name in params["expect"]:
            result["problems"].append(missing_marker_problem(name, path))
        elif not os.path.isdir(path):
            module.fail_json(msg="the %s folder %s does not exist; the marker cannot be written there" % (name, path),
                             **result)
        else:
            if not module.check_mode:
                try:
                    write_marker(path)
                except OSError as exc:
                    module.fail_json(msg="cannot write %s (Immich's %s folder): %s. Immich refuses to start "
                                         "without it; make the folder writable for root and run again."
                                         % (marker_path(path), name, exc.strerror or exc), **result)
            result["written"].append(name)
            result["changed"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()
