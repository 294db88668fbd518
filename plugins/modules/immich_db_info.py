#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: immich_db_info
short_description: Check the pgvector setup of an Immich database
version_added: 0.1.0
description:
  - Reads the Postgres server version, the installed and available versions of the
    extensions Immich needs (C(vector) pgvector, C(vchord) VectorChord, C(vectors) pgvecto.rs,
    C(earthdistance), C(cube)) and C(shared_preload_libraries), and checks them against the
    ranges the Immich release O(immich_version) supports.
  - By default it runs C(psql) inside the database container with C(docker exec), as the
    official compose file runs it (container C(immich_postgres)); nothing is installed on the
    host. With O(method=psycopg) it connects directly with the Python library C(psycopg).
  - A B(fresh) database is one where Immich has not created a vector extension yet (it creates
    them with C(CREATE EXTENSION) in its first migrations, in the extension's default
    version). There the check is whether the extensions are B(available) on the server in
    accepted versions, which decides whether those migrations will succeed; RV(vector_mode) is
    V(null).
  - The supported ranges per Immich release are a table in C(module_utils/immich_db.py), each
    entry with its public source; a release outside the table is reported as a problem.
  - Read-only; runs one C(SELECT).
author:
  - Immich Pi maintainers (@homelab)
options:
  immich_version:
    description:
      - The Immich release the database is for, an exact release tag such as V(v2.3.1).
    type: str
    required: true
  vector_extension:
    description:
      - The vector extension Immich is set to use, as Immich's C(DB_VECTOR_EXTENSION).
      - V(pgvector) accepts a database without VectorChord.
      - Omitted, the installed one counts (Immich's detection); on a fresh database VectorChord
        when it is available, else pgvector.
    type: str
    choices: [vectorchord, pgvector]
  method:
    description:
      - V(docker) runs C(psql) in O(container) with C(docker exec).
      - V(psycopg) connects to O(host) and O(port) with the Python library C(psycopg) on the
        managed host.
    type: str
    choices: [docker, psycopg]
    default: docker
  container:
    description: The database container, for O(method=docker).
    type: str
    default: immich_postgres
  docker_bin:
    description: The docker client, a name looked up in C(PATH) or a path.
    type: str
    default: docker
  database:
    description: The Immich database (C(DB_DATABASE_NAME)).
    type: str
    default: immich
  user:
    description: The database user; reading C(shared_preload_libraries) needs a superuser.
    type: str
    default: postgres
  host:
    description:
      - Server to connect to. With O(method=docker), passed to C(psql -h) inside the container
        (omitted, psql uses the container's local socket); required with O(method=psycopg).
    type: str
  port:
    description: Server port.
    type: int
    default: 5432
  password:
    description:
      - Password of O(user). With O(method=docker) it reaches C(psql) as C(PGPASSWORD) through
        the environment of C(docker exec), not on its command line.
    type: str
  timeout:
    description:
      - Seconds the connection and the query may take together.
    type: int
    default: 10
  fail_on_problems:
    description: Fail when RV(problems) is not empty, with the problems as the message.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
requirements:
  - C(docker) on the managed host for O(method=docker); C(psycopg) (3) for O(method=psycopg).
notes:
  - VectorChord needs C(vchord.so) in C(shared_preload_libraries), which takes a Postgres restart.
  - pgvecto.rs was removed in Immich v3; a database still holding it is migrated to VectorChord
    by a release that knows both (v1.133.0 to v2.x) with both libraries preloaded.
seealso:
  - name: Pre-existing Postgres
    description: Immich's database requirements.
    link: https://docs.immich.app/administration/postgres-standalone
"""

EXAMPLES = r"""
- name: Check the database of the Immich stack
  homelab.immich_pi.immich_db_info:
    immich_version: v2.3.1
  register: immich_db

- name: Stop before upgrading Immich when the database is not ready for the new release
  homelab.immich_pi.immich_db_info:
    immich_version: v3.0.0
    fail_on_problems: true

- name: A Postgres with pgvector only (DB_VECTOR_EXTENSION=pgvector), reached over TCP
  homelab.immich_pi.immich_db_info:
    immich_version: v2.3.1
    vector_extension: pgvector
    method: psycopg
    host: 127.0.0.1
    port: 5432
    user: postgres
    password: "{{ immich_db_password }}"
"""

RETURN = r"""
reachable:
  description: Whether the query ran; V(false) with the reason in RV(problems) when it did not.
  returned: always
  type: bool
  sample: true
server_version:
  description: The Postgres server version without the distribution suffix, V(null) when unreachable.
  returned: always
  type: str
  sample: "17.6"
server_version_num:
  description: C(server_version_num), V(null) when unreachable.
  returned: always
  type: int
  sample: 170006
extensions:
  description: Installed extensions among C(vector), C(vchord), C(vectors), C(earthdistance), C(cube), name to version.
  returned: always
  type: dict
  sample: {"vector": "0.8.0", "cube": "1.5", "earthdistance": "1.2"}
available_extensions:
  description: The same extensions available on the server, with the default version and every installable version.
  returned: always
  type: dict
  sample: {"vector": {"default_version": "0.8.0", "versions": ["0.1.0", "0.7.4", "0.8.0"]},
           "cube": {"default_version": "1.5", "versions": ["1.0", "1.5"]},
           "earthdistance": {"default_version": "1.2", "versions": ["1.0", "1.1", "1.2"]}}
  contains:
    default_version:
      description: The version C(CREATE EXTENSION) installs, the one Immich gets.
      type: str
      sample: "0.8.0"
    versions:
      description: Every version the server can install or update to, lowest first.
      type: list
      elements: str
      sample: ["0.7.4", "0.8.0"]
shared_preload_libraries:
  description: The entries of C(shared_preload_libraries).
  returned: always
  type: list
  elements: str
  sample: ["vchord.so"]
vector_mode:
  description:
    - The vector extension Immich uses, from what is installed - C(vectorchord), C(pgvecto.rs) or
      C(pgvector) - V(null) on a fresh database (none installed yet) or when unreachable.
  returned: always
  type: str
  sample: pgvector
supported:
  description: The table entry used for O(immich_version), V(null) for a release outside the table.
  returned: always
  type: dict
  sample: {"since": "v2.1.0", "before": "v2.4.0", "postgres": [14, 18], "vector": ["0.7.0", "1.0.0"],
           "vchord": ["0.3.0", "0.6.0"], "vectors": ["0.2.0", "0.4.0"]}
problems:
  description: What is wrong, each with the fix; empty when the database suits the release.
  returned: always
  type: list
  elements: str
  sample: ["vchord is installed but not in shared_preload_libraries (empty): add vchord.so to shared_preload_libraries in postgresql.conf and restart Postgres"]
"""

import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.homelab.immich_pi.plugins.module_utils.docker_psql import plain_error, run_psql
from ansible_collections.homelab.immich_pi.plugins.module_utils.immich_db import (
    FIELD_SEPARATOR,
    QUERY,
    ParseError,
    evaluate,
    facts_from_rows,
    parse_psql_rows,
    release_entry,
    vector_mode,
)

PSYCOPG_IMPORT_ERROR: str | None
try:
    import psycopg  # type: ignore[import-not-found]
except ImportError:
    psycopg = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None


def docker_query(module: AnsibleModule) -> tuple[list[tuple[str, ...]] | None, str | None]:
    params = module.params
    out, error = run_psql(module, params["container"], params["database"], params["user"], QUERY, params["timeout"],
                          docker_bin=params["docker_bin"], host=params["host"], port=params["port"],
                          password=params["password"], field_separator=FIELD_SEPARATOR)
    if out is None:
        return None, error
    try:
        return parse_psql_rows(out), None
    except ParseError as exc:
        return None, str(exc)


def psycopg_query(module: AnsibleModule) -> tuple[list[tuple[str, ...]] | None, str | None]:
    params = module.params
    if psycopg is None:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=PSYCOPG_IMPORT_ERROR)
    try:
        with psycopg.connect(host=params["host"], port=params["port"], dbname=params["database"],
                             user=params["user"], password=params["password"], connect_timeout=params["timeout"],
                             options="-c statement_timeout=%d" % (params["timeout"] * 1000)) as connection:
            with connection.cursor() as cursor:
                cursor.execute(QUERY)
                return [tuple(row) for row in cursor.fetchall()], None
    except psycopg.Error as exc:
        return None, plain_error(str(exc), 1)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            immich_version=dict(type="str", required=True),
            vector_extension=dict(type="str", choices=["vectorchord", "pgvector"]),
            method=dict(type="str", choices=["docker", "psycopg"], default="docker"),
            container=dict(type="str", default="immich_postgres"),
            docker_bin=dict(type="str", default="docker"),
            database=dict(type="str", default="immich"),
            user=dict(type="str", default="postgres"),
            host=dict(type="str"),
            port=dict(type="int", default=5432),
            password=dict(type="str", no_log=True),
            timeout=dict(type="int", default=10),
            fail_on_problems=dict(type="bool", default=False),
        ),
        required_if=[("method", "psycopg", ("host",))],
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be more than 0 seconds, got %d" % params["timeout"])
    entry = release_entry(params["immich_version"])
    result: dict[str, t.Any] = dict(
        changed=False, reachable=False, server_version=None, server_version_num=None, extensions={},
        available_extensions={}, shared_preload_libraries=[], vector_mode=None,
        supported=dict(entry) if entry else None, problems=[],
    )
    query = docker_query if params["method"] == "docker" else psycopg_query
    rows, error = query(module)
    if rows is not None:
        try:
            facts = facts_from_rows(rows)
        except ParseError as exc:
            rows, error = None, str(exc)
    if rows is None:
        where = ("container %s" % params["container"]) if params["method"] == "docker" else \
            ("%s:%d" % (params["host"], params["port"]))
        result["problems"] = [
            "cannot query database %s as %s in %s: %s" % (params["database"], params["user"], where, error)
        ]
    else:
        result.update(facts, reachable=True, vector_mode=vector_mode(facts["extensions"]))
        result["problems"] = evaluate(facts, params["immich_version"], params["vector_extension"])
    if params["fail_on_problems"] and result["problems"]:
        module.fail_json(msg="; ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
