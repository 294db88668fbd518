# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether playbooks/upgrade.yml may move a Pi from the Immich release it runs to another one.

Pure functions of their input, used by the filter immich_upgrade_plan. Immich migrates its
database forward only, and some releases refuse a database that skipped a release in between
(an "upgrade gate"): the gates are data (immich_upgrade_gates in the immich role's defaults),
each ``{below, target_from, via, why}``: a Pi on a release older than ``below`` must not go to
``target_from`` or later without starting ``via`` first. Bad input raises ValueError, which
the filter turns into AnsibleFilterError.
"""

from __future__ import annotations

import re
import typing as t

RELEASE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
GATE_KEYS = ("below", "target_from", "via", "why")
Release = t.Tuple[int, int, int]


def parse_release(tag: t.Any, what: str = "release") -> Release:
    """``v3.2.2`` -> (3, 2, 2); anything but an exact release tag raises ValueError."""
    match = RELEASE.match(str(tag if tag is not None else "").strip())
    if not match:
        raise ValueError("%s must be an exact Immich release tag such as v3.2.2, got %r" % (what, tag))
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)))


def check_gates(gates: t.Any) -> list[dict[str, t.Any]]:
    """The gates with their tags parsed; ValueError naming immich_upgrade_gates when one is malformed."""
    if not isinstance(gates, (list, tuple)):
        raise ValueError("immich_upgrade_gates must be a list, got %s" % type(gates).__name__)
    parsed = []
    for index, gate in enumerate(gates):
        where = "immich_upgrade_gates[%d]" % index
        if not isinstance(gate, dict) or sorted(gate) != sorted(GATE_KEYS):
            raise ValueError("%s must have exactly the keys %s, got %r" % (where, ", ".join(GATE_KEYS), gate))
        below, target_from, via = (parse_release(gate[key], "%s.%s" % (where, key))
                                   for key in ("below", "target_from", "via"))
        if not below <= via < target_from:
            raise ValueError("%s must have below <= via < target_from, got %s, %s, %s"
                             % (where, gate["below"], gate["via"], gate["target_from"]))
        parsed.append(dict(gate, _below=below, _target_from=target_from, _via=via))
    return parsed


def upgrade_plan(installed: t.Any, target: t.Any, gates: t.Any) -> dict[str, t.Any]:
    """What upgrade.yml does on a Pi that runs ``installed`` when asked for ``target``.

    Returns ``installed``, ``target``, ``action`` (``upgrade``, ``none`` when the Pi already
    runs the target, ``refuse``), ``via`` (the release to go through, or None) and ``problem``
    (why it is refused and the fix, naming immich_version; None unless refused).
    """
    target_release = parse_release(target, "immich_version")
    parsed_gates = check_gates(gates)
    try:
        installed_release = parse_release(installed, "the installed release")
    except ValueError:
        return dict(installed=installed, target=target, action="refuse", via=None, problem=(
            "The Immich release installed on this Pi cannot be read (IMMICH_VERSION in the stack's .env "
            "says %r): upgrade.yml moves a Pi that playbooks/site.yml built. Run site.yml first, with "
            "immich_version set to the release the Pi runs now." % (installed,)))
    plan = dict(installed=installed, target=target, action="upgrade", via=None, problem=None)
    if target_release == installed_release:
        plan["action"] = "none"
    elif target_release < installed_release:
        plan.update(action="refuse", problem=(
            "immich_version %s is older than the Immich this Pi runs (%s): Immich migrates its database "
            "forward only, so a downgrade is refused. Set immich_version to %s or newer; to go back to an "
            "older release, restore a backup that release made (playbooks/restore.yml, README)."
            % (target, installed, installed)))
    else:
        crossed = [gate for gate in parsed_gates
                   if installed_release < gate["_below"] and target_release >= gate["_target_from"]]
        if crossed:
            # The lowest intermediate release first: from there the next gate (if any) is checked again.
            gate = min(crossed, key=lambda item: item["_via"])
            plan.update(action="refuse", via=gate["via"], problem=(
                "immich_version %s cannot be reached from %s directly: %s Upgrade to %s first "
                "(ansible-playbook playbooks/upgrade.yml -e immich_version=%s), then to %s."
                % (target, installed, str(gate["why"]).strip().rstrip(".") + ".", gate["via"], gate["via"], target)))
    return plan
