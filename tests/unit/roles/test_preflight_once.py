# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml runs every role's preflight in its first play; each role's main.yml skips the
preflight that already passed. A fact name that differs between the two would silently run
every preflight twice (benchmarks/site_rerun.py)."""

from __future__ import annotations

import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles")
ROLE_NAMES = sorted(name for name in os.listdir(ROLES) if os.path.isfile(os.path.join(ROLES, name, "tasks", "preflight.yml")))


def tasks(role: str, filename: str) -> list[dict]:
    with open(os.path.join(ROLES, role, "tasks", filename), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_every_role_has_a_preflight():
    assert ROLE_NAMES == ["backup", "cloudflared", "docker", "immich", "rclone_mount", "ssd"]


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_main_skips_the_preflight_that_its_last_task_remembers(role):
    fact = "__%s_preflight_passed" % role
    include = tasks(role, "main.yml")[0]
    assert include["ansible.builtin.include_tasks"]["file"] == "preflight.yml"
    assert include["when"] == "not %s | default(false)" % fact
    # The preflight's tasks keep the role's tags: --tags <role>:configure still runs them.
    assert include["ansible.builtin.include_tasks"]["apply"]["tags"] == include["tags"]
    remember = tasks(role, "preflight.yml")[-1]
    assert remember["ansible.builtin.set_fact"] == {fact: True}
