# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive immich_db_info's main() with ansible-core's patch_module_args.

run_command answers as docker and psql do: the query's rows (as captured from the test bed's
PostgreSQL 17 + pgvector), a stopped container, a refused connection, a wrong password.
"""

from __future__ import annotations

import functools
import json

import pytest

from ansible.module_utils import basic

from ansible_collections.homelab.immich_pi.plugins.module_utils.immich_db import FIELD_SEPARATOR, QUERY
from ansible_collections.homelab.immich_pi.plugins.modules import immich_db_info
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner
from ansible_collections.homelab.immich_pi.tests.unit.plugins.module_utils.test_immich_db import (
    FRESH_PGVECTOR,
    PGVECTOR,
    VECTORCHORD,
)

DOCKER = "/usr/bin/docker"
NOT_RUNNING = "Error response from daemon: container 3f1c0d9e2b7a is not running\n"
REFUSED = ('psql: error: connection to server at "10.0.0.9", port 5432 failed: Connection refused\n'
           '\tIs the server running on that host and accepting TCP/IP connections?\n')
BAD_PASSWORD = ('psql: error: connection to server at "172.17.0.3", port 5432 failed: FATAL:  password '
                'authentication failed for user "postgres"\n')


def output(rows):
    return "\n".join(FIELD_SEPARATOR.join(row) for row in rows) + "\n"


def get_bin_path(module, name, required=False, opt_dirs=None):
    return {"docker": DOCKER}.get(name)  # no coreutils timeout: the plain command


class Commands:
    def __init__(self, monkeypatch, answer=(0, output(PGVECTOR), "")):
        self.answer = answer
        self.calls = []
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", self.run_command)

    def run_command(self, args, **kwargs):
        self.calls.append((args, kwargs))
        return self.answer


run_module = functools.partial(module_runner.run_module, immich_db_info)


def test_docker_path_healthy(monkeypatch, capsys):
    commands = Commands(monkeypatch)
    result = run_module(capsys, {"immich_version": "v3.1.0"})
    assert result["rc"] == 0 and result["changed"] is False
    assert result["reachable"] is True
    assert result["server_version"] == "17.11" and result["server_version_num"] == 170011
    assert result["vector_mode"] == "pgvector"
    assert result["extensions"] == {"vector": "0.8.0", "cube": "1.5", "earthdistance": "1.2"}
    assert result["problems"] == []
    assert result["supported"]["since"] == "v3.0.0"
    args, kwargs = commands.calls[0]
    assert args[:2] == [DOCKER, "exec"]
    assert args[args.index("-U") + 1] == "postgres" and args[args.index("-d") + 1] == "immich"
    assert "immich_postgres" in args and args[-1] == QUERY
    assert "-h" not in args


def test_password_never_on_the_command_line(monkeypatch, capsys):
    commands = Commands(monkeypatch)
    result = run_module(capsys, {"immich_version": "v3.1.0", "password": "s3cret-pw", "host": "127.0.0.1",
                                 "port": 5433, "container": "db"})
    assert result["rc"] == 0
    args, kwargs = commands.calls[0]
    assert "s3cret-pw" not in " ".join(args)
    assert kwargs["environ_update"] == {"PGPASSWORD": "s3cret-pw"}
    assert args[args.index("-h") + 1] == "127.0.0.1" and args[args.index("-p") + 1] == "5433"
    assert "s3cret-pw" not in json.dumps(result)


def test_check_mode_vectorchord(monkeypatch, capsys):
    Commands(monkeypatch, (0, output(VECTORCHORD), ""))
    result = run_module(capsys, {"immich_version": "v2.3.1", "_ansible_check_mode": True})
    assert result["rc"] == 0 and result["vector_mode"] == "vectorchord" and result["problems"] == []
    assert result["shared_preload_libraries"] == ["vchord.so"]


def test_fresh_database(monkeypatch, capsys):
    Commands(monkeypatch, (0, output(FRESH_PGVECTOR), ""))
    result = run_module(capsys, {"immich_version": "v3.1.0", "vector_extension": "pgvector"})
    assert result["vector_mode"] is None and result["extensions"] == {}
    assert result["available_extensions"]["vector"]["default_version"] == "0.8.0"
    assert result["problems"] == []


@pytest.mark.parametrize("stderr, rc, expected", [
    (NOT_RUNNING, 1, "Error response from daemon: container 3f1c0d9e2b7a is not running"),
    (REFUSED, 2, 'connection to server at "10.0.0.9", port 5432 failed: Connection refused Is the server running'),
    (BAD_PASSWORD, 2, 'FATAL:  password authentication failed for user "postgres"'),
    ("", 137, "exit code 137"),
])
def test_unreachable(monkeypatch, capsys, stderr, rc, expected):
    Commands(monkeypatch, (rc, "", stderr))
    result = run_module(capsys, {"immich_version": "v3.1.0"})
    assert result["rc"] == 0 and result["reachable"] is False
    assert len(result["problems"]) == 1
    problem = result["problems"][0]
    assert problem.startswith("cannot query database immich as postgres in container immich_postgres: ")
    assert expected in problem
    assert "Traceback" not in problem and "\n" not in problem


def test_unreachable_fails_with_fail_on_problems(monkeypatch, capsys):
    Commands(monkeypatch, (1, "", NOT_RUNNING))
    result = run_module(capsys, {"immich_version": "v3.1.0", "fail_on_problems": True})
    assert result["failed"] is True and result["rc"] == 1
    assert "is not running" in result["msg"] and "Traceback" not in result["msg"]


def test_garbage_output(monkeypatch, capsys):
    Commands(monkeypatch, (0, "something else\n", ""))
    result = run_module(capsys, {"immich_version": "v3.1.0"})
    assert result["reachable"] is False and "unexpected psql output line" in result["problems"][0]


def test_unknown_release(monkeypatch, capsys):
    Commands(monkeypatch)
    result = run_module(capsys, {"immich_version": "v9.9.9"})
    assert result["reachable"] is True and result["supported"] is None
    assert "not in the table" in result["problems"][0]


def test_timeout_must_be_positive(monkeypatch, capsys):
    Commands(monkeypatch)
    result = run_module(capsys, {"immich_version": "v3.1.0", "timeout": 0})
    assert result["failed"] is True and "timeout" in result["msg"]


class FakeCursor:
    def __init__(self, rows):
        self.rows = rows
        self.executed = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query):
        self.executed.append(query)

    def fetchall(self):
        return self.rows


class FakePsycopg:
    class Error(Exception):
        pass

    def __init__(self, rows=None, error=None):
        self.rows, self.error, self.kwargs = rows, error, None

    def connect(self, **kwargs):
        self.kwargs = kwargs
        if self.error:
            raise self.error
        fake = self

        class Connection:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def cursor(self):
                return FakeCursor(fake.rows)

        return Connection()


def test_psycopg_path(monkeypatch, capsys):
    fake = FakePsycopg(rows=[list(row) for row in VECTORCHORD])
    monkeypatch.setattr(immich_db_info, "psycopg", fake)
    result = run_module(capsys, {"immich_version": "v2.3.1", "method": "psycopg", "host": "db", "password": "pw"})
    assert result["rc"] == 0 and result["vector_mode"] == "vectorchord" and result["problems"] == []
    assert fake.kwargs["host"] == "db" and fake.kwargs["dbname"] == "immich" and fake.kwargs["connect_timeout"] == 10


def test_psycopg_error_is_plain(monkeypatch, capsys):
    fake = FakePsycopg(error=FakePsycopg.Error('connection failed: FATAL:  password authentication failed for user "x"'))
    monkeypatch.setattr(immich_db_info, "psycopg", fake)
    result = run_module(capsys, {"immich_version": "v2.3.1", "method": "psycopg", "host": "db"})
    assert result["reachable"] is False
    assert result["problems"] == ['cannot query database immich as postgres in db:5432: connection failed: FATAL:  '
                                  'password authentication failed for user "x"']


def test_psycopg_missing(monkeypatch, capsys):
    monkeypatch.setattr(immich_db_info, "psycopg", None)
    result = run_module(capsys, {"immich_version": "v2.3.1", "method": "psycopg", "host": "db"})
    assert result["failed"] is True and "psycopg" in result["msg"]


def test_psycopg_needs_host(monkeypatch, capsys):
    result = run_module(capsys, {"immich_version": "v2.3.1", "method": "psycopg"})
    assert result["failed"] is True and "host" in result["msg"]
