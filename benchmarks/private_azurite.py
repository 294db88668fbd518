# SPDX-License-Identifier: GPL-3.0-or-later
"""A benchmark's own Azurite: the test bed's install, on a free port of 127.0.0.1.

The test bed's Azurite (tests/testbed/ensure-azurite.sh) keeps its blob index in LokiJS, a
JavaScript in-memory database that it saves as a JSON file: a lookup by blob name scans every
blob of the account, so with tens of thousands of blobs each request costs more than the last,
and whatever else uses the same Azurite (tests, CI) waits behind it. A private one does not slow
the tests down; its index is either LokiJS in memory (`memory`: no JSON file, the same scans) or
Azurite's SQL mode (`mariadb`: AZURITE_DB, tables with a B-tree index on the blob name, in a
private MariaDB server started here from Debian's mariadb-server). The account and key are the
integration tests' (tests/integration/conftest.py), only the endpoint differs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ENSURE_AZURITE = os.path.join(REPO_ROOT, "tests", "testbed", "ensure-azurite.sh")
CONFTEST = os.path.join(REPO_ROOT, "tests", "integration", "conftest.py")
START_SECONDS = 60
METADATA = ("mariadb", "memory")
MARIADB_HINT = "apt-get install mariadb-server (Debian's), or use the in-memory index"


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


def wait_for_port(port: int, proc: subprocess.Popen, what: str, log_path: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {START_SECONDS} s: see {log_path}")


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def account_at(endpoint: str):
    """tests/integration/conftest.py's Azurite helper (account, key, service_client(),
    rclone_config()) pointed at another endpoint: a private Azurite, or a proxy in front of one."""
    spec = importlib.util.spec_from_file_location("_bench_private_azurite_conftest", CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shared = module.Azurite

    class Elsewhere(shared):
        pass

    Elsewhere.endpoint = endpoint
    Elsewhere.connection_string = (f"DefaultEndpointsProtocol=http;AccountName={shared.account};"
                                   f"AccountKey={shared.key};BlobEndpoint={endpoint};")
    return Elsewhere()


class PrivateMariadb:
    """mariadbd on a throwaway data dir, 127.0.0.1 only, no grant tables (nothing else can reach it)."""

    def __init__(self, work: str):
        self.datadir = os.path.join(work, "mariadb")
        self.log_path = os.path.join(work, "mariadb.log")
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateMariadb:
        for tool in ("mariadbd", "mariadb-install-db"):
            if not shutil.which(tool) and not os.access(f"/usr/sbin/{tool}", os.X_OK):
                raise RuntimeError(f"{tool} is missing: {MARIADB_HINT}")
        with open(self.log_path, "wb") as log:
            subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                            "--skip-test-db", "--auth-root-authentication-method=normal"],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=True)
        self.port = free_port()
        daemon = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped in stop()
                [daemon, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                 "--bind-address=127.0.0.1", f"--socket={os.path.join(self.datadir, 'mariadb.sock')}",
                 "--user=root", "--skip-grant-tables", "--skip-name-resolve",
                 # A throwaway index: no fsync per commit, as Azurite's own JSON file has none either.
                 "--innodb-flush-log-at-trx-commit=2"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, "mariadbd", self.log_path)
        subprocess.run(["mariadb", "--no-defaults", "--host=127.0.0.1", f"--port={self.port}", "--user=root",
                        "--execute=CREATE DATABASE azurite_blob"], check=True, capture_output=True)
        return self

    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/azurite_blob"

    def stop(self) -> None:
        stop_process(self.proc)


class PrivateAzurite:
    """Start with start(), stop with stop(); account() gives the integration tests' Azurite
    helper (service_client(), rclone_config()) pointed at this one."""

    def __init__(self, work: str, metadata: str = "mariadb"):
        if metadata not in METADATA:
            raise ValueError(f"metadata must be one of {METADATA}, not {metadata!r}")
        self.work = work
        self.metadata = metadata
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.mariadb: PrivateMariadb | None = None
        self.log_path = os.path.join(work, "azurite.log")
        self.endpoint = ""

    def start(self) -> PrivateAzurite:
        argv = [azurite_binary(), "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]
        environment = dict(os.environ)
        if self.metadata == "mariadb":
            self.mariadb = PrivateMariadb(self.work).start()
            environment["AZURITE_DB"] = self.mariadb.url()
            location = os.path.join(self.work, "azurite")
            os.makedirs(location)
            argv += ["--location", location]  # the blobs' bytes, in files
        else:
            argv += ["--inMemoryPersistence"]
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/devstoreaccount1"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped in stop()
                argv + ["--blobHost", "127.0.0.1", "--blobPort", str(self.port)], env=environment,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.work)
        wait_for_port(self.port, self.proc, "Azurite", self.log_path)
        return self

    def account(self):
        return account_at(self.endpoint)

    def stop(self) -> None:
        stop_process(self.proc)
        if self.mariadb is not None:
            self.mariadb.stop()
