# SPDX-License-Identifier: GPL-3.0-or-later
"""immich_media_markers: the markers a restored Immich database expects, on real folders."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.homelab.immich_pi.plugins.modules import immich_media_markers as module
from ansible_collections.homelab.immich_pi.tests.unit.plugins.module_runner import run_module

ALL_VERIFIED = {"mountChecks": {name: True for name in
                                ("upload", "library", "thumbs", "encoded-video", "profile", "backups")}}


@pytest.mark.parametrize("flags, expected", [
    (ALL_VERIFIED, ["backups", "encoded-video", "library", "profile", "thumbs", "upload"]),
    (json.dumps({"mountChecks": {"thumbs": True, "upload": False}}), ["thumbs"]),
    ({"mountChecks": {"thumbs": "yes"}}, []),
    ({"mountFiles": True}, []),  # Immich before per-folder checks
    ("", []),
    ("null", []),
    (None, []),
    ({}, []),
])
def test_verified_folders(flags, expected):
    assert module.verified_folders(flags) == expected


@pytest.fixture(name="folders")
def fixture_folders(tmp_path):
    paths = {}
    for name in ("thumbs", "encoded-video", "upload"):
        paths[name] = str(tmp_path / name)
        os.mkdir(paths[name])
    return paths


def test_writes_missing_markers_on_the_ssd_and_keeps_existing_ones(capsys, folders):
    with open(os.path.join(folders["encoded-video"], ".immich"), "w", encoding="utf-8") as handle:
        handle.write("1700000000000")
    with open(os.path.join(folders["upload"], ".immich"), "w", encoding="utf-8") as handle:
        handle.write("1700000000001")
    result = run_module(module, capsys, dict(
        system_flags=json.dumps(ALL_VERIFIED),
        write={"thumbs": folders["thumbs"], "encoded-video": folders["encoded-video"]},
        expect={"upload": folders["upload"]}))
    assert result["rc"] == 0 and result["changed"] is True
    assert result["written"] == ["thumbs"]
    assert sorted(result["present"]) == ["encoded-video", "upload"]
    assert result["problems"] == []
    with open(os.path.join(folders["thumbs"], ".immich"), encoding="utf-8") as handle:
        assert handle.read().isdigit()
    with open(os.path.join(folders["encoded-video"], ".immich"), encoding="utf-8") as handle:
        assert handle.read() == "1700000000000"


def test_a_second_run_changes_nothing(capsys, folders):
    args = dict(system_flags=ALL_VERIFIED, write={"thumbs": folders["thumbs"]})
    assert run_module(module, capsys, args)["changed"] is True
    again = run_module(module, capsys, args)
    assert again["changed"] is False and again["present"] == ["thumbs"]


def test_check_mode_reports_without_writing(capsys, folders):
    result = run_module(module, capsys, dict(system_flags=ALL_VERIFIED, write={"thumbs": folders["thumbs"]}),
                        check_mode=True)
    assert result["changed"] is True and result["written"] == ["thumbs"]
    assert not os.path.exists(os.path.join(folders["thumbs"], ".immich"))


def test_folders_immich_did_not_verify_are_left_to_immich(capsys, folders):
    result = run_module(module, capsys, dict(system_flags={"mountChecks": {"upload": True}},
                                             write={"thumbs": folders["thumbs"]}))
    assert result["changed"] is False and result["written"] == []
    assert os.listdir(folders["thumbs"]) == []


def test_a_missing_marker_in_an_expected_folder_is_a_problem_not_written(capsys, folders):
    result = run_module(module, capsys, dict(system_flags=ALL_VERIFIED, expect={"upload": folders["upload"]}))
    assert result["rc"] == 0 and result["changed"] is False
    assert len(result["problems"]) == 1 and "upload" in result["problems"][0]
    assert os.path.join(folders["upload"], ".immich") in result["problems"][0]
    assert os.listdir(folders["upload"]) == []


def test_a_folder_that_cannot_be_written_fails_naming_it(capsys, folders, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(module.os, "open", refuse)
    result = run_module(module, capsys, dict(system_flags=ALL_VERIFIED, write={"thumbs": folders["thumbs"]}))
    assert result["rc"] == 1 and result["failed"] is True
    assert os.path.join(folders["thumbs"], ".immich") in result["msg"]
    assert "Operation not permitted" in result["msg"]


def test_a_missing_folder_fails_naming_it(capsys, tmp_path):
    gone = str(tmp_path / "thumbs")
    result = run_module(module, capsys, dict(system_flags=ALL_VERIFIED, write={"thumbs": gone}))
    assert result["rc"] == 1 and gone in result["msg"]


def test_bad_input_is_refused(capsys, folders):
    both = run_module(module, capsys, dict(system_flags=ALL_VERIFIED, write={"thumbs": folders["thumbs"]},
                                           expect={"thumbs": folders["thumbs"]}))
    assert both["rc"] == 1 and "thumbs" in both["msg"]
    garbage = run_module(module, capsys, dict(system_flags="{not json", write={"thumbs": folders["thumbs"]}))
    assert garbage["rc"] == 1 and "system_flags" in garbage["msg"]
