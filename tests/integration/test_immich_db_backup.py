# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup job (roles/backup/files/immich_db_backup.py) against a real PostgreSQL 17 with
pgvector in Docker and Azurite: what it stores, and what a failure leaves behind (nothing)."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
import zlib

import pytest

from conftest import REPO_ROOT

JOB = os.path.join(REPO_ROOT, "roles", "backup", "files", "immich_db_backup.py")
IMAGE = "immich-pi-testbed/postgres-pgvector:17"
DOWN_ENDPOINT = "http://172.17.0.1:10009/devstoreaccount1"  # nothing listens there


def load_job():
    spec = importlib.util.spec_from_file_location("immich_db_backup", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def database():
    """A running database container with a few known rows; yields its name."""
    name = "immich-pi-test-backup-%s" % uuid.uuid4().hex[:8]
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode != 0:
        pytest.fail("%s is missing: run tests/testbed/build-images.sh" % IMAGE)
    subprocess.run(["docker", "run", "--detach", "--name", name, "--network", "none", IMAGE],
                   check=True, capture_output=True)
    try:
        wait_ready(name)
        psql(name, "CREATE TABLE assets (id int PRIMARY KEY, path text);"
                   "INSERT INTO assets SELECT i, 'upload/' || i || '.jpg' FROM generate_series(1, 5000) i;")
        yield name
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)


def wait_ready(container: str) -> None:
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "exec", container, "pg_isready", "-q", "-h", "/run/postgresql"],
                         capture_output=True, check=False).returncode:
        assert time.monotonic() < deadline, "the database did not start"
        time.sleep(0.5)


def psql(container: str, sql: str) -> str:
    return subprocess.run(["docker", "exec", container, "psql", "-h", "/run/postgresql", "-U", "postgres",
                           "-d", "immich", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def config(tmp_path, azurite, blob_container, database):
    """Write a job config; returns (path, dict) and lets a test change it first."""
    data = {
        "container": database,
        "blob_container": blob_container,
        "connection_string": azurite.connection_string,
        "immich_version": "v3.2.2",
        "status_file": str(tmp_path / "status.json"),
        "lock_file": str(tmp_path / "backup.lock"),
    }
    path = tmp_path / "config.json"

    def write(**changes):
        data.update(changes)
        path.write_text(json.dumps(data))
        return str(path)

    write()
    return write


def run_job(config_path: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, JOB, "--config", config_path], capture_output=True, text=True, timeout=120,
                          check=False)


def blobs(azurite, container: str) -> dict[str, int]:
    client = azurite.service_client().get_container_client(container)
    return {item.name: item.size for item in client.list_blobs()}


def status(config_path: str) -> dict:
    with open(json.load(open(config_path, encoding="utf-8"))["status_file"], encoding="utf-8") as handle:
        return json.load(handle)


def test_a_backup_is_the_whole_cluster_compressed_and_verified(config, azurite, blob_container):
    result = run_job(config())
    assert result.returncode == 0, result.stderr
    stored = blobs(azurite, blob_container)
    [(name, size)] = stored.items()
    assert name.startswith("backup/immich-db-") and name.endswith("-v3.2.2.sql.zst")
    report = status(config())
    assert report["result"] == "ok" and report["bytes"] == size and report["object"] == name
    blob = azurite.service_client().get_blob_client(blob_container, name)
    dump = subprocess.run(["zstd", "-d", "-c"], input=blob.download_blob().readall(),
                          capture_output=True, check=True).stdout.decode()
    assert "CREATE ROLE postgres" in dump and "COPY public.assets" in dump
    assert "upload/5000.jpg" in dump


def test_gzip_is_an_option(config, azurite, blob_container):
    result = run_job(config(compression="gzip"))
    assert result.returncode == 0, result.stderr
    [(name, _size)] = blobs(azurite, blob_container).items()
    data = azurite.service_client().get_blob_client(blob_container, name).download_blob().readall()
    assert name.endswith(".sql.gz") and b"COPY public.assets" in zlib.decompress(data, 31)


def test_a_stopped_database_stores_nothing(config, azurite, blob_container, database):
    subprocess.run(["docker", "stop", database], check=True, capture_output=True)
    try:
        result = run_job(config())
    finally:
        subprocess.run(["docker", "start", database], check=True, capture_output=True)
        wait_ready(database)
    assert result.returncode == 1
    assert blobs(azurite, blob_container) == {}
    report = status(config())
    assert report["result"] == "failed" and "pg_dumpall exited" in report["message"]


def test_an_endpoint_that_is_down_fails_fast_and_keeps_older_backups(config, azurite, blob_container):
    assert run_job(config()).returncode == 0
    before = blobs(azurite, blob_container)
    down = azurite.connection_string.replace(azurite.endpoint, DOWN_ENDPOINT)
    started = time.monotonic()
    result = run_job(config(connection_string=down))
    assert result.returncode == 1 and time.monotonic() - started < 20
    assert blobs(azurite, blob_container) == before
    assert "failed" in result.stderr


def test_a_second_run_while_one_is_running_exits_cleanly(config, tmp_path):
    path = config()
    lock_file = json.load(open(path, encoding="utf-8"))["lock_file"]
    holder = subprocess.Popen(["flock", lock_file, "sleep", "5"])
    try:
        time.sleep(0.5)
        result = run_job(path)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0 and "another backup is running" in result.stderr


def test_old_backups_are_pruned_but_the_newest_always_stays(config, azurite, blob_container):
    client = azurite.service_client().get_container_client(blob_container)
    now = datetime.datetime.now(datetime.timezone.utc)
    old_names = []
    for days in (8, 9, 30):
        stamp = (now - datetime.timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")
        old_names.append("backup/immich-db-%s-v3.2.2.sql.zst" % stamp)
        client.upload_blob(old_names[-1], b"x" * 100)
    client.upload_blob("backup/someone-elses-file.txt", b"keep me")
    assert run_job(config()).returncode == 0
    names = set(blobs(azurite, blob_container))
    assert not names & set(old_names)
    assert "backup/someone-elses-file.txt" in names and len(names) == 2


def test_a_much_smaller_dump_prunes_nothing_and_warns(config, azurite, blob_container):
    client = azurite.service_client().get_container_client(blob_container)
    stamp = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10)).strftime("%Y%m%dT%H%M%SZ")
    big_old = "backup/immich-db-%s-v3.2.2.sql.zst" % stamp
    client.upload_blob(big_old, os.urandom(5 * 1024 * 1024))
    result = run_job(config())
    assert result.returncode == 2, result.stderr
    assert big_old in blobs(azurite, blob_container)
    assert status(config())["result"] == "suspicious" and "pruned nothing" in status(config())["message"]


def test_prune_plan_keeps_the_newest_even_when_all_are_old():
    job = load_job()
    now = datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc)
    old = [("a", now - datetime.timedelta(days=20)), ("b", now - datetime.timedelta(days=10))]
    assert job.prune_plan(old, now, keep_days=7, keep_min=1) == ["a"]
    assert job.prune_plan(old, now, keep_days=7, keep_min=0) == ["a"]
    assert job.prune_plan(old, now, keep_days=7, keep_min=2) == []
