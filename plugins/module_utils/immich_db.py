# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The "pgvector setup" of an Immich database: what Immich releases accept, the SQL that reads
a database's side of it, and the comparison of the two (pure functions, no I/O).

Terms: pgvector is the extension ``vector``, VectorChord is ``vchord`` (it needs ``vector``
and must be in ``shared_preload_libraries``), pgvecto.rs is ``vectors``. Immich's migrations
create the extensions themselves (``CREATE EXTENSION IF NOT EXISTS``, which installs the
extension's default version) when it starts against a database; a database where none of
the vector extensions is installed yet is "fresh": what matters there is whether the
extensions are AVAILABLE (their packages installed on the server) in accepted versions.
"""

from __future__ import annotations

import re
import typing as t

VECTOR_EXTENSIONS = ("vchord", "vectors", "vector")  # Immich's detection order
CHECKED_EXTENSIONS = ("vector", "vchord", "vectors", "earthdistance", "cube")
MODE_OF_EXTENSION = {"vchord": "vectorchord", "vectors": "pgvecto.rs", "vector": "pgvector"}
EXTENSION_OF_MODE = {mode: name for name, mode in MODE_OF_EXTENSION.items()}
NAME_OF_EXTENSION = {"vchord": "VectorChord", "vectors": "pgvecto.rs", "vector": "pgvector",
                     "earthdistance": "earthdistance", "cube": "cube"}
MIGRATION_DOC = "https://docs.immich.app/administration/postgres-standalone#migrating-to-vectorchord"

Version = t.Tuple[int, ...]
Range = t.Tuple[str, str]  # (lowest accepted, first not accepted)

# THE SUPPORTED RANGES, one entry per span of Immich releases: "since" is the first release of
# the span, "before" the first release after it (both exact tags). postgres: accepted majors
# (inclusive); vector/vchord/vectors: version ranges, lowest accepted and first refused;
# vchord None = VectorChord unknown to that release, vectors None = pgvecto.rs refused.
# Researched in the public sources named per entry (docs.immich.app, immich-app/immich
# server/src/constants.ts, the v3 migration post); releases outside every span are unknown.
# pgvector: the server code (VECTOR_VERSION_RANGE) accepts >=0.5 <1 in every release below;
# the docs ask for >=0.7.0 <1.0.0 since VectorChord (vchord builds on pgvector's types), and
# the stricter, documented bound is used from v1.133.0 on.
SUPPORTED_RANGES: tuple[dict[str, t.Any], ...] = (
    # v1.132.x, the last releases on pgvecto.rs alone. Source: immich-app/immich
    # server/src/constants.ts before VectorChord (POSTGRES_VERSION_RANGE '>=14.0.0',
    # VECTORS_VERSION_RANGE '>=0.2 <0.4', VECTOR_VERSION_RANGE '>=0.5 <1'); docs of that time
    # (postgres-standalone: "known to work with Postgres versions 14, 15, and 16").
    # Unconfirmed: that commit's exact release tag.
    dict(since="v1.132.0", before="v1.133.0", postgres=(14, 16),
         vector=("0.5.0", "1.0.0"), vchord=None, vectors=("0.2.0", "0.4.0")),
    # v1.133.0 (VectorChord introduced, pgvecto.rs deprecated: immich-app/immich#18042) and
    # v1.134.0. Source: docs postgres-standalone of that time ("Postgres >= 14, < 18",
    # "VectorChord >= 0.3.0, < 0.4.0", pgvector ">= 0.7.0, < 1.0.0"); immich-app/immich#18960
    # (v1.134.0 refuses VectorChord 0.4.x).
    dict(since="v1.133.0", before="v1.135.0", postgres=(14, 17),
         vector=("0.7.0", "1.0.0"), vchord=("0.3.0", "0.4.0"), vectors=("0.2.0", "0.4.0")),
    # v1.135.0 to v2.0.x. Source: release notes v1.135.0 as quoted in truenas/apps#2615 and
    # alexbelgium/hassio-addons#1921 (VectorChord 0.4.x accepted, 0.3.0 still supported);
    # docs postgres-standalone of that time ("VectorChord >= 0.3.0, < 0.5.0", "Postgres >= 14, < 18").
    dict(since="v1.135.0", before="v2.1.0", postgres=(14, 17),
         vector=("0.7.0", "1.0.0"), vchord=("0.3.0", "0.5.0"), vectors=("0.2.0", "0.4.0")),
    # v2.1.0 to v2.3.x. Source: immich-app/immich server/src/constants.ts of v2.x
    # (VECTORCHORD_VERSION_RANGE '>=0.3 <0.6', VECTORS_VERSION_RANGE '>=0.2 <0.4');
    # community-scripts/ProxmoxVE#8348 ("Immich v2.1.0 - VectorChord 0.5+ support"); docs
    # postgres-standalone ("Postgres >= 14, < 19"). Unconfirmed: the release that first knew
    # Postgres 18, and the last release before the widening to '<2' (immich-app/immich#23845);
    # v2.4.0 to v2.7.4 are therefore left out.
    dict(since="v2.1.0", before="v2.4.0", postgres=(14, 18),
         vector=("0.7.0", "1.0.0"), vchord=("0.3.0", "0.6.0"), vectors=("0.2.0", "0.4.0")),
    # v2.7.5, the last v2 release. Source: server/src/constants.ts of v2.7.5 as quoted in a
    # public deployment note (VECTORCHORD_VERSION_RANGE '>=0.3 <2', VECTORS_VERSION_RANGE '>=0.2 <0.4').
    dict(since="v2.7.5", before="v2.7.6", postgres=(14, 18),
         vector=("0.7.0", "1.0.0"), vchord=("0.3.0", "2.0.0"), vectors=("0.2.0", "0.4.0")),
    # v3.0.0 to v3.2.x: pgvecto.rs removed. Source: https://immich.app/blog/v3-migration
    # ("Support for pgvecto.rs has been removed in v3"), immich-app/immich#28159 (the server
    # still migrates a pgvecto.rs database to another extension at startup, but refuses
    # DB_VECTOR_EXTENSION=pgvecto.rs); server/src/constants.ts of v3.x
    # (VECTORCHORD_VERSION_RANGE '>=0.3 <2', no VECTORS_VERSION_RANGE); docs
    # postgres-standalone ("Postgres >= 14, < 19"). v3.2.2 confirmed by a public upgrade note
    # (ranges identical to v3.1.0).
    dict(since="v3.0.0", before="v3.3.0", postgres=(14, 18),
         vector=("0.7.0", "1.0.0"), vchord=("0.3.0", "2.0.0"), vectors=None),
)

# One psql call (or one psycopg query) reads everything; every row is four text columns:
# kind, name, value, extra. Superuser rights are needed for shared_preload_libraries.
_NAMES = ", ".join("'%s'" % name for name in CHECKED_EXTENSIONS)
QUERY = (
    "SELECT 'server', current_setting('server_version'), current_setting('server_version_num'), '' "
    "UNION ALL SELECT 'preload', current_setting('shared_preload_libraries'), '', '' "
    "UNION ALL SELECT 'installed', extname::text, extversion, '' FROM pg_extension WHERE extname IN (%s) "
    "UNION ALL SELECT 'available', v.name::text, v.version::text, coalesce(a.default_version::text, '') "
    "FROM pg_available_extension_versions v JOIN pg_available_extensions a ON a.name = v.name "
    "WHERE v.name IN (%s)" % (_NAMES, _NAMES)
)
FIELD_SEPARATOR = "\x1f"  # psql -F: cannot occur in versions or library names


class ParseError(ValueError):
    """The query's answer is not what QUERY returns."""


def parse_version(text: str) -> Version | None:
    """``0.8.0`` -> (0, 8, 0), ``17.6`` -> (17, 6), ``0.4.3-rc1`` -> (0, 4, 3); None if no number."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def _pad(version: Version, length: int = 3) -> Version:
    return version + (0,) * max(0, length - len(version))


def in_range(version: str, accepted: Range) -> bool:
    parsed = parse_version(version)
    if parsed is None:
        return False
    return _pad(parse_version(accepted[0]) or ()) <= _pad(parsed) < _pad(parse_version(accepted[1]) or ())


def describe_range(accepted: Range) -> str:
    return ">= %s, < %s" % accepted


def split_preload(value: str) -> list[str]:
    """``'pg_stat_statements, "vchord.so"'`` -> [``pg_stat_statements``, ``vchord.so``]."""
    return [item.strip().strip('"').strip() for item in (value or "").split(",") if item.strip().strip('"').strip()]


def library_name(entry: str) -> str:
    """``$libdir/vchord.so`` -> ``vchord``: the name a preload entry loads."""
    name = entry.rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".so") else name


def parse_psql_rows(text: str) -> list[tuple[str, ...]]:
    """Rows of ``psql -X -A -t -F <FIELD_SEPARATOR>`` output, four columns each."""
    rows = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        fields = tuple(line.split(FIELD_SEPARATOR))
        if len(fields) != 4:
            raise ParseError("unexpected psql output line: %r" % line[:200])
        rows.append(fields)
    return rows


def facts_from_rows(rows: t.Iterable[t.Sequence[t.Any]]) -> dict[str, t.Any]:
    """QUERY's rows -> server_version(_num), extensions, available_extensions, shared_preload_libraries."""
    facts: dict[str, t.Any] = dict(server_version=None, server_version_num=None, extensions={},
                                   available_extensions={}, shared_preload_libraries=[])
    for row in rows:
        if len(row) != 4:
            raise ParseError("unexpected row: %r" % (tuple(row),))
        kind, name, value, extra = ("" if field is None else str(field) for field in row)
        if kind == "server":
            facts["server_version"] = name.split()[0] if name.split() else name
            facts["server_version_num"] = int(value) if value.isdigit() else None
        elif kind == "preload":
            facts["shared_preload_libraries"] = split_preload(name)
        elif kind == "installed":
            facts["extensions"][name] = value
        elif kind == "available":
            entry = facts["available_extensions"].setdefault(name, dict(default_version=extra or None, versions=[]))
            if value not in entry["versions"]:
                entry["versions"].append(value)
        else:
            raise ParseError("unexpected row kind %r" % kind)
    if facts["server_version"] is None:
        raise ParseError("the answer has no server version row")
    for entry in facts["available_extensions"].values():
        entry["versions"].sort(key=lambda version: _pad(parse_version(version) or ()))
    return facts


def release_entry(release: str) -> dict[str, t.Any] | None:
    """The SUPPORTED_RANGES entry that covers an exact release tag such as ``v2.3.1``."""
    version = parse_version(release)
    if version is None or not re.match(r"^v?\d+\.\d+\.\d+$", release.strip()):
        return None
    for entry in SUPPORTED_RANGES:
        if _pad(parse_version(entry["since"]) or ()) <= _pad(version) < _pad(parse_version(entry["before"]) or ()):
            return entry
    return None


def known_releases() -> str:
    return ", ".join(
        "%s to %s" % (entry["since"], "before " + entry["before"]) for entry in SUPPORTED_RANGES
    )


def vector_mode(extensions: dict[str, str]) -> str | None:
    """The extension Immich uses: the first installed of vchord, vectors, vector (its order)."""
    for name in VECTOR_EXTENSIONS:
        if name in extensions:
            return MODE_OF_EXTENSION[name]
    return None


def _available_fix(name: str, accepted: Range, available: dict[str, t.Any]) -> str:
    entry = available.get(name)
    good = [version for version in (entry or {}).get("versions", []) if in_range(version, accepted)]
    if good:
        return "ALTER EXTENSION %s UPDATE TO '%s' (as a superuser in the Immich database)" % (name, good[-1])
    return "install %s %s in the database server (image), then ALTER EXTENSION %s UPDATE" % (
        NAME_OF_EXTENSION[name], describe_range(accepted), name)


def _check_available(name: str, accepted: Range, available: dict[str, t.Any], release: str) -> list[str]:
    """Fresh database: will Immich's CREATE EXTENSION (the default version) get an accepted one?"""
    label = NAME_OF_EXTENSION[name]
    entry = available.get(name)
    if not entry:
        return ["%s (extension %s) is not available in the database server, and Immich %s needs it %s: install it "
                "in the server (image) before Immich starts" % (label, name, release, describe_range(accepted))]
    default = entry.get("default_version")
    if default and in_range(default, accepted):
        return []
    good = [version for version in entry["versions"] if in_range(version, accepted)]
    if good:
        return ["%s's default version %s is outside %s for Immich %s, which creates the default version: create "
                "it first with CREATE EXTENSION %s VERSION '%s'"
                % (label, default, describe_range(accepted), release, name, good[-1])]
    return ["%s is available only in %s, outside %s for Immich %s: install %s %s in the server (image)"
            % (label, ", ".join(entry["versions"]) or "no version", describe_range(accepted), release, label,
               describe_range(accepted))]


def evaluate(facts: dict[str, t.Any], release: str, expected_mode: str | None = None) -> list[str]:
    """Problems (each with its fix) of a database read by QUERY for Immich ``release``.

    expected_mode is Immich's DB_VECTOR_EXTENSION as a mode (vectorchord, pgvector) or None
    to follow what is installed (on a fresh database: VectorChord when it is available,
    else pgvector - Immich's own detection).
    """
    problems: list[str] = []
    entry = release_entry(release)
    installed: dict[str, str] = facts.get("extensions") or {}
    available: dict[str, t.Any] = facts.get("available_extensions") or {}
    preload = [library_name(item) for item in facts.get("shared_preload_libraries") or []]
    if entry is None:
        return ["immich_version %s is not in the table of supported database ranges (it knows %s): check "
                "the release's database requirements by hand or update homelab.immich_pi" % (release, known_releases())]

    low, high = entry["postgres"]
    major = (parse_version(facts.get("server_version") or "") or (0,))[0]
    if not low <= major <= high:
        problems.append("Postgres %s is outside the majors %d to %d that Immich %s supports: move the database to "
                        "Postgres %d (dump and restore, or the image of the release's docker-compose.yml)"
                        % (facts.get("server_version"), low, high, release, high))

    mode = vector_mode(installed)
    fresh = mode is None

    if "vectors" in installed:
        if entry["vectors"] is None:
            problems.append(
                "pgvecto.rs (extension vectors %s) is still installed, and Immich %s dropped it: migrate to "
                "VectorChord on a release that still accepts pgvecto.rs (v1.133.0 to v2.x, with vchord.so and "
                "vectors.so both preloaded; Immich migrates at startup), then DROP EXTENSION vectors; DROP SCHEMA "
                "vectors; see %s" % (installed["vectors"], release, MIGRATION_DOC))
        elif not in_range(installed["vectors"], entry["vectors"]):
            problems.append("pgvecto.rs %s is outside %s for Immich %s: %s"
                            % (installed["vectors"], describe_range(entry["vectors"]), release,
                               _available_fix("vectors", entry["vectors"], available)))

    wanted = expected_mode
    if wanted is None:
        if not fresh:
            # A pgvecto.rs database on a release without it: the problem above says what to do.
            wanted = None if mode == "pgvecto.rs" and entry["vectors"] is None else mode
        elif entry["vchord"] is not None and "vchord" in available:
            wanted = "vectorchord"
        elif entry["vchord"] is None and "vectors" in available:
            wanted = "pgvecto.rs"
        else:
            wanted = "pgvector"

    if wanted == "vectorchord":
        if entry["vchord"] is None:
            problems.append("Immich %s does not know VectorChord: use pgvecto.rs or pgvector with it, or upgrade "
                            "Immich to v1.133.0 or later" % release)
        elif "vchord" in installed:
            if not in_range(installed["vchord"], entry["vchord"]):
                problems.append("VectorChord %s is outside %s for Immich %s: %s"
                                % (installed["vchord"], describe_range(entry["vchord"]), release,
                                   _available_fix("vchord", entry["vchord"], available)))
        else:
            problems.extend(_check_available("vchord", entry["vchord"], available, release))
        if entry["vchord"] is not None and "vchord" not in preload:
            problems.append("vchord is %s but not in shared_preload_libraries (%s): add vchord.so to "
                            "shared_preload_libraries in postgresql.conf and restart Postgres"
                            % ("installed" if "vchord" in installed else "required",
                               ", ".join(facts.get("shared_preload_libraries") or []) or "empty"))
    if wanted == "pgvecto.rs" and "vectors" not in installed and entry["vectors"] is not None:
        problems.extend(_check_available("vectors", entry["vectors"], available, release))
    if wanted == "pgvecto.rs" and entry["vectors"] is not None and "vectors" not in preload:
        problems.append("pgvecto.rs is in use but vectors.so is not in shared_preload_libraries: add it in "
                        "postgresql.conf and restart Postgres")

    # pgvector: used directly in pgvector mode, and a prerequisite of VectorChord.
    if wanted in ("pgvector", "vectorchord"):
        if "vector" in installed:
            if not in_range(installed["vector"], entry["vector"]):
                problems.append("pgvector %s is outside %s for Immich %s: %s"
                                % (installed["vector"], describe_range(entry["vector"]), release,
                                   _available_fix("vector", entry["vector"], available)))
        else:
            problems.extend(_check_available("vector", entry["vector"], available, release))

    for name in ("cube", "earthdistance"):
        if name in installed:
            continue
        if name not in available:
            problems.append("%s is not available in the database server: install the Postgres contrib "
                            "extensions (part of postgresql-NN on Debian, of the official images)" % name)
        elif not fresh:
            problems.append("%s is not installed although Immich has set up the database: CREATE EXTENSION IF "
                            "NOT EXISTS %s%s (as a superuser in the Immich database)"
                            % (name, name, " CASCADE" if name == "earthdistance" else ""))
    return problems
