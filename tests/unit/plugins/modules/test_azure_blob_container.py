# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive azure_blob_container's main() with patch_module_args and a fake container client."""

from __future__ import annotations

import datetime
import functools
import json

import pytest

from ansible_collections.homelab.immich_pi.plugins.modules import azure_blob_container
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner
from ansible_collections.homelab.immich_pi.tests.unit.plugins.azure_blob_fakes import (
    PERMISSION_MISMATCH,
    FakeContainerClient,
    storage_error,
)

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ARGS = {"endpoint": "http://172.17.0.1:10000/devstoreaccount1", "account_key": KEY, "container": "photos"}
NOW = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)


run_module = functools.partial(module_runner.run_module, azure_blob_container)


@pytest.fixture
def client(monkeypatch):
    fake = FakeContainerClient(blobs={"originals/2024/a.jpg": (b"jpg", {}, NOW), "backup/": (b"", {"hdi_isfolder": "true"}, NOW)})
    monkeypatch.setattr(azure_blob_container, "build_container_client", lambda target, params: fake)
    return fake


def test_nothing_to_do(client, capsys):
    result = run_module(capsys, dict(ARGS, directories=["originals", "backup"]))
    assert result["rc"] == 0 and result["changed"] is False
    assert (result["created_container"], result["created_directories"]) == (False, [])
    assert client.writes() == []


def test_creates_a_missing_marker_like_rclone(client, capsys):
    result = run_module(capsys, dict(ARGS, directories=["originals", "library/", "backup"]))
    assert result["changed"] is True
    assert result["created_directories"] == ["library"]
    [(call, name, metadata)] = client.writes()
    assert (call, name, metadata["hdi_isfolder"]) == ("upload_blob", "library/", "true")
    assert metadata["mtime"].endswith("Z")
    assert client.blobs["library/"][0] == b""


def test_check_mode_writes_nothing(client, capsys):
    result = run_module(capsys, dict(ARGS, directories=["originals", "library"]), check_mode=True)
    assert result["changed"] is True and result["created_directories"] == ["library"]
    assert client.writes() == []


def test_missing_container_without_create_fails(client, capsys):
    client.exists = False
    result = run_module(capsys, dict(ARGS, directories=["originals"]))
    assert result["rc"] == 1 and result["changed"] is False
    assert result["error_kind"] == "container_not_found"
    assert result["msg"] == (
        "container 'photos' does not exist in storage account 'devstoreaccount1': create it in the Azure portal, "
        "or set create=true"
    )
    assert client.writes() == []


def test_missing_container_is_created_with_its_directories(client, capsys):
    client.exists = False
    client.blobs = {}
    result = run_module(capsys, dict(ARGS, create=True, directories=["originals", "backup"]))
    assert result["changed"] is True and result["created_container"] is True
    assert result["created_directories"] == ["originals", "backup"]
    assert [call[:2] for call in client.writes()] == [("create_container",), ("upload_blob", "originals/"), ("upload_blob", "backup/")]


def test_missing_container_in_check_mode(client, capsys):
    client.exists = False
    result = run_module(capsys, dict(ARGS, create=True, directories=["originals"]), check_mode=True)
    assert result["changed"] is True and result["created_container"] is True
    assert result["created_directories"] == ["originals"]
    assert client.writes() == []


def test_marker_written_by_someone_else_meanwhile_is_not_a_change(client, capsys, monkeypatch):
    monkeypatch.setattr(azure_blob_container, "directory_exists", lambda client, directory: False)
    result = run_module(capsys, dict(ARGS, directories=["backup"]))
    assert result["rc"] == 0 and result["changed"] is False and result["created_directories"] == []


def test_sas_without_write_permission(client, capsys, monkeypatch):
    def refuse(**kwargs):
        raise storage_error(403, "AuthorizationPermissionMismatch", PERMISSION_MISMATCH)

    monkeypatch.setattr(client, "upload_blob", refuse)
    sas_url = "http://172.17.0.1:10000/devstoreaccount1/photos?sv=2026-10-06&sr=c&sp=rl&se=2099-01-01&sig=abc123"
    result = run_module(capsys, {"sas_url": sas_url, "container": "photos", "directories": ["library"]})
    assert result["rc"] == 1 and result["error_kind"] == "authorization_failed"
    assert "create (c) or write (w)" in result["msg"] and "sp=rwdl" in result["msg"]
    assert "abc123" not in json.dumps(result)
