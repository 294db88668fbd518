#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: azure_blob_container
short_description: Ensure an Azure Blob container and rclone directory markers in it exist
version_added: 0.1.0
description:
  - Makes sure the Blob container exists (creates it only with O(create=true)) and that each
    of O(directories) exists the way rclone sees directories.
  - A directory exists when its marker (the blob C(<dir>/)) or any blob under C(<dir>/)
    exists. A missing directory gets a marker exactly as rclone 1.75 writes one for Azure
    Blob with C(directory_markers = true) - a zero-length blob named C(<dir>/) with the
    metadata C(hdi_isfolder=true) and C(mtime) - so the directory shows in the mount before
    anything was written into it.
  - Never deletes or overwrites anything. Reports C(changed) only when it created something.
  - Fails with a plain message (and RV(error_kind)) for a wrong key, an expired SAS, an
    unknown account, a missing container, or an endpoint that does not answer.
author:
  - Immich Pi maintainers (@homelab)
extends_documentation_fragment:
  - homelab.immich_pi.azure_blob_auth
options:
  create:
    description:
      - Create the container when it does not exist (needs the account key, an account SAS
        with resource type container and create permission, or the role Storage Blob Data
        Contributor).
      - When V(false), a missing container fails the task.
    type: bool
    default: false
  directories:
    description:
      - Directories that must exist in the container, for example V([originals, backup]).
        Slashes at either end are ignored; V(a/b) marks C(a/b/) only, as C(rclone mkdir) does.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what it would create, creates nothing.
  diff_mode:
    support: none
    description: No diff; RV(created_container) and RV(created_directories) tell what changed.
seealso:
  - module: homelab.immich_pi.azure_blob_container_info
  - name: rclone Azure Blob directory markers
    description: rclone's option directory_markers.
    link: https://rclone.org/azureblob/#azureblob-directory-markers
"""

EXAMPLES = r"""
- name: Container and folders for the photos
  homelab.immich_pi.azure_blob_container:
    account_name: immichphotos
    account_key: "{{ vault_azure_storage_key }}"
    container: photos
    create: true
    directories: [originals, backup]
  delegate_to: localhost
  become: false

- name: Only make sure the folders exist in a container created in the portal
  homelab.immich_pi.azure_blob_container:
    sas_url: "{{ vault_azure_sas_url }}"
    container: photos
    directories: [backup]
  delegate_to: localhost
  become: false
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
  description: The Blob endpoint that was used, without query string.
  returned: always
  type: str
  sample: https://immichphotos.blob.core.windows.net
created_container:
  description: Whether the container was created (in check mode, would be).
  returned: always
  type: bool
  sample: false
created_directories:
  description: The directories (without slashes) that got a marker (in check mode, would get one).
  returned: always
  type: list
  elements: str
  sample: ["backup"]
error_kind:
  description:
    - Why the module failed, V(null) on success. One of C(invalid_input), C(unreachable),
      C(unknown_account), C(authentication_failed), C(sas_expired), C(sas_not_yet_valid),
      C(authorization_failed), C(container_not_found), C(not_blob_endpoint),
      C(service_error), C(error).
  returned: always
  type: str
  sample: null
problems:
  description: What is wrong, one plain sentence each with the fix; the failure message joins them.
  returned: always
  type: list
  elements: str
  sample: []
"""

import datetime
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob import (
    build_container_client,
    container_exists,
    create_directory_marker,
    directory_exists,
    normalize_directories,
    start_azure_blob_module,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_errors import classify_error, error_code_of
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import Problem, Target


def missing_container(target: Target) -> Problem:
    return Problem(
        "container_not_found",
        "container '%s' does not exist in %s: create it in the Azure portal, or set create=true"
        % (target.container, target.account_label),
    )


def ensure(
    module: AnsibleModule, target: Target, directories: list[str], result: dict[str, t.Any]
) -> Problem | None:
    """Create what is missing (nothing in check mode); record it in ``result``."""
    params = module.params
    timeout = params["timeout"]
    step = "list"
    try:
        client = build_container_client(target, params)
        try:
            container_exists(client)
            container_missing = False
        except Exception as exc:  # pylint: disable=broad-except
            problem = classify_error(exc, target, "list", timeout)
            if problem.kind != "container_not_found":
                return problem
            container_missing = True

        if container_missing:
            if not params["create"]:
                return missing_container(target)
            if not module.check_mode:
                step = "create_container"
                try:
                    client.create_container()
                except Exception as exc:  # pylint: disable=broad-except
                    # Created by someone else in the meantime: there, and not by us.
                    if error_code_of(exc) != "ContainerAlreadyExists":
                        raise
                    container_missing = False
            result["created_container"] = container_missing

        now = datetime.datetime.now(datetime.timezone.utc)
        for directory in directories:
            step = "list"
            # A container that is only about to be created in check mode holds nothing yet.
            if not (container_missing and module.check_mode) and directory_exists(client, directory):
                continue
            if module.check_mode:
                result["created_directories"].append(directory)
                continue
            step = "write"
            if create_directory_marker(client, directory, now):
                result["created_directories"].append(directory)
    except Exception as exc:  # pylint: disable=broad-except
        return classify_error(exc, target, step, timeout)
    return None


def main() -> None:
    module, target = start_azure_blob_module(
        dict(
            create=dict(type="bool", default=False),
            directories=dict(type="list", elements="str", default=[]),
        )
    )
    params = module.params
    result: dict[str, t.Any] = dict(
        changed=False,
        account=target.account,
        container=target.container,
        endpoint=target.endpoint,
        created_container=False,
        created_directories=[],
        error_kind=None,
        problems=[],
    )
    directories, problems = normalize_directories(params["directories"])
    problems = target.problems + problems
    if not problems:
        problem = ensure(module, target, directories, result)
        if problem is not None:
            problems.append(problem)
    result["changed"] = bool(result["created_container"] or result["created_directories"])
    if problems:
        result["problems"] = [problem.message for problem in problems]
        result["error_kind"] = problems[0].kind
        module.fail_json(msg="; ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
