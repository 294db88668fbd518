# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Azure Blob Storage for the controller-side modules: options, client, errors in words.

Everything that decides something is a plain function so unit tests can drive it without a
network or the SDK: which credential the task gave and which endpoint and account follow
from it (``resolve_target``), what a SAS says about itself (``inspect_sas``: expired, not
valid yet, no signature), and what an SDK exception means for the user (``classify_error``,
``classify_http``): a kind from ``ERROR_KINDS`` and one line that names the fix.

Secrets never leave this file in text: ``scrub`` removes query strings (a SAS lives there),
``sig=``/``AccountKey=`` values and the literal secrets of the task from every message.

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

import bisect
import datetime
import ipaddress
import logging
import re
import traceback
import typing as t
from urllib.parse import parse_qs, urlsplit

try:
    from azure.storage.blob import ContainerClient, ExponentialRetry
except ImportError:
    HAS_AZURE_STORAGE_BLOB = False
    AZURE_STORAGE_BLOB_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_AZURE_STORAGE_BLOB = True
    AZURE_STORAGE_BLOB_IMPORT_ERROR = None

try:
    from azure.identity import ClientSecretCredential
except ImportError:
    HAS_AZURE_IDENTITY = False
    AZURE_IDENTITY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_AZURE_IDENTITY = True
    AZURE_IDENTITY_IMPORT_ERROR = None

AUTH_OPTIONS = ("account_key", "sas_url", "connection_string", "service_principal")
AZURE_BLOB_MUTUALLY_EXCLUSIVE = [AUTH_OPTIONS, ("endpoint", "sas_url"), ("endpoint", "connection_string")]
AZURE_BLOB_REQUIRED_ONE_OF = [AUTH_OPTIONS]

ERROR_KINDS = (
    "invalid_input",
    "unreachable",
    "unknown_account",
    "authentication_failed",
    "sas_expired",
    "sas_not_yet_valid",
    "authorization_failed",
    "container_not_found",
    "not_blob_endpoint",
    "service_error",
    "error",
)

DEFAULT_ENDPOINT_SUFFIX = "core.windows.net"
# What an rclone azureblob remote does with a SAS: read, add, create, write, delete, list.
RCLONE_SAS_PERMISSIONS = "racwdl"
# rclone (directory_markers = true) marks a directory with a zero-length blob "<dir>/"
# carrying this metadata; its reader takes either the trailing slash or the metadata.
DIRECTORY_MARKER_METADATA = "hdi_isfolder"
USER_AGENT = "homelab.immich_pi"

# Operation -> (SAS permissions it needs, Azure RBAC role a service principal needs).
OPERATION_NEEDS = {
    "list": ("list (l)", "Storage Blob Data Reader"),
    "create_container": ("an account SAS with resource type container (srt=c) and create (c)", "Storage Blob Data Contributor"),
    "write": ("create (c) or write (w)", "Storage Blob Data Contributor"),
}

_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_ACCOUNT_HOST = re.compile(r"^([a-z0-9]+)(?:-secondary)?\.blob\.", re.IGNORECASE)
_QUERY_STRING = re.compile(r"\?[A-Za-z0-9_.%-]+=[^\s'\"<>)]*")
_SECRET_FIELD = re.compile(r"(?i)\b(sig|AccountKey|SharedAccessSignature|client_secret)=([^&;\s'\"<>)]+)")
_HOST_IN_TEXT = re.compile(r"host='([^']+)'")
_AADSTS = re.compile(r"\bAADSTS(\d+)\b")
_SAS_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")

REDACTED = "********"


class Problem:
    """One thing that is wrong, in words: ``kind`` from ERROR_KINDS, ``message`` with the fix.

    ``status`` is the HTTP status when the Blob service answered, ``reached`` tells whether
    the Blob endpoint was contacted (True: it answered; False: it could not be reached;
    None: the failure happened before, e.g. in the input or at the identity provider).
    """

    def __init__(self, kind: str, message: str, status: int | None = None, reached: bool | None = None) -> None:
        self.kind = kind
        self.message = message
        self.status = status
        self.reached = reached

    def __repr__(self) -> str:
        return "Problem(%r, %r)" % (self.kind, self.message)


class Target:
    """What the task points at and how it authenticates (never holds the secret itself)."""

    def __init__(self, auth_method: str, container: str) -> None:
        self.auth_method = auth_method
        self.container = container
        self.account: str | None = None
        self.endpoint: str | None = None
        self.sas_token: str | None = None
        self.sas_expiry: str | None = None
        self.sas_permissions: str | None = None
        self.secrets: list[str] = []
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    @property
    def account_label(self) -> str:
        if self.account:
            return "storage account '%s'" % self.account
        return "the storage account at %s" % self.endpoint


# --- options --------------------------------------------------------------------------------


def azure_blob_argument_spec() -> dict[str, t.Any]:
    """The options of the doc fragment homelab.immich_pi.azure_blob_auth."""
    return dict(
        account_name=dict(type="str"),
        account_key=dict(type="str", no_log=True),
        sas_url=dict(type="str", no_log=True),
        connection_string=dict(type="str", no_log=True),
        service_principal=dict(
            type="dict",
            options=dict(
                tenant_id=dict(type="str", required=True),
                client_id=dict(type="str", required=True),
                client_secret=dict(type="str", required=True, no_log=True),
                authority_host=dict(type="str"),
            ),
        ),
        endpoint=dict(type="str"),
        container=dict(type="str", required=True),
        timeout=dict(type="int", default=10),
    )


def auth_method_of(params: dict[str, t.Any]) -> str:
    """The one credential option that is set (the argument spec makes it exactly one)."""
    for option in AUTH_OPTIONS:
        if params.get(option):
            return option
    raise ValueError("one of the following is required: %s" % ", ".join(AUTH_OPTIONS))


def missing_libraries(params: dict[str, t.Any]) -> list[tuple[str, str | None]]:
    """(pip name, import traceback) of every library this task needs and cannot import."""
    missing: list[tuple[str, str | None]] = []
    if not HAS_AZURE_STORAGE_BLOB:
        missing.append(("azure-storage-blob", AZURE_STORAGE_BLOB_IMPORT_ERROR))
    if params.get("service_principal") and not HAS_AZURE_IDENTITY:
        missing.append(("azure-identity", AZURE_IDENTITY_IMPORT_ERROR))
    return missing


# --- secrets out of text --------------------------------------------------------------------


def scrub(text: str, secrets: t.Iterable[str | None] = ()) -> str:
    """Text safe to return: no query strings, no sig=/AccountKey= values, no given secret."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _QUERY_STRING.sub("", text)
    return _SECRET_FIELD.sub(lambda match: "%s=%s" % (match.group(1), REDACTED), text)


def strip_query(url: str) -> str:
    """The URL without query string and fragment (where a SAS would be)."""
    return url.split("?", 1)[0].split("#", 1)[0]


# --- URLs, names, SAS -----------------------------------------------------------------------


def is_path_style_host(host: str) -> bool:
    """Emulator-style endpoints name the account in the path: IP literals, localhost, bare names."""
    host = host.strip("[]").lower()
    if host == "localhost" or "." not in host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def split_blob_url(url: str) -> dict[str, t.Any]:
    """Split a Blob URL into endpoint, account, container, blob path and query string.

    ``https://acct.blob.core.windows.net/photos?sv=...`` and the path-style form of the
    emulator ``http://127.0.0.1:10000/devstoreaccount1/photos?sv=...`` both give the
    account and container; a custom domain gives no account.
    """
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    segments = [segment for segment in parts.path.split("/") if segment]
    base = "%s://%s" % (parts.scheme, parts.netloc)
    if is_path_style_host(host):
        account = segments[0] if segments else None
        rest = segments[1:]
        endpoint = "%s/%s" % (base, account) if account else base
    else:
        match = _ACCOUNT_HOST.match(host)
        account = match.group(1).lower() if match else None
        rest = segments
        endpoint = base
    return dict(
        scheme=parts.scheme.lower(),
        host=host,
        endpoint=endpoint,
        account=account,
        container=rest[0] if rest else None,
        blob="/".join(rest[1:]) or None,
        query=parts.query,
    )


def container_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Blob container name, or None."""
    if name in ("$root", "$web", "$logs"):
        return None
    if _CONTAINER_NAME.match(name):
        return None
    return (
        "container '%s' is not a valid container name: use 3 to 63 lowercase letters, digits and single "
        "hyphens, starting and ending with a letter or digit" % name
    )


def account_name_problem(name: str) -> str | None:
    if _ACCOUNT_NAME.match(name):
        return None
    return "account_name '%s' is not a valid storage account name: use 3 to 24 lowercase letters and digits" % name


def parse_sas_time(value: str) -> datetime.datetime:
    """A SAS time (st=/se=; ISO 8601 in UTC, date or date and time) as an aware datetime."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1]
    for fmt in _SAS_TIME_FORMATS:
        try:
            parsed = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=datetime.timezone.utc)
    raise ValueError("'%s' is not an ISO 8601 time" % value)


def iso_utc(moment: datetime.datetime) -> str:
    """``2024-05-01T02:00:00Z``: ISO 8601 in UTC, seconds resolution."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def inspect_sas(query: str, now: datetime.datetime, where: str = "sas_url") -> tuple[dict[str, t.Any], list[Problem]]:
    """What a SAS query string says about itself, and what is wrong with it before any request.

    Returns the fields (``version``, ``expiry``, ``start``, ``permissions``, ``resource``,
    ``resource_types``, ``services``, ``identifier``) and the problems: no signature, no
    version, an unreadable time, expired (``sas_expired``), not valid yet (``sas_not_yet_valid``),
    a SAS for a single blob.
    """
    fields = {key: values[0] for key, values in parse_qs(query.lstrip("?"), keep_blank_values=True).items()}
    info: dict[str, t.Any] = dict(
        version=fields.get("sv"),
        expiry=None,
        start=None,
        permissions=fields.get("sp"),
        resource=fields.get("sr"),
        resource_types=fields.get("srt"),
        services=fields.get("ss"),
        identifier=fields.get("si"),
    )
    problems: list[Problem] = []
    if not fields.get("sig"):
        problems.append(Problem(
            "invalid_input",
            "%s has no signature (sig=): copy the complete SAS URL, query string included, from the Azure "
            "portal or from 'az storage container generate-sas'" % where,
        ))
    if not fields.get("sv"):
        problems.append(Problem(
            "invalid_input",
            "%s has no service version (sv=): it is not a SAS; copy the complete SAS URL" % where,
        ))
    for key, name in (("se", "expiry"), ("st", "start")):
        if fields.get(key):
            try:
                info[name] = parse_sas_time(fields[key])
            except ValueError:
                problems.append(Problem(
                    "invalid_input",
                    "%s has an unreadable %s time (%s=%s): issue a new SAS" % (where, name, key, fields[key]),
                ))
    if info["resource"] in ("b", "bs", "bv"):
        problems.append(Problem(
            "invalid_input",
            "%s is a SAS for a single blob (sr=%s): issue a container SAS (sr=c) or an account SAS"
            % (where, info["resource"]),
        ))
    if info["expiry"] is not None and info["expiry"] <= now:
        problems.append(Problem(
            "sas_expired",
            "the SAS in %s expired at %s (it is %s now): issue a new SAS with a later expiry and put it in %s"
            % (where, iso_utc(info["expiry"]), iso_utc(now), where),
        ))
    elif info["start"] is not None and info["start"] > now:
        problems.append(Problem(
            "sas_not_yet_valid",
            "the SAS in %s is valid only from %s (it is %s now): wait, fix the clock of the controller, or issue "
            "a SAS without a start time" % (where, iso_utc(info["start"]), iso_utc(now)),
        ))
    return info, problems


def parse_connection_string(text: str) -> dict[str, str]:
    """``Key=value;...`` with the keys upper-cased, as the SDK reads it; ValueError when malformed."""
    settings: dict[str, str] = {}
    for part in text.strip().rstrip(";").split(";"):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError("connection_string is malformed: expected Key=value pairs separated by ';'")
        settings[key.strip().upper()] = value.strip()
    return settings


# --- which target, which credential ---------------------------------------------------------


def _check_endpoint(target: Target, endpoint: str, option: str) -> dict[str, t.Any] | None:
    parts = split_blob_url(endpoint)
    if parts["scheme"] not in ("http", "https") or not parts["host"]:
        target.problems.append(Problem(
            "invalid_input",
            "%s '%s' is not an http(s) URL: use https://<account>.blob.core.windows.net or the emulator's "
            "http://<host>:10000/<account>" % (option, scrub(endpoint)),
        ))
        return None
    if parts["query"]:
        target.problems.append(Problem(
            "invalid_input",
            "%s must not carry a query string: put a SAS into sas_url instead" % option,
        ))
        return None
    if parts["container"]:
        target.problems.append(Problem(
            "invalid_input",
            "%s '%s' names a container: give the account's Blob endpoint only and the container in container"
            % (option, strip_query(endpoint)),
        ))
        return None
    return parts


def _warn_plain_http(target: Target, parts: dict[str, t.Any], what: str) -> None:
    if parts["scheme"] == "http" and not is_path_style_host(parts["host"]):
        target.warnings.append(
            "%s uses plain http to %s: the %s travels unencrypted; use https" % (target.auth_method, parts["host"], what)
        )


def _take_sas(target: Target, query: str, now: datetime.datetime, where: str) -> None:
    info, problems = inspect_sas(query, now, where)
    target.sas_token = query.lstrip("?")
    target.sas_expiry = iso_utc(info["expiry"]) if info["expiry"] else None
    target.sas_permissions = info["permissions"]
    target.secrets.append(target.sas_token)
    target.problems.extend(problems)


def _agree_on_account(target: Target, given: str | None, found: str | None, source: str) -> None:
    if given and found and given != found:
        target.problems.append(Problem(
            "invalid_input",
            "account_name '%s' does not match the account '%s' of %s: drop account_name or fix one of them"
            % (given, found, source),
        ))
    target.account = found or given


def resolve_target(params: dict[str, t.Any], now: datetime.datetime) -> Target:
    """Endpoint, account, credential kind and the input problems of a task, without a network.

    ``params`` are the module's parameters (options of ``azure_blob_argument_spec``).
    """
    method = auth_method_of(params)
    target = Target(method, params["container"])
    given_account = params.get("account_name")
    if given_account:
        problem = account_name_problem(given_account)
        if problem:
            target.problems.append(Problem("invalid_input", problem))
    problem = container_name_problem(params["container"])
    if problem:
        target.problems.append(Problem("invalid_input", problem))
    if params.get("timeout") is not None and params["timeout"] <= 0:
        target.problems.append(Problem("invalid_input", "timeout must be a positive number of seconds"))

    if method in ("account_key", "service_principal"):
        if method == "account_key":
            target.secrets.append(params["account_key"])
        else:
            target.secrets.append(params["service_principal"]["client_secret"])
        endpoint = params.get("endpoint")
        if endpoint:
            parts = _check_endpoint(target, endpoint, "endpoint")
            if parts is None:
                return target
            target.endpoint = parts["endpoint"].rstrip("/")
            _agree_on_account(target, given_account, parts["account"], "endpoint")
            _warn_plain_http(target, parts, "account key" if method == "account_key" else "token")
            if method == "service_principal" and parts["scheme"] != "https":
                target.problems.append(Problem(
                    "invalid_input",
                    "service_principal needs an https endpoint (the SDK does not send tokens over http): "
                    "use account_key, sas_url or connection_string for the emulator",
                ))
        elif given_account:
            target.account = given_account
            target.endpoint = "https://%s.blob.%s" % (given_account, DEFAULT_ENDPOINT_SUFFIX)
        if not target.account and not target.endpoint:
            target.problems.append(Problem(
                "invalid_input",
                "%s needs account_name (or an endpoint that names the account)" % method,
            ))
        elif not target.account and method == "account_key":
            target.problems.append(Problem(
                "invalid_input",
                "account_key needs account_name: the endpoint %s does not name the storage account" % target.endpoint,
            ))
        return target

    if method == "sas_url":
        sas_url = params["sas_url"].strip()
        target.secrets.append(sas_url)
        parts = split_blob_url(sas_url)
        if parts["scheme"] not in ("http", "https") or not parts["host"]:
            target.problems.append(Problem(
                "invalid_input",
                "sas_url is not a URL: give the complete SAS URL, e.g. "
                "https://<account>.blob.core.windows.net/<container>?sv=...&sig=...",
            ))
            return target
        target.endpoint = parts["endpoint"].rstrip("/")
        _agree_on_account(target, given_account, parts["account"], "sas_url")
        if parts["container"] and parts["container"] != target.container:
            target.problems.append(Problem(
                "invalid_input",
                "sas_url is for container '%s' but container is '%s': use the same container in both"
                % (parts["container"], target.container),
            ))
        if parts["blob"]:
            target.problems.append(Problem(
                "invalid_input",
                "sas_url points at a blob (%s/%s): give the container or account URL with the SAS"
                % (parts["container"], parts["blob"]),
            ))
        _take_sas(target, parts["query"], now, "sas_url")
        _warn_plain_http(target, parts, "SAS signature")
        return target

    connection_string = params["connection_string"]
    target.secrets.append(connection_string)
    try:
        settings = parse_connection_string(connection_string)
    except ValueError as exc:
        target.problems.append(Problem("invalid_input", str(exc)))
        return target
    target.secrets.extend([settings.get("ACCOUNTKEY") or "", settings.get("SHAREDACCESSSIGNATURE") or ""])
    if settings.get("USEDEVELOPMENTSTORAGE", "").lower() == "true":
        settings.setdefault("ACCOUNTNAME", "devstoreaccount1")
        settings.setdefault("BLOBENDPOINT", "http://127.0.0.1:10000/devstoreaccount1")
        settings.setdefault("ACCOUNTKEY", "(emulator)")
    found_account = settings.get("ACCOUNTNAME")
    if settings.get("BLOBENDPOINT"):
        parts = _check_endpoint(target, settings["BLOBENDPOINT"], "BlobEndpoint in connection_string")
        if parts is None:
            return target
        target.endpoint = parts["endpoint"].rstrip("/")
        found_account = found_account or parts["account"]
        _warn_plain_http(target, parts, "request signature")
    elif found_account:
        target.endpoint = "%s://%s.blob.%s" % (
            settings.get("DEFAULTENDPOINTSPROTOCOL", "https"),
            found_account,
            settings.get("ENDPOINTSUFFIX", DEFAULT_ENDPOINT_SUFFIX),
        )
    else:
        target.problems.append(Problem(
            "invalid_input",
            "connection_string names neither AccountName nor BlobEndpoint: copy the complete connection string "
            "from the storage account's Access keys page",
        ))
    _agree_on_account(target, given_account, found_account, "connection_string")
    if settings.get("SHAREDACCESSSIGNATURE"):
        _take_sas(target, settings["SHAREDACCESSSIGNATURE"], now, "connection_string")
    elif not settings.get("ACCOUNTKEY"):
        target.problems.append(Problem(
            "invalid_input",
            "connection_string carries no credential (AccountKey= or SharedAccessSignature=): copy the complete "
            "connection string from the storage account's Access keys page",
        ))
    return target


# --- errors in words ------------------------------------------------------------------------


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


def _class_names(error: BaseException) -> set[str]:
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
        account_host = _ACCOUNT_HOST.match(host)
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
            "the SAS lacks a permission this step needs (%s); rclone needs read, add, create, write, delete and "
            "list (sp=%s): issue a new SAS with them" % (sas_needs, RCLONE_SAS_PERMISSIONS)
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
    names = _class_names(error)
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


# --- client ---------------------------------------------------------------------------------


def build_container_client(target: Target, params: dict[str, t.Any]) -> t.Any:
    """A ContainerClient for the target; fails fast (no connect/read retries, short timeouts).

    Raises what the SDK raises for bad input (ValueError); classify it with classify_error.
    """
    # The SDK logs failed token requests as warnings; without a handler Python prints them.
    azure_logger = logging.getLogger("azure")
    if not azure_logger.handlers:
        azure_logger.addHandler(logging.NullHandler())
    timeout = params.get("timeout") or 10
    options: dict[str, t.Any] = dict(
        connection_timeout=timeout,
        read_timeout=timeout,
        # One retry after ~1 s for throttling/5xx answers only: an unreachable endpoint fails
        # within the timeout instead of after the SDK's default 15 s + 18 s backoffs.
        retry_policy=ExponentialRetry(
            initial_backoff=1, increment_base=2, retry_total=1, random_jitter_range=1, retry_connect=0, retry_read=0
        ),
        user_agent=USER_AGENT,
    )
    if target.auth_method == "connection_string":
        return ContainerClient.from_connection_string(params["connection_string"], container_name=target.container, **options)
    if target.auth_method == "sas_url":
        credential: t.Any = target.sas_token
    elif target.auth_method == "account_key":
        credential = dict(account_name=target.account, account_key=params["account_key"])
    else:
        principal = params["service_principal"]
        identity_options: dict[str, t.Any] = dict(connection_timeout=timeout, read_timeout=timeout, retry_total=0)
        if principal.get("authority_host"):
            identity_options["authority"] = principal["authority_host"]
        credential = ClientSecretCredential(
            principal["tenant_id"], principal["client_id"], principal["client_secret"], **identity_options
        )
    return ContainerClient(account_url=target.endpoint, container_name=target.container, credential=credential, **options)


def container_exists(client: t.Any) -> bool:
    """List one blob: True when the container answers, raises the SDK's error otherwise.

    Listing (not Get Container Properties) is what a container SAS and the Storage Blob Data
    Reader role allow, and what rclone does first.
    """
    for _blob in client.list_blobs(results_per_page=1):
        break
    return True


def directory_exists(client: t.Any, directory: str) -> bool:
    """A directory exists when any blob starts with ``<dir>/``: its marker or anything in it."""
    for _blob in client.list_blobs(name_starts_with=directory + "/", results_per_page=1):
        return True
    return False


def rclone_mtime(moment: datetime.datetime) -> str:
    """The ``mtime`` metadata rclone writes: RFC 3339 in UTC with fractional seconds."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def marker_metadata(now: datetime.datetime) -> dict[str, str]:
    """Metadata of a directory marker, as rclone 1.75 (directory_markers = true) writes it."""
    return {DIRECTORY_MARKER_METADATA: "true", "mtime": rclone_mtime(now)}


def create_directory_marker(client: t.Any, directory: str, now: datetime.datetime) -> bool:
    """Upload ``<dir>/`` (zero bytes, hdi_isfolder=true) unless it exists; True when written."""
    try:
        client.upload_blob(name=directory + "/", data=b"", metadata=marker_metadata(now), overwrite=False)
    except Exception as exc:  # pylint: disable=broad-except
        if error_code_of(exc) == "BlobAlreadyExists" or "ResourceExistsError" in _class_names(exc):
            return False
        raise
    return True


def normalize_directories(names: list[str] | None) -> tuple[list[str], list[Problem]]:
    """Directory names without leading/trailing slashes, unique, in the given order."""
    result: list[str] = []
    problems: list[Problem] = []
    for name in names or []:
        clean = (name or "").strip().strip("/")
        segments = clean.split("/")
        if not clean or any(segment in ("", ".", "..") for segment in segments):
            problems.append(Problem(
                "invalid_input",
                "directory '%s' is not a valid directory name: use names like originals or backup/db" % name,
            ))
            continue
        if len(clean) > 1000:
            problems.append(Problem("invalid_input", "directory '%s...' is longer than a blob name may be" % clean[:40]))
            continue
        if clean not in result:
            result.append(clean)
    return result, problems


# --- listings -------------------------------------------------------------------------------


def is_directory_marker(name: str, size: int | None, metadata: dict[str, str] | None) -> bool:
    """rclone's rule: a zero-length blob whose name ends in '/' or that carries hdi_isfolder=true."""
    if size:
        return False
    if name.endswith("/"):
        return True
    return any(key.lower() == DIRECTORY_MARKER_METADATA and str(value).lower() == "true" for key, value in (metadata or {}).items())


def blob_entry(blob: t.Any) -> dict[str, t.Any]:
    """The returned facts of one listed blob (an SDK BlobProperties or anything shaped like it)."""
    settings = getattr(blob, "content_settings", None)
    md5 = getattr(settings, "content_md5", None) if settings is not None else None
    etag = getattr(blob, "etag", None)
    last_modified = getattr(blob, "last_modified", None)
    metadata = dict(getattr(blob, "metadata", None) or {})
    size = int(getattr(blob, "size", 0) or 0)
    name = blob.name
    return dict(
        name=name,
        size=size,
        last_modified=iso_utc(last_modified) if last_modified else None,
        etag=etag.strip('"') if etag else None,
        content_md5=bytes(md5).hex() if md5 else None,
        metadata=metadata,
        directory_marker=is_directory_marker(name, size, metadata),
    )


def summarize_blobs(entries: t.Iterable[dict[str, t.Any]], max_results: int | None) -> dict[str, t.Any]:
    """count, total_size and newest over every entry; ``blobs``: the first max_results by name.

    Streams: at most max_results entries are held, so a large listing costs time, not memory.
    ``newest`` is the entry with the latest last_modified (ties: the last name).
    """
    count = 0
    total_size = 0
    newest: dict[str, t.Any] | None = None
    kept: list[dict[str, t.Any]] = []
    kept_names: list[str] = []
    for entry in entries:
        count += 1
        total_size += entry["size"]
        if newest is None or (entry["last_modified"] or "", entry["name"]) > (newest["last_modified"] or "", newest["name"]):
            newest = entry
        if max_results is not None and len(kept) >= max_results and (not kept or entry["name"] >= kept_names[-1]):
            continue
        position = bisect.bisect_right(kept_names, entry["name"])
        kept_names.insert(position, entry["name"])
        kept.insert(position, entry)
        if max_results is not None and len(kept) > max_results:
            kept_names.pop()
            kept.pop()
    return dict(
        blobs=kept,
        count=count,
        total_size=total_size,
        newest=newest,
        truncated=count > len(kept),
    )
