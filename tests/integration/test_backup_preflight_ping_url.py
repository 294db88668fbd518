# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup role's preflight (ansible-playbook, the role's own tasks) on the ping URLs:
backup_ping_url and backup_media_ping_url are empty or http(s) with a host and no spaces;
anything else stops the run with a message that names the variable and the fix, and the value
never shows in the run's output."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from conftest import REPO_ROOT

SECRET = "0b8e5a4c-7d21-4f0e-9c3b-6a1f2e9d8c77"  # a healthchecks check's UUID
GOOD = "https://hc-ping.com/" + SECRET
CASES = {
    # case: (backup_ping_url, backup_media_ping_url, the variables named in the refusal, why)
    "none": ("", "", [], ""),
    "healthchecks": (GOOD, GOOD + "-media", [], ""),
    "a local port, any case": ("HTTP://127.0.0.1:8000/ping/" + SECRET, "http://[fd00::1]:8000/" + SECRET, [], ""),
    "no scheme": ("hc-ping.com/" + SECRET, "", ["backup_ping_url"], "does not begin with http:// or https://"),
    "ftp": ("ftp://hc-ping.com/" + SECRET, "", ["backup_ping_url"], "does not begin with http:// or https://"),
    "a trailing space": ("", GOOD + " ", ["backup_media_ping_url"], "holds a space or a line break"),
    "a line break": (GOOD + "\n", "", ["backup_ping_url"], "holds a space or a line break"),
    "no host": ("https:///" + SECRET, "", ["backup_ping_url"], "has no host"),
    "a port that is no number": ("https://hc-ping.com:https/" + SECRET, "", ["backup_ping_url"], "has no host"),
    "both": ("hc-ping.com/" + SECRET, "https://" + " " + SECRET, ["backup_ping_url", "backup_media_ping_url"],
             "does not begin with http:// or https://; backup_media_ping_url holds a space"),
}

PLAYBOOK = """\
- name: The backup role's preflight, once per case
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    backup_immich_version: v3.2.2
    rclone_mount_container: photos
    rclone_mount_account: devstoreaccount1
    rclone_mount_account_key: a2V5
  tasks:
    - name: Run each case
      ansible.builtin.include_tasks: case.yml
      loop: "{{ cases | dict2items }}"
      loop_control:
        label: "{{ item.key }}"
    - name: Write what each case gave
      ansible.builtin.copy:
        content: "{{ results | to_json }}"
        dest: "{{ results_path }}"
        mode: "0600"
"""
CASE = """\
- name: One case
  block:
    - name: The preflight
      ansible.builtin.include_role:
        name: homelab.immich_pi.backup
        tasks_from: preflight
      vars:
        backup_ping_url: "{{ item.value[0] }}"
        backup_media_ping_url: "{{ item.value[1] }}"
    - name: Passed
      ansible.builtin.set_fact:
        results: "{{ results | default({}) | combine({item.key: None}) }}"
  rescue:
    - name: Refused
      ansible.builtin.set_fact:
        results: "{{ results | default({}) | combine({item.key: ansible_failed_result.msg}) }}"
"""


@pytest.fixture(scope="module")
def preflight(tmp_path_factory):
    """One ansible-playbook run over every case: (refusal message or None by case, the run's output)."""
    folder = tmp_path_factory.mktemp("preflight")
    (folder / "play.yml").write_text(PLAYBOOK)
    (folder / "case.yml").write_text(CASE)
    (folder / "vars.json").write_text(json.dumps({"cases": CASES, "results_path": str(folder / "results.json")}))
    run = subprocess.run(
        [os.path.join(REPO_ROOT, ".venv", "bin", "ansible-playbook"), "play.yml", "-i", "localhost,",
         "--extra-vars", "@vars.json"],
        cwd=folder, capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads((folder / "results.json").read_text()), run.stdout + run.stderr


@pytest.mark.parametrize("case", [name for name, (_db, _media, names, _why) in CASES.items() if not names])
def test_empty_and_http_urls_with_a_host_pass(preflight, case):
    results, _output = preflight
    assert case in results and results[case] is None, results.get(case)


@pytest.mark.parametrize("case", [name for name, (_db, _media, names, _why) in CASES.items() if names])
def test_anything_else_is_refused_naming_the_variable_and_the_fix(preflight, case):
    results, _output = preflight
    _db, _media, names, why = CASES[case]
    message = results[case]
    assert message, "%s passed" % case
    named = [name for name in ("backup_ping_url", "backup_media_ping_url")
             if message.startswith(name + " ") or "; %s " % name in message]
    assert named == names, message
    assert why in message, message
    assert "must be empty (no ping) or the http:// or https:// ping URL" in message
    assert "https://hc-ping.com/<uuid>" in message and "(the value is not shown)" in message


def test_no_value_is_shown(preflight):
    _results, output = preflight
    assert "0b8e5a4c" not in output, textwrap.shorten(output, 2000)
