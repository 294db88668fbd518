# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: immich_upgrade_plan
short_description: Whether an Immich Pi may move from its release to another one
version_added: 0.1.0
description:
  - Compares the Immich release a Pi runs with the one asked for and the known upgrade gates,
    and says what C(playbooks/upgrade.yml) does - upgrade, nothing (the Pi runs it already),
    or refuse - with the reason and the fix when it refuses.
  - A downgrade is refused (Immich migrates its database forward only), and so is a jump across
    a gate - a Pi older than the gate's C(below) going to its C(target_from) or later - with the
    gate's C(via) as the release to go through first. When several gates are crossed, the one
    with the lowest C(via) is named.
author:
  - Immich Pi maintainers (@homelab)
positional: _input, target, gates
options:
  _input:
    description: The release the Pi runs, an exact tag such as V(v3.2.2) (read from the Pi).
    type: str
    required: true
  target:
    description: The release asked for (C(immich_version)), an exact tag.
    type: str
    required: true
  gates:
    description:
      - The upgrade gates, each with the exact tags C(below), C(target_from), C(via)
        (C(below) <= C(via) < C(target_from)) and C(why), a sentence with its source.
    type: list
    elements: dict
    required: true
seealso:
  - name: Immich release notes
    description: Where upgrade gates are announced.
    link: https://github.com/immich-app/immich/releases
"""

EXAMPLES = r"""
- name: Stop unless the Pi may go to immich_version
  ansible.builtin.assert:
    that: upgrade_plan.action != 'refuse'
    fail_msg: "{{ upgrade_plan.problem }}"
  vars:
    upgrade_plan: "{{ 'v1.131.0' | homelab.immich_pi.immich_upgrade_plan('v2.0.0', immich_upgrade_gates) }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    installed:
      description: The release the Pi runs, as given.
      type: str
    target:
      description: The release asked for, as given.
      type: str
    action:
      description: V(upgrade), V(none) (the Pi runs the target already) or V(refuse).
      type: str
    via:
      description: The release to go through first when a gate refuses the jump, else V(null).
      type: str
    problem:
      description: Why the move is refused and the fix (it names C(immich_version)); V(null) unless refused.
      type: str
  sample: {"installed": "v1.131.0", "target": "v2.0.0", "action": "refuse", "via": "v1.132.3",
           "problem": "immich_version v2.0.0 cannot be reached from v1.131.0 directly: ... Upgrade to v1.132.3 first
                       (ansible-playbook playbooks/upgrade.yml -e immich_version=v1.132.3), then to v2.0.0."}
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.homelab.immich_pi.plugins.plugin_utils.immich_upgrade import upgrade_plan


def immich_upgrade_plan(installed: t.Any, target: t.Any, gates: t.Any) -> dict[str, t.Any]:
    try:
        return upgrade_plan(installed, target, gates)
    except ValueError as error:
        raise AnsibleFilterError("immich_upgrade_plan: %s" % error) from error


class FilterModule:
    """homelab.immich_pi.immich_upgrade_plan"""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"immich_upgrade_plan": immich_upgrade_plan}
