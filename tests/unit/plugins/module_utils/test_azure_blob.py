# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/azure_blob.py: no network, no SDK needed.

Error texts and codes are the ones azure-storage-blob 12.31.1 raised against Azurite 3.35.0
(tests/integration/test_azure_blob_modules.py checks them live) and the ones Azure sends.
"""

from __future__ import annotations

import datetime
import os
import types

import pytest
import yaml

from ansible_collections.homelab.immich_pi.plugins.doc_fragments.azure_blob_auth import ModuleDocFragment
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob import (
    AUTH_OPTIONS,
    ERROR_KINDS,
    REDACTED,
    Problem,
    Target,
    auth_method_of,
    azure_blob_argument_spec,
    blob_entry,
    classify_error,
    classify_http,
    container_name_problem,
    inspect_sas,
    is_directory_marker,
    marker_metadata,
    normalize_directories,
    parse_connection_string,
    parse_sas_time,
    reached_and_authenticated,
    resolve_target,
    scrub,
    split_blob_url,
    strip_query,
    summarize_blobs,
)
from ansible_collections.homelab.immich_pi.tests.unit.plugins.azure_blob_fakes import (
    AZURE_AUTH_FAILED,
    AZURITE_AUTH_FAILURE,
    PERMISSION_MISMATCH,
    AzureSigningError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
    container_not_found,
    storage_error,
)

NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SIG = "wsqc0zkpT20Om6ZGUVacS9rpGtrpdK3EEkCl6UBAGNI%3D"
SAS = "sv=2026-10-06&sr=c&sp=racwdl&st=2026-05-01T00%3A00%3A00Z&se=2027-01-01T00%3A00%3A00Z&sig=" + SIG
EXPIRED_SAS = "st=2026-05-01T18%3A32%3A37Z&se=2026-05-01T19%3A32%3A37Z&sp=rl&sv=2026-10-06&sr=c&sig=" + SIG


def params(**kwargs):
    base = dict(
        account_name=None,
        account_key=None,
        sas_url=None,
        connection_string=None,
        service_principal=None,
        endpoint=None,
        container="photos",
        timeout=10,
    )
    base.update(kwargs)
    return base


def kinds(target):
    return [problem.kind for problem in target.problems]


# --- documentation and argument spec agree --------------------------------------------------


def test_doc_fragment_documents_the_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = azure_blob_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert bool(documented[name].get("required")) == bool(option.get("required")), name
    assert set(documented["service_principal"]["suboptions"]) == set(spec["service_principal"]["options"])
    assert all(spec[name].get("no_log") for name in ("account_key", "sas_url", "connection_string"))
    assert spec["service_principal"]["options"]["client_secret"]["no_log"] is True


def test_auth_method_of():
    assert auth_method_of(params(sas_url="https://x")) == "sas_url"
    assert auth_method_of(params(service_principal={"tenant_id": "t"})) == "service_principal"
    with pytest.raises(ValueError, match="account_key, sas_url, connection_string, service_principal"):
        auth_method_of(params())
    assert AUTH_OPTIONS == ("account_key", "sas_url", "connection_string", "service_principal")


# --- URLs and names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoint", "account", "container", "blob"),
    [
        ("https://immichphotos.blob.core.windows.net/photos?" + SAS, "https://immichphotos.blob.core.windows.net", "immichphotos", "photos", None),
        ("https://immichphotos.blob.core.windows.net/?" + SAS, "https://immichphotos.blob.core.windows.net", "immichphotos", None, None),
        ("https://immichphotos-secondary.blob.core.windows.net/photos", "https://immichphotos-secondary.blob.core.windows.net", "immichphotos", "photos", None),
        ("https://acct.blob.core.usgovcloudapi.net/photos/backup/x.gz", "https://acct.blob.core.usgovcloudapi.net", "acct", "photos", "backup/x.gz"),
        ("http://172.17.0.1:10000/devstoreaccount1/photos?" + SAS, "http://172.17.0.1:10000/devstoreaccount1", "devstoreaccount1", "photos", None),
        ("http://localhost:10000/devstoreaccount1", "http://localhost:10000/devstoreaccount1", "devstoreaccount1", None, None),
        ("http://azurite:10000/devstoreaccount1/photos", "http://azurite:10000/devstoreaccount1", "devstoreaccount1", "photos", None),
        ("http://[::1]:10000/devstoreaccount1/", "http://[::1]:10000/devstoreaccount1", "devstoreaccount1", None, None),
        ("https://photos.example.com/photos", "https://photos.example.com", None, "photos", None),
    ],
)
def test_split_blob_url(url, endpoint, account, container, blob):
    parts = split_blob_url(url)
    assert (parts["endpoint"], parts["account"], parts["container"], parts["blob"]) == (endpoint, account, container, blob)


@pytest.mark.parametrize("name", ["photos", "abc", "a-b-c", "immich-photos-2024", "$root", "x" * 63])
def test_valid_container_names(name):
    assert container_name_problem(name) is None


@pytest.mark.parametrize("name", ["ab", "Photos", "photos_2024", "-photos", "photos-", "pho--tos", "x" * 64, ""])
def test_invalid_container_names(name):
    assert "is not a valid container name" in container_name_problem(name)


# --- SAS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T19:32:37Z", datetime.datetime(2026, 5, 1, 19, 32, 37, tzinfo=datetime.timezone.utc)),
        ("2026-05-01T19:32Z", datetime.datetime(2026, 5, 1, 19, 32, tzinfo=datetime.timezone.utc)),
        ("2026-05-01", datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc)),
        ("2026-05-01T19:32:37.1234567Z", None),
    ],
)
def test_parse_sas_time(text, expected):
    if expected is None:
        with pytest.raises(ValueError):
            parse_sas_time(text)
    else:
        assert parse_sas_time(text) == expected


def test_valid_sas():
    info, problems = inspect_sas("?" + SAS, NOW)
    assert problems == []
    assert info["expiry"] == datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)
    assert (info["permissions"], info["resource"], info["version"]) == ("racwdl", "c", "2026-10-06")


def test_expired_sas_is_found_without_a_request():
    info, problems = inspect_sas(EXPIRED_SAS, NOW)
    assert [problem.kind for problem in problems] == ["sas_expired"]
    message = problems[0].message
    assert "expired at 2026-05-01T19:32:37Z" in message
    assert "issue a new SAS" in message
    assert SIG not in message and "sig=" not in message


def test_sas_not_valid_yet():
    _info, problems = inspect_sas("sv=2026-10-06&st=2026-07-01&se=2027-01-01&sig=abc", NOW)
    assert [problem.kind for problem in problems] == ["sas_not_yet_valid"]
    assert "valid only from 2026-07-01T00:00:00Z" in problems[0].message


@pytest.mark.parametrize(
    ("query", "message_has"),
    [
        ("sv=2026-10-06&se=2027-01-01&sp=rl", "no signature (sig=)"),
        ("se=2027-01-01&sig=abc", "no service version (sv=)"),
        ("sv=2026-10-06&se=next-year&sig=abc", "unreadable expiry time (se=next-year)"),
        ("sv=2026-10-06&sr=b&se=2027-01-01&sig=abc", "single blob (sr=b)"),
    ],
)
def test_broken_sas(query, message_has):
    _info, problems = inspect_sas(query, NOW)
    assert [problem.kind for problem in problems] == ["invalid_input"]
    assert message_has in problems[0].message


def test_stored_access_policy_sas_without_expiry_is_not_checked():
    info, problems = inspect_sas("sv=2026-10-06&si=immich-policy&sr=c&sig=abc", NOW)
    assert problems == [] and info["expiry"] is None and info["identifier"] == "immich-policy"


# --- secrets never leave in text ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "cannot reach https://immichphotos.blob.core.windows.net/photos?restype=container&comp=list&sig=%s: refused" % SIG,
        "Max retries exceeded with url: /photos?restype=container&comp=list&%s (Caused by NewConnectionError)" % SAS,
        "token sv=2026-10-06&sig=%s in the text" % SIG,
        "DefaultEndpointsProtocol=https;AccountName=immichphotos;AccountKey=%s;EndpointSuffix=core.windows.net" % KEY,
        "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2026-10-06&sig=%s" % SIG,
    ],
)
def test_scrub_removes_query_strings_and_signatures(text):
    clean = scrub(text)
    assert SIG not in clean and SIG.replace("%3D", "=") not in clean
    assert KEY not in clean
    assert "sig=" + SIG not in clean


def test_scrub_keeps_the_url_without_its_query():
    text = "cannot reach https://immichphotos.blob.core.windows.net/photos?restype=container&sig=%s (timed out)" % SIG
    assert scrub(text) == "cannot reach https://immichphotos.blob.core.windows.net/photos (timed out)"
    assert strip_query("https://a.blob.core.windows.net/c?" + SAS) == "https://a.blob.core.windows.net/c"


def test_scrub_replaces_literal_secrets():
    assert scrub("the key %s is wrong" % KEY, [KEY, None, ""]) == "the key %s is wrong" % REDACTED
    assert scrub("client secret s3cr3t-value leaked", ["s3cr3t-value"]) == "client secret %s leaked" % REDACTED


# --- resolving what the task points at ------------------------------------------------------


def test_account_key_with_account_name():
    target = resolve_target(params(account_name="immichphotos", account_key=KEY), NOW)
    assert target.problems == []
    assert (target.auth_method, target.account, target.endpoint) == (
        "account_key",
        "immichphotos",
        "https://immichphotos.blob.core.windows.net",
    )
    assert KEY in target.secrets


def test_account_key_takes_the_account_from_the_emulator_endpoint():
    target = resolve_target(params(account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1/"), NOW)
    assert target.problems == [] and target.warnings == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://172.17.0.1:10000/devstoreaccount1")


@pytest.mark.parametrize(
    ("options", "message_has"),
    [
        (dict(account_key=KEY), "account_key needs account_name (or an endpoint that names the account)"),
        (dict(account_key=KEY, endpoint="https://photos.example.com"), "account_key needs account_name"),
        (dict(service_principal=dict(tenant_id="t", client_id="c", client_secret="s3cr3t")), "service_principal needs account_name"),
        (dict(account_name="other", account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1"), "does not match the account 'devstoreaccount1'"),
        (dict(account_name="Immich_Photos", account_key=KEY), "not a valid storage account name"),
        (dict(account_name="immichphotos", account_key=KEY, container="Photos"), "not a valid container name"),
        (dict(account_key=KEY, endpoint="ftp://x/devstoreaccount1"), "is not an http(s) URL"),
        (dict(account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1?" + SAS), "must not carry a query string"),
        (dict(account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1/photos"), "names a container"),
        (dict(account_name="immichphotos", account_key=KEY, timeout=0), "timeout must be a positive"),
        (
            dict(service_principal=dict(tenant_id="t", client_id="c", client_secret="s"), endpoint="http://172.17.0.1:10000/devstoreaccount1"),
            "service_principal needs an https endpoint",
        ),
    ],
)
def test_input_problems(options, message_has):
    target = resolve_target(params(**options), NOW)
    assert "invalid_input" in kinds(target)
    assert any(message_has in problem.message for problem in target.problems), target.problems
    assert all(SIG not in problem.message for problem in target.problems)


def test_service_principal_with_account_name():
    principal = dict(tenant_id="t", client_id="c", client_secret="s3cr3t-value", authority_host=None)
    target = resolve_target(params(account_name="immichphotos", service_principal=principal), NOW)
    assert target.problems == []
    assert target.endpoint == "https://immichphotos.blob.core.windows.net"
    assert "s3cr3t-value" in target.secrets


def test_container_sas_url():
    target = resolve_target(params(sas_url="https://immichphotos.blob.core.windows.net/photos?" + SAS), NOW)
    assert target.problems == []
    assert (target.account, target.endpoint, target.sas_token) == ("immichphotos", "https://immichphotos.blob.core.windows.net", SAS)
    assert (target.sas_expiry, target.sas_permissions) == ("2027-01-01T00:00:00Z", "racwdl")


def test_account_sas_url_for_the_emulator_needs_no_warning():
    target = resolve_target(params(sas_url="http://172.17.0.1:10000/devstoreaccount1?" + SAS), NOW)
    assert target.problems == [] and target.warnings == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://172.17.0.1:10000/devstoreaccount1")


def test_sas_over_plain_http_to_a_real_host_warns():
    target = resolve_target(params(sas_url="http://immichphotos.blob.core.windows.net/photos?" + SAS), NOW)
    assert target.problems == []
    assert target.warnings == [
        "sas_url uses plain http to immichphotos.blob.core.windows.net: the SAS signature travels unencrypted; use https"
    ]


def test_expired_sas_url():
    target = resolve_target(params(sas_url="https://immichphotos.blob.core.windows.net/photos?" + EXPIRED_SAS), NOW)
    assert kinds(target) == ["sas_expired"]
    assert target.sas_expiry == "2026-05-01T19:32:37Z"


@pytest.mark.parametrize(
    ("sas_url", "message_has"),
    [
        ("https://immichphotos.blob.core.windows.net/videos?" + SAS, "sas_url is for container 'videos' but container is 'photos'"),
        ("https://immichphotos.blob.core.windows.net/photos/backup/db.gz?" + SAS, "sas_url points at a blob"),
        (SAS, "sas_url is not a URL"),
        ("https://immichphotos.blob.core.windows.net/photos", "has no signature (sig=)"),
    ],
)
def test_sas_url_problems(sas_url, message_has):
    target = resolve_target(params(sas_url=sas_url), NOW)
    assert any(message_has in problem.message for problem in target.problems), target.problems
    assert all(SIG not in problem.message for problem in target.problems)


def test_connection_string_with_key_and_blob_endpoint():
    text = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://172.17.0.1:10000/devstoreaccount1;" % KEY
    target = resolve_target(params(connection_string=text), NOW)
    assert target.problems == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://172.17.0.1:10000/devstoreaccount1")
    assert KEY in target.secrets and text in target.secrets


def test_connection_string_for_azure():
    text = "DefaultEndpointsProtocol=https;AccountName=immichphotos;AccountKey=%s;EndpointSuffix=core.windows.net" % KEY
    target = resolve_target(params(connection_string=text), NOW)
    assert target.problems == []
    assert target.endpoint == "https://immichphotos.blob.core.windows.net"


def test_development_storage_connection_string():
    target = resolve_target(params(connection_string="UseDevelopmentStorage=true"), NOW)
    assert target.problems == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1")


def test_connection_string_with_an_expired_sas():
    text = "BlobEndpoint=https://immichphotos.blob.core.windows.net/;SharedAccessSignature=" + EXPIRED_SAS
    target = resolve_target(params(connection_string=text), NOW)
    assert kinds(target) == ["sas_expired"]
    assert "the SAS in connection_string expired" in target.problems[0].message
    assert target.account == "immichphotos"


@pytest.mark.parametrize(
    ("text", "message_has"),
    [
        ("AccountName=immichphotos", "carries no credential"),
        ("AccountKey=%s" % KEY, "names neither AccountName nor BlobEndpoint"),
        ("just-a-key", "connection_string is malformed"),
    ],
)
def test_connection_string_problems(text, message_has):
    target = resolve_target(params(connection_string=text), NOW)
    assert any(message_has in problem.message for problem in target.problems), target.problems
    assert all(KEY not in problem.message for problem in target.problems)


def test_parse_connection_string_keeps_base64_padding():
    settings = parse_connection_string("AccountName=a;AccountKey=%s;" % KEY)
    assert settings == {"ACCOUNTNAME": "a", "ACCOUNTKEY": KEY}


# --- errors in words ------------------------------------------------------------------------


def target_for(method="account_key", sas=False):
    target = Target(method, "photos")
    target.account = "immichphotos"
    target.endpoint = "https://immichphotos.blob.core.windows.net"
    if sas:
        target.sas_token = SAS
        target.secrets.append(SAS)
    return target


@pytest.mark.parametrize(
    ("status", "code", "message", "method", "operation", "kind", "message_has"),
    [
        # Azure: wrong key / wrong SAS signature.
        (403, "AuthenticationFailed", AZURE_AUTH_FAILED, "account_key", "list", "authentication_failed", "the account key is wrong"),
        (403, "AuthenticationFailed", AZURE_AUTH_FAILED, "sas_url", "list", "authentication_failed", "the SAS signature is wrong"),
        (403, "AuthenticationFailed", AZURE_AUTH_FAILED, "connection_string", "list", "authentication_failed", "in connection_string is wrong"),
        # Azurite 3.35.0 answers a wrong key, a wrong signature and an expired SAS alike.
        (403, "AuthorizationFailure", AZURITE_AUTH_FAILURE, "account_key", "list", "authentication_failed", "HTTP 403 AuthorizationFailure"),
        # Azure: expired SAS.
        (
            403,
            "AuthenticationFailed",
            AZURE_AUTH_FAILED + "\nAuthenticationErrorDetail:Signed expiry time [Fri, 01 May 2026 19:32:37 GMT] must be after signed start time",
            "sas_url",
            "list",
            "sas_expired",
            "issue a new SAS with a later expiry",
        ),
        (
            403,
            "AuthenticationFailed",
            AZURE_AUTH_FAILED + "\nAuthenticationErrorDetail:Signature not valid in the specified time frame: Start [...] - Expiry [...]",
            "sas_url",
            "list",
            "sas_expired",
            "validity period",
        ),
        # Azure: the firewall refuses the client.
        (403, "AuthorizationFailure", "This request is not authorized to perform this operation.", "account_key", "list", "authorization_failed", "firewall"),
        (403, "AuthorizationPermissionMismatch", PERMISSION_MISMATCH, "sas_url", "list", "authorization_failed", "sp=racwdl"),
        (403, "AuthorizationPermissionMismatch", PERMISSION_MISMATCH, "sas_url", "write", "authorization_failed", "create (c) or write (w)"),
        (403, "AuthorizationPermissionMismatch", PERMISSION_MISMATCH, "service_principal", "list", "authorization_failed", "Storage Blob Data Reader"),
        (403, "AuthorizationPermissionMismatch", PERMISSION_MISMATCH, "service_principal", "write", "authorization_failed", "Storage Blob Data Contributor"),
        (403, "AuthorizationResourceTypeMismatch", "not authorized ... resource type.", "sas_url", "list", "authorization_failed", "srt=co"),
        (403, "AuthorizationSourceIPMismatch", "not authorized ... source IP", "sas_url", "list", "authorization_failed", "sip="),
        (401, "InvalidAuthenticationInfo", "Server failed to authenticate the request.", "service_principal", "list", "authentication_failed", "tenant"),
        (
            404,
            "ContainerNotFound",
            "The specified container does not exist.",
            "account_key",
            "list",
            "container_not_found",
            "container 'photos' does not exist in storage account 'immichphotos'",
        ),
        # Azurite: an account it does not serve.
        (404, "ResourceNotFound", "The specified resource does not exist.", "account_key", "list", "unknown_account", "does not know storage account"),
        # Something that is not a Blob endpoint (a proxy answered).
        (404, None, "Not Found", "account_key", "list", "not_blob_endpoint", "not an Azure Blob endpoint"),
        (503, "ServerBusy", "The server is busy.", "account_key", "list", "service_error", "HTTP 503 ServerBusy"),
        (409, "ContainerBeingDeleted", "The specified container is being deleted.", "account_key", "create_container", "error", "being deleted"),
        (400, "InvalidResourceName", "The specified resource name contains invalid characters.", "account_key", "list", "invalid_input", "InvalidResourceName"),
        (400, "InvalidHeaderValue", "The value for one of the HTTP headers is not valid.", "account_key", "list", "error", "HTTP 400 InvalidHeaderValue"),
    ],
)
def test_classify_http(status, code, message, method, operation, kind, message_has):
    problem = classify_http(status, code, message, target_for(method, sas=method == "sas_url"), operation)
    assert problem.kind == kind
    assert kind in ERROR_KINDS
    assert message_has in problem.message
    assert "\n" not in problem.message and "RequestId" not in problem.message and "<Error>" not in problem.message
    assert problem.status == status and problem.reached is True


def test_classify_fabricated_storage_errors():
    target = target_for()
    problem = classify_error(storage_error(403, "AuthorizationFailure", AZURITE_AUTH_FAILURE), target)
    assert problem.kind == "authentication_failed"
    assert classify_error(container_not_found(), target).kind == "container_not_found"


def test_error_code_from_the_header_when_the_attribute_is_missing():
    error = storage_error(404, "ContainerNotFound", "The specified container does not exist.")
    error.error_code = None
    assert classify_error(error, target_for()).kind == "container_not_found"


def test_error_code_enum_value_is_used():
    code = types.SimpleNamespace(value="AuthorizationPermissionMismatch")
    error = storage_error(403, "x", PERMISSION_MISMATCH)
    error.error_code = code
    assert classify_error(error, target_for("sas_url", sas=True)).kind == "authorization_failed"


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (
            ServiceRequestError("HTTPConnection(host='172.17.0.1', port=10009): Failed to establish a new connection: [Errno 111] Connection refused"),
            "unreachable",
            "cannot reach https://immichphotos.blob.core.windows.net (connection refused): check the network",
        ),
        (
            ServiceResponseTimeoutError("HTTPConnectionPool(host='127.0.0.1', port=41493): Read timed out. (read timeout=10)"),
            "unreachable",
            "https://immichphotos.blob.core.windows.net did not answer within 10 s",
        ),
        (
            ServiceRequestError(
                "HTTPSConnection(host='immichphotoz.blob.core.windows.net', port=443): Failed to resolve "
                "'immichphotoz.blob.core.windows.net' ([Errno -2] Name or service not known)"
            ),
            "unknown_account",
            "storage account 'immichphotoz' does not exist or its name is misspelled",
        ),
        (
            ServiceRequestError(
                "HTTPSConnection(host='immichphotos.blob.core.windows.net', port=443): Failed to resolve "
                "'immichphotos.blob.core.windows.net' ([Errno -3] Temporary failure in name resolution)"
            ),
            "unreachable",
            "cannot resolve immichphotos.blob.core.windows.net",
        ),
        (
            ServiceRequestError("HTTPSConnection(host='blob.example.com', port=443): Failed to resolve 'blob.example.com'"),
            "unreachable",
            "cannot resolve blob.example.com",
        ),
        (ConnectionRefusedError(111, "Connection refused"), "unreachable", "connection refused"),
        (
            AzureSigningError("Incorrect padding"),
            "invalid_input",
            "account_key is not a valid key (Incorrect padding)",
        ),
        (
            ClientAuthenticationError(
                "Authentication failed: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                "request is the client secret value, not the client secret ID"
            ),
            "authentication_failed",
            "client_secret is wrong",
        ),
        (
            ClientAuthenticationError("Authentication failed: AADSTS90002: Tenant 'x' not found."),
            "authentication_failed",
            "tenant_id is not a Microsoft Entra tenant",
        ),
        (
            ClientAuthenticationError(
                "Authentication failed: HTTPSConnection(host='login.microsoftonline.com', port=443): Failed to resolve "
                "'login.microsoftonline.com' ([Errno -2] Name or service not known)"
            ),
            "unreachable",
            "cannot reach Microsoft Entra ID (login.microsoftonline.com) to sign in the service principal (name resolution failed)",
        ),
        (ValueError("Token credential is only supported with HTTPS."), "invalid_input", "needs an https endpoint"),
        (ValueError("Connection string is either blank or malformed."), "invalid_input", "blank or malformed"),
        (RuntimeError("something odd\nwith a second line"), "error", "list failed: RuntimeError: something odd"),
    ],
)
def test_classify_error_without_http_status(error, kind, message):
    problem = classify_error(error, target_for("service_principal" if "AADSTS" in str(error) or "login." in str(error) else "account_key"), timeout=10)
    assert problem.kind == kind
    assert message in problem.message, problem.message
    assert "\n" not in problem.message


def test_classify_with_real_sdk_exceptions():
    exceptions = pytest.importorskip("azure.core.exceptions")
    target = target_for()
    refused = exceptions.ServiceRequestError(
        "HTTPConnection(host='172.17.0.1', port=10009): Failed to establish a new connection: [Errno 111] Connection refused"
    )
    assert classify_error(refused, target).kind == "unreachable"
    signing = pytest.importorskip("azure.storage.blob._shared.authentication")
    assert classify_error(signing.AzureSigningError("Incorrect padding"), target).kind == "invalid_input"


def test_no_secret_in_classified_messages():
    target = target_for("sas_url", sas=True)
    target.secrets.append(KEY)
    errors = [
        storage_error(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters is not valid: https://immichphotos.blob.core.windows.net/photos?" + SAS,
        ),
        ServiceRequestError("Max retries exceeded with url: /photos?restype=container&comp=list&" + SAS),
        RuntimeError("key %s in a message" % KEY),
        storage_error(500, "InternalError", "boom sig=%s" % SIG),
    ]
    for error in errors:
        message = classify_error(error, target).message
        assert SIG not in message and KEY not in message and "sig=" + SIG not in message, message


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        (None, (True, True)),
        (Problem("container_not_found", "", 404, True), (True, True)),
        (Problem("authorization_failed", "", 403, True), (True, True)),
        (Problem("authentication_failed", "", 403, True), (True, False)),
        (Problem("authentication_failed", ""), (None, False)),
        (Problem("unknown_account", "", reached=False), (False, False)),
        (Problem("unreachable", "", reached=False), (False, None)),
        (Problem("service_error", "", 503, True), (True, None)),
    ],
)
def test_reached_and_authenticated(problem, expected):
    assert reached_and_authenticated(problem) == expected


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
