# SPDX-License-Identifier: GPL-3.0-or-later
"""A benchmark's own Azurite: the test bed's install, in memory, on a free port of 127.0.0.1.

The test bed's Azurite (tests/testbed/ensure-azurite.sh) keeps its blob index in a JSON file that
it rewrites as the index changes: with tens of thousands of blobs every upload pays for that
rewrite, and whatever else uses the same Azurite (tests, CI) waits behind it. A private one in
memory (--inMemoryPersistence) has neither cost; its account and key are the integration tests'
(tests/integration/conftest.py), only the endpoint differs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ENSURE_AZURITE = os.path.join(REPO_ROOT, "tests", "testbed", "ensure-azurite.sh")
CONFTEST = os.path.join(REPO_ROOT, "tests", "integration", "conftest.py")
START_SECONDS = 60


def azurite_binary() -> str:
    """azurite-blob where ensure-azurite.sh installs it (its `home=`)."""
    with open(ENSURE_AZURITE, encoding="utf-8") as script:
        found = re.search(r"^home=(\S+)$", script.read(), re.MULTILINE)
    if not found:
        raise RuntimeError(f"no home= line in {ENSURE_AZURITE}")
    binary = os.path.join(found.group(1), "node_modules", ".bin", "azurite-blob")
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{binary} is missing: run tests/testbed/setup.sh (it installs Azurite)")
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateAzurite:
    """Start with start(), stop with stop(); account() gives the integration tests' Azurite
    helper (service_client(), rclone_config()) pointed at this one."""

    def __init__(self, work: str):
        self.work = work
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(work, "azurite.log")
        self.endpoint = ""

    def start(self) -> PrivateAzurite:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/devstoreaccount1"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped in stop()
                [azurite_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                 "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.work)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self.proc.returncode}: see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{self.port} within {START_SECONDS} s")

    def account(self):
        spec = importlib.util.spec_from_file_location("_bench_private_azurite_conftest", CONFTEST)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        shared = module.Azurite
        endpoint = self.endpoint

        class Private(shared):
            pass

        Private.endpoint = endpoint
        Private.connection_string = (f"DefaultEndpointsProtocol=http;AccountName={shared.account};"
                                     f"AccountKey={shared.key};BlobEndpoint={endpoint};")
        return Private()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
