# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/azure_blob_errors.py: no network, no SDK needed.

Error texts and codes are the ones azure-storage-blob 12.31.1 raised against Azurite 3.35.0
(tests/integration/test_azure_blob_modules.py checks them live) and the ones Azure sends.
"""

from __future__ import annotations

import types

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_errors import (
    classify_error,
    classify_http,
    reached_and_authenticated,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import ERROR_KINDS, Problem, Target
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

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SIG = "wsqc0zkpT20Om6ZGUVacS9rpGtrpdK3EEkCl6UBAGNI%3D"
SAS = "sv=2026-10-06&sr=c&sp=racwdl&st=2026-05-01T00%3A00%3A00Z&se=2027-01-01T00%3A00%3A00Z&sig=" + SIG


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
        (403, "AuthorizationPermissionMismatch", PERMISSION_MISMATCH, "sas_url", "list", "authorization_failed", "sp=rwdl"),
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
