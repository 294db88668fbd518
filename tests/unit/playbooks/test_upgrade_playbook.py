# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/upgrade.yml: checks that only read come first and stop every Pi, the backup runs
before the stack converges, and a Pi on the target release is left alone."""

from __future__ import annotations

import os

import pytest
import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")


def load(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


PLAYS = load("playbooks", "upgrade.yml")
CHECK, UPGRADE, VERIFY = PLAYS
READ_ONLY_MODULES = {"ansible.builtin.set_fact", "ansible.builtin.assert", "ansible.builtin.uri",
                     "homelab.immich_pi.immich_db_info"}


def module_of(task):
    return next(key for key in task if "." in key)


def included(task):
    include = task["ansible.builtin.include_role"]
    return include["name"].rsplit(".", 1)[-1], include.get("tasks_from", "main")


def test_three_plays_on_every_pi():
    assert [play["hosts"] for play in PLAYS] == ["immich_pi"] * 3
    assert all(play["become"] is True for play in PLAYS)


def test_the_checks_stop_every_pi_and_come_from_the_roles():
    assert CHECK["any_errors_fatal"] is True
    assert [included(task) for task in CHECK["tasks"]] == [
        ("ssd", "preflight"), ("rclone_mount", "preflight"), ("immich", "preflight"), ("backup", "preflight"),
        ("immich", "upgrade_check")]


def test_the_backup_runs_before_the_stack_converges_and_only_when_upgrading():
    (block,) = UPGRADE["tasks"]
    assert block["when"] == "immich_upgrade.action == 'upgrade'"
    assert [included(task) for task in block["block"]] == [("backup", "run"), ("immich", "main"), ("backup", "configure")]


def test_backup_yml_runs_the_same_tasks():
    (play,) = load("playbooks", "backup.yml")
    assert [included(task) for task in play["tasks"]] == [("backup", "run")]


@pytest.mark.parametrize("tasks_file", ["upgrade_check.yml", "upgrade_verify.yml"])
def test_the_check_and_the_verify_only_read(tasks_file):
    for task in load("roles", "immich", "tasks", tasks_file):
        module = module_of(task)
        if module == "ansible.builtin.command":
            assert task["changed_when"] is False and task["check_mode"] is False, task["name"]
        else:
            assert module in READ_ONLY_MODULES, task["name"]


def test_the_installed_release_is_read_from_the_pi():
    preflight = load("roles", "immich", "tasks", "preflight.yml")
    (read,) = [task for task in preflight if task.get("register") == "__immich_preflight_installed"]
    assert read["ansible.builtin.command"]["argv"][:3] == ["sed", "-n", "s/^IMMICH_VERSION=//p"]
    assert read["ansible.builtin.command"]["argv"][3] == "{{ __immich_env_file }}"
    template = open(os.path.join(ROOT, "roles", "immich", "templates", "immich.env.j2"), encoding="utf-8").read()
    assert "\nIMMICH_VERSION={{ immich_version }}\n" in template


def test_the_run_tasks_fail_unless_the_job_exits_0():
    tasks = load("roles", "backup", "tasks", "run.yml")
    run = tasks[0]
    # 2 (stored, suspiciously small) and 4 (stored, but the ping or the status file failed) are
    # read on, then stop the run with the job's message; anything else fails the task itself.
    stops = {task["when"]: task["ansible.builtin.fail"] for task in tasks if "ansible.builtin.fail" in task}
    assert run["failed_when"] == "__backup_run.rc not in [0, 2, 4]"
    assert set(stops) == {"__backup_run.rc | default(0) == 2", "__backup_run.rc | default(0) == 4"}
    assert all(stop["msg"] for stop in stops.values())
    backup_vars = load("roles", "backup", "vars", "main.yml")
    argv = run["ansible.builtin.command"]["argv"]
    assert " ".join(argv) == backup_vars["__backup_command"]
