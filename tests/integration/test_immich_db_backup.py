# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup job (roles/backup/files/immich_db_backup.py) against a real PostgreSQL 17 with
pgvector in Docker and Azurite: what it stores, what it reports, what it prunes, and what a
failure leaves behind (nothing new, nothing old touched)."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import types
import uuid
import zlib

import pytest

from conftest import REPO_ROOT

JOB = os.path.join(REPO_ROOT, "roles", "backup", "files", "immich_db_backup.py")
IMAGE = "immich-pi-testbed/postgres-pgvector:17"
DOWN_ENDPOINT = "http://172.17.0.1:10009/devstoreaccount1"  # nothing listens there
ROWS = 5000


def load_job():
    spec = importlib.util.spec_from_file_location("immich_db_backup", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def databases():
    """Two running database containers, started together: the first with a few known rows,
    the second as a fresh initdb leaves it (Immich's database after the SSD went missing)."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode != 0:
        pytest.fail("%s is missing: run tests/testbed/build-images.sh" % IMAGE)
    names = ["immich-pi-test-backup-%s-%d" % (uuid.uuid4().hex[:8], index) for index in range(2)]
    try:
        for name in names:
            subprocess.run(["docker", "run", "--detach", "--name", name, "--network", "none", IMAGE],
                           check=True, capture_output=True)
        for name in names:
            wait_ready(name)
        psql(names[0], "CREATE TABLE assets (id int PRIMARY KEY, path text);"
                       "INSERT INTO assets SELECT i, 'upload/' || i || '.jpg' FROM generate_series(1, %d) i;" % ROWS)
        yield names
    finally:
        for name in names:
            subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def database(databases):
    return databases[0]


@pytest.fixture(scope="module")
def empty_database(databases):
    return databases[1]


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


@contextlib.contextmanager
def stopped(container: str):
    subprocess.run(["docker", "stop", container], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["docker", "start", container], check=True, capture_output=True)
        wait_ready(container)


@pytest.fixture
def config(tmp_path, azurite, blob_container, database):
    """Write a job config; returns write(**changes) -> its path, so a test can change it first."""
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


def read_config(config_path: str) -> dict:
    with open(config_path, encoding="utf-8") as handle:
        return json.load(handle)


def run_job(config_path: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, JOB, "--config", config_path], capture_output=True, text=True, timeout=120,
                          check=False)


def run_ok(config_path: str) -> dict:
    """Run the job, expect exit 0; returns its status report."""
    result = run_job(config_path)
    assert result.returncode == 0, result.stderr
    return status(config_path)


def status(config_path: str) -> dict:
    with open(read_config(config_path)["status_file"], encoding="utf-8") as handle:
        return json.load(handle)


def container_client(azurite, container: str):
    return azurite.service_client().get_container_client(container)


def download(azurite, container: str, name: str) -> bytes:
    return container_client(azurite, container).download_blob(name).readall()


def blobs(azurite, container: str) -> dict[str, int]:
    return {item.name: item.size for item in container_client(azurite, container).list_blobs()}


def snapshot(azurite, container: str) -> dict[str, tuple[int, str, str]]:
    """Every committed blob: name -> (size, etag, MD5 of the content downloaded now)."""
    client = container_client(azurite, container)
    return {item.name: (item.size, item.etag,
                        hashlib.md5(client.download_blob(item.name).readall(), usedforsecurity=False).hexdigest())
            for item in client.list_blobs()}


def uncommitted(azurite, container: str) -> set[str]:
    """Names that hold only staged, never committed blocks. Azurite lists them as Azure does
    with include=uncommittedblobs (checked: a staged block shows up as a blob of size 0)."""
    client = container_client(azurite, container)
    return ({item.name for item in client.list_blobs(include=["uncommittedblobs"])}
            - {item.name for item in client.list_blobs()})


def backup_name(days_ago: float, prefix: str = "backup/", rest: str = "v3.2.2.sql.zst") -> str:
    """A name as the job writes them, for a backup taken `days_ago` days ago."""
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    return "%simmich-db-%s-%s" % (prefix, when.strftime("%Y%m%dT%H%M%SZ"), rest)


def seed(azurite, container: str, names: list[str], data: bytes | None = None) -> list[str]:
    """Upload `names` (random content unless given); returns them."""
    client = container_client(azurite, container)
    for name in names:
        client.upload_blob(name, os.urandom(1000) if data is None else data)
    return names


def seed_older_backups(azurite, container: str) -> dict:
    """Yesterday's backup and one past keep_days (a failed run must not prune it either); returns the snapshot."""
    seed(azurite, container, [backup_name(1), backup_name(30)])
    return snapshot(azurite, container)


def assert_failure_reported(result, config_path: str, pings, problem: str) -> None:
    """Exit 1, the status file says failed and names `problem`, the ping went to /fail (once)
    and the status file says it went through."""
    assert result.returncode == 1, result.stderr
    report = status(config_path)
    assert report["result"] == report["backup_result"] == "failed" and problem in report["message"], report
    assert pings.paths == [pings.path + "/fail"]
    assert report["ping"] == {"to": "http://127.0.0.1", "signal": "fail", "result": "ok", "http_status": 200}


def assert_nothing_stored_and_older_intact(azurite, container: str, before: dict) -> None:
    """No new object, committed or staged; the older backups have the same names, sizes, etags, content."""
    assert snapshot(azurite, container) == before
    assert uncommitted(azurite, container) == set(), "staged blocks of a failed run are visible as a blob"


def unzstd(data: bytes) -> str:
    return subprocess.run(["zstd", "-d", "-c"], input=data, capture_output=True, check=True).stdout.decode()


def test_a_backup_is_the_whole_cluster_compressed_verified_and_reported(config, azurite, blob_container, pings):
    started = time.monotonic()
    report = run_ok(config(ping_url=pings.url))
    elapsed = time.monotonic() - started
    [(name, size)] = blobs(azurite, blob_container).items()
    assert name.startswith("backup/immich-db-") and name.endswith("-v3.2.2.sql.zst")
    data = download(azurite, blob_container, name)
    assert report["result"] == "ok" and report["object"] == name
    assert report["bytes"] == size == len(data)
    assert report["sha256"] == hashlib.sha256(data).hexdigest()
    assert 0 < report["duration_s"] <= elapsed
    assert pings.paths == [pings.path]
    assert report["ping"] == {"to": "http://127.0.0.1", "signal": "success", "result": "ok", "http_status": 200}
    assert report["backup_result"] == "ok"
    dump = unzstd(data)
    assert "CREATE ROLE postgres" in dump and "COPY public.assets" in dump
    assert "upload/%d.jpg" % ROWS in dump


def test_gzip_is_an_option(config, azurite, blob_container):
    run_ok(config(compression="gzip"))
    [(name, _size)] = blobs(azurite, blob_container).items()
    data = download(azurite, blob_container, name)
    assert name.endswith(".sql.gz") and b"COPY public.assets" in zlib.decompress(data, 31)


def test_a_stopped_database_stores_nothing_and_reports_it(config, azurite, blob_container, database, pings):
    before = seed_older_backups(azurite, blob_container)
    path = config(ping_url=pings.url)
    with stopped(database):
        result = run_job(path)
    assert_failure_reported(result, path, pings, "is not running")
    assert_nothing_stored_and_older_intact(azurite, blob_container, before)


def test_a_venv_without_the_docker_sdk_fails_fast_and_stores_nothing(config, azurite, blob_container, pings, tmp_path):
    """The dump cannot start (the job's venv lacks the docker SDK): the job must end with a
    failure that says so, not wait for the compressor's output forever."""
    before = seed_older_backups(azurite, blob_container)
    (tmp_path / "docker.py").write_text("raise ImportError(\"No module named 'docker'\")\n")
    path = config(ping_url=pings.url)
    result = subprocess.run([sys.executable, JOB, "--config", path], capture_output=True, text=True, timeout=120,
                            check=False, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert_failure_reported(result, path, pings, "No module named 'docker'")
    assert_nothing_stored_and_older_intact(azurite, blob_container, before)


def test_an_endpoint_that_is_down_fails_fast_reports_it_and_keeps_older_backups(
        config, azurite, blob_container, pings):
    before = seed_older_backups(azurite, blob_container)
    down = azurite.connection_string.replace(azurite.endpoint, DOWN_ENDPOINT)
    path = config(connection_string=down, ping_url=pings.url)
    started = time.monotonic()
    result = run_job(path)
    assert time.monotonic() - started < 20
    assert_failure_reported(result, path, pings, "upload of backup/immich-db-")
    assert "Connection refused" in status(path)["message"]
    assert_nothing_stored_and_older_intact(azurite, blob_container, before)


def assert_stored_but_not_reported(result, config_path: str, pings, azurite, container: str, why: str) -> dict:
    """Exit 4, the status file says failed and why, the dump is in Azure all the same and the
    message names it; the ping URL shows as its scheme and host only."""
    assert result.returncode == 4, result.stderr
    report = status(config_path)
    assert report["result"] == "failed" and report["backup_result"] == "ok", report
    [(name, size)] = blobs(azurite, container).items()
    assert name == report["object"] and size == report["bytes"] > 0
    assert report["sha256"] == hashlib.sha256(download(azurite, container, name)).hexdigest()
    assert "the backup itself (%s) is stored, but %s" % (name, why) in report["message"], report["message"]
    assert "(check backup_ping_url)" in report["message"]
    assert report["message"] in result.stderr
    secret = pings.path.rsplit("/", 1)[1]
    assert secret not in result.stderr + json.dumps(report)
    return report


def test_a_ping_answered_with_an_http_error_fails_the_run_though_the_dump_is_stored(
        config, azurite, blob_container, pings):
    pings.answer = 500
    path = config(ping_url=pings.url)
    report = assert_stored_but_not_reported(run_job(path), path, pings, azurite, blob_container,
                                            "the ping to http://127.0.0.1 failed: HTTPError: HTTP Error 500")
    assert pings.paths == [pings.path]
    assert report["ping"] == {"to": "http://127.0.0.1", "signal": "success", "result": "failed",
                              "error": "HTTPError: HTTP Error 500: Internal Server Error"}


@pytest.mark.parametrize("malformed", ["127.0.0.1:{port}/ping/{secret}", "http://127.0.0.1:{port}/ping/{secret} ",
                                       "htp://127.0.0.1:{port}/ping/{secret}"])
def test_a_malformed_ping_url_fails_the_run_though_the_dump_is_stored(
        config, azurite, blob_container, pings, malformed):
    port = pings.url.split(":")[2].split("/")[0]
    path = config(ping_url=malformed.format(port=port, secret=pings.path.rsplit("/", 1)[1]))
    report = assert_stored_but_not_reported(
        run_job(path), path, pings, azurite, blob_container,
        "the ping to the ping URL (not shown) failed: not an http:// or https:// URL with a host and no spaces")
    assert pings.paths == []
    assert report["ping"]["result"] == "failed"


def test_an_unwritable_status_file_is_logged_and_fails_the_run_though_the_dump_is_stored(
        config, azurite, blob_container, pings, tmp_path):
    (tmp_path / "state").write_text("a file where the status folder should be")
    status_file = tmp_path / "state" / "status.json"
    result = run_job(config(ping_url=pings.url, status_file=str(status_file)))
    assert result.returncode == 4, result.stderr
    [name] = blobs(azurite, blob_container)
    assert "the backup itself (%s) is stored, but the status file %s cannot be written: " \
        % (name, status_file) in result.stderr
    assert pings.paths == [pings.path]  # the ping went out before


def test_a_failed_backup_whose_fail_ping_fails_too_says_both(config, azurite, blob_container, pings):
    before = seed_older_backups(azurite, blob_container)
    pings.answer = 503
    down = azurite.connection_string.replace(azurite.endpoint, DOWN_ENDPOINT)
    path = config(connection_string=down, ping_url=pings.url)
    result = run_job(path)
    assert result.returncode == 1, result.stderr
    report = status(path)
    assert report["result"] == report["backup_result"] == "failed"
    assert report["message"].startswith("upload of backup/immich-db-")
    assert "; and the /fail ping to http://127.0.0.1 failed: HTTPError: HTTP Error 503" in report["message"]
    assert "is stored" not in report["message"]
    assert pings.paths == [pings.path + "/fail"]
    assert_nothing_stored_and_older_intact(azurite, blob_container, before)


def test_an_empty_database_is_stored_but_prunes_nothing_and_warns(config, azurite, blob_container, empty_database):
    run_ok(config())  # the populated database: yesterday's backup
    [today] = blobs(azurite, blob_container)
    full = download(azurite, blob_container, today)
    container_client(azurite, blob_container).delete_blob(today)
    [yesterday] = seed(azurite, blob_container, [backup_name(1)], full)
    seed(azurite, blob_container, [backup_name(8), backup_name(30)])  # past keep_days
    before = snapshot(azurite, blob_container)
    path = config(container=empty_database)
    result = run_job(path)
    assert result.returncode == 2, result.stderr
    report = status(path)
    assert report["result"] == "suspicious" and report["pruned"] == []
    assert "pruned nothing" in report["message"] and yesterday in report["message"]
    after = snapshot(azurite, blob_container)
    assert {name: after.get(name) for name in before} == before
    assert set(after) - set(before) == {report["object"]}
    data = download(azurite, blob_container, report["object"])
    assert report["bytes"] == len(data) < len(full) / 2
    dump = unzstd(data)
    assert "CREATE ROLE postgres" in dump and "public.assets" not in dump


@contextlib.contextmanager
def held_at_the_dump(config_path: str, database: str, tmp_path):
    """Start the job while another session holds an exclusive lock on a table, so its pg_dump
    waits there (as behind a long Immich migration): yields (process, its stderr file) once the
    dump is waiting; releases the lock and waits for the job on leaving."""
    holder = subprocess.Popen(["docker", "exec", "--interactive", database, "psql", "-h", "/run/postgresql",
                               "-U", "postgres", "-d", "immich", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    holder.stdin.write("BEGIN;\nLOCK TABLE assets IN ACCESS EXCLUSIVE MODE;\n")
    holder.stdin.flush()
    stderr = tmp_path / "held.stderr"
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'"
    with open(stderr, "w", encoding="utf-8") as log:
        job = subprocess.Popen([sys.executable, JOB, "--config", config_path], stderr=log)
    try:
        deadline = time.monotonic() + 30
        while psql(database, waiting).strip() != "1":
            assert job.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, "the job's dump did not reach the locked table"
            time.sleep(0.1)
        yield job, stderr
    finally:
        holder.communicate("COMMIT;\n", timeout=30)
        job.wait(timeout=60)


def test_a_second_run_while_one_is_running_exits_cleanly(config, azurite, blob_container, database, tmp_path):
    with held_at_the_dump(config(), database, tmp_path) as (first, first_stderr):
        first_config = read_config(config())
        # Its own version and status file, so a second backup would be a second object and a second report.
        second_path = tmp_path / "second.json"
        second_path.write_text(json.dumps(dict(first_config, immich_version="v3.2.3",
                                               status_file=str(tmp_path / "second-status.json"))))
        second = run_job(str(second_path))
    assert second.returncode == 0 and "another backup is running" in second.stderr
    assert not os.path.exists(tmp_path / "second-status.json")
    assert first.returncode == 0, first_stderr.read_text()
    report = status(config())
    assert report["result"] == "ok"
    assert blobs(azurite, blob_container) == {report["object"]: report["bytes"]}


def test_a_dump_that_dies_midway_stores_nothing_and_reports_it(
        config, azurite, blob_container, database, pings, tmp_path):
    before = seed_older_backups(azurite, blob_container)
    path = config(ping_url=pings.url)
    with held_at_the_dump(path, database, tmp_path) as (job, stderr):
        psql(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg_dump'")
        job.wait(timeout=60)
    assert_failure_reported(types.SimpleNamespace(returncode=job.returncode, stderr=stderr.read_text()),
                            path, pings, "pg_dumpall exited 1")
    assert "terminating connection due to administrator command" in stderr.read_text()
    assert_nothing_stored_and_older_intact(azurite, blob_container, before)


def test_backups_past_keep_days_are_pruned_and_nothing_else(config, azurite, blob_container):
    doomed = seed(azurite, blob_container, [backup_name(8), backup_name(9), backup_name(30)])
    recent = seed(azurite, blob_container, [backup_name(6)])
    foreign = seed(azurite, blob_container, [
        "backup/someone-elses-file.txt",
        "backup/immich-db-notes.txt",
        backup_name(30, prefix="other/"),
        backup_name(30, prefix=""),
        # Our prefix and stamp, but no name the job ever writes (no .sql.zst / .sql.gz):
        # someone's manual dump kept next to the job's.
        backup_name(30, rest="manual-before-upgrade.sql"),
    ])
    before = snapshot(azurite, blob_container)
    report = run_ok(config())
    after = snapshot(azurite, blob_container)
    assert not set(after) & set(doomed)
    assert {name: after.get(name) for name in recent} == {name: before[name] for name in recent}
    assert {name: after.get(name) for name in foreign} == {name: before[name] for name in foreign}, \
        "a file that is not one of the job's backups was deleted or changed"
    assert set(after) == set(recent) | set(foreign) | {report["object"]}
    assert sorted(report["pruned"]) == sorted(doomed)


def test_the_newest_backup_stays_when_all_are_past_keep_days(config, azurite, blob_container):
    old = seed(azurite, blob_container, [backup_name(8), backup_name(30)])
    report = run_ok(config(keep_days=7, keep_min=1))
    assert sorted(report["pruned"]) == sorted(old)
    assert blobs(azurite, blob_container) == {report["object"]: report["bytes"]}


def test_prune_plan_keeps_the_newest_even_when_all_are_old():
    job = load_job()
    now = datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc)
    old = [("a", now - datetime.timedelta(days=20)), ("b", now - datetime.timedelta(days=10))]
    assert job.prune_plan(old, now, keep_days=7, keep_min=1) == ["a"]
    assert job.prune_plan(old, now, keep_days=7, keep_min=0) == ["a"]
    assert job.prune_plan(old, now, keep_days=7, keep_min=2) == []
