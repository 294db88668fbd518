# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: immich_health_summary
short_description: One line per health check, for people
version_added: 0.1.0
description:
  - Turns the checks of P(homelab.immich_pi.immich_health_checks#filter) into one line each,
    C(<status>  <check>  <detail>), the status and check names padded so that the columns
    line up.
  - Every check that is not C(OK) gets its fix appended in square brackets, after the word
    C(fix) and a colon (see the sample of RV(_value)).
author:
  - Immich Pi maintainers (@homelab)
positional: _input
options:
  _input:
    description: The checks, a list of dicts with C(check), C(status), C(detail) and C(fix).
    type: list
    elements: dict
    required: true
seealso:
  - plugin: homelab.immich_pi.immich_health_checks
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Show the summary
  ansible.builtin.debug:
    msg: "{{ health_checks | homelab.immich_pi.immich_health_summary }}"
"""

RETURN = r"""
_value:
  description: One line per check, in the order of the input.
  type: list
  elements: str
  sample:
    - "OK    ssd_mount     ext4 on /dev/sda (/mnt/ssd)"
    - >-
      FAIL  azure_mount   /mnt/azurephotos is not mounted; rclone-azurephotos.service is inactive (dead)
      [fix: sudo systemctl restart rclone-azurephotos.service]
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.homelab.immich_pi.plugins.plugin_utils.immich_health import summary_lines


def immich_health_summary(checks: t.Any) -> list[str]:
    try:
        return summary_lines(checks)
    except ValueError as error:
        raise AnsibleFilterError("immich_health_summary: %s" % error) from error


class FilterModule:
    """homelab.immich_pi.immich_health_summary"""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"immich_health_summary": immich_health_summary}
