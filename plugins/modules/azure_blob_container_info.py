#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: azure_blob_container_info
short_description: Check that an Azure Blob container answers, the credentials work and the container exists
version_added: 0.1.0
description:
  - The check before mounting a container with rclone, run on the controller against the
    Blob API. Does the endpoint answer, do the credentials work, does the container exist,
    and, optionally, which directories exist in it?
  - Every failure becomes a plain sentence in RV(problems) that names the fix (a wrong key,
    an expired SAS, an unknown account, a missing container, an endpoint that does not
    answer) and a machine-readable RV(error_kind); no traceback, no secret.
  - An expired SAS is found from its C(se=) field without a request.
  - Read-only; never changes the storage account.
author:
  - Immich Pi maintainers (@homelab)
extends_documentation_fragment:
  - homelab.immich_pi.azure_blob_auth
options:
  directories:
    description:
      - Directories to look for, for example V([originals, backup]).
      - A directory exists when its rclone directory marker (the zero-length blob C(<dir>/))
        or any blob under C(<dir>/) exists. A missing directory is not a problem; rclone
        creates it when it writes into it.
    type: list
    elements: str
    default: []
  fail_on_problems:
    description:
      - Fail when RV(problems) is not empty, with the problems as the message.
      - When V(false) the module reports the problems and the caller decides.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
seealso:
  - module: homelab.immich_pi.azure_blob_container
  - module: homelab.immich_pi.azure_blob_info
"""

EXAMPLES = r"""
- name: Check the Blob container before mounting it
  homelab.immich_pi.azure_blob_container_info:
    account_name: immichphotos
    account_key: "{{ vault_azure_storage_key }}"
    container: photos
    directories: [originals, backup]
  delegate_to: localhost
  become: false
  register: blob_check

- name: Stop with the reason when it does not work
  ansible.builtin.assert:
    that: blob_check.problems | length == 0
    fail_msg: "{{ blob_check.problems | join('; ') }}"

- name: Same check with a container SAS, failing on the spot
  homelab.immich_pi.azure_blob_container_info:
    sas_url: "{{ vault_azure_sas_url }}"
    container: photos
    fail_on_problems: true
  delegate_to: localhost
  become: false
"""

RETURN = r"""
account:
  description: The storage account, from O(account_name), O(endpoint), O(sas_url) or O(connection_string); V(null) when unknown (a custom domain).
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
auth_method:
  description: The credential option in use.
  returned: always
  type: str
  sample: account_key
sas_expiry:
  description: Expiry (C(se=)) of the SAS in O(sas_url) or O(connection_string), ISO 8601 in UTC; V(null) without a SAS or expiry.
  returned: always
  type: str
  sample: "2027-01-01T00:00:00Z"
sas_permissions:
  description: Permissions (C(sp=)) of the SAS; V(null) without a SAS. rclone and the backup job need V(rwdl).
  returned: always
  type: str
  sample: rwdl
reachable:
  description:
    - Whether the Blob endpoint answered.
    - V(null) when no request was made (the input was wrong) or the failure came earlier (signing in a service principal).
  returned: always
  type: bool
  sample: true
authenticated:
  description: Whether the credentials were accepted; V(null) when that could not be told.
  returned: always
  type: bool
  sample: true
exists:
  description: Whether the container exists; V(null) when that could not be told.
  returned: always
  type: bool
  sample: true
directories:
  description: Each directory of O(directories) (without slashes) and whether it exists; empty when the container could not be listed.
  returned: always
  type: dict
  sample: {"originals": true, "backup": false}
problems:
  description: What is wrong, one plain sentence each with the fix; empty when the container is usable.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      storage account 'immichphotos' rejected the credentials (HTTP 403 AuthenticationFailed): the account key
      is wrong: copy key1 or key2 from the storage account's Access keys page into account_key
error_kind:
  description:
    - The kind of the first problem, V(null) when there is none. One of C(invalid_input),
      C(unreachable), C(unknown_account), C(authentication_failed), C(sas_expired),
      C(sas_not_yet_valid), C(authorization_failed), C(container_not_found),
      C(not_blob_endpoint), C(service_error), C(error).
  returned: always
  type: str
  sample: authentication_failed
"""

import typing as t

from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob import (
    build_container_client,
    container_exists,
    directory_exists,
    normalize_directories,
    start_azure_blob_module,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_errors import (
    classify_error,
    reached_and_authenticated,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import Problem, Target


def check_container(
    target: Target, params: dict[str, t.Any], result: dict[str, t.Any], directories: list[str]
) -> list[Problem]:
    """Fill reachable/authenticated/exists/directories in ``result``; return the problems."""
    try:
        client = build_container_client(target, params)
        container_exists(client)
    except Exception as exc:  # pylint: disable=broad-except
        problem = classify_error(exc, target, "list", params["timeout"])
        result["reachable"], result["authenticated"] = reached_and_authenticated(problem)
        if problem.kind == "container_not_found":
            result["exists"] = False
        return [problem]
    result["reachable"], result["authenticated"], result["exists"] = True, True, True
    for directory in directories:
        try:
            result["directories"][directory] = directory_exists(client, directory)
        except Exception as exc:  # pylint: disable=broad-except
            return [classify_error(exc, target, "list", params["timeout"])]
    return []


def main() -> None:
    module, target = start_azure_blob_module(
        dict(
            directories=dict(type="list", elements="str", default=[]),
            fail_on_problems=dict(type="bool", default=False),
        )
    )
    params = module.params
    result: dict[str, t.Any] = dict(
        changed=False,
        account=target.account,
        container=target.container,
        endpoint=target.endpoint,
        auth_method=target.auth_method,
        sas_expiry=target.sas_expiry,
        sas_permissions=target.sas_permissions,
        reachable=None,
        authenticated=None,
        exists=None,
        directories={},
        problems=[],
        error_kind=None,
    )
    directories, problems = normalize_directories(params["directories"])
    problems = target.problems + problems
    if any(problem.kind in ("sas_expired", "sas_not_yet_valid") for problem in problems):
        result["authenticated"] = False
    if not problems:
        problems = check_container(target, params, result, directories)

    result["problems"] = [problem.message for problem in problems]
    result["error_kind"] = problems[0].kind if problems else None
    if problems and params["fail_on_problems"]:
        module.fail_json(msg="; ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
