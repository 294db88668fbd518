# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive azure_blob_container_info's main() with patch_module_args and a fake container client.

The Blob API itself is exercised against Azurite in tests/integration/test_azure_blob_modules.py;
here: argument validation, problems found without a request, and the result shape.
"""

from __future__ import annotations

import datetime
import functools

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils import azure_blob
from ansible_collections.homelab.immich_pi.plugins.modules import azure_blob_container_info
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner
from ansible_collections.homelab.immich_pi.tests.unit.plugins.azure_blob_fakes import (
    AZURITE_AUTH_FAILURE,
    FakeContainerClient,
    ServiceRequestError,
    storage_error,
)

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ENDPOINT = "http://172.17.0.1:10000/devstoreaccount1"
SIG = "wsqc0zkpT20Om6ZGUVacS9rpGtrpdK3EEkCl6UBAGNI%3D"
EXPIRED_SAS_URL = ENDPOINT + "/photos?st=2020-01-01T00%3A00%3A00Z&se=2020-01-02T00%3A00%3A00Z&sp=rl&sv=2026-10-06&sr=c&sig=" + SIG
NOW = datetime.datetime(2026, 11, 21, 20, 0, tzinfo=datetime.timezone.utc)
KEY_ARGS = {"endpoint": ENDPOINT, "account_key": KEY, "container": "photos"}


run_module = functools.partial(module_runner.run_module, azure_blob_container_info)


@pytest.fixture
def client(monkeypatch):
    fake = FakeContainerClient(blobs={
        "originals/": (b"", {"hdi_isfolder": "true"}, NOW),
        "backup/db.sql.gz": (b"dump", {}, NOW),
    })
    monkeypatch.setattr(azure_blob_container_info, "build_container_client", lambda target, params: fake)
    return fake


def test_usable_container(client, capsys):
    result = run_module(capsys, dict(KEY_ARGS, directories=["originals", "backup/", "library"]))
    assert result["rc"] == 0 and result["changed"] is False
    assert (result["reachable"], result["authenticated"], result["exists"]) == (True, True, True)
    assert result["directories"] == {"originals": True, "backup": True, "library": False}
    assert result["problems"] == [] and result["error_kind"] is None
    assert (result["account"], result["endpoint"], result["auth_method"]) == ("devstoreaccount1", ENDPOINT, "account_key")
    assert client.writes() == []


def test_missing_container_is_a_problem_not_a_failure(client, capsys):
    client.exists = False
    result = run_module(capsys, dict(KEY_ARGS, directories=["originals"]))
    assert result["rc"] == 0
    assert (result["reachable"], result["authenticated"], result["exists"]) == (True, True, False)
    assert result["error_kind"] == "container_not_found"
    assert result["problems"] == [
        "container 'photos' does not exist in storage account 'devstoreaccount1': create it in the Azure portal, "
        "or with the module homelab.immich_pi.azure_blob_container and create=true"
    ]
    assert result["directories"] == {}


def test_fail_on_problems(client, capsys):
    client.fail = storage_error(403, "AuthorizationFailure", AZURITE_AUTH_FAILURE)
    result = run_module(capsys, dict(KEY_ARGS, fail_on_problems=True))
    assert result["rc"] == 1 and result["failed"] is True
    assert result["error_kind"] == "authentication_failed"
    assert result["msg"] == result["problems"][0]
    assert "the account key is wrong" in result["msg"]
    assert (result["reachable"], result["authenticated"], result["exists"]) == (True, False, None)
    assert "Traceback" not in result["raw"] and KEY not in result["raw"]


def test_unreachable(client, capsys):
    client.fail = ServiceRequestError(
        "HTTPConnection(host='172.17.0.1', port=10000): Failed to establish a new connection: [Errno 111] Connection refused"
    )
    result = run_module(capsys, KEY_ARGS)
    assert result["error_kind"] == "unreachable"
    assert (result["reachable"], result["authenticated"], result["exists"]) == (False, None, None)


def test_expired_sas_is_reported_without_a_request(monkeypatch, capsys):
    def no_network(target, params):
        raise AssertionError("no request for an expired SAS")

    monkeypatch.setattr(azure_blob_container_info, "build_container_client", no_network)
    result = run_module(capsys, {"sas_url": EXPIRED_SAS_URL, "container": "photos"})
    assert result["rc"] == 0
    assert result["error_kind"] == "sas_expired"
    assert "expired at 2020-01-02T00:00:00Z" in result["problems"][0]
    assert (result["reachable"], result["authenticated"], result["exists"]) == (None, False, None)
    assert (result["sas_expiry"], result["sas_permissions"]) == ("2020-01-02T00:00:00Z", "rl")
    assert SIG not in result["raw"]


@pytest.mark.parametrize(
    ("args", "msg_has"),
    [
        ({"container": "photos"}, "one of the following is required: account_key, sas_url, connection_string, service_principal"),
        ({"container": "photos", "account_key": KEY, "sas_url": EXPIRED_SAS_URL}, "parameters are mutually exclusive: account_key|sas_url"),
        ({"container": "photos", "sas_url": EXPIRED_SAS_URL, "endpoint": ENDPOINT}, "parameters are mutually exclusive: endpoint|sas_url"),
        ({"account_key": KEY, "endpoint": ENDPOINT}, "missing required arguments: container"),
        (
            {"container": "photos", "account_name": "a1b2c3", "service_principal": {"tenant_id": "t", "client_id": "c"}},
            "missing required arguments: client_secret found in service_principal",
        ),
    ],
)
def test_argument_errors(client, capsys, args, msg_has):
    result = run_module(capsys, args)
    assert result["failed"] is True
    assert msg_has in result["msg"]
    assert client.calls == []
    assert KEY not in result["raw"] and SIG not in result["raw"]


def test_input_problem_fails_only_when_asked(client, capsys):
    result = run_module(capsys, {"account_key": KEY, "container": "photos"})
    assert result["rc"] == 0
    assert result["error_kind"] == "invalid_input"
    assert result["problems"] == ["account_key needs account_name (or an endpoint that names the account)"]
    assert client.calls == []
    failed = run_module(capsys, {"account_key": KEY, "container": "Photos", "account_name": "immichphotos", "fail_on_problems": True})
    assert failed["rc"] == 1
    assert "container 'Photos' is not a valid container name" in failed["msg"]


def test_missing_sdk_fails_with_the_library_name(client, capsys, monkeypatch):
    monkeypatch.setattr(azure_blob, "missing_libraries", lambda params: [("azure-storage-blob", "Traceback ...")])
    result = run_module(capsys, KEY_ARGS)
    assert result["failed"] is True
    assert "Failed to import the required Python library (azure-storage-blob)" in result["msg"]
