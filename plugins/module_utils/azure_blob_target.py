# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an Azure Blob task points at and how it authenticates, decided without a network.

The options of the doc fragment homelab.immich_pi.azure_blob_auth (``azure_blob_argument_spec``),
which credential the task gave and which endpoint and account follow from it
(``resolve_target``), and what a SAS says about itself (``inspect_sas``: expired, not valid
yet, no signature). Everything wrong with the input becomes a ``Problem``: a kind from
``ERROR_KINDS`` and one line that names the fix.

Secrets never leave in text: ``scrub`` removes query strings (a SAS lives there),
``sig=``/``AccountKey=`` values and the literal secrets of the task from every message.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import typing as t
from urllib.parse import parse_qs, urlsplit

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

_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
ACCOUNT_HOST = re.compile(r"^([a-z0-9]+)(?:-secondary)?\.blob\.", re.IGNORECASE)
_QUERY_STRING = re.compile(r"\?[A-Za-z0-9_.%-]+=[^\s'\"<>)]*")
_SECRET_FIELD = re.compile(r"(?i)\b(sig|AccountKey|SharedAccessSignature|client_secret)=([^&;\s'\"<>)]+)")
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
        match = ACCOUNT_HOST.match(host)
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
