# SPDX-License-Identifier: GPL-3.0-or-later
"""Which moves between Immich releases playbooks/upgrade.yml makes, skips or refuses (the
filter immich_upgrade_plan), on the upgrade gates the immich role ships."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.homelab.immich_pi.plugins.plugin_utils import immich_upgrade as plugin

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
with open(os.path.join(ROOT, "roles", "immich", "vars", "main.yml"), encoding="utf-8") as _handle:
    GATES = yaml.safe_load(_handle)["__immich_upgrade_gates"]


def plan(installed, target, gates=None):
    return plugin.upgrade_plan(installed, target, GATES if gates is None else gates)


@pytest.mark.parametrize("installed, target", [
    ("v3.2.2", "v3.2.3"),
    ("v3.2.2", "v3.3.0"),
    ("v2.7.5", "v3.2.2"),
    ("v1.132.3", "v3.2.2"),  # the recommended intermediate release reaches v3 directly
    ("v1.132.0", "v2.0.0"),
    ("v1.107.2", "v1.136.0"),  # below the typeorm gate but not past it
    ("v1.100.0", "v1.107.2"),
    ("v1.131.0", "v1.132.3"),
])
def test_upgrades(installed, target):
    assert plan(installed, target) == dict(installed=installed, target=target, action="upgrade", via=None, problem=None)


def test_the_same_release_is_nothing_to_do():
    assert plan("v3.2.2", "v3.2.2")["action"] == "none"
    assert plan("v3.2.2", "v3.2.2")["problem"] is None


@pytest.mark.parametrize("installed, target", [("v3.2.2", "v3.2.1"), ("v3.2.2", "v2.7.5"), ("v3.0.0", "v1.132.3")])
def test_a_downgrade_is_refused_naming_immich_version_and_the_release_to_keep(installed, target):
    result = plan(installed, target)
    assert result["action"] == "refuse" and result["via"] is None
    assert result["problem"].startswith("immich_version %s is older than the Immich this Pi runs (%s)" % (target, installed))
    assert "Set immich_version to %s or newer" % installed in result["problem"]


@pytest.mark.parametrize("installed, target, via", [
    ("v1.131.0", "v1.137.0", "v1.132.3"),
    ("v1.131.0", "v2.0.0", "v1.132.3"),
    ("v1.106.4", "v1.133.0", "v1.107.2"),
    # Both gates crossed: the lowest intermediate release first, the next gate is checked from there.
    ("v1.100.0", "v3.2.2", "v1.107.2"),
    ("v1.107.2", "v3.2.2", "v1.132.3"),
])
def test_a_gated_jump_is_refused_with_the_release_to_go_through(installed, target, via):
    result = plan(installed, target)
    assert result["action"] == "refuse" and result["via"] == via
    assert result["problem"].startswith("immich_version %s cannot be reached from %s directly: " % (target, installed))
    assert "Upgrade to %s first (ansible-playbook playbooks/upgrade.yml -e immich_version=%s), then to %s." % (
        via, via, target) in result["problem"]


def test_a_gate_names_its_reason():
    assert "typeorm-upgrade" in plan("v1.131.0", "v2.0.0")["problem"]


def test_extra_gates_count_too():
    extra = GATES + [dict(below="v3.2.3", target_from="v3.3.0", via="v3.2.3", why="A test gate.")]
    assert plan("v3.2.2", "v3.3.0", extra)["via"] == "v3.2.3"
    assert plan("v3.2.2", "v3.2.3", extra)["action"] == "upgrade"
    assert plan("v3.2.3", "v3.3.0", extra)["action"] == "upgrade"


@pytest.mark.parametrize("installed", ["", None, "release", "3.2.2"])
def test_an_unreadable_installed_release_is_refused(installed):
    result = plan(installed, "v3.2.3")
    assert result["action"] == "refuse"
    assert "Run site.yml first" in result["problem"]


@pytest.mark.parametrize("target", ["release", "v3", "3.2.3", "v3.2", "v3.2.3-rc.1", "", None])
def test_a_target_that_is_not_an_exact_tag_raises_naming_immich_version(target):
    with pytest.raises(ValueError, match="immich_version must be an exact Immich release tag"):
        plan("v3.2.2", target)


@pytest.mark.parametrize("gates, message", [
    ("v1.2.3", "must be a list"),
    ([dict(below="v1.0.0", target_from="v2.0.0", via="v1.0.0")], r"immich_upgrade_gates\[0\] must have exactly the keys"),
    ([dict(below="v1.0.0", target_from="v2.0.0", via="v1.0", why="x")], r"immich_upgrade_gates\[0\]\.via must be"),
    ([dict(below="v1.0.0", target_from="v1.5.0", via="v1.6.0", why="x")], "below <= via < target_from"),
])
def test_malformed_gates_raise(gates, message):
    with pytest.raises(ValueError, match=message):
        plan("v1.0.0", "v2.0.0", gates)


def test_the_shipped_gates_are_well_formed_and_sourced():
    assert len(plugin.check_gates(GATES)) == len(GATES) >= 2
    for gate in GATES:
        assert "https://" in gate["why"]


def test_parse_release():
    assert plugin.parse_release("v1.132.3") == (1, 132, 3)
    assert plugin.parse_release("v1.99.0") < plugin.parse_release("v1.107.2")
