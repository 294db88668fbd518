# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore job (roles/backup/files/immich_db_restore.py) against real PostgreSQL 17 + pgvector
containers and Azurite: a backup of a database with Immich v3.2.2's schema comes back identical, and
a backup that is damaged, undecryptable, replaced, or from a newer Immich never reaches the database.

The backup job runs once per module (zstd, gzip, zstd + age) against one source database; every
test copies what it needs into its own Blob container. Each restore goes into a fresh cluster;
tests that only list or verify point the job at one shared empty cluster and check it stays so.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import typing as t
import uuid

import pytest

from conftest import REPO_ROOT

JOBS = os.path.join(REPO_ROOT, "roles", "backup", "files")
BACKUP_JOB = os.path.join(JOBS, "immich_db_backup.py")
RESTORE_JOB = os.path.join(JOBS, "immich_db_restore.py")
# Immich v3.2.2's tables as its migrations create them, then generated content for them.
IMMICH_SCHEMA = os.path.join(REPO_ROOT, "tests", "testbed", "files", "immich_v3_schema.sql")
IMMICH_DATA = os.path.join(REPO_ROOT, "tests", "testbed", "files", "immich_v3_data.sql")
IMAGE = "immich-pi-testbed/postgres-pgvector:17"
VERSION = "v3.2.2"
# The primary key of each Immich table the fingerprint covers.
TABLES = {"asset": "id", "asset_exif": '"assetId"', "asset_file": "id", "asset_face": "id", "person": "id",
          "smart_search": '"assetId"', "face_search": '"faceId"', '"user"': "id", "system_metadata": "key",
          "kysely_migrations": "name", "geodata_places": "id"}


# ---------------------------------------------------------------------------------------------
# Docker and PostgreSQL


def docker(*args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, "docker %s failed: %s" % (" ".join(args[:2]), done.stderr.decode(errors="replace"))
    return done.stdout.decode()


def query(container: str, sql: str, database: str = "immich") -> str:
    return docker("exec", container, "psql", "--no-psqlrc", "--no-align", "--tuples-only", "--set",
                  "ON_ERROR_STOP=1", "--username", "postgres", "--dbname", database, "--command", sql).strip()


def load_immich_db(container: str, assets: int, seed: float) -> None:
    """Immich v3.2.2's schema into the empty immich database, then `assets` generated assets."""
    for path in (IMMICH_SCHEMA, IMMICH_DATA):
        with open(path, "rb") as script:
            docker("exec", "--interactive", container, "psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
                   "--set", "assets=%d" % assets, "--set", "seed=%s" % seed, "--username", "postgres",
                   "--dbname", "immich", stdin=script.read())


def fingerprint(container: str) -> dict[str, str]:
    """What a restore must bring back: each table's rows, the indexes and the extensions."""
    parts = ["SELECT '%s', (SELECT md5(string_agg(t::text, '|' ORDER BY t.%s)) FROM %s t)" % (table, key, table)
             for table, key in TABLES.items()]
    parts.append("SELECT 'indexes', string_agg(indexdef, ' | ' ORDER BY indexname) FROM pg_indexes "
                 "WHERE schemaname = 'public'")
    parts.append("SELECT 'extensions', string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) "
                 "FROM pg_extension")
    rows = query(container, " UNION ALL ".join(parts)).splitlines()
    return dict(row.split("|", 1) for row in rows)


def cluster_state(container: str) -> str:
    """The databases with their OIDs (a restore drops and creates immich) and immich's tables."""
    return query(container, "SELECT (SELECT string_agg(datname || ' ' || oid, ', ' ORDER BY datname) FROM pg_database)"
                            " || '; immich has ' || (SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                            "('pg_catalog', 'information_schema')) || ' tables'")


class Clusters:
    """Fresh, empty PostgreSQL containers; the next one starts ahead, so its initdb overlaps a test."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.waiting = [self._start()]

    def _start(self) -> str:
        name = "immich-pi-test-restore-%s" % uuid.uuid4().hex[:10]
        self.started.append(name)
        docker("run", "--detach", "--name", name, "--network", "none", "--env", "POSTGRES_PASSWORD=pw-%s" % name,
               "--env", "POSTGRES_DB=immich", IMAGE)
        return name

    def fresh(self) -> str:
        name = self.waiting.pop(0)
        self.waiting.append(self._start())
        deadline = time.monotonic() + 60
        # Only the server the entrypoint leaves running listens on /run/postgresql.
        while subprocess.run(["docker", "exec", name, "pg_isready", "--quiet", "--host", "/run/postgresql",
                              "--dbname", "immich"], capture_output=True, check=False).returncode:
            if time.monotonic() > deadline:
                pytest.fail("%s did not start: %s" % (name, docker("logs", "--tail", "20", name)))
            time.sleep(0.2)
        return name

    def remove_all(self) -> None:
        subprocess.run(["docker", "rm", "--force", "--volumes", *self.started], capture_output=True, check=False)


@pytest.fixture(scope="module")
def clusters():
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode:
        pytest.fail("%s is missing: run tests/testbed/build-images.sh" % IMAGE)
    made = Clusters()
    try:
        yield made
    finally:
        made.remove_all()


@pytest.fixture(scope="module")
def source(clusters) -> str:
    """The database that was backed up: Immich v3.2.2's schema, 300 assets."""
    name = clusters.fresh()
    load_immich_db(name, assets=300, seed=0.42)
    return name


@pytest.fixture(scope="module")
def source_fingerprint(source) -> dict[str, str]:
    found = fingerprint(source)
    assert all(found[table] for table in TABLES), found
    assert "hnsw" in found["indexes"] and "ll_to_earth_public" in found["indexes"] and "vector" in found["extensions"]
    return found


@pytest.fixture
def target(clusters) -> str:
    """A fresh, empty cluster for one restore."""
    return clusters.fresh()


@pytest.fixture(scope="module")
def bystander(clusters) -> str:
    """An empty cluster the job is pointed at when it only lists or verifies."""
    return clusters.fresh()


@pytest.fixture
def untouched(bystander):
    """The shared empty cluster: after the test it must be exactly as it was (no tables)."""
    before = cluster_state(bystander)
    assert before.endswith("immich has 0 tables")
    yield bystander
    assert cluster_state(bystander) == before


# ---------------------------------------------------------------------------------------------
# Backups in Azure


@dataclasses.dataclass
class Backup:
    name: str
    data: bytes
    metadata: dict[str, str]

    @property
    def suffix(self) -> str:
        return self.name[self.name.index(".sql"):]


def backup_name(minutes_from_now: int, suffix: str = ".sql.zst", version: str = VERSION) -> str:
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes_from_now)
    return "backup/immich-db-%s-%s%s" % (when.strftime("%Y%m%dT%H%M%SZ"), version, suffix)


def put(azurite, container: str, name: str, data: bytes, metadata: dict[str, str] | None = None) -> str:
    """Store an object (replacing one of that name); returns its ETag."""
    blob = azurite.service_client().get_blob_client(container, name)
    return blob.upload_blob(data, overwrite=True, metadata=metadata)["etag"]


def put_backup(azurite, container: str, backup: Backup) -> str:
    return put(azurite, container, backup.name, backup.data, backup.metadata)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, str]:
    """An age identity with its recipient, and another identity that does not match."""
    folder = tmp_path_factory.mktemp("age")
    found = {}
    for key in ("identity", "wrong_identity"):
        found[key] = str(folder / key)
        subprocess.run(["age-keygen", "-o", found[key]], capture_output=True, check=True)
    found["recipient"] = subprocess.run(["age-keygen", "-y", found["identity"]], capture_output=True, text=True,
                                        check=True).stdout.strip()
    return found


@pytest.fixture(scope="module")
def backups(source, azurite, keys, tmp_path_factory) -> dict[str, Backup]:
    """What the backup job stored from the source: zstd, gzip and zstd + age."""
    folder = tmp_path_factory.mktemp("backup-job")
    container = "pytest-restore-%s" % uuid.uuid4().hex[:12]
    service = azurite.service_client()
    service.create_container(container)
    kinds = {"zstd": {}, "gzip": {"compression": "gzip"}, "age": {"age_recipients": [keys["recipient"]]}}
    stored = {}
    try:
        for kind, options in kinds.items():
            config = dict(container=source, blob_container=container, connection_string=azurite.connection_string,
                          immich_version=VERSION, status_file=str(folder / "status.json"),
                          lock_file=str(folder / "lock"), **options)
            (folder / "config.json").write_text(json.dumps(config))
            done = subprocess.run([sys.executable, BACKUP_JOB, "--config", str(folder / "config.json")],
                                  capture_output=True, text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stderr
            name = json.loads((folder / "status.json").read_text())["object"]
            download = service.get_blob_client(container, name).download_blob()
            stored[kind] = Backup(name, download.readall(), dict(download.properties.metadata))
    finally:
        service.delete_container(container)
    assert stored["age"].name.endswith(".sql.zst.age") and stored["gzip"].name.endswith(".sql.gz")
    return stored


# ---------------------------------------------------------------------------------------------
# The restore job


@pytest.fixture
def restore_config(tmp_path, azurite, blob_container):
    """write(db_container) -> the path of a job config pointing at it and this test's Blob container."""

    def write(db_container: str) -> str:
        path = tmp_path / ("config-%s.json" % db_container)
        path.write_text(json.dumps({
            "container": db_container, "blob_container": blob_container,
            "connection_string": azurite.connection_string, "immich_version": VERSION,
            "status_file": str(tmp_path / "status.json"), "lock_file": str(tmp_path / "lock"),
        }))
        return str(path)

    return write


def restore_job(config: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, RESTORE_JOB, "--config", config, *args], capture_output=True, text=True,
                          timeout=180, check=False)


def succeeded(done: subprocess.CompletedProcess) -> t.Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def failed(done: subprocess.CompletedProcess, code: int = 1) -> str:
    """The job's message after it failed with `code` and printed no report."""
    assert done.returncode == code, "exit %d (%s%s)" % (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    return done.stderr


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_a_backup_comes_back_identical(kind, backups, azurite, blob_container, restore_config, target,
                                       source_fingerprint):
    backup = backups[kind]
    etag = put_backup(azurite, blob_container, backup)
    config = restore_config(target)

    checked = succeeded(restore_job(config, "verify", "newest"))
    assert checked["backup"] == backup.name and checked["etag"] == etag
    assert checked["sha256_checked"] is True
    assert checked["sha256"] == backup.metadata["sha256"] == hashlib.sha256(backup.data).hexdigest()
    assert checked["bytes"] == len(backup.data) and checked["immich_version"] == VERSION

    restored = succeeded(restore_job(config, "restore", backup.name, "--etag", checked["etag"]))
    assert restored["sha256"] == checked["sha256"] and restored["bytes"] == len(backup.data)
    assert restored["backup"] == backup.name and restored["replaced"] == []
    assert fingerprint(target) == source_fingerprint


def test_an_encrypted_backup_needs_its_identity(backups, keys, azurite, blob_container, restore_config, target,
                                                source_fingerprint):
    backup = backups["age"]
    put_backup(azurite, blob_container, backup)
    config = restore_config(target)
    empty = cluster_state(target)

    checked = succeeded(restore_job(config, "verify", "newest", "--identity", keys["identity"]))
    assert checked["sha256_checked"] is True and checked["sha256"] == backup.metadata["sha256"]

    message = failed(restore_job(config, "restore", backup.name, "--etag", checked["etag"]))
    assert "encrypted with age" in message and "identity" in message
    assert cluster_state(target) == empty

    message = failed(restore_job(config, "verify", backup.name, "--identity", keys["wrong_identity"]))
    assert "cannot be read" in message and "age exited" in message and "no identity matched" in message
    failed(restore_job(config, "restore", backup.name, "--etag", checked["etag"], "--identity", keys["wrong_identity"]))
    assert cluster_state(target) == empty

    restored = succeeded(restore_job(config, "restore", backup.name, "--etag", checked["etag"],
                                     "--identity", keys["identity"]))
    assert restored["sha256"] == checked["sha256"]
    assert fingerprint(target) == source_fingerprint


def test_verify_takes_the_newest_or_the_one_named(backups, azurite, blob_container, restore_config, untouched):
    zstd_backup, gzip_backup = backups["zstd"], backups["gzip"]
    newest, middle, oldest = backup_name(-60, ".sql.gz"), backup_name(-60 * 24), backup_name(-60 * 48)
    # Uploaded newest first: the name's time decides, not the order or the time of the upload.
    put(azurite, blob_container, newest, gzip_backup.data, gzip_backup.metadata)
    put(azurite, blob_container, oldest, zstd_backup.data, zstd_backup.metadata)
    put(azurite, blob_container, middle, zstd_backup.data)  # no metadata: nothing to check the SHA-256 against
    config = restore_config(untouched)

    checked = succeeded(restore_job(config, "verify", "newest"))
    assert checked["backup"] == newest and checked["sha256"] == gzip_backup.metadata["sha256"]
    for wanted in (middle, middle[len("backup/"):]):
        checked = succeeded(restore_job(config, "verify", wanted))
        assert checked["backup"] == middle and checked["sha256"] == zstd_backup.metadata["sha256"]
        assert checked["sha256_checked"] is False

    message = failed(restore_job(config, "verify", "immich-db-20200101T000000Z-v3.2.2.sql.zst"))
    assert "no backup named immich-db-20200101T000000Z" in message
    assert message.index(newest) < message.index(middle) < message.index(oldest)


def halved(data: bytes) -> bytes:
    return data[:len(data) // 2]


def flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(byte ^ 0xFF for byte in data[middle:middle + 64]) + data[middle + 64:]


def zstd(data: bytes, *options: str) -> bytes:
    return subprocess.run(["zstd", "--stdout", *options], input=data, capture_output=True, check=True).stdout


DAMAGES = [("zstd", halved, True), ("zstd", halved, False), ("zstd", flipped, True), ("gzip", flipped, False),
           ("age", flipped, False)]


@pytest.mark.parametrize("kind,damage,with_sha256", [
    pytest.param(*case, id="%s-%s-%s" % (case[0], case[1].__name__, "sha256" if case[2] else "no-metadata"))
    for case in DAMAGES])
def test_a_damaged_backup_fails_verify(kind, damage, with_sha256, backups, keys, azurite, blob_container,
                                       restore_config, untouched):
    """Cut in half or 64 bytes flipped, with the job's SHA-256 in the metadata or none (then zstd,
    gzip's CRC and age's authentication must catch it alone)."""
    good = backups[kind]
    put_backup(azurite, blob_container, good)
    damaged = backup_name(1, good.suffix)
    put(azurite, blob_container, damaged, damage(good.data), good.metadata if with_sha256 else None)

    message = failed(restore_job(restore_config(untouched), "verify", "newest", "--identity", keys["identity"]))
    assert damaged in message and ("is damaged" in message or "cannot be read" in message)


def test_a_dump_cut_off_but_validly_compressed_fails_verify(backups, azurite, blob_container, restore_config,
                                                            untouched):
    """The dump cut in half and compressed again, stored without metadata: only its end tells."""
    dump = zstd(backups["zstd"].data, "--decompress")
    assert dump.rstrip().endswith(b"-- PostgreSQL database cluster dump complete\n--")
    name = backup_name(0)
    put(azurite, blob_container, name, zstd(halved(dump)))

    message = failed(restore_job(restore_config(untouched), "verify", "newest"))
    assert name in message and "is damaged" in message and "does not end with pg_dumpall's last line" in message


def test_bytes_the_job_did_not_store_fail_verify(backups, azurite, blob_container, restore_config, untouched):
    """A whole, readable dump, but not the bytes the backup job hashed: the SHA-256 check catches it."""
    other = zstd(zstd(backups["zstd"].data, "--decompress"), "-1")
    assert other != backups["zstd"].data
    name = backup_name(0)
    put(azurite, blob_container, name, other, backups["zstd"].metadata)

    message = failed(restore_job(restore_config(untouched), "verify", "newest"))
    assert name in message and "is damaged" in message
    assert "its SHA-256 is %s, the backup job stored %s" % (hashlib.sha256(other).hexdigest(),
                                                            backups["zstd"].metadata["sha256"]) in message


def test_a_database_with_tables_is_refused_unless_forced(backups, azurite, blob_container, restore_config, target,
                                                         source_fingerprint):
    load_immich_db(target, assets=20, seed=0.1)
    tables = int(query(target, "SELECT count(*) FROM pg_tables "
                               "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"))
    before = fingerprint(target)
    assert before != source_fingerprint
    backup = backups["zstd"]
    etag = put_backup(azurite, blob_container, backup)
    config = restore_config(target)

    message = failed(restore_job(config, "restore", backup.name, "--etag", etag), code=3)
    assert "refused" in message and "not empty" in message and "immich has %d tables" % tables in message
    assert fingerprint(target) == before

    restored = succeeded(restore_job(config, "restore", backup.name, "--etag", etag, "--force"))
    assert restored["replaced"] == ["immich"]
    assert fingerprint(target) == source_fingerprint


def test_a_backup_replaced_after_verify_is_not_restored(backups, azurite, blob_container, restore_config, target):
    backup = backups["zstd"]
    put_backup(azurite, blob_container, backup)
    config = restore_config(target)
    empty = cluster_state(target)
    checked = succeeded(restore_job(config, "verify", backup.name))
    put(azurite, blob_container, backup.name, backups["gzip"].data, backups["gzip"].metadata)

    message = failed(restore_job(config, "restore", backup.name, "--etag", checked["etag"]))
    assert "changed in Azure after it was verified" in message
    assert cluster_state(target) == empty


def test_a_backup_from_a_newer_immich_is_refused(backups, azurite, blob_container, restore_config, untouched):
    put_backup(azurite, blob_container, backups["zstd"])
    newer = backup_name(1, version="v9.0.0")
    put(azurite, blob_container, newer, backups["zstd"].data, backups["zstd"].metadata)

    message = failed(restore_job(restore_config(untouched), "verify", "newest"))
    assert newer in message and "Immich v9.0.0" in message and "set immich_version to v9.0.0" in message


def test_list_shows_only_our_backups_newest_first(azurite, blob_container, restore_config, untouched):
    ours = {backup_name(-60 * 24 * days): b"x" * (100 + days) for days in (3, 1, 2)}
    others = ["backup/someone-elses-file.txt", "photos/" + backup_name(0)[len("backup/"):],
              "backup/immich-db-latest.sql.zst", backup_name(0).replace("immich-db-", "immich-db-copy-")]
    for name, data in ours.items():
        put(azurite, blob_container, name, data)
    for name in others:
        put(azurite, blob_container, name, b"not ours")

    listed = succeeded(restore_job(restore_config(untouched), "list"))
    newest_first = sorted(ours, reverse=True)
    assert [(item["name"], item["bytes"]) for item in listed] == [(name, len(ours[name])) for name in newest_first]
