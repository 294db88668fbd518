# SPDX-License-Identifier: GPL-3.0-or-later
"""The Azure Blob modules against Azurite: good and bad credentials, missing things, listings,
directory markers rclone recognises, and one run through real Ansible (AnsiballZ packs the
module_utils and resolves the doc fragment).

Modules run in-process through main() with ansible-core's patch_module_args; the SDK talks to
Azurite on the Docker bridge (tests/testbed/ensure-azurite.sh).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import subprocess
import time

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_errors import classify_error
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import Target
from ansible_collections.homelab.immich_pi.plugins.modules import (
    azure_blob_container,
    azure_blob_container_info,
    azure_blob_info,
)
from ansible_collections.homelab.immich_pi.tests.unit.plugins.module_runner import run_module

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UTC = datetime.timezone.utc
DOWN_ENDPOINT = "http://172.17.0.1:10009/devstoreaccount1"  # nothing listens there


def key_args(azurite, container, **kwargs):
    return dict(endpoint=azurite.endpoint, account_key=azurite.key, container=container, **kwargs)


def container_sas(azurite, container, permissions="racwdl", expiry_hours=1, start_hours=None):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    now = datetime.datetime.now(UTC)
    return generate_container_sas(
        azurite.account,
        container,
        account_key=azurite.key,
        permission=ContainerSasPermissions.from_string(permissions),
        expiry=now + datetime.timedelta(hours=expiry_hours),
        start=now + datetime.timedelta(hours=start_hours) if start_hours is not None else None,
    )


def account_sas(azurite):
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    return generate_account_sas(
        azurite.account,
        azurite.key,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions.from_string("racwdl"),
        expiry=datetime.datetime.now(UTC) + datetime.timedelta(hours=1),
    )


def assert_plain(result, *secrets):
    """No traceback, no secret, no query string in anything the module returned."""
    raw = result["raw"]
    assert "Traceback" not in raw and "exception" not in result
    for secret in secrets:
        assert secret not in raw
    assert "sig=" not in raw.replace("(sig=)", "")


def upload(service, container, name, data, metadata=None):
    service.get_container_client(container).upload_blob(name, data, metadata=metadata, overwrite=True)


@pytest.fixture
def gone_container(azurite):
    """A container name that does not exist; removed afterwards if a test created it."""
    import uuid

    name = "pytest-gone-%s" % uuid.uuid4().hex[:10]
    yield name
    client = azurite.service_client().get_container_client(name)
    if client.exists():
        client.delete_container()


# --- what Azurite answers (the docstring of azure_blob_errors relies on it) -----------------


def test_azurite_error_codes(azurite, blob_container):
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import ContainerClient

    def code_of(client):
        with pytest.raises(HttpResponseError) as caught:
            list(client.list_blobs(results_per_page=1))
        code = caught.value.error_code
        return caught.value.status_code, str(getattr(code, "value", code)), caught.value

    wrong_key = "A" * 86 + "=="
    expired = container_sas(azurite, blob_container, "rl", expiry_hours=-1, start_hours=-2)
    observed = {
        "wrong key": code_of(ContainerClient(azurite.endpoint, blob_container, credential={"account_name": azurite.account, "account_key": wrong_key})),
        "expired SAS": code_of(ContainerClient(azurite.endpoint, blob_container, credential=expired)),
        "bad signature": code_of(
            ContainerClient(azurite.endpoint, blob_container, credential=container_sas(azurite, blob_container).replace("sig=", "sig=AAAA"))
        ),
        "SAS without list": code_of(ContainerClient(azurite.endpoint, blob_container, credential=container_sas(azurite, blob_container, "r"))),
        "missing container": code_of(
            ContainerClient(azurite.endpoint, "pytest-nosuch", credential={"account_name": azurite.account, "account_key": azurite.key})
        ),
        "unknown account": code_of(ContainerClient(
            "http://172.17.0.1:10000/nosuchaccount", blob_container, credential={"account_name": "nosuchaccount", "account_key": azurite.key}
        )),
    }
    assert {what: status_code[:2] for what, status_code in observed.items()} == {
        "wrong key": (403, "AuthorizationFailure"),
        "expired SAS": (403, "AuthorizationFailure"),
        "bad signature": (403, "AuthorizationFailure"),
        "SAS without list": (403, "AuthorizationPermissionMismatch"),
        "missing container": (404, "ContainerNotFound"),
        "unknown account": (404, "ResourceNotFound"),
    }
    target = Target("account_key", blob_container)
    target.account, target.endpoint = azurite.account, azurite.endpoint
    kinds = {what: classify_error(error, target).kind for what, (_s, _c, error) in observed.items()}
    assert kinds == {
        "wrong key": "authentication_failed",
        "expired SAS": "authentication_failed",  # the module finds it from se= before asking
        "bad signature": "authentication_failed",
        "SAS without list": "authorization_failed",
        "missing container": "container_not_found",
        "unknown account": "unknown_account",
    }


# --- azure_blob_container_info --------------------------------------------------------------


def test_good_credentials(azurite, blob_container, capsys):
    sas = container_sas(azurite, blob_container)
    account_level = account_sas(azurite)
    for args in (
        key_args(azurite, blob_container),
        dict(account_name=azurite.account, account_key=azurite.key, endpoint=azurite.endpoint, container=blob_container),
        dict(connection_string=azurite.connection_string, container=blob_container),
        dict(sas_url="%s/%s?%s" % (azurite.endpoint, blob_container, sas), container=blob_container),
        dict(sas_url="%s?%s" % (azurite.endpoint, account_level), container=blob_container),
    ):
        result = run_module(azure_blob_container_info, capsys, args)
        method = result["auth_method"]
        assert result["rc"] == 0, method
        assert (result["reachable"], result["authenticated"], result["exists"]) == (True, True, True), method
        assert result["problems"] == [] and result["error_kind"] is None, method
        assert (result["account"], result["endpoint"]) == (azurite.account, azurite.endpoint), method
        assert_plain(result, azurite.key, sas.split("sig=")[1], account_level.split("sig=")[1])


def test_container_sas_reports_expiry_and_permissions(azurite, blob_container, capsys):
    sas = container_sas(azurite, blob_container, "rl")
    result = run_module(azure_blob_container_info, capsys, dict(sas_url="%s/%s?%s" % (azurite.endpoint, blob_container, sas), container=blob_container))
    assert result["exists"] is True
    assert result["sas_permissions"] == "rl"
    assert result["sas_expiry"].endswith("Z") and result["sas_expiry"] > datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_wrong_key(azurite, blob_container, capsys):
    wrong_key = "B" * 86 + "=="
    result = run_module(azure_blob_container_info, capsys, dict(key_args(azurite, blob_container), account_key=wrong_key, fail_on_problems=True))
    assert result["rc"] == 1 and result["failed"] is True
    assert result["error_kind"] == "authentication_failed"
    assert result["msg"] == (
        "storage account 'devstoreaccount1' rejected the credentials (HTTP 403 AuthorizationFailure): the account key "
        "is wrong: copy key1 or key2 from the storage account's Access keys page into account_key"
    )
    assert (result["reachable"], result["authenticated"], result["exists"]) == (True, False, None)
    assert_plain(result, wrong_key, azurite.key)


def test_key_that_is_not_base64(azurite, blob_container, capsys):
    result = run_module(azure_blob_container_info, capsys, dict(key_args(azurite, blob_container), account_key="not-a-key"))
    assert result["error_kind"] == "invalid_input"
    assert result["problems"][0].startswith("account_key is not a valid key")
    assert_plain(result, "not-a-key")


def test_wrong_sas_signature(azurite, blob_container, capsys):
    sas = container_sas(azurite, blob_container).replace("sig=", "sig=AAAA")
    result = run_module(azure_blob_container_info, capsys, dict(sas_url="%s/%s?%s" % (azurite.endpoint, blob_container, sas), container=blob_container))
    assert result["error_kind"] == "authentication_failed"
    assert "the SAS signature is wrong" in result["problems"][0]
    assert_plain(result, sas.split("sig=")[1])


def test_expired_sas(azurite, blob_container, capsys):
    sas = container_sas(azurite, blob_container, "rl", expiry_hours=-1, start_hours=-2)
    args = dict(sas_url="%s/%s?%s" % (azurite.endpoint, blob_container, sas), container=blob_container, fail_on_problems=True)
    result = run_module(azure_blob_container_info, capsys, args)
    assert result["rc"] == 1
    assert result["error_kind"] == "sas_expired"
    assert "expired at" in result["msg"] and "issue a new SAS" in result["msg"]
    assert (result["reachable"], result["authenticated"]) == (None, False)
    assert_plain(result, sas.split("sig=")[1])


def test_sas_without_list_permission(azurite, blob_container, capsys):
    sas = container_sas(azurite, blob_container, "r")
    result = run_module(azure_blob_container_info, capsys, dict(sas_url="%s/%s?%s" % (azurite.endpoint, blob_container, sas), container=blob_container))
    assert result["error_kind"] == "authorization_failed"
    assert "list (l)" in result["problems"][0] and "sp=rwdl" in result["problems"][0]
    assert (result["reachable"], result["authenticated"]) == (True, True)


def test_missing_container(azurite, gone_container, capsys):
    result = run_module(azure_blob_container_info, capsys, key_args(azurite, gone_container, directories=["originals"]))
    assert result["rc"] == 0
    assert (result["reachable"], result["authenticated"], result["exists"]) == (True, True, False)
    assert result["error_kind"] == "container_not_found"
    assert result["problems"][0].startswith("container '%s' does not exist in storage account 'devstoreaccount1'" % gone_container)


def test_unknown_account(azurite, blob_container, capsys):
    args = dict(endpoint="http://172.17.0.1:10000/nosuchaccount", account_key=azurite.key, container=blob_container)
    result = run_module(azure_blob_container_info, capsys, args)
    assert result["error_kind"] == "unknown_account"
    assert result["problems"] == [
        "http://172.17.0.1:10000/nosuchaccount does not know storage account 'nosuchaccount' (HTTP 404 "
        "ResourceNotFound): check account_name and the endpoint"
    ]
    assert result["authenticated"] is False


def test_endpoint_down_fails_fast(azurite, blob_container, capsys):
    started = time.monotonic()
    args = dict(endpoint=DOWN_ENDPOINT, account_key=azurite.key, container=blob_container, timeout=3, fail_on_problems=True)
    result = run_module(azure_blob_container_info, capsys, args)
    elapsed = time.monotonic() - started
    assert elapsed < 3
    assert result["rc"] == 1 and result["error_kind"] == "unreachable"
    assert result["msg"].startswith("cannot reach http://172.17.0.1:10009/devstoreaccount1 (connection refused)")
    assert result["reachable"] is False
    assert_plain(result, azurite.key)


def test_silent_endpoint_times_out_within_the_timeout(azurite, blob_container, capsys):
    """A server that accepts connections and never answers: one read timeout, no retries."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        endpoint = "http://127.0.0.1:%d/devstoreaccount1" % server.getsockname()[1]
        started = time.monotonic()
        result = run_module(azure_blob_container_info, capsys, dict(endpoint=endpoint, account_key=azurite.key, container=blob_container, timeout=2))
        elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 4.5
    assert result["error_kind"] == "unreachable"
    assert result["problems"] == ["%s did not answer within 2 s: check the network and the endpoint, or raise timeout" % endpoint]


def test_service_principal_fails_plainly(azurite, blob_container, capsys):
    """Azurite has no Microsoft Entra ID; whatever the sign-in meets, the answer is one plain line."""
    secret = "s3cr3t-client-secret-value"
    principal = dict(
        tenant_id="00000000-0000-0000-0000-000000000000",
        client_id="11111111-1111-1111-1111-111111111111",
        client_secret=secret,
        authority_host="https://127.0.0.1:10009",
    )
    args = dict(endpoint="https://127.0.0.1:10009/devstoreaccount1", service_principal=principal, container=blob_container, timeout=3)
    result = run_module(azure_blob_container_info, capsys, args)
    assert result["error_kind"] in ("unreachable", "authentication_failed")
    assert "service principal" in result["problems"][0]
    assert_plain(result, secret)
    over_http = run_module(azure_blob_container_info, capsys, dict(args, endpoint=azurite.endpoint))
    assert over_http["error_kind"] == "invalid_input"
    assert "service_principal needs an https endpoint" in over_http["problems"][0]


def test_directories(azurite, blob_container, capsys):
    service = azurite.service_client()
    upload(service, blob_container, "originals/", b"", {"hdi_isfolder": "true"})
    upload(service, blob_container, "backup/db.sql.gz", b"dump")
    result = run_module(azure_blob_container_info, capsys, key_args(azurite, blob_container, directories=["originals", "/backup/", "library"]))
    assert result["directories"] == {"originals": True, "backup": True, "library": False}
    assert result["problems"] == []


# --- azure_blob_info -------------------------------------------------------------------------


def test_listing(azurite, blob_container, capsys):
    service = azurite.service_client()
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    upload(service, blob_container, "backup/", b"", {"hdi_isfolder": "true"})
    upload(service, blob_container, "backup/immich-db-1.sql.gz", b"a" * 100, {"mtime": "2024-05-01T02:00:01Z"})
    upload(service, blob_container, "backup-old/stale.sql.gz", b"s" * 7)
    upload(service, blob_container, "originals/2024/", b"", {"hdi_isfolder": "true"})
    upload(service, blob_container, "originals/2024/IMG_0001.jpg", b"j" * 300)
    time.sleep(1.1)  # Last-Modified has one-second resolution
    upload(service, blob_container, "backup/immich-db-2.sql.gz", b"b" * 200)

    result = run_module(azure_blob_info, capsys, key_args(azurite, blob_container, prefix="backup/"))
    assert result["rc"] == 0 and result["changed"] is False
    assert [blob["name"] for blob in result["blobs"]] == ["backup/immich-db-1.sql.gz", "backup/immich-db-2.sql.gz"]
    assert [blob["size"] for blob in result["blobs"]] == [100, 200]
    assert (result["count"], result["total_size"], result["truncated"]) == (2, 300, False)
    assert result["newest"]["name"] == "backup/immich-db-2.sql.gz"
    first = result["blobs"][0]
    assert first["metadata"] == {"mtime": "2024-05-01T02:00:01Z"}
    assert first["content_md5"] == hashlib.md5(b"a" * 100).hexdigest()
    assert first["etag"] and '"' not in first["etag"]
    modified = datetime.datetime.strptime(first["last_modified"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= modified <= datetime.datetime.now(UTC)

    with_markers = run_module(azure_blob_info, capsys, key_args(azurite, blob_container, prefix="backup/", include_directory_markers=True))
    assert [blob["name"] for blob in with_markers["blobs"]][0] == "backup/"
    assert with_markers["blobs"][0]["directory_marker"] is True and with_markers["count"] == 3

    originals = run_module(azure_blob_info, capsys, key_args(azurite, blob_container, prefix="originals/2024/"))
    assert [blob["name"] for blob in originals["blobs"]] == ["originals/2024/IMG_0001.jpg"]

    everything = run_module(azure_blob_info, capsys, key_args(azurite, blob_container, max_results=2))
    assert [blob["name"] for blob in everything["blobs"]] == ["backup-old/stale.sql.gz", "backup/immich-db-1.sql.gz"]
    assert (everything["count"], everything["total_size"], everything["truncated"]) == (4, 607, True)
    assert everything["newest"]["name"] == "backup/immich-db-2.sql.gz"

    sas = container_sas(azurite, blob_container, "rl")
    by_sas = run_module(azure_blob_info, capsys, dict(sas_url="%s/%s?%s" % (azurite.endpoint, blob_container, sas), container=blob_container, prefix="backup/"))
    assert by_sas["count"] == 2
    assert_plain(by_sas, sas.split("sig=")[1])


def test_listing_an_empty_prefix(azurite, blob_container, capsys):
    result = run_module(azure_blob_info, capsys, key_args(azurite, blob_container, prefix="backup/"))
    assert (result["blobs"], result["count"], result["total_size"], result["newest"]) == ([], 0, 0, None)


def test_listing_fails_plainly(azurite, gone_container, capsys):
    result = run_module(azure_blob_info, capsys, key_args(azurite, gone_container))
    assert result["rc"] == 1 and result["error_kind"] == "container_not_found"
    down = run_module(azure_blob_info, capsys, dict(endpoint=DOWN_ENDPOINT, account_key=azurite.key, container=gone_container))
    assert down["rc"] == 1 and down["error_kind"] == "unreachable"
    assert_plain(down, azurite.key)


# --- azure_blob_container --------------------------------------------------------------------


def test_missing_container_without_create(azurite, gone_container, capsys):
    result = run_module(azure_blob_container, capsys, key_args(azurite, gone_container, directories=["originals"]))
    assert result["rc"] == 1 and result["changed"] is False
    assert result["error_kind"] == "container_not_found"
    assert result["msg"] == (
        "container '%s' does not exist in storage account 'devstoreaccount1': create it in the Azure portal, or set "
        "create=true" % gone_container
    )
    assert not azurite.service_client().get_container_client(gone_container).exists()


def test_create_container_and_markers(azurite, gone_container, capsys, tmp_path, rclone_binary):
    args = key_args(azurite, gone_container, create=True, directories=["originals", "backup"])
    checked = run_module(azure_blob_container, capsys, args, check_mode=True)
    assert checked["changed"] is True and checked["created_container"] is True
    assert checked["created_directories"] == ["originals", "backup"]
    client = azurite.service_client().get_container_client(gone_container)
    assert not client.exists()

    created = run_module(azure_blob_container, capsys, args)
    assert created["rc"] == 0 and created["changed"] is True
    assert created["created_container"] is True and created["created_directories"] == ["originals", "backup"]
    for name in ("originals/", "backup/"):
        properties = client.get_blob_client(name).get_blob_properties()
        assert properties.size == 0
        assert properties.metadata["hdi_isfolder"] == "true"
        assert properties.metadata["mtime"].endswith("Z")

    again = run_module(azure_blob_container, capsys, args)
    assert again["changed"] is False and again["created_container"] is False and again["created_directories"] == []

    # rclone (directory_markers = true) shows both, though nothing is in them.
    config = azurite.rclone_config(str(tmp_path / "rclone.conf"))
    listed = subprocess.run(
        [rclone_binary, "--config", config, "lsf", "azurite:%s" % gone_container], capture_output=True, text=True, check=True
    )
    assert sorted(listed.stdout.split()) == ["backup/", "originals/"]


def test_markers_in_an_existing_container(azurite, blob_container, capsys):
    service = azurite.service_client()
    upload(service, blob_container, "originals/2024/IMG_0001.jpg", b"jpg")  # a directory by its content
    args = key_args(azurite, blob_container, directories=["originals", "backup"])

    checked = run_module(azure_blob_container, capsys, args, check_mode=True)
    assert checked["changed"] is True and checked["created_directories"] == ["backup"]
    names = [blob.name for blob in service.get_container_client(blob_container).list_blobs()]
    assert names == ["originals/2024/IMG_0001.jpg"]

    first = run_module(azure_blob_container, capsys, args)
    assert first["changed"] is True and first["created_container"] is False and first["created_directories"] == ["backup"]
    second = run_module(azure_blob_container, capsys, args)
    assert second["changed"] is False and second["created_directories"] == []
    second_check = run_module(azure_blob_container, capsys, args, check_mode=True)
    assert second_check["changed"] is False
    names = [blob.name for blob in service.get_container_client(blob_container).list_blobs()]
    assert names == ["backup/", "originals/2024/IMG_0001.jpg"]


def test_markers_with_a_sas(azurite, blob_container, capsys):
    sas_url = "%s/%s?%s" % (azurite.endpoint, blob_container, container_sas(azurite, blob_container, "racwdl"))
    result = run_module(azure_blob_container, capsys, dict(sas_url=sas_url, container=blob_container, directories=["backup"]))
    assert result["changed"] is True and result["created_directories"] == ["backup"]

    read_only = "%s/%s?%s" % (azurite.endpoint, blob_container, container_sas(azurite, blob_container, "rl"))
    refused = run_module(azure_blob_container, capsys, dict(sas_url=read_only, container=blob_container, directories=["library"]))
    assert refused["rc"] == 1 and refused["error_kind"] == "authorization_failed"
    assert "create (c) or write (w)" in refused["msg"]
    assert_plain(refused, read_only.split("sig=")[1])


def test_wrong_key_and_down_endpoint_fail_plainly(azurite, blob_container, capsys):
    wrong_key = "C" * 86 + "=="
    wrong = run_module(azure_blob_container, capsys, dict(key_args(azurite, blob_container, directories=["x"]), account_key=wrong_key))
    assert wrong["rc"] == 1 and wrong["error_kind"] == "authentication_failed"
    assert_plain(wrong, wrong_key)
    down = run_module(azure_blob_container, capsys, dict(endpoint=DOWN_ENDPOINT, account_key=azurite.key, container=blob_container, create=True))
    assert down["rc"] == 1 and down["error_kind"] == "unreachable" and down["changed"] is False


# --- through real Ansible ---------------------------------------------------------------------


def ansible_env():
    env = dict(os.environ)
    env.update(
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_LOCALHOST_WARNING="false",
        PATH=os.path.join(REPO_ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
    )
    return env


def ansible_adhoc(module, args):
    done = subprocess.run(
        [os.path.join(REPO_ROOT, ".venv", "bin", "ansible"), "localhost", "-m", "homelab.immich_pi." + module, "-a", json.dumps(args)],
        cwd=REPO_ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    report = json.loads(done.stdout)
    return done, report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_through_ansible(azurite, blob_container):
    done, result = ansible_adhoc("azure_blob_container_info", key_args(azurite, blob_container, directories=["originals"]))
    assert done.returncode == 0, done.stderr
    assert (result["exists"], result["directories"], result["problems"]) == (True, {"originals": False}, [])

    wrong_key = "D" * 86 + "=="
    done, result = ansible_adhoc("azure_blob_container_info", dict(key_args(azurite, blob_container), account_key=wrong_key, fail_on_problems=True))
    assert done.returncode != 0
    assert result["failed"] is True and result["error_kind"] == "authentication_failed"
    assert "Traceback" not in done.stdout + done.stderr and wrong_key not in done.stdout + done.stderr

    done, result = ansible_adhoc("azure_blob_container", key_args(azurite, blob_container, directories=["backup"]))
    assert done.returncode == 0 and result["changed"] is True and result["created_directories"] == ["backup"]
    done, result = ansible_adhoc("azure_blob_info", key_args(azurite, blob_container, include_directory_markers=True))
    assert done.returncode == 0 and [blob["name"] for blob in result["blobs"]] == ["backup/"]


@pytest.mark.parametrize("module", ["azure_blob_container_info", "azure_blob_info", "azure_blob_container"])
def test_ansible_doc_renders(module):
    done = subprocess.run(
        [os.path.join(REPO_ROOT, ".venv", "bin", "ansible-doc"), "homelab.immich_pi." + module],
        cwd=REPO_ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "service_principal" in done.stdout and "error_kind" in done.stdout
