# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Azure Blob failures in words: an SDK exception or an HTTP answer becomes a ``Problem``.

``classify_error`` (any exception of the SDK or of building the client) and ``classify_http``
(status, x-ms-error-code, message) give a kind from ``ERROR_KINDS`` and one line that names
the fix; both work on class names and attributes, so tests can fabricate the exceptions and
the import sanity test needs no SDK. Messages are scrubbed of query strings and secrets.

Error codes as the services send them (checked against Azurite 3.35.0 and Azure's docs):

* wrong account key, wrong or expired SAS signature: Azure answers 403
  ``AuthenticationFailed`` (an expired SAS says "Signature not valid in the specified time
  frame" / "Signed expiry time"), Azurite answers 403 ``AuthorizationFailure`` with "Server
  failed to authenticate the request" for all three;
* a SAS without the needed permission: 403 ``AuthorizationPermissionMismatch`` (both), an
  account SAS without the resource type: 403 ``AuthorizationResourceTypeMismatch``;
* a missing container: 404 ``ContainerNotFound`` (both);
* an unknown account: Azure has no DNS name ``<account>.blob.core.windows.net``; Azurite
  answers 404 ``ResourceNotFound`` for a path-style account it does not serve;
* a closed port: ``ServiceRequestError`` (connection refused), a silent server:
  ``ServiceResponseTimeoutError`` (read timed out).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import (
    ACCOUNT_HOST,
    Problem,
    Target,
    scrub,
)

# What rclone's azureblob remote and the backup job do with a SAS: read, write (uploads, blocks,
# commits; it covers create), delete, list. Add (a) is for append blobs only.
RCLONE_SAS_PERMISSIONS = "rwdl"

# Operation -> (SAS permissions it needs, Azure RBAC role a service principal needs).
OPERATION_NEEDS = {
    "list": ("list (l)", "Storage Blob Data Reader"),
    "create_container": ("an account SAS with resource type container (srt=c) and create (c)", "Storage Blob Data Contributor"),
    "write": ("create (c) or write (w)", "Storage Blob Data Contributor"),
}

_HOST_IN_TEXT = re.compile(r"host='([^']+)'")
_AADSTS = re.compile(r"\bAADSTS(\d+)\b")


def error_code_of(error: BaseException) -> str | None:
    code = getattr(error, "error_code", None)
    if code is None:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None:
            try:
                code = headers.get("x-ms-error-code")
            except Exception:  # pylint: disable=broad-except
                code = None
    if code is None:
        return None
    return str(getattr(code, "value", code))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def class_names(error: BaseException) -> set[str]:
    """The names of the error's class and its bases: how the SDK's exceptions are told apart without it."""
    return {klass.__name__ for klass in type(error).__mro__}


def _is_name_resolution_failure(text: str) -> bool:
    lowered = text.lower()
    return any(
        phrase in lowered
        for phrase in (
            "failed to resolve",
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "no address associated with hostname",
            "temporary failure in name resolution",
        )
    )


def _connection_reason(text: str) -> str:
    lowered = text.lower()
    if _is_name_resolution_failure(text):
        return "name resolution failed"
    if "connection refused" in lowered:
        return "connection refused"
    if "timed out" in lowered:
        return "timed out"
    if "no route to host" in lowered:
        return "no route to host"
    if "network is unreachable" in lowered:
        return "network unreachable"
    if "certificate" in lowered or "ssl" in lowered:
        return "TLS error: %s" % _first_line(text)
    if "connection reset" in lowered or "connection aborted" in lowered:
        return "connection reset"
    return _first_line(text)


def _unreachable(target: Target, text: str, timeout: int | None) -> Problem:
    endpoint = target.endpoint or "the Blob endpoint"
    host_match = _HOST_IN_TEXT.search(text)
    host = host_match.group(1) if host_match else (urlsplit(endpoint).hostname or endpoint)
    if _is_name_resolution_failure(text):
        account_host = ACCOUNT_HOST.match(host)
        if account_host and "temporary failure" not in text.lower():
            return Problem(
                "unknown_account",
                "storage account '%s' does not exist or its name is misspelled: %s does not resolve (if the name "
                "is right, check the controller's DNS)" % (account_host.group(1), host),
                reached=False,
            )
        return Problem(
            "unreachable",
            "cannot resolve %s, the host of %s: check the endpoint and the controller's DNS" % (host, endpoint),
            reached=False,
        )
    lowered = text.lower()
    if "read timed out" in lowered or ("timed out" in lowered and "connect" not in lowered):
        return Problem(
            "unreachable",
            "%s did not answer within %s s: check the network and the endpoint, or raise timeout"
            % (endpoint, timeout if timeout else "the timeout"),
            reached=False,
        )
    return Problem(
        "unreachable",
        "cannot reach %s (%s): check the network, a firewall or proxy between here and there, and the endpoint"
        % (endpoint, _connection_reason(text)),
        reached=False,
    )


def _identity_problem(target: Target, text: str) -> Problem:
    """A service principal could not get a token from Microsoft Entra ID."""
    code_match = _AADSTS.search(text)
    code = code_match.group(1) if code_match else None
    fixes = {
        "7000215": "service_principal.client_secret is wrong: copy the secret's Value (not its ID) from the app registration",
        "7000222": "service_principal.client_secret has expired: create a new client secret in the app registration",
        "700016": "service_principal.client_id is not an application in tenant service_principal.tenant_id",
        "90002": "service_principal.tenant_id is not a Microsoft Entra tenant",
        "900023": "service_principal.tenant_id is not a valid tenant ID or domain",
        "90014": "service_principal lacks a field Microsoft Entra ID needs: check tenant_id, client_id and client_secret",
    }
    if code in fixes:
        return Problem(
            "authentication_failed",
            "Microsoft Entra ID refused to sign in the service principal (AADSTS%s): %s" % (code, fixes[code]),
        )
    if _is_name_resolution_failure(text) or any(
        phrase in text.lower() for phrase in ("failed to establish", "timed out", "connection refused", "connection reset")
    ):
        host_match = _HOST_IN_TEXT.search(text)
        host = host_match.group(1) if host_match else "the identity provider"
        return Problem(
            "unreachable",
            "cannot reach Microsoft Entra ID (%s) to sign in the service principal (%s): check the network, or "
            "service_principal.authority_host" % (host, _connection_reason(text)),
        )
    return Problem(
        "authentication_failed",
        "the service principal could not sign in: %s: check service_principal.tenant_id, client_id and client_secret"
        % scrub(_first_line(text), target.secrets),
    )


def _authentication_failed(target: Target, status: int, code: str) -> Problem:
    fixes = {
        "account_key": "the account key is wrong: copy key1 or key2 from the storage account's Access keys page into account_key",
        "sas_url": (
            "the SAS signature is wrong: the SAS is incomplete, was signed for another account or container, or "
            "was revoked by rotating the account key; issue a new SAS"
        ),
        "connection_string": (
            "the AccountKey or SharedAccessSignature in connection_string is wrong: copy the connection string "
            "again from the storage account's Access keys page"
        ),
        "service_principal": (
            "the service principal's token is not valid for this account: check that service_principal.tenant_id "
            "is the tenant of the storage account"
        ),
    }
    return Problem(
        "authentication_failed",
        "%s rejected the credentials (HTTP %s %s): %s" % (target.account_label, status, code, fixes[target.auth_method]),
        status=status,
        reached=True,
    )


def _authorization_failed(target: Target, status: int, code: str, operation: str) -> Problem:
    sas_needs, role = OPERATION_NEEDS.get(operation, OPERATION_NEEDS["list"])
    uses_sas = target.auth_method == "sas_url" or (target.auth_method == "connection_string" and target.sas_token)
    if code == "AuthorizationResourceTypeMismatch":
        fix = (
            "the account SAS does not cover the resource type: issue one with resource types container and object "
            "(srt=co) that rclone needs"
        )
    elif code == "AuthorizationServiceMismatch":
        fix = "the account SAS is not for the Blob service: issue one that includes Blob (ss=b)"
    elif code == "AuthorizationProtocolMismatch":
        fix = "the SAS allows https only (spr=https) but the endpoint is http: use the https endpoint"
    elif code == "AuthorizationSourceIPMismatch":
        fix = "the SAS is limited to other IP addresses (sip=): issue one that allows the controller's address"
    elif code == "AuthorizationFailure":
        fix = (
            "the account's firewall or virtual network rules refuse this client: allow the controller's public "
            "IP address under the storage account's Networking page"
        )
    elif uses_sas:
        fix = (
            "the SAS lacks a permission this step needs (%s); rclone and the backup job need read, write, delete "
            "and list (sp=%s): issue a new SAS with them" % (sas_needs, RCLONE_SAS_PERMISSIONS)
        )
    elif target.auth_method == "service_principal":
        fix = (
            "the service principal has no data role on the account: assign it '%s' (or Storage Blob Data "
            "Contributor, which rclone needs to write) on the storage account or the container" % role
        )
    else:
        fix = "the credentials do not allow this operation: use the account key, or a SAS with sp=%s" % RCLONE_SAS_PERMISSIONS
    return Problem(
        "authorization_failed",
        "%s refused the request (HTTP %s %s): %s" % (target.account_label, status, code, fix),
        status=status,
        reached=True,
    )


def classify_http(status: int, code: str | None, message: str, target: Target, operation: str = "list") -> Problem:
    """A Blob service error response (status, x-ms-error-code, message) in words, with the fix.

    ``operation`` is ``list`` (list blobs: the existence check), ``create_container`` or
    ``write`` (upload a directory marker); it picks the permissions named in the fix.
    The message is scrubbed of query strings and secrets.
    """
    problem = _classify_http(status, code, message, target, operation)
    problem.message = scrub(problem.message, target.secrets)
    return problem


def _classify_http(status: int, code: str | None, message: str, target: Target, operation: str) -> Problem:
    text = message or ""
    lowered = text.lower()
    first = scrub(_first_line(text), target.secrets)
    code_text = code or "no error code"
    if status in (401, 403) and (
        "signature not valid in the specified time frame" in lowered
        or "signed expiry time" in lowered
        or "signed start time" in lowered
    ):
        return Problem(
            "sas_expired",
            "%s refused the SAS because of its validity period (HTTP %s %s: %s): issue a new SAS with a later "
            "expiry (se=)" % (target.account_label, status, code_text, first),
            status=status,
            reached=True,
        )
    if status in (401, 403) and (
        code in ("AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation")
        or (code == "AuthorizationFailure" and "failed to authenticate" in lowered)
    ):
        return _authentication_failed(target, status, code_text)
    if status == 403 and code and code.startswith("Authorization"):
        return _authorization_failed(target, status, code, operation)
    if status == 404 and code == "ContainerNotFound":
        return Problem(
            "container_not_found",
            "container '%s' does not exist in %s: create it in the Azure portal, or with the module "
            "homelab.immich_pi.azure_blob_container and create=true" % (target.container, target.account_label),
            status=status,
            reached=True,
        )
    if status == 404 and code == "ResourceNotFound" and operation in ("list", "create_container"):
        return Problem(
            "unknown_account",
            "%s does not know %s (HTTP 404 ResourceNotFound): check account_name and the endpoint"
            % (target.endpoint, target.account_label),
            status=status,
            reached=True,
        )
    if code is None and 400 <= status < 500:
        return Problem(
            "not_blob_endpoint",
            "%s answered HTTP %s without an Azure Storage error code: it is not an Azure Blob endpoint; check the "
            "endpoint (or a proxy in between)" % (target.endpoint, status),
            status=status,
            reached=True,
        )
    if status == 409 and code == "ContainerBeingDeleted":
        return Problem(
            "error",
            "container '%s' is being deleted (HTTP 409 ContainerBeingDeleted): wait a minute, then run again"
            % target.container,
            status=status,
            reached=True,
        )
    if code in ("InvalidResourceName", "OutOfRangeInput"):
        return Problem(
            "invalid_input",
            "%s refused a name (HTTP %s %s: %s): check container and directories"
            % (target.account_label, status, code, first),
            status=status,
            reached=True,
        )
    if status >= 500:
        return Problem(
            "service_error",
            "%s answered HTTP %s %s (%s): the service is busy or failing; run again later"
            % (target.account_label, status, code_text, first),
            status=status,
            reached=True,
        )
    return Problem(
        "error",
        "%s answered HTTP %s %s: %s" % (target.account_label, status, code_text, first),
        status=status,
        reached=True,
    )


def classify_error(error: BaseException, target: Target, operation: str = "list", timeout: int | None = None) -> Problem:
    """Any exception of the SDK (or of building the client) as a Problem; never raises.

    Works on the exception's class names and attributes, so tests can fabricate them and the
    import sanity test needs no SDK. The message is scrubbed of query strings and secrets.
    """
    try:
        problem = _classify_error(error, target, operation, timeout)
    except Exception as exc:  # pylint: disable=broad-except
        problem = Problem("error", "%s failed: %s (and %s while reading the error)" % (operation, type(error).__name__, type(exc).__name__))
    problem.message = scrub(problem.message, target.secrets)
    return problem


def _classify_error(error: BaseException, target: Target, operation: str, timeout: int | None) -> Problem:
    names = class_names(error)
    text = str(error)
    status = getattr(error, "status_code", None)
    if status is None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return _classify_http(status, error_code_of(error), text, target, operation)
    if "AzureSigningError" in names:
        where = "AccountKey in connection_string" if target.auth_method == "connection_string" else "account_key"
        return Problem(
            "invalid_input",
            "%s is not a valid key (%s): copy key1 or key2 from the storage account's Access keys page"
            % (where, scrub(_first_line(text), target.secrets)),
        )
    if "ClientAuthenticationError" in names or "CredentialUnavailableError" in names:
        return _identity_problem(target, text)
    if "ServiceRequestError" in names or "ServiceResponseError" in names or isinstance(error, (ConnectionError, TimeoutError)):
        return _unreachable(target, text, timeout)
    if isinstance(error, ValueError):
        if "token credential is only supported with https" in text.lower():
            return Problem(
                "invalid_input",
                "service_principal needs an https endpoint (the SDK does not send tokens over http)",
            )
        return Problem("invalid_input", "the Blob client refused the input: %s" % scrub(_first_line(text), target.secrets))
    return Problem(
        "error",
        "%s failed: %s: %s" % (operation, type(error).__name__, scrub(_first_line(text), target.secrets) or "no message"),
    )


def reached_and_authenticated(problem: Problem | None) -> tuple[bool | None, bool | None]:
    """(reachable, authenticated) after a request that ended with ``problem`` (None: it worked)."""
    if problem is None:
        return True, True
    if problem.kind in ("container_not_found", "authorization_failed"):
        return True, True
    if problem.kind in ("authentication_failed", "sas_expired", "sas_not_yet_valid"):
        return problem.reached, False
    if problem.kind == "unknown_account":
        return problem.reached, False
    return problem.reached, None
