# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/docker_psql.py: the docker exec psql command line, the
runner's answers (with a stand-in module), and the splitting of psql's unaligned output as
PostgreSQL 17's psql writes it (captured from the test bed's postgres-pgvector:17 image)."""

from __future__ import annotations

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils.docker_psql import (
    FIELD_SEPARATOR,
    KILL_AFTER,
    RECORD_SEPARATOR,
    PsqlOutputError,
    plain_error,
    psql_command,
    run_psql,
    split_rows,
)

DOCKER = "/usr/bin/docker"
TIMEOUT_BIN = "/usr/bin/timeout"

# psql -X -q -A -t -F $'\x1f' -R $'\x1e' -c "select 'a', 'b' union all select 'c', E'd\ne'"
CAPTURED_WITH_RECORD_SEPARATOR = "a\x1fb\x1ec\x1fd\ne\n"
# the same without -R
CAPTURED_WITH_NEWLINES = "a\x1fb\nc\x1fd\n"


def test_command_plain():
    command, environ = psql_command(DOCKER, "immich_postgres", "immich", "postgres", "SELECT 1", 10)
    assert command == [DOCKER, "exec", "-e", "PGCONNECT_TIMEOUT=10", "-e", "PGOPTIONS=-c statement_timeout=10000",
                       "immich_postgres", "psql", "-X", "-q", "-A", "-t", "-F", FIELD_SEPARATOR,
                       "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "immich", "-c", "SELECT 1"]
    assert environ == {}


def test_command_with_everything():
    command, environ = psql_command(DOCKER, "db", "photos", "immich", "SELECT 2", 30, host="127.0.0.1", port=5433,
                                    password="s3cret", field_separator="|", record_separator=RECORD_SEPARATOR,
                                    timeout_bin=TIMEOUT_BIN)
    assert command[:4] == [TIMEOUT_BIN, "-k", str(KILL_AFTER), str(30 + KILL_AFTER)]
    assert command[4:6] == [DOCKER, "exec"]
    assert command[command.index("-F") + 1] == "|" and command[command.index("-R") + 1] == RECORD_SEPARATOR
    assert command[command.index("-h") + 1] == "127.0.0.1" and command[command.index("-p") + 1] == "5433"
    assert "PGOPTIONS=-c statement_timeout=30000" in command
    assert command[-2:] == ["-c", "SELECT 2"]
    assert "s3cret" not in " ".join(command) and environ == {"PGPASSWORD": "s3cret"}
    assert command[command.index("PGPASSWORD") - 1] == "-e"


class FakeModule:
    def __init__(self, answer, timeout_bin=None):
        self.answer, self.timeout_bin, self.calls = answer, timeout_bin, []

    def get_bin_path(self, name, required=False):
        return {"docker": DOCKER, "timeout": self.timeout_bin}.get(name)

    def run_command(self, args, **kwargs):
        self.calls.append((args, kwargs))
        return self.answer


def test_run_returns_stdout():
    module = FakeModule((0, CAPTURED_WITH_NEWLINES, ""))
    assert run_psql(module, "immich_postgres", "immich", "postgres", "SELECT 1", 10) == (CAPTURED_WITH_NEWLINES, None)
    args, kwargs = module.calls[0]
    assert args[0] == DOCKER and kwargs == {"environ_update": {}}


def test_run_timed_out():
    module = FakeModule((124, "", ""), timeout_bin=TIMEOUT_BIN)
    out, error = run_psql(module, "immich_postgres", "immich", "postgres", "SELECT 1", 10)
    assert out is None and error == "no answer from immich_postgres within %ds" % (10 + KILL_AFTER)
    assert module.calls[0][0][0] == TIMEOUT_BIN


def test_run_124_without_timeout_is_an_exit_code():
    out, error = run_psql(FakeModule((124, "", "")), "c", "immich", "postgres", "SELECT 1", 10)
    assert out is None and error == "exit code 124"


@pytest.mark.parametrize("answer, expected", [
    ((1, "", "Error response from daemon: No such container: immich_postgres\n"),
     "Error response from daemon: No such container: immich_postgres"),
    ((3, "", 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
             'No such file or directory\n\tIs the server running locally?\n'),
     'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory '
     'Is the server running locally?'),
    ((3, "", 'ERROR:  relation "asset" does not exist\nLINE 1: SELECT 1 FROM asset\n'),
     'ERROR:  relation "asset" does not exist LINE 1: SELECT 1 FROM asset'),
    ((2, "only on stdout\n", ""), "only on stdout"),
    ((137, "", ""), "exit code 137"),
])
def test_run_failures(answer, expected):
    assert run_psql(FakeModule(answer), "immich_postgres", "immich", "postgres", "SELECT 1", 10) == (None, expected)


@pytest.mark.parametrize("text, rc, expected", [
    ("psql: error: FATAL:  role \"x\" does not exist\n", 2, 'FATAL:  role "x" does not exist'),
    ("psql: could not connect\n", 2, "could not connect"),
    ("  \n", 1, "exit code 1"),
    (None, 5, "exit code 5"),
])
def test_plain_error(text, rc, expected):
    assert plain_error(text, rc) == expected


def test_split_with_record_separator_keeps_newlines_in_fields():
    assert split_rows(CAPTURED_WITH_RECORD_SEPARATOR, 2, record_separator=RECORD_SEPARATOR) == [
        ("a", "b"), ("c", "d\ne")]


def test_split_lines():
    assert split_rows(CAPTURED_WITH_NEWLINES + "\n", 2) == [("a", "b"), ("c", "d")]


@pytest.mark.parametrize("record_separator", [None, RECORD_SEPARATOR])
@pytest.mark.parametrize("text", ["", None])
def test_split_no_rows(text, record_separator):
    assert split_rows(text, 3, record_separator=record_separator) == []


def test_split_empty_fields_count():
    assert split_rows("x\x1f\x1f\x1ey\x1f1\x1f2\n", 3, record_separator=RECORD_SEPARATOR) == [
        ("x", "", ""), ("y", "1", "2")]


@pytest.mark.parametrize("record_separator", [None, RECORD_SEPARATOR])
def test_split_wrong_field_count(record_separator):
    with pytest.raises(PsqlOutputError, match=r"unexpected psql output row \(1 fields, expected 2\): 'garbage'"):
        split_rows("garbage\n", 2, record_separator=record_separator)
