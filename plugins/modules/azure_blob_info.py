#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: azure_blob_info
short_description: List the blobs under a prefix in an Azure Blob container
version_added: 0.1.0
description:
  - Lists the blobs whose names start with O(prefix), straight from the Blob API (not through
    an rclone mount and its local cache), with size, last modification, ETag, Content-MD5
    and metadata, sorted by name.
  - Sums them up in RV(count), RV(total_size) and RV(newest), which prove that a backup
    really reached Azure and when.
  - The listing is flat (no delimiter); blobs in sub-directories are included.
  - rclone's directory markers (zero-length blobs named C(<dir>/)) are left out unless
    O(include_directory_markers=true).
  - Fails with a plain message (and RV(error_kind)) when the container cannot be listed.
  - Read-only; never changes the storage account.
author:
  - Immich Pi maintainers (@homelab)
extends_documentation_fragment:
  - homelab.immich_pi.azure_blob_auth
options:
  prefix:
    description:
      - List the blobs whose names start with this string. V(backup/) lists everything in
        the directory C(backup); V(backup) would also match C(backup-old/...).
      - The empty string lists the whole container.
    type: str
    default: ""
  include_directory_markers:
    description:
      - Also list rclone's directory markers (zero-length blobs named C(<dir>/) or carrying
        the metadata C(hdi_isfolder=true)); they then count in RV(count) and RV(newest) too.
    type: bool
    default: false
  max_results:
    description:
      - The most blobs returned in RV(blobs) (the first ones by name); RV(truncated) tells
        when there were more.
      - RV(count), RV(total_size) and RV(newest) always cover every blob under O(prefix).
      - V(0) returns only the summaries.
    type: int
    default: 1000
attributes:
  check_mode:
    support: full
    description: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
seealso:
  - module: homelab.immich_pi.azure_blob_container_info
"""

EXAMPLES = r"""
- name: Find the database backups in Azure
  homelab.immich_pi.azure_blob_info:
    account_name: immichphotos
    account_key: "{{ vault_azure_storage_key }}"
    container: photos
    prefix: backup/
  delegate_to: localhost
  become: false
  register: backups

- name: The newest backup is from today and not empty
  ansible.builtin.assert:
    that:
      - backups.newest is not none
      - backups.newest.size > 0
      - backups.newest.last_modified[:10] == now(utc=true).strftime('%Y-%m-%d')
    fail_msg: "no backup from today in Azure (newest: {{ backups.newest }})"

- name: Only count what is in originals/
  homelab.immich_pi.azure_blob_info:
    sas_url: "{{ vault_azure_sas_url }}"
    container: photos
    prefix: originals/
    max_results: 0
  delegate_to: localhost
  become: false
  register: originals
"""

RETURN = r"""
account:
  description: The storage account; V(null) when unknown (a custom domain).
  returned: always
  type: str
  sample: immichphotos
container:
  description: The container, as given in O(container).
  returned: always
  type: str
  sample: photos
endpoint:
  description: The Blob endpoint that was asked, without query string.
  returned: always
  type: str
  sample: https://immichphotos.blob.core.windows.net
prefix:
  description: The prefix that was listed.
  returned: always
  type: str
  sample: backup/
blobs:
  description: The blobs under O(prefix), sorted by name, at most O(max_results).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "backup/immich-db-2024-05-01.sql.gz", "size": 73400320, "last_modified": "2024-05-01T02:00:07Z",
            "etag": "0x8DC69A1B2C3D4E5", "content_md5": "9e107d9d372bb6826bd81d3542a419d6",
            "metadata": {"mtime": "2024-05-01T02:00:01.123456789Z"}, "directory_marker": false}]
  contains:
    name:
      description: The blob's name (its path in the container).
      type: str
      sample: backup/immich-db-2024-05-01.sql.gz
    size:
      description: Size in bytes.
      type: int
      sample: 73400320
    last_modified:
      description: When the blob was last written, ISO 8601 in UTC.
      type: str
      sample: "2024-05-01T02:00:07Z"
    etag:
      description: The blob's ETag, without quotes.
      type: str
      sample: "0x8DC69A1B2C3D4E5"
    content_md5:
      description: The Content-MD5 the blob carries, in hex; V(null) when it has none (large uploads in blocks often have none).
      type: str
      sample: 9e107d9d372bb6826bd81d3542a419d6
    metadata:
      description: The blob's metadata (rclone stores C(mtime) there).
      type: dict
      sample: {"mtime": "2024-05-01T02:00:01.123456789Z"}
    directory_marker:
      description: Whether the blob is an rclone directory marker (only V(true) with O(include_directory_markers=true)).
      type: bool
      sample: false
count:
  description: How many blobs are under O(prefix) (directory markers only with O(include_directory_markers=true)).
  returned: success
  type: int
  sample: 7
total_size:
  description: Their total size in bytes.
  returned: success
  type: int
  sample: 513802240
newest:
  description: The blob with the latest RV(blobs[].last_modified) (same keys as an item of RV(blobs)), V(null) when there is none.
  returned: success
  type: dict
  sample: {"name": "backup/immich-db-2024-05-01.sql.gz", "size": 73400320, "last_modified": "2024-05-01T02:00:07Z",
           "etag": "0x8DC69A1B2C3D4E5", "content_md5": null, "metadata": {}, "directory_marker": false}
truncated:
  description: Whether RV(blobs) holds fewer blobs than RV(count) because of O(max_results).
  returned: success
  type: bool
  sample: false
error_kind:
  description:
    - Why the listing failed, V(null) on success. One of C(invalid_input), C(unreachable),
      C(unknown_account), C(authentication_failed), C(sas_expired), C(sas_not_yet_valid),
      C(authorization_failed), C(container_not_found), C(not_blob_endpoint),
      C(service_error), C(error).
  returned: always
  type: str
  sample: container_not_found
problems:
  description: What is wrong, one plain sentence each with the fix; the failure message joins them.
  returned: always
  type: list
  elements: str
  sample: []
"""

import typing as t

from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob import (
    blob_entry,
    build_container_client,
    start_azure_blob_module,
    summarize_blobs,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_errors import classify_error
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import Problem


def listed_entries(client: t.Any, prefix: str, include_markers: bool) -> t.Iterator[dict[str, t.Any]]:
    """Every blob under ``prefix`` as a returned entry, directory markers only when asked."""
    for blob in client.list_blobs(name_starts_with=prefix or None, include=["metadata"]):
        entry = blob_entry(blob)
        if entry["directory_marker"] and not include_markers:
            continue
        yield entry


def main() -> None:
    module, target = start_azure_blob_module(
        dict(
            prefix=dict(type="str", default=""),
            include_directory_markers=dict(type="bool", default=False),
            max_results=dict(type="int", default=1000),
        )
    )
    params = module.params
    result: dict[str, t.Any] = dict(
        changed=False,
        account=target.account,
        container=target.container,
        endpoint=target.endpoint,
        prefix=params["prefix"],
        error_kind=None,
        problems=[],
    )
    problems: list[Problem] = list(target.problems)
    if params["max_results"] < 0:
        problems.append(Problem("invalid_input", "max_results must be 0 or more"))
    if not problems:
        try:
            client = build_container_client(target, params)
            result.update(
                summarize_blobs(
                    listed_entries(client, params["prefix"], params["include_directory_markers"]),
                    params["max_results"],
                )
            )
        except Exception as exc:  # pylint: disable=broad-except
            problems.append(classify_error(exc, target, "list", params["timeout"]))
    if problems:
        result["problems"] = [problem.message for problem in problems]
        result["error_kind"] = problems[0].kind
        module.fail_json(msg="; ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
