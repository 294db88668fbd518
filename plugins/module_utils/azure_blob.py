# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Azure Blob operations for the controller-side modules: the client, containers, markers, listings.

``start_azure_blob_module`` is the common start of every azure_blob_* module: its
AnsibleModule with the options of the doc fragment homelab.immich_pi.azure_blob_auth, and the
``Target`` the task points at. ``build_container_client`` builds a client that fails fast;
the rest are small operations on it and pure functions over what it lists (rclone's
directory markers, the returned facts of a blob, the summary of a listing).

What the task points at is decided in azure_blob_target, what an error means in
azure_blob_errors.
"""

from __future__ import annotations

import bisect
import datetime
import logging
import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_errors import (
    class_names,
    error_code_of,
)
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import (
    AZURE_BLOB_MUTUALLY_EXCLUSIVE,
    AZURE_BLOB_REQUIRED_ONE_OF,
    Problem,
    Target,
    azure_blob_argument_spec,
    iso_utc,
    resolve_target,
)

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

# rclone (directory_markers = true) marks a directory with a zero-length blob "<dir>/"
# carrying this metadata; its reader takes either the trailing slash or the metadata.
DIRECTORY_MARKER_METADATA = "hdi_isfolder"
USER_AGENT = "homelab.immich_pi"


# --- the start of every azure_blob_* module -------------------------------------------------


def missing_libraries(params: dict[str, t.Any]) -> list[tuple[str, str | None]]:
    """(pip name, import traceback) of every library this task needs and cannot import."""
    missing: list[tuple[str, str | None]] = []
    if not HAS_AZURE_STORAGE_BLOB:
        missing.append(("azure-storage-blob", AZURE_STORAGE_BLOB_IMPORT_ERROR))
    if params.get("service_principal") and not HAS_AZURE_IDENTITY:
        missing.append(("azure-identity", AZURE_IDENTITY_IMPORT_ERROR))
    return missing


def start_azure_blob_module(extra_options: dict[str, t.Any]) -> tuple[AnsibleModule, Target]:
    """The module of an azure_blob_* task and the Target it points at.

    ``extra_options`` are the module's own options next to those of azure_blob_argument_spec.
    Fails the task when a library is missing, passes the target's warnings on; the target's
    problems are the caller's to report.
    """
    argument_spec = azure_blob_argument_spec()
    argument_spec.update(extra_options)
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=AZURE_BLOB_MUTUALLY_EXCLUSIVE,
        required_one_of=AZURE_BLOB_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    for library, import_error in missing_libraries(module.params):
        module.fail_json(msg=missing_required_lib(library), exception=import_error)
    target = resolve_target(module.params, datetime.datetime.now(datetime.timezone.utc))
    for warning in target.warnings:
        module.warn(warning)
    return module, target


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
        if error_code_of(exc) == "BlobAlreadyExists" or "ResourceExistsError" in class_names(exc):
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
