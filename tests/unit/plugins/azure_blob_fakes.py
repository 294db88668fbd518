# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for the Azure SDK in unit tests: exceptions shaped like azure-core's and a
container client that keeps its blobs in a dict.

The exception classes carry the names and attributes classify_error() looks at
(``status_code``, ``error_code``, ``response.headers``, the class hierarchy); their texts
are the ones azure-storage-blob 12.31.1 produced against Azurite 3.35.0 and the ones Azure
documents for the same failures.
"""

from __future__ import annotations

import datetime
import hashlib
import types


class AzureError(Exception):
    pass


class HttpResponseError(AzureError):
    def __init__(self, message, status_code=None, error_code=None, headers=None):
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.response = types.SimpleNamespace(status_code=status_code, headers=headers or {})


class ResourceNotFoundError(HttpResponseError):
    pass


class ResourceExistsError(HttpResponseError):
    pass


class ClientAuthenticationError(HttpResponseError):
    pass


class AzureSigningError(ClientAuthenticationError):
    pass


class ServiceRequestError(AzureError):
    pass


class ServiceResponseError(AzureError):
    pass


class ServiceResponseTimeoutError(ServiceResponseError):
    pass


def storage_error(status, code, message, cls=HttpResponseError):
    """An error as the storage SDK raises it: message, RequestId, ErrorCode, the XML body."""
    text = (
        "%s\nRequestId:95e54382-79d7-47e4-a5f3-452157130c51\nTime:2026-11-21T20:32:37.419Z\nErrorCode:%s\n"
        "Content: <?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Error>\n  <Code>%s</Code>\n"
        "  <Message>%s</Message>\n</Error>" % (message, code, code, message)
    )
    return cls(text, status_code=status, error_code=code, headers={"x-ms-error-code": code})


AZURITE_AUTH_FAILURE = (
    "Server failed to authenticate the request. Make sure the value of the Authorization header is formed "
    "correctly including the signature."
)
AZURE_AUTH_FAILED = (
    "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
    "correctly including the signature."
)
PERMISSION_MISMATCH = "This request is not authorized to perform this operation using this permission."


def container_not_found():
    return storage_error(404, "ContainerNotFound", "The specified container does not exist.", ResourceNotFoundError)


class FakeContainerClient:
    """Holds blobs as name -> (data, metadata, last_modified); records what it was asked."""

    def __init__(self, exists=True, blobs=None, fail=None):
        self.exists = exists
        self.blobs = dict(blobs or {})
        self.fail = fail  # an exception every call raises
        self.calls = []

    def _check(self):
        if self.fail is not None:
            raise self.fail
        if not self.exists:
            raise container_not_found()

    def list_blobs(self, name_starts_with=None, include=None, results_per_page=None):
        self.calls.append(("list_blobs", name_starts_with))
        self._check()
        for name in sorted(self.blobs):
            if name_starts_with and not name.startswith(name_starts_with):
                continue
            data, metadata, modified = self.blobs[name]
            yield types.SimpleNamespace(
                name=name,
                size=len(data),
                last_modified=modified,
                etag='"0x8DC%012X"' % (abs(hash(name)) % (1 << 48)),
                metadata=dict(metadata) if include and "metadata" in include else None,
                content_settings=types.SimpleNamespace(content_md5=bytearray(hashlib.md5(data).digest())),
            )

    def create_container(self):
        self.calls.append(("create_container",))
        if self.fail is not None:
            raise self.fail
        if self.exists:
            raise storage_error(409, "ContainerAlreadyExists", "The specified container already exists.", ResourceExistsError)
        self.exists = True

    def upload_blob(self, name, data, metadata=None, overwrite=False):
        self.calls.append(("upload_blob", name, dict(metadata or {})))
        self._check()
        if name in self.blobs and not overwrite:
            raise storage_error(409, "BlobAlreadyExists", "The specified blob already exists.", ResourceExistsError)
        self.blobs[name] = (bytes(data), dict(metadata or {}), datetime.datetime.now(datetime.timezone.utc))

    def writes(self):
        return [call for call in self.calls if call[0] in ("create_container", "upload_blob")]
