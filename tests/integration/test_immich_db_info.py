# SPDX-License-Identifier: GPL-3.0-or-later
"""immich_db_info against a real PostgreSQL 17 with pgvector 0.8.0 (Debian trixie), the test
bed image immich-pi-testbed/postgres-pgvector:17 (tests/testbed/build-images.sh), reached
through ``docker exec`` on this host as the module reaches Immich's database on a Pi.

One container per test module, removed afterwards whatever happened.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
import uuid

import pytest

from ansible_collections.homelab.immich_pi.plugins.modules import immich_db_info
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner

IMAGE = "immich-pi-testbed/postgres-pgvector:17"
RELEASE = "v3.1.0"  # pgvector >= 0.7.0, < 1.0.0; Postgres 14 to 18
READY_WAIT = 60.0

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs Docker")


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def wait_ready(name):
    deadline = time.monotonic() + READY_WAIT
    while time.monotonic() < deadline:
        if docker("exec", name, "pg_isready", "-q", "-h", "/run/postgresql", "-d", "immich", check=False).returncode == 0:
            # pg_isready answers during the entrypoint's first, socket-only start too: wait for TCP.
            if docker("exec", name, "pg_isready", "-q", "-h", "127.0.0.1", check=False).returncode == 0:
                return
        time.sleep(0.3)
    pytest.fail("postgres in %s not ready after %ss: %s" % (name, READY_WAIT, docker("logs", name, check=False).stderr))


def psql(name, sql):
    docker("exec", name, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "/run/postgresql", "-d", "immich", "-c", sql)


@pytest.fixture(scope="module")
def database():
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail("%s is missing: run tests/testbed/build-images.sh" % IMAGE)
    name = "pytest-immich-db-%s" % uuid.uuid4().hex[:10]
    docker("run", "-d", "--name", name, IMAGE)
    try:
        wait_ready(name)
        yield name
    finally:
        docker("rm", "-f", "-v", name, check=False)


run_module = functools.partial(module_runner.run_module, immich_db_info)


def test_1_fresh_database(database, capsys):
    result = run_module(capsys, {"immich_version": RELEASE, "container": database})
    assert result["rc"] == 0 and result["changed"] is False
    assert result["reachable"] is True
    assert result["server_version"].startswith("17.") and 170000 <= result["server_version_num"] < 180000
    assert result["extensions"] == {} and result["vector_mode"] is None
    assert result["available_extensions"]["vector"]["default_version"] == "0.8.0"
    assert "earthdistance" in result["available_extensions"] and "cube" in result["available_extensions"]
    assert "vchord" not in result["available_extensions"]
    assert result["problems"] == []
    # Immich told to use VectorChord: not available here, and not preloaded.
    result = run_module(capsys, {"immich_version": RELEASE, "container": database, "vector_extension": "vectorchord"})
    assert [problem.split(" ")[0] for problem in result["problems"]] == ["VectorChord", "vchord"]


def test_2_extensions_created(database, capsys):
    psql(database, "CREATE EXTENSION vector; CREATE EXTENSION cube; CREATE EXTENSION earthdistance;")
    result = run_module(capsys, {"immich_version": RELEASE, "container": database, "password": "unused-on-socket"})
    assert result["vector_mode"] == "pgvector"
    assert result["extensions"]["vector"] == "0.8.0"
    assert set(result["extensions"]) == {"vector", "cube", "earthdistance"}
    assert result["problems"] == []
    # Over TCP with the password, as psql -h inside the container.
    result = run_module(capsys, {"immich_version": RELEASE, "container": database, "host": "127.0.0.1",
                                 "password": "postgres"})
    assert result["reachable"] is True and result["problems"] == []
    result = run_module(capsys, {"immich_version": RELEASE, "container": database, "host": "127.0.0.1",
                                 "password": "wrong"})
    assert result["reachable"] is False
    assert 'password authentication failed for user "postgres"' in result["problems"][0]


def test_3_preload_read_after_restart(database, capsys):
    psql(database, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    docker("restart", database)
    wait_ready(database)
    result = run_module(capsys, {"immich_version": RELEASE, "container": database})
    assert result["shared_preload_libraries"] == ["pg_stat_statements"]
    assert result["problems"] == []  # pgvector mode needs no preload
    result = run_module(capsys, {"immich_version": RELEASE, "container": database, "vector_extension": "vectorchord"})
    assert any("vchord is required but not in shared_preload_libraries (pg_stat_statements)" in problem
               for problem in result["problems"])


def test_4_container_stopped(database, capsys):
    docker("stop", database)
    started = time.monotonic()
    result = run_module(capsys, {"immich_version": RELEASE, "container": database, "timeout": 5})
    assert time.monotonic() - started < 10
    assert result["rc"] == 0 and result["reachable"] is False
    container_id = docker("inspect", "-f", "{{.Id}}", database).stdout.strip()
    # Docker 28 writes "Container <id> is not running", older ones "container".
    assert [problem.lower() for problem in result["problems"]] == [
        "cannot query database immich as postgres in container %s: error response from daemon: container %s is not "
        "running" % (database, container_id)]
