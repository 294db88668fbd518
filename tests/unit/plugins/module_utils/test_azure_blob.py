# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/azure_blob.py: the module start, directories, markers, listings.

No network; the SDK is replaced by fakes or not needed at all.
"""

from __future__ import annotations

import datetime
import json
import os
import types

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.homelab.immich_pi.plugins.module_utils import azure_blob
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob import (
    blob_entry,
    is_directory_marker,
    marker_metadata,
    normalize_directories,
    start_azure_blob_module,
    summarize_blobs,
)


# --- the start of every azure_blob_* module -------------------------------------------------


def test_start_azure_blob_module_adds_the_options_and_passes_warnings_on(capsys, monkeypatch):
    monkeypatch.setattr(azure_blob, "missing_libraries", lambda params: [])
    args = {"sas_url": "http://immichphotos.blob.core.windows.net/photos?sv=2026-10-06&sig=abc", "container": "photos"}
    with patch_module_args(args):
        module, target = start_azure_blob_module(dict(prefix=dict(type="str", default="backup/")))
        assert (module.params["prefix"], module.params["timeout"], module.check_mode) == ("backup/", 10, False)
        assert (target.auth_method, target.account, target.problems) == ("sas_url", "immichphotos", [])
        with pytest.raises(SystemExit):
            module.exit_json(changed=False)
    warnings = json.dumps(json.loads(capsys.readouterr().out)["warnings"])  # plain strings before ansible-core 2.19
    assert "sas_url uses plain http to immichphotos.blob.core.windows.net: the SAS signature travels unencrypted" in warnings


def test_start_azure_blob_module_fails_on_a_missing_library(capsys, monkeypatch):
    monkeypatch.setattr(azure_blob, "missing_libraries", lambda params: [("azure-identity", "Traceback ...")])
    principal = {"tenant_id": "t", "client_id": "c", "client_secret": "s3cr3t-value"}
    with patch_module_args({"account_name": "immichphotos", "service_principal": principal, "container": "photos"}):
        with pytest.raises(SystemExit) as exit_info:
            start_azure_blob_module({})
    result = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == 1 and result["failed"] is True
    assert "Failed to import the required Python library (azure-identity)" in result["msg"]


# --- directories and listings ---------------------------------------------------------------


def test_normalize_directories():
    names, problems = normalize_directories(["originals", "/backup/", "backup", "library/thumbs"])
    assert names == ["originals", "backup", "library/thumbs"]
    assert problems == []


@pytest.mark.parametrize("name", ["", "/", "a/../b", "./a", "a//b"])
def test_invalid_directories(name):
    names, problems = normalize_directories([name])
    assert names == [] and [problem.kind for problem in problems] == ["invalid_input"]


def test_marker_metadata_is_what_rclone_writes():
    metadata = marker_metadata(datetime.datetime(2026, 11, 21, 20, 33, 29, 672158, tzinfo=datetime.timezone.utc))
    assert metadata == {"hdi_isfolder": "true", "mtime": "2026-11-21T20:33:29.672158Z"}


@pytest.mark.parametrize(
    ("name", "size", "metadata", "expected"),
    [
        ("originals/", 0, {"hdi_isfolder": "true"}, True),
        ("originals/", 0, {}, True),
        ("originals", 0, {"Hdi_IsFolder": "True"}, True),
        ("originals", 0, {}, False),
        ("backup/empty.txt", 0, None, False),
        ("weird/", 5, {}, False),
    ],
)
def test_is_directory_marker(name, size, metadata, expected):
    assert is_directory_marker(name, size, metadata) is expected


def test_blob_entry():
    blob = types.SimpleNamespace(
        name="backup/db.sql.gz",
        size=1234,
        last_modified=datetime.datetime(2024, 5, 1, 4, 0, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        etag='"0x8DC69A1B2C3D4E5"',
        metadata={"mtime": "2024-05-01T02:00:01Z"},
        content_settings=types.SimpleNamespace(content_md5=bytearray(bytes.fromhex("9e107d9d372bb6826bd81d3542a419d6"))),
    )
    assert blob_entry(blob) == dict(
        name="backup/db.sql.gz",
        size=1234,
        last_modified="2024-05-01T02:00:07Z",
        etag="0x8DC69A1B2C3D4E5",
        content_md5="9e107d9d372bb6826bd81d3542a419d6",
        metadata={"mtime": "2024-05-01T02:00:01Z"},
        directory_marker=False,
    )
    bare = types.SimpleNamespace(name="x", size=None, last_modified=None, etag=None, metadata=None, content_settings=None)
    assert blob_entry(bare)["content_md5"] is None and blob_entry(bare)["size"] == 0


def entry(name, size, modified):
    return dict(name=name, size=size, last_modified=modified, etag=None, content_md5=None, metadata={}, directory_marker=False)


def test_summarize_blobs():
    entries = [
        entry("backup/c", 3, "2024-05-03T02:00:00Z"),
        entry("backup/a", 1, "2024-05-01T02:00:00Z"),
        entry("backup/b", 2, "2024-05-03T02:00:00Z"),
    ]
    summary = summarize_blobs(iter(entries), 2)
    assert [blob["name"] for blob in summary["blobs"]] == ["backup/a", "backup/b"]
    assert (summary["count"], summary["total_size"], summary["truncated"]) == (3, 6, True)
    assert summary["newest"]["name"] == "backup/c"  # same time as backup/b: the last name wins


def test_summarize_blobs_with_no_cap_and_with_zero():
    entries = [entry("b", 2, "2024-01-02T00:00:00Z"), entry("a", 1, "2024-01-01T00:00:00Z")]
    everything = summarize_blobs(iter(entries), None)
    assert [blob["name"] for blob in everything["blobs"]] == ["a", "b"] and everything["truncated"] is False
    only_summary = summarize_blobs(iter(entries), 0)
    assert only_summary["blobs"] == [] and only_summary["count"] == 2 and only_summary["newest"]["name"] == "b"
    assert only_summary["truncated"] is True
    empty = summarize_blobs(iter([]), 10)
    assert empty == dict(blobs=[], count=0, total_size=0, newest=None, truncated=False)


def test_module_utils_imports_without_the_sdk(tmp_path):
    """The import sanity test runs without azure-*: the module must import and say what is missing."""
    import subprocess
    import sys

    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'azure' or name.startswith('azure.'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    collections = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "collections"))
    code = (
        "from ansible_collections.homelab.immich_pi.plugins.module_utils import azure_blob as m\n"
        "assert not m.HAS_AZURE_STORAGE_BLOB and not m.HAS_AZURE_IDENTITY\n"
        "print([name for name, _ in m.missing_libraries({'service_principal': {'tenant_id': 't'}})])\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), collections]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['azure-storage-blob', 'azure-identity']"
