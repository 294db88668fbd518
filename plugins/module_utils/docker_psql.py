# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one SQL query with ``psql`` inside a database container (``docker exec``), as the official
Immich compose file runs it, and split psql's unaligned output into rows.

``psql -X -q -A -t``: no ~/.psqlrc, no notices, unaligned, tuples only; fields separated by
``-F`` and records by ``-R`` (a newline unless given; psql ends its output with a newline
either way). ``ON_ERROR_STOP`` makes a failing statement a non-zero exit. The connection and the
statement are bounded by PGCONNECT_TIMEOUT and statement_timeout, and the whole ``docker exec``
by coreutils ``timeout -k`` when the host has it: a hung docker daemon must not hang the play.
"""

from __future__ import annotations

import typing as t

FIELD_SEPARATOR = "\x1f"  # ASCII unit separator
RECORD_SEPARATOR = "\x1e"  # ASCII record separator: lets a field hold a newline
KILL_AFTER = 5  # seconds ``timeout`` waits past the query timeout, and then after TERM before KILL


class PsqlOutputError(ValueError):
    """psql's output does not have the expected number of fields per row."""


def plain_error(text: str, rc: int) -> str:
    """psql's or docker's stderr as one line (``psql: error: `` dropped), or the exit code."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    message = " ".join(lines)
    for prefix in ("psql: error: ", "psql: "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message or "exit code %d" % rc


def psql_command(docker: str, container: str, database: str, user: str, query: str, timeout: int,
                 host: str | None = None, port: int = 5432, password: str | None = None,
                 field_separator: str = FIELD_SEPARATOR, record_separator: str | None = None,
                 timeout_bin: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The argument list of ``docker exec <container> psql ... -c <query>`` and the environment
    to add for it. A password goes into docker's environment and reaches psql as ``-e
    PGPASSWORD`` (by name only), never on a command line."""
    command = [docker, "exec", "-e", "PGCONNECT_TIMEOUT=%d" % timeout,
               "-e", "PGOPTIONS=-c statement_timeout=%d" % (timeout * 1000)]
    environ = {}
    if password is not None:
        command += ["-e", "PGPASSWORD"]
        environ["PGPASSWORD"] = password
    command += [container, "psql", "-X", "-q", "-A", "-t", "-F", field_separator]
    if record_separator is not None:
        command += ["-R", record_separator]
    command += ["-v", "ON_ERROR_STOP=1", "-U", user, "-d", database]
    if host:
        command += ["-h", host, "-p", str(port)]
    command += ["-c", query]
    if timeout_bin:
        command = [timeout_bin, "-k", str(KILL_AFTER), str(timeout + KILL_AFTER)] + command
    return command, environ


def run_psql(module: t.Any, container: str, database: str, user: str, query: str, timeout: int,
             docker_bin: str = "docker", host: str | None = None, port: int = 5432, password: str | None = None,
             field_separator: str = FIELD_SEPARATOR,
             record_separator: str | None = None) -> tuple[str | None, str | None]:
    """Run ``query`` with psql in ``container`` through ``module.run_command``: (stdout, None),
    or (None, the reason in one line). Fails the module when the docker client is not found."""
    docker = module.get_bin_path(docker_bin, required=True)
    timeout_bin = module.get_bin_path("timeout")
    command, environ = psql_command(docker, container, database, user, query, timeout, host=host, port=port,
                                    password=password, field_separator=field_separator,
                                    record_separator=record_separator, timeout_bin=timeout_bin)
    rc, out, err = module.run_command(command, environ_update=environ)
    if rc == 124 and timeout_bin:
        return None, "no answer from %s within %ds" % (container, timeout + KILL_AFTER)
    if rc != 0:
        return None, plain_error(err or out, rc)
    return out, None


def split_rows(text: str, columns: int, field_separator: str = FIELD_SEPARATOR,
               record_separator: str | None = None) -> list[tuple[str, ...]]:
    """Rows of ``columns`` fields each from psql's unaligned, tuples-only output. With a
    record separator, only psql's final newline is dropped (a field may hold newlines); without
    one, every line is a row and blank lines are skipped."""
    text = text or ""
    if record_separator is None:
        records = [line for line in text.splitlines() if line.strip()]
    else:
        if text.endswith("\n"):
            text = text[:-1]
        records = text.split(record_separator) if text else []
    rows = []
    for record in records:
        fields = tuple(record.split(field_separator))
        if len(fields) != columns:
            raise PsqlOutputError("unexpected psql output row (%d fields, expected %d): %r"
                                  % (len(fields), columns, record[:200]))
        rows.append(fields)
    return rows
