# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive azure_blob_info's main() with patch_module_args and a fake container client."""

from __future__ import annotations

import datetime
import functools

import pytest

from ansible_collections.homelab.immich_pi.plugins.modules import azure_blob_info
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner
from ansible_collections.homelab.immich_pi.tests.unit.plugins.azure_blob_fakes import FakeContainerClient

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ARGS = {"endpoint": "http://172.17.0.1:10000/devstoreaccount1", "account_key": KEY, "container": "photos"}
UTC = datetime.timezone.utc


run_module = functools.partial(module_runner.run_module, azure_blob_info)


@pytest.fixture
def client(monkeypatch):
    fake = FakeContainerClient(blobs={
        "backup/": (b"", {"hdi_isfolder": "true"}, datetime.datetime(2024, 5, 9, tzinfo=UTC)),
        "backup/immich-db-2024-05-01.sql.gz": (b"x" * 10, {"mtime": "2024-05-01T02:00:01Z"}, datetime.datetime(2024, 5, 1, 2, 0, 7, tzinfo=UTC)),
        "backup/immich-db-2024-05-02.sql.gz": (b"x" * 20, {}, datetime.datetime(2024, 5, 2, 2, 0, 7, tzinfo=UTC)),
        "backup-old/stale.gz": (b"x" * 5, {}, datetime.datetime(2023, 1, 1, tzinfo=UTC)),
        "originals/2024/a.jpg": (b"x" * 100, {}, datetime.datetime(2024, 6, 1, tzinfo=UTC)),
    })
    monkeypatch.setattr(azure_blob_info, "build_container_client", lambda target, params: fake)
    return fake


def test_lists_the_prefix_without_markers(client, capsys):
    result = run_module(capsys, dict(ARGS, prefix="backup/"))
    assert result["rc"] == 0 and result["changed"] is False
    assert [blob["name"] for blob in result["blobs"]] == ["backup/immich-db-2024-05-01.sql.gz", "backup/immich-db-2024-05-02.sql.gz"]
    assert (result["count"], result["total_size"], result["truncated"]) == (2, 30, False)
    assert result["newest"]["name"] == "backup/immich-db-2024-05-02.sql.gz"
    assert result["newest"]["last_modified"] == "2024-05-02T02:00:07Z"
    first = result["blobs"][0]
    assert first["metadata"] == {"mtime": "2024-05-01T02:00:01Z"}
    assert first["content_md5"] == "336311a016184326ddbdd61edd4eeb52"  # md5("x" * 10)
    assert first["directory_marker"] is False
    assert client.calls == [("list_blobs", "backup/")]


def test_markers_when_asked(client, capsys):
    result = run_module(capsys, dict(ARGS, prefix="backup/", include_directory_markers=True))
    assert [blob["name"] for blob in result["blobs"]][0] == "backup/"
    assert result["blobs"][0]["directory_marker"] is True
    assert result["count"] == 3 and result["newest"]["name"] == "backup/"


def test_whole_container_capped(client, capsys):
    result = run_module(capsys, dict(ARGS, max_results=1))
    assert [blob["name"] for blob in result["blobs"]] == ["backup-old/stale.gz"]
    assert (result["count"], result["total_size"], result["truncated"]) == (4, 135, True)
    assert result["newest"]["name"] == "originals/2024/a.jpg"


def test_missing_container_fails(client, capsys):
    client.exists = False
    result = run_module(capsys, dict(ARGS, prefix="backup/"))
    assert result["rc"] == 1
    assert result["error_kind"] == "container_not_found"
    assert "container 'photos' does not exist in storage account 'devstoreaccount1'" in result["msg"]
    assert "blobs" not in result


def test_negative_max_results(client, capsys):
    result = run_module(capsys, dict(ARGS, max_results=-1))
    assert result["rc"] == 1 and result["error_kind"] == "invalid_input"
    assert client.calls == []
