# SPDX-License-Identifier: GPL-3.0-or-later
"""immich_db's parsing and evaluate() over SQL results.

The pgvector rows are what QUERY returned from the test bed's real PostgreSQL 17 + pgvector
(tests/integration/test_immich_db_info.py); the VectorChord and pgvecto.rs rows follow the
same shape with the versions of Immich's images (ghcr.io/immich-app/postgres:
14-vectorchord0.4.3-pgvectors0.2.0), which cannot be run here.
"""

from __future__ import annotations

import pytest

from ansible_collections.homelab.immich_pi.plugins.module_utils import immich_db
from ansible_collections.homelab.immich_pi.plugins.module_utils.immich_db import (
    FIELD_SEPARATOR,
    ParseError,
    evaluate,
    facts_from_rows,
    in_range,
    parse_psql_rows,
    release_entry,
    vector_mode,
)

SERVER_17 = ("server", "17.11 (Debian 17.11-0+deb13u1)", "170011", "")
AVAILABLE_TRIXIE = [
    ("available", "cube", "1.5", "1.5"), ("available", "cube", "1.4", "1.5"),
    ("available", "earthdistance", "1.2", "1.2"), ("available", "earthdistance", "1.1", "1.2"),
    ("available", "vector", "0.8.0", "0.8.0"),
]
CONTRIB_INSTALLED = [("installed", "cube", "1.5", ""), ("installed", "earthdistance", "1.2", "")]
FRESH_PGVECTOR = [SERVER_17, ("preload", "", "", "")] + AVAILABLE_TRIXIE
PGVECTOR = FRESH_PGVECTOR + [("installed", "vector", "0.8.0", "")] + CONTRIB_INSTALLED
VCHORD_AVAILABLE = [("available", "vchord", "0.4.3", "0.4.3"), ("available", "vchord", "0.4.2", "0.4.3"),
                    ("available", "vectors", "0.2.0", "0.2.0")]
VCHORD_INSTALLED = [("installed", "vector", "0.8.0", ""), ("installed", "vchord", "0.4.3", "")] + CONTRIB_INSTALLED
VECTORCHORD = [SERVER_17, ("preload", "vchord.so", "", "")] + AVAILABLE_TRIXIE + VCHORD_AVAILABLE + VCHORD_INSTALLED
PSQL_OUTPUT = "\n".join(FIELD_SEPARATOR.join(row) for row in PGVECTOR) + "\n"


def facts(rows):
    return facts_from_rows(rows)


def replace(rows, kind, name, value, extra=""):
    return [row for row in rows if row[:2] != (kind, name)] + [(kind, name, value, extra)]


def test_parse_psql_output():
    rows = parse_psql_rows(PSQL_OUTPUT)
    assert rows == [tuple(row) for row in PGVECTOR]
    parsed = facts(rows)
    assert parsed["server_version"] == "17.11"
    assert parsed["server_version_num"] == 170011
    assert parsed["extensions"] == {"vector": "0.8.0", "cube": "1.5", "earthdistance": "1.2"}
    assert parsed["available_extensions"]["cube"] == {"default_version": "1.5", "versions": ["1.4", "1.5"]}
    assert parsed["shared_preload_libraries"] == []


@pytest.mark.parametrize("value, expected", [
    ("vchord.so", ["vchord.so"]),
    ('pg_stat_statements, "vchord.so" ,vectors.so', ["pg_stat_statements", "vchord.so", "vectors.so"]),
    ("", []),
])
def test_preload_split(value, expected):
    assert facts([SERVER_17, ("preload", value, "", "")])["shared_preload_libraries"] == expected


@pytest.mark.parametrize("text", ["not a row", "a\x1fb\x1fc"])
def test_parse_rejects_other_output(text):
    with pytest.raises(ParseError):
        parse_psql_rows(text)


def test_rows_without_server_row():
    with pytest.raises(ParseError):
        facts([("preload", "", "", "")])


@pytest.mark.parametrize("version, accepted, expected", [
    ("0.8.0", ("0.7.0", "1.0.0"), True), ("0.6.2", ("0.7.0", "1.0.0"), False), ("0.5.3", ("0.3.0", "0.6.0"), True),
    ("1.0.0", ("0.3.0", "0.6.0"), False), ("0.4.3", ("0.3.0", "0.4.0"), False), ("garbage", ("0.3.0", "2.0.0"), False),
])
def test_in_range(version, accepted, expected):
    assert in_range(version, accepted) is expected


@pytest.mark.parametrize("release, since", [
    ("v1.132.3", "v1.132.0"), ("v1.134.0", "v1.133.0"), ("v2.0.1", "v1.135.0"), ("v2.3.1", "v2.1.0"),
    ("v2.7.5", "v2.7.5"), ("v3.1.0", "v3.0.0"), ("3.2.2", "v3.0.0"),
])
def test_release_entry(release, since):
    assert release_entry(release)["since"] == since


@pytest.mark.parametrize("release", ["v1.131.0", "v2.5.0", "v9.0.0", "latest", "v2", "release"])
def test_unknown_release(release):
    assert release_entry(release) is None
    problems = evaluate(facts(PGVECTOR), release)
    assert len(problems) == 1
    assert "not in the table" in problems[0] and "v3.0.0 to before v3.3.0" in problems[0]


def test_table_entries_are_well_formed():
    previous = None
    for entry in immich_db.SUPPORTED_RANGES:
        assert release_entry(entry["since"]) is entry
        assert previous is None or release_entry(previous["before"]) in (None, entry)
        previous = entry


def test_healthy_pgvector_mode():
    assert vector_mode(facts(PGVECTOR)["extensions"]) == "pgvector"
    assert evaluate(facts(PGVECTOR), "v3.1.0") == []
    assert evaluate(facts(PGVECTOR), "v2.3.1", "pgvector") == []


def test_healthy_vectorchord_mode():
    assert vector_mode(facts(VECTORCHORD)["extensions"]) == "vectorchord"
    assert evaluate(facts(VECTORCHORD), "v2.3.1") == []
    assert evaluate(facts(VECTORCHORD), "v3.1.0", "vectorchord") == []


def test_vchord_not_preloaded():
    rows = replace(VECTORCHORD, "preload", "pg_stat_statements", "")
    problems = evaluate(facts(rows), "v2.3.1")
    assert problems == ["vchord is installed but not in shared_preload_libraries (pg_stat_statements): add vchord.so "
                        "to shared_preload_libraries in postgresql.conf and restart Postgres"]


def test_vchord_preloaded_with_path():
    rows = replace(VECTORCHORD, "preload", '"$libdir/vchord"', "")
    assert evaluate(facts(rows), "v2.3.1") == []


def test_vchord_too_new_for_release():
    rows = replace(VECTORCHORD, "installed", "vchord", "0.4.3")
    problems = evaluate(facts(rows), "v1.134.0")
    assert len(problems) == 1
    assert problems[0].startswith("VectorChord 0.4.3 is outside >= 0.3.0, < 0.4.0 for Immich v1.134.0")
    assert "install VectorChord >= 0.3.0, < 0.4.0" in problems[0]


def test_vchord_update_from_available():
    rows = replace(VECTORCHORD, "installed", "vchord", "0.2.9")
    problems = evaluate(facts(rows), "v2.3.1")
    assert problems == ["VectorChord 0.2.9 is outside >= 0.3.0, < 0.6.0 for Immich v2.3.1: ALTER EXTENSION vchord "
                        "UPDATE TO '0.4.3' (as a superuser in the Immich database)"]


def test_leftover_pgvectors_on_release_that_dropped_it():
    rows = VECTORCHORD + [("installed", "vectors", "0.2.0", "")]
    rows = replace(rows, "preload", "vchord.so, vectors.so", "")
    assert evaluate(facts(rows), "v2.3.1") == []  # still accepted: mid-migration
    problems = evaluate(facts(rows), "v3.1.0")
    assert len(problems) == 1
    assert "pgvecto.rs (extension vectors 0.2.0) is still installed, and Immich v3.1.0 dropped it" in problems[0]
    assert "DROP EXTENSION vectors" in problems[0] and immich_db.MIGRATION_DOC in problems[0]


def test_pgvectors_only_database_on_v3():
    rows = [SERVER_17, ("preload", "vectors.so", "", ""), ("installed", "vectors", "0.2.0", "")] + CONTRIB_INSTALLED
    rows += AVAILABLE_TRIXIE + VCHORD_AVAILABLE
    assert vector_mode(facts(rows)["extensions"]) == "pgvecto.rs"
    problems = evaluate(facts(rows), "v3.0.0")
    assert len(problems) == 1 and "dropped it" in problems[0]
    assert evaluate(facts([("server", "16.9", "160009", "")] + rows[1:]), "v1.132.3") == []


def test_pgvector_too_old():
    rows = replace(PGVECTOR, "installed", "vector", "0.6.2")
    rows = [row for row in rows if row[:2] != ("available", "vector")] + [("available", "vector", "0.6.2", "0.6.2")]
    problems = evaluate(facts(rows), "v3.1.0")
    assert problems == ["pgvector 0.6.2 is outside >= 0.7.0, < 1.0.0 for Immich v3.1.0: install pgvector "
                        ">= 0.7.0, < 1.0.0 in the database server (image), then ALTER EXTENSION vector UPDATE"]


@pytest.mark.parametrize("server, release, fragment", [
    (("server", "19.0", "190000", ""), "v3.1.0", "Postgres 19.0 is outside the majors 14 to 18"),
    (("server", "13.16", "130016", ""), "v3.1.0", "Postgres 13.16 is outside the majors 14 to 18"),
    (("server", "17.11 (Debian 17.11-0+deb13u1)", "170011", ""), "v1.132.3", "Postgres 17.11 is outside the majors 14 to 16"),
])
def test_postgres_major_outside(server, release, fragment):
    rows = [server] + PGVECTOR[1:]
    problems = evaluate(facts(rows), release, "pgvector")
    assert len(problems) == 1 and problems[0].startswith(fragment)


def test_earthdistance_missing():
    rows = [row for row in PGVECTOR if row[:2] != ("installed", "earthdistance")]
    assert evaluate(facts(rows), "v3.1.0") == [
        "earthdistance is not installed although Immich has set up the database: CREATE EXTENSION IF NOT EXISTS "
        "earthdistance CASCADE (as a superuser in the Immich database)"]
    rows = [row for row in rows if row[1] not in ("earthdistance", "cube")]
    problems = evaluate(facts(rows), "v3.1.0")
    assert [problem.split(" ")[0] for problem in problems] == ["cube", "earthdistance"]
    assert all("not available" in problem for problem in problems)


def test_fresh_database_pgvector():
    parsed = facts(FRESH_PGVECTOR)
    assert vector_mode(parsed["extensions"]) is None
    assert parsed["available_extensions"]["vector"] == {"default_version": "0.8.0", "versions": ["0.8.0"]}
    # No vchord on the server: Immich detects pgvector, which is available in 0.8.0.
    assert evaluate(parsed, "v3.1.0") == []
    assert evaluate(parsed, "v3.1.0", "pgvector") == []


def test_fresh_database_vectorchord_required():
    problems = evaluate(facts(FRESH_PGVECTOR), "v3.1.0", "vectorchord")
    assert problems[0].startswith("VectorChord (extension vchord) is not available in the database server")
    assert problems[1].startswith("vchord is required but not in shared_preload_libraries (empty)")
    assert len(problems) == 2


def test_fresh_database_vectorchord_available():
    rows = FRESH_PGVECTOR + VCHORD_AVAILABLE
    rows = replace(rows, "preload", "vchord.so", "")
    assert evaluate(facts(rows), "v2.3.1") == []
    problems = evaluate(facts(rows), "v1.134.0")  # 0.4.3 by default, 0.4.2 the only other: both too new
    assert problems == ["VectorChord is available only in 0.4.2, 0.4.3, outside >= 0.3.0, < 0.4.0 for Immich v1.134.0: "
                        "install VectorChord >= 0.3.0, < 0.4.0 in the server (image)"]


def test_fresh_database_default_version_too_new():
    rows = FRESH_PGVECTOR + [("available", "vchord", "0.3.0", "0.4.3"), ("available", "vchord", "0.4.3", "0.4.3")]
    rows = replace(rows, "preload", "vchord.so", "")
    assert evaluate(facts(rows), "v1.134.0") == [
        "VectorChord's default version 0.4.3 is outside >= 0.3.0, < 0.4.0 for Immich v1.134.0, which creates the "
        "default version: create it first with CREATE EXTENSION vchord VERSION '0.3.0'"]


def test_fresh_database_pgvector_too_old_available():
    rows = [row for row in FRESH_PGVECTOR if row[1] != "vector"] + [("available", "vector", "0.6.2", "0.6.2")]
    problems = evaluate(facts(rows), "v3.1.0")
    assert problems == ["pgvector is available only in 0.6.2, outside >= 0.7.0, < 1.0.0 for Immich v3.1.0: install "
                        "pgvector >= 0.7.0, < 1.0.0 in the server (image)"]


def test_vectorchord_on_release_without_it():
    problems = evaluate(facts([("server", "16.9", "160009", "")] + VECTORCHORD[1:]), "v1.132.3")
    assert problems == ["Immich v1.132.3 does not know VectorChord: use pgvecto.rs or pgvector with it, or upgrade "
                        "Immich to v1.133.0 or later"]
