# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed's images of Immich's compose stack (tests/testbed/build-images.sh), brought up
together on this host's Docker as Immich's compose file brings up the real ones: the real
PostgreSQL 17 + pgvector and valkey of Debian trixie, and the stand-ins (NOT Immich) for
immich-server and immich-machine-learning, which no registry serves here.

One stack per module, on an internal bridge network the test creates (no route out; the
containers reach each other by compose's service names), with host directories owned and
moded as the ssd and immich roles make them. Everything is removed afterwards, whatever
happened.

The server stand-in is as strict as Immich v3's start (see its module docstring for the
upstream files): a fresh database gets Immich v3.2.2's schema and every media folder verified;
further server containers on the same PostgreSQL, each with a copy of that database (pg_dump,
as a restore brings it back) and its own media directory, show a restored database refused
for a verified folder without its marker, and a folder not verified yet getting one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

IMAGES = {
    "database": "immich-pi-testbed/postgres-pgvector:17",
    "redis": "immich-pi-testbed/valkey:testbed",
    "immich-server": "immich-pi-testbed/immich-server-standin:testbed",
    "immich-machine-learning": "immich-pi-testbed/immich-machine-learning-standin:testbed",
}
DB_PASSWORD = "pytest-%s" % uuid.uuid4().hex[:12]
# What Immich's example .env and compose file give the containers.
DATABASE_ENV = {"POSTGRES_PASSWORD": DB_PASSWORD, "POSTGRES_USER": "postgres", "POSTGRES_DB": "immich",
                "POSTGRES_INITDB_ARGS": "--data-checksums"}
SERVER_ENV = {"DB_HOSTNAME": "database", "DB_USERNAME": "postgres", "DB_PASSWORD": DB_PASSWORD,
              "DB_DATABASE_NAME": "immich", "DB_VECTOR_EXTENSION": "pgvector", "REDIS_HOSTNAME": "redis"}
MEDIA_FOLDERS = ("upload", "library", "thumbs", "encoded-video", "profile", "backups")
HEALTHY_WAIT = 45.0
EXIT_WAIT = 20.0
# Immich's startup error for a verified folder whose marker it cannot read (immich-app/immich
# server/src/services/storage.service.ts, verifyReadAccess, at 52605e82da96c05d9c871c80607ccbeb5a69b4fd).
FAILED_TO_READ_THUMBS = ('Failed to read: "<UPLOAD_LOCATION>/thumbs/.immich (/data/thumbs/.immich) - Please see '
                         'https://docs.immich.app/administration/system-integrity#folder-checks '
                         'for more information."')


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def inspect(name, template):
    return docker("inspect", "-f", template, name, check=False).stdout.strip()


def logs(name):
    result = docker("logs", "--tail", "40", name, check=False)
    return result.stdout + result.stderr


def run_container(stack, service, image, env=None, volumes=(), extra=(), alias=True):
    """docker run -d on the stack's network, reachable as `service` (compose's service name)
    unless alias is False; returns the container name."""
    name = "%s-%s" % (stack["prefix"], service)
    stack["containers"].append(name)
    args = ["run", "-d", "--name", name, "--network", stack["network"]]
    if alias:
        args += ["--network-alias", service]
    for key, value in (env or {}).items():
        args += ["--env", "%s=%s" % (key, value)]
    for volume in volumes:
        args += ["--volume", volume]
    docker(*args, *extra, image)
    return name


def wait_healthy(names):
    deadline = time.monotonic() + HEALTHY_WAIT
    status = {}
    while time.monotonic() < deadline:
        status = {name: inspect(name, "{{.State.Status}} {{.State.Health.Status}}") for name in names}
        if all(value == "running healthy" for value in status.values()):
            return time.monotonic() - (deadline - HEALTHY_WAIT)
        time.sleep(0.5)
    pytest.fail("not all healthy after %ss: %s\n%s" % (
        HEALTHY_WAIT, status, "\n".join("--- %s\n%s" % (name, logs(name)) for name in names)))


def wait_listening_or_exited(name):
    """Until the server stand-in listens (its checks passed) or its container exited; returns which."""
    deadline = time.monotonic() + EXIT_WAIT
    while time.monotonic() < deadline:
        if inspect(name, "{{.State.Status}}") == "exited":
            return "exited"
        if "listening on 0.0.0.0:2283" in logs(name):
            return "listening"
        time.sleep(0.3)
    return pytest.fail("%s neither listens nor exited after %ss:\n%s" % (name, EXIT_WAIT, logs(name)))


def query(stack, sql, database="immich"):
    return docker("exec", stack["database"], "psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-h", "/run/postgresql",
                  "-U", "postgres", "-d", database, "-c", sql).stdout.strip()


def system_flags(stack, database="immich"):
    return json.loads(query(stack, "SELECT value::text FROM system_metadata WHERE key = 'system-flags'", database))


def copy_database(stack, name, flags):
    """A copy of the stack's database as a restore brings it back (pg_dump into a new database),
    with `flags` as its system-flags."""
    docker("exec", stack["database"], "sh", "-c",
           "createdb -h /run/postgresql -U postgres %s && pg_dump -h /run/postgresql -U postgres immich"
           " | psql -X -q -v ON_ERROR_STOP=1 -h /run/postgresql -U postgres -d %s" % (name, name))
    query(stack, "UPDATE system_metadata SET value = '%s'::jsonb WHERE key = 'system-flags'" % json.dumps(flags), name)


def media_with_markers(root, markers):
    """A media directory with every folder; `markers` maps the folders that get a .immich to its content."""
    root.mkdir()
    for folder in MEDIA_FOLDERS:
        (root / folder).mkdir()
        if folder in markers:
            (root / folder / ".immich").write_text(markers[folder])
    return root


def assert_fresh_timestamp(marker, since_ms):
    """Immich writes the time in milliseconds into a marker."""
    content = marker.read_text()
    assert content.isdigit(), (marker, content)
    assert since_ms - 5000 <= int(content) <= time.time() * 1000 + 5000, (marker, content)


def http_get_from(container, url):
    """GET url from inside container (over the stack's network); returns (status, body)."""
    script = ("import sys, urllib.error, urllib.request\n"
              "try:\n"
              "    response = urllib.request.urlopen(sys.argv[1], timeout=5)\n"
              "except urllib.error.HTTPError as error:\n"
              "    response = error\n"
              "print(response.status)\n"
              "print(response.read().decode(), end='')\n")
    result = docker("exec", container, "python3", "-c", script, url)
    status, body = result.stdout.split("\n", 1)
    return int(status), body


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.fail("Docker does not answer: run tests/testbed/setup.sh (it installs and starts it)")
    missing = [image for image in IMAGES.values() if docker("image", "inspect", image, check=False).returncode != 0]
    if missing:
        pytest.fail("images missing: %s; run tests/testbed/build-images.sh" % ", ".join(missing))

    root = tmp_path_factory.mktemp("immich-stack")
    # As the roles leave them on the SSD: the database's 999:999 0700, valkey's 999:999 0750.
    paths = {"db": root / "postgres", "redis": root / "redis", "media": root / "library"}
    for path, mode in ((paths["db"], 0o700), (paths["redis"], 0o750)):
        path.mkdir()
        os.chown(path, 999, 999)
        path.chmod(mode)
    # Media that is already there must stay as it is.
    (paths["media"] / "library").mkdir(parents=True)
    (paths["media"] / "library" / ".immich").write_text("seeded by the test\n")
    seeded_marker = (paths["media"] / "library" / ".immich").stat().st_ino
    (paths["media"] / "upload").mkdir()
    (paths["media"] / "upload" / "photo.jpg").write_bytes(b"\xff\xd8 not really a jpeg")

    prefix = "immich-pi-test-%s" % uuid.uuid4().hex[:8]
    stack = {"prefix": prefix, "network": prefix, "containers": [], "paths": paths, "seeded_marker": seeded_marker,
             "started_ms": int(time.time() * 1000)}
    docker("network", "create", "--driver", "bridge", "--internal", prefix)
    try:
        stack["database"] = run_container(stack, "database", IMAGES["database"], DATABASE_ENV,
                                          ["%s:/var/lib/postgresql/data" % paths["db"]])
        # Compose's healthcheck for its redis service.
        stack["redis"] = run_container(stack, "redis", IMAGES["redis"], volumes=["%s:/data" % paths["redis"]],
                                       extra=["--health-cmd", "redis-cli ping || exit 1"])
        stack["ml"] = run_container(stack, "immich-machine-learning", IMAGES["immich-machine-learning"])
        # Started with the others, as compose does: it has to wait for the database by itself.
        stack["server"] = run_container(stack, "immich-server", IMAGES["immich-server"], SERVER_ENV,
                                        ["%s:/data" % paths["media"]])
        stack["healthy_after"] = wait_healthy([stack["database"], stack["redis"], stack["ml"], stack["server"]])
        yield stack
    finally:
        for name in stack["containers"]:
            docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", prefix, check=False)


def test_all_four_healthy(stack):
    # wait_healthy() failed the fixture otherwise; this records how long it took.
    assert stack["healthy_after"] < HEALTHY_WAIT
    server_log = logs(stack["server"])
    assert "stand-in for ghcr.io/immich-app/immich-server: NOT Immich" in server_log
    assert "PostgreSQL at database:5432 (database immich, user postgres) answers" in server_log
    assert "redis at redis:6379 answers" in server_log
    assert "STAND-IN" in inspect(stack["server"], '{{ index .Config.Labels "org.opencontainers.image.description" }}')
    assert "STAND-IN" in inspect(stack["ml"], '{{ index .Config.Labels "org.opencontainers.image.description" }}')


def test_server_answers_over_the_network(stack):
    # From the machine-learning container, by compose's service name.
    assert http_get_from(stack["ml"], "http://immich-server:2283/api/server/ping") == (200, '{"res":"pong"}')
    status, body = http_get_from(stack["ml"], "http://immich-server:2283/api/server/version")
    assert status == 200 and "stand-in" in json.loads(body)["standIn"]
    assert http_get_from(stack["ml"], "http://immich-server:2283/api/assets")[0] == 404
    assert http_get_from(stack["server"], "http://immich-machine-learning:3003/ping") == (200, "pong")
    assert "GET /api/server/ping HTTP/1.1\" 200" in logs(stack["server"])


def test_database_has_immichs_extensions(stack):
    result = docker("exec", stack["database"], "psql", "-X", "-tA", "-h", "/run/postgresql", "-U", "postgres",
                    "-d", "immich", "-c", "SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1")
    extensions = dict(line.split(" ") for line in result.stdout.splitlines())
    assert {"vector", "cube", "earthdistance"} <= set(extensions)
    assert extensions["vector"] == "0.8.0"
    checksums = docker("exec", stack["database"], "psql", "-X", "-tA", "-h", "/run/postgresql", "-U", "postgres",
                       "-c", "SHOW data_checksums").stdout.strip()
    assert checksums == "on"  # POSTGRES_INITDB_ARGS reached initdb


def test_fresh_database_gets_the_schema_and_every_folder_verified(stack):
    # (a) Immich's first start: its migrations, then the folder checks record all six folders.
    assert query(stack, "SELECT to_regclass('public.kysely_migrations') IS NOT NULL") == "t"
    assert int(query(stack, "SELECT count(*) FROM kysely_migrations")) > 0
    assert system_flags(stack)["mountChecks"] == dict.fromkeys(MEDIA_FOLDERS, True)
    media = stack["paths"]["media"]
    for folder in MEDIA_FOLDERS:
        assert_fresh_timestamp(media / folder / ".immich", stack["started_ms"])
    server_log = logs(stack["server"])
    assert "Running migrations" in server_log and "Finished running migrations" in server_log
    assert "Successfully enabled system mount folders checks" in server_log


def test_existing_marker_is_overwritten_in_place(stack):
    # (d) library's marker was there before the first start: kept (the same file), its content
    # now the time Immich wrote into it; the other files of the media stay as they were.
    marker = stack["paths"]["media"] / "library" / ".immich"
    assert marker.stat().st_ino == stack["seeded_marker"]
    assert_fresh_timestamp(marker, stack["started_ms"])
    assert "Found existing mount file, skipping creation" in logs(stack["server"])
    assert (stack["paths"]["media"] / "upload" / "photo.jpg").read_bytes() == b"\xff\xd8 not really a jpeg"


def test_restored_database_refuses_a_verified_folder_without_its_marker(stack, tmp_path):
    # (b) The database came back from a backup saying thumbs was verified; the new disk's
    # thumbs has no marker. Immich refuses to start, and writes none there itself.
    copy_database(stack, "restored_thumbs", {"mountChecks": dict.fromkeys(MEDIA_FOLDERS, True)})
    media = media_with_markers(tmp_path / "media", {f: "1700000000000" for f in MEDIA_FOLDERS if f != "thumbs"})
    name = run_container(stack, "immich-server-restored", IMAGES["immich-server"],
                         dict(SERVER_ENV, DB_DATABASE_NAME="restored_thumbs"), ["%s:/data" % media], alias=False)
    assert wait_listening_or_exited(name) == "exited", logs(name)
    assert inspect(name, "{{.State.ExitCode}}") != "0"
    assert FAILED_TO_READ_THUMBS in logs(name)
    assert not (media / "thumbs" / ".immich").exists()
    assert system_flags(stack, "restored_thumbs")["mountChecks"] == dict.fromkeys(MEDIA_FOLDERS, True)

    # IMMICH_IGNORE_MOUNT_CHECK_ERRORS=true: the same error is logged and the start goes on,
    # still without a marker in thumbs.
    name = run_container(stack, "immich-server-ignoring", IMAGES["immich-server"],
                         dict(SERVER_ENV, DB_DATABASE_NAME="restored_thumbs", IMMICH_IGNORE_MOUNT_CHECK_ERRORS="true"),
                         ["%s:/data" % media], alias=False)
    assert wait_listening_or_exited(name) == "listening", logs(name)
    assert FAILED_TO_READ_THUMBS in logs(name) and "Ignoring mount folder errors" in logs(name)
    assert not (media / "thumbs" / ".immich").exists()


def test_folder_not_verified_yet_gets_its_marker_and_is_recorded(stack, tmp_path):
    # (c) system-flags without backups (as from an Immich before that folder existed); the
    # media has no backups folder at all. DB_VECTOR_EXTENSION unset: v3 picks pgvector here.
    flags = {"mountFiles": True, "mountChecks": {f: True for f in MEDIA_FOLDERS if f != "backups"}}
    copy_database(stack, "partly_verified", flags)
    media = media_with_markers(tmp_path / "media", {f: "1700000000000" for f in MEDIA_FOLDERS if f != "backups"})
    (media / "backups").rmdir()
    env = {key: value for key, value in SERVER_ENV.items() if key != "DB_VECTOR_EXTENSION"}
    started_ms = int(time.time() * 1000)
    name = run_container(stack, "immich-server-partly", IMAGES["immich-server"],
                         dict(env, DB_DATABASE_NAME="partly_verified"), ["%s:/data" % media], alias=False)
    assert wait_listening_or_exited(name) == "listening", logs(name)
    server_log = logs(name)
    assert "the database offers vector, so Immich v3 would use pgvector" in server_log
    assert "no migration to run" in server_log
    assert "Writing initial mount file for the backups folder" in server_log
    assert system_flags(stack, "partly_verified") == {"mountFiles": True,
                                                      "mountChecks": dict.fromkeys(MEDIA_FOLDERS, True)}
    for folder in MEDIA_FOLDERS:  # every marker read and rewritten, the new one included
        assert_fresh_timestamp(media / folder / ".immich", started_ms)


def test_data_directories_keep_their_owner_and_mode(stack):
    for key, mode in (("db", 0o700), ("redis", 0o750)):
        status = stack["paths"][key].stat()
        assert (status.st_uid, status.st_gid, status.st_mode & 0o7777) == (999, 999, mode), key
    assert (stack["paths"]["db"] / "PG_VERSION").read_text().strip() == "17"
    assert inspect(stack["database"], "{{.Config.User}}") == "postgres"
    assert docker("exec", stack["redis"], "id", "-u").stdout.strip() == "999"


def test_server_refuses_vectorchord(stack):
    name = run_container(stack, "immich-server-vchord", IMAGES["immich-server"],
                         dict(SERVER_ENV, DB_VECTOR_EXTENSION="vectorchord"),
                         ["%s:/data" % stack["paths"]["media"]], alias=False)
    deadline = time.monotonic() + EXIT_WAIT
    while inspect(name, "{{.State.Status}}") == "running" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert inspect(name, "{{.State.Status}}") == "exited", logs(name)
    assert inspect(name, "{{.State.ExitCode}}") != "0"
    assert inspect(name, "{{.State.Health.Status}}") != "healthy"
    assert "cannot provide VectorChord" in logs(name)


def test_standins_stop_cleanly_on_sigterm(stack):
    for name in (stack["server"], stack["ml"]):
        started = time.monotonic()
        docker("stop", "--time", "10", name)
        assert time.monotonic() - started < 3, name
        assert inspect(name, "{{.State.ExitCode}}") == "0", logs(name)
        assert "SIGTERM: stopping" in logs(name)
