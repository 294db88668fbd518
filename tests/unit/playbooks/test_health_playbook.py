# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/health.yml: its fallbacks are the roles' defaults, and every task only reads."""

from __future__ import annotations

import os
import re

import pytest
import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")


def load(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


PLAY = load("playbooks", "health.yml")[0]
with open(os.path.join(ROOT, "playbooks", "health.yml"), encoding="utf-8") as _handle:
    TEXT = _handle.read()
ROLE_DEFAULTS = {}
for role in ("ssd", "rclone_mount", "immich", "backup", "cloudflared"):
    ROLE_DEFAULTS.update(load("roles", role, "defaults", "main.yml"))
# `some_role_variable | default('literal')` or `| default(2283)` anywhere in the playbook.
FALLBACK = re.compile(r"\b([a-z]+_[a-z_]+) \| default\(('([^']*)'|\d+|true|false)\)")
READ_ONLY_MODULES = {
    "ansible.builtin.slurp", "ansible.builtin.uri", "ansible.builtin.set_fact", "ansible.builtin.debug",
    "ansible.builtin.assert", "homelab.immich_pi.rclone_mount_info", "homelab.immich_pi.immich_db_info",
    "homelab.immich_pi.azure_blob_info",
}


def fallbacks():
    found = []
    for match in FALLBACK.finditer(TEXT):
        if match.group(1) in ROLE_DEFAULTS:
            value = match.group(3) if match.group(3) is not None else yaml.safe_load(match.group(2))
            found.append((match.group(1), value))
    return sorted(set(found))


def test_there_are_fallbacks_to_check():
    names = {fallback[0] for fallback in fallbacks()}
    assert {"ssd_mount_point", "rclone_mount_point", "rclone_mount_vfs_cache_max_size", "immich_project_dir",
            "immich_port", "immich_version", "backup_prefix", "cloudflared_enabled"} <= names


@pytest.mark.parametrize("name, value", fallbacks())
def test_fallbacks_are_the_roles_defaults(name, value):
    assert ROLE_DEFAULTS[name] == value


def test_internal_names_match_the_roles():
    immich_vars = load("roles", "immich", "vars", "main.yml")
    backup_vars = load("roles", "backup", "vars", "main.yml")
    assert PLAY["vars"]["__health_db_container"] == immich_vars["__immich_container_names"]["database"]
    slurped = [task["ansible.builtin.slurp"]["src"] for task in PLAY["tasks"] if "ansible.builtin.slurp" in task]
    assert backup_vars["__backup_state_dir"] + "/status.json" in slurped
    assert PLAY["vars"]["__health_compose_argv"][0] == immich_vars["__immich_docker"]


def module_of(task):
    return next(key for key in task if "." in key)


@pytest.mark.parametrize("task", PLAY["tasks"], ids=lambda task: task["name"])
def test_every_task_only_reads(task):
    module = module_of(task)
    if module == "ansible.builtin.command":
        assert task["changed_when"] is False and task["check_mode"] is False and task["failed_when"] is False
    elif module == "ansible.builtin.copy":
        # Only the report, on the controller.
        assert task["delegate_to"] == "localhost" and task["become"] is False
        assert task["changed_when"] is False
    else:
        assert module in READ_ONLY_MODULES
    if module in ("ansible.builtin.slurp", "ansible.builtin.uri") or module.startswith("homelab."):
        # Nothing the Pi answers stops the run before the report.
        assert task["failed_when"] is False
    if module == "homelab.immich_pi.azure_blob_info":
        assert task["no_log"] is True and task["become"] is False


def test_the_last_task_fails_on_fail():
    last = PLAY["tasks"][-1]
    assert module_of(last) == "ansible.builtin.assert"
    assert "FAIL" in last["vars"]["__health_failed"]
