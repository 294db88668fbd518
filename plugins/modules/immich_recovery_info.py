#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: immich_recovery_info
short_description: Check that a restored Immich database finds its files on disk
version_added: 0.1.0
description:
  - The checks after a recovery (a dead Pi replaced, Immich's database restored from a dump) -
    whether every generated file the database lists for its assets (thumbnails and previews by
    default) is on disk, and whether the smart search rows came back with the dump.
  - Runs one C(psql) inside the database container with C(docker exec), as the official compose
    file runs it (container C(immich_postgres)), over the container's local socket as the
    Postgres superuser; nothing is installed on the host.
  - Every path in the database starts with Immich's media location inside the server container
    (O(media_location)); the folder after it (C(upload), C(library), C(thumbs) ...) is looked up
    in O(media_folders) to find the file on the host. A path outside O(media_location), in a
    folder not in O(media_folders), or with a C(..) component counts as missing, with the reason.
  - Assets in Immich's trash (C(deletedAt) set) are left out.
  - Read-only; runs one C(SELECT) and reads file metadata.
author:
  - Immich Pi maintainers (@homelab)
options:
  container:
    description: The database container.
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
    description: The database user, connected over the container's local socket without a password.
    type: str
    default: postgres
  timeout:
    description:
      - Seconds the connection and the query may take together; C(docker exec) gets 5 more.
    type: int
    default: 30
  media_location:
    description:
      - Immich's C(IMMICH_MEDIA_LOCATION) inside the server container, an absolute path; every
        path in the database starts with it.
    type: str
    default: /data
  media_folders:
    description:
      - Immich's media folders (the first path component after O(media_location)) to the
        absolute host path where each of them lives on the Pi.
      - Paths in a folder that is not listed count as missing.
    type: dict
    required: true
  file_types:
    description:
      - The C(asset_file.type) values to check, such as V(thumbnail), V(preview) or V(fullsize).
      - RV(assets_with_all_files) counts the assets that have a file of every one of them.
    type: list
    elements: str
    default: [thumbnail, preview]
  examples:
    description: How many missing paths to return per file type in C(missing_examples).
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
requirements:
  - C(docker) on the managed host, and read access to the media folders.
notes:
  - For the Immich v3 schema (tables C(asset), C(asset_file), C(smart_search)); an older schema
    fails the query.
  - Immich generates no thumbnails and no search rows for hidden assets (the video part of live and
    motion photos), so a missing database row is reported only for the other assets; a missing
    file is reported for every asset.
  - Immich's I(Missing) mode of the thumbnail job goes by the database; when the database lists a
    file that is gone from disk, only the I(All) mode regenerates it.
seealso:
  - module: homelab.immich_pi.immich_db_info
"""

EXAMPLES = r"""
- name: Check the restored library
  homelab.immich_pi.immich_recovery_info:
    media_folders:
      upload: /mnt/azurephotos/originals/upload
      library: /mnt/azurephotos/originals/library
      profile: /mnt/azurephotos/originals/profile
      backups: /mnt/azurephotos/originals/backups
      thumbs: /mnt/ssd/immich/thumbs
      encoded-video: /mnt/ssd/immich/encoded-video
  register: recovery

- name: Report the post-recovery checks
  ansible.builtin.debug:
    msg: >-
      thumbnails present for {{ recovery.files.thumbnail.present }} of {{ recovery.files.thumbnail.expected }},
      {{ recovery.search_rows }} search rows for {{ recovery.assets }} assets

- name: Stop when files are missing
  ansible.builtin.assert:
    that: recovery.problems | length == 0
    fail_msg: "{{ recovery.problems | join('; ') }}"
"""

RETURN = r"""
assets:
  description: Assets not in the trash (C(asset) rows without C(deletedAt)).
  returned: always
  type: int
  sample: 500
hidden_assets:
  description:
    - Of RV(assets), the hidden ones (the video part of live and motion photos), for which Immich
      generates no thumbnails and no search rows.
  returned: always
  type: int
  sample: 12
files:
  description: Per checked file type, the files the database lists for the assets in RV(assets).
  returned: always
  type: dict
  sample: {"thumbnail": {"expected": 488, "present": 476, "missing": 12,
                         "missing_examples": ["/mnt/ssd/immich/thumbs/0f1e.../ab/cd/abcd..._thumbnail.webp"]},
           "preview": {"expected": 488, "present": 488, "missing": 0, "missing_examples": []}}
  contains:
    expected:
      description: Paths of this type in C(asset_file).
      type: int
      sample: 488
    present:
      description: Of them, the files found on the host (regular files).
      type: int
      sample: 476
    missing:
      description: Of them, the ones not found, or that cannot be placed on the host.
      type: int
      sample: 12
    missing_examples:
      description:
        - The first missing ones, up to O(examples), sorted - the host path, or the database path
          followed by the reason in parentheses when it cannot be placed on the host.
      type: list
      elements: str
      sample: ["/mnt/ssd/immich/thumbs/0f1e.../ab/cd/abcd..._thumbnail.webp",
               "/srv/old/thumbs/x_thumbnail.webp (outside media_location /data)"]
assets_with_all_files:
  description: Assets with a file of every one of O(file_types) in the database, all of them on disk.
  returned: always
  type: int
  sample: 476
search_rows:
  description: C(smart_search) rows of the assets in RV(assets).
  returned: always
  type: int
  sample: 488
problems:
  description: What is wrong, each with its consequence or fix; empty when the library is whole.
  returned: always
  type: list
  elements: str
  sample: ["12 of 500 assets have no thumbnail on disk (first: /mnt/ssd/immich/thumbs/0f1e.../ab/cd/abcd..._thumbnail.webp);
            Immich shows grey tiles until the thumbnail job regenerates them (run Generate Thumbnails for All:
            Missing goes by the database, which still lists these files)"]
"""

import os
import posixpath
import re
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.immich_pi.plugins.module_utils.docker_psql import (
    RECORD_SEPARATOR,
    PsqlOutputError,
    run_psql,
    split_rows,
)

# The Immich v3 schema, checked against immich-app/immich at commit
# 07d2d7bc21ea11826b9910060a496d5fa7aa8b27: server/src/schema/tables/asset.table.ts (table
# "asset": "id", "deletedAt" (the trash), "originalPath", "visibility" of asset_visibility_enum),
# server/src/schema/tables/asset-file.table.ts (table "asset_file": "assetId", "type", "path");
# server/src/schema/tables/smart-search.table.ts at 731f6211e993c5ed6cd0e8b892adf91eaf07d086
# (table "smart_search": "assetId", "embedding"); server/src/enum.ts at
# 0105c9e2b68b3f6aaa65e247a33c8f4192da273a (AssetFileType values fullsize, preview, thumbnail;
# AssetVisibility "hidden" is the video part of live and motion photos; StorageFolder names
# encoded-video, library, upload, profile, thumbs, backups).
FILE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")  # what may go into the query as a literal
GENERATED_BY_THUMBNAIL_JOB = ("thumbnail", "preview", "fullsize")
ROW_EXPECTED = ("thumbnail", "preview")  # every visible asset gets these; fullsize only RAW files
CONSEQUENCE = {
    "thumbnail": "Immich shows grey tiles until the thumbnail job regenerates them",
    "preview": "Immich shows no image when one is opened, and machine learning cannot read it, until the thumbnail "
               "job regenerates them",
    "fullsize": "Immich shows no full-size image of these RAW photos until the thumbnail job regenerates them",
}
REGENERATE_ALL = "run Generate Thumbnails for All: Missing goes by the database, which still lists these files"


class RecoveryQueryError(ValueError):
    """The query's answer is not what build_query returns."""


def build_query(file_types: t.Sequence[str]) -> str:
    """One SELECT of rows of four fields, the first naming the row:

    ``assets | <not in trash> | <of them hidden> |``,
    ``file | <type> | <asset id> | <path>`` per file of a checked type,
    ``norow | <type> | <visible assets without a file of that type> | <first original path>``,
    ``search | <smart_search rows> | <visible assets without one> | <first original path>``.
    """
    for file_type in file_types:
        if not FILE_TYPE_PATTERN.match(file_type):
            raise ValueError("file type %r is not a plain name" % file_type)
    types = ", ".join("'%s'" % file_type for file_type in file_types)
    values = ", ".join("('%s')" % file_type for file_type in file_types)
    return " ".join([
        'WITH live AS (SELECT id, visibility::text <> \'hidden\' AS shown, "originalPath" FROM asset',
        'WHERE "deletedAt" IS NULL)',
        "SELECT 'assets', count(*)::text, (count(*) FILTER (WHERE NOT shown))::text, '' FROM live",
        "UNION ALL",
        "SELECT 'file', f.type::text, f.\"assetId\"::text, f.path FROM asset_file f",
        'JOIN live ON live.id = f."assetId" WHERE f.type::text IN (%s)' % types,
        "UNION ALL",
        "SELECT 'norow', wanted.type, count(live.id)::text, coalesce(min(live.\"originalPath\"), '')",
        "FROM (VALUES %s) AS wanted(type) LEFT JOIN live ON live.shown AND NOT EXISTS" % values,
        '(SELECT 1 FROM asset_file f WHERE f."assetId" = live.id AND f.type::text = wanted.type)',
        "GROUP BY wanted.type",
        "UNION ALL",
        "SELECT 'search', count(s.\"assetId\")::text,",
        "(count(*) FILTER (WHERE live.shown AND s.\"assetId\" IS NULL))::text,",
        "coalesce(min(live.\"originalPath\") FILTER (WHERE live.shown AND s.\"assetId\" IS NULL), '')",
        'FROM live LEFT JOIN smart_search s ON s."assetId" = live.id',
    ])


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def host_path(path: str, media_location: str, media_folders: t.Mapping[str, str]) -> tuple[str | None, str | None]:
    """A database path (``/data/thumbs/<user>/ab/cd/x_thumbnail.webp``) -> (the host path, None),
    or (None, why it cannot be placed on the host). The path is normalised first (``//`` and
    ``.`` dropped); a ``..`` component is refused, so no path leaves its folder."""
    if not path:
        return None, "empty path"
    parts = _components(path)
    if ".." in parts:
        return None, "has a '..' component"
    location = _components(media_location)
    if not path.startswith("/") or parts[:len(location)] != location:
        return None, "outside media_location %s" % media_location
    rest = parts[len(location):]
    if not rest:
        return None, "is media_location itself"
    folder = rest[0]
    if folder not in media_folders:
        return None, "folder %s not in media_folders" % folder
    if len(rest) == 1:
        return None, "is the folder %s itself" % folder
    return posixpath.join(posixpath.normpath(media_folders[folder]), *rest[1:]), None


def _count(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RecoveryQueryError("%s is not a number: %r" % (what, text[:100])) from None


def parse_rows(rows: t.Iterable[t.Sequence[str]], file_types: t.Sequence[str]) -> dict[str, t.Any]:
    """The query's rows -> assets, hidden_assets, files (type -> [(asset id, path)]), norow
    (type -> (count, first original path)), search_rows, search_missing (count, first path)."""
    facts: dict[str, t.Any] = dict(assets=None, hidden_assets=0, files={name: [] for name in file_types},
                                   norow={name: (0, "") for name in file_types}, search_rows=None,
                                   search_missing=(0, ""))
    for row in rows:
        kind, first, second, third = row
        if kind == "assets":
            facts["assets"] = _count(first, "the asset count")
            facts["hidden_assets"] = _count(second, "the hidden asset count")
        elif kind == "file" and first in facts["files"]:
            facts["files"][first].append((second, third))
        elif kind == "norow" and first in facts["norow"]:
            facts["norow"][first] = (_count(second, "the count of assets without %s" % first), third)
        elif kind == "search":
            facts["search_rows"] = _count(first, "the smart_search count")
            facts["search_missing"] = (_count(second, "the count of assets without search rows"), third)
        else:
            raise RecoveryQueryError("unexpected row: %r" % (tuple(field[:100] for field in row),))
    if facts["assets"] is None or facts["search_rows"] is None:
        raise RecoveryQueryError("the answer has no %s row" % ("assets" if facts["assets"] is None else "search"))
    return facts


def check_files(facts: t.Mapping[str, t.Any], file_types: t.Sequence[str], media_location: str,
                media_folders: t.Mapping[str, str], examples: int,
                isfile: t.Callable[[str], bool] = os.path.isfile) -> dict[str, t.Any]:
    """The module's result (without ``changed``) from parse_rows' facts, checking each file with ``isfile``."""
    assets, hidden = facts["assets"], facts["hidden_assets"]
    visible = assets - hidden
    files: dict[str, dict[str, t.Any]] = {}
    problems: list[str] = []
    complete: set[str] | None = None
    for file_type in file_types:
        missing: list[str] = []
        unplaced: list[str] = []
        with_file: set[str] = set()
        without_file: set[str] = set()
        for asset_id, path in sorted(facts["files"][file_type], key=lambda item: item[1]):
            target, reason = host_path(path, media_location, media_folders)
            if target is None:
                unplaced.append("%s (%s)" % (path, reason))
                missing.append(unplaced[-1])
            elif isfile(target):
                with_file.add(asset_id)
                continue
            else:
                missing.append(target)
            without_file.add(asset_id)
        expected = len(facts["files"][file_type])
        files[file_type] = dict(expected=expected, present=expected - len(missing), missing=len(missing),
                                missing_examples=missing[:examples])
        with_file -= without_file
        complete = with_file if complete is None else complete & with_file
        if without_file:
            consequence = CONSEQUENCE.get(file_type, "Immich cannot serve them until its jobs regenerate them")
            if file_type in GENERATED_BY_THUMBNAIL_JOB:
                consequence += " (%s)" % REGENERATE_ALL
            problems.append("%d of %d assets have no %s on disk (first: %s); %s"
                            % (len(without_file), assets, file_type, missing[0], consequence))
        if unplaced:
            problems.append("%d %s paths cannot be placed on the host (first: %s): check media_location and "
                            "media_folders" % (len(unplaced), file_type, unplaced[0]))
        norow, first = facts["norow"][file_type]
        if norow and file_type in ROW_EXPECTED:
            problems.append("%d of %d visible assets have no %s in the database (first: %s); the Generate "
                            "Thumbnails job (Missing) creates them" % (norow, visible, file_type, first))
    search_missing, first = facts["search_missing"]
    if search_missing:
        problems.append("%d of %d visible assets have no smart search row (first: %s); smart search does not find "
                        "them until the Smart Search job runs (Missing)" % (search_missing, visible, first))
    if not assets:
        problems.insert(0, "the database has no assets (outside the trash): the restore did not bring the library "
                           "back, or this is not the restored database")
    return dict(assets=assets, hidden_assets=hidden, files=files, assets_with_all_files=len(complete or ()),
                search_rows=facts["search_rows"], problems=problems)


def check_options(params: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with the options, one sentence each."""
    errors = []
    if params["timeout"] <= 0:
        errors.append("timeout must be more than 0 seconds, got %d" % params["timeout"])
    if params["examples"] < 0:
        errors.append("examples must be 0 or more, got %d" % params["examples"])
    if not posixpath.isabs(params["media_location"]):
        errors.append("media_location must be an absolute path, got %r" % params["media_location"])
    if not params["media_folders"]:
        errors.append("media_folders must name at least one folder")
    for folder, path in sorted(params["media_folders"].items()):
        if not folder or "/" in folder or folder in (".", ".."):
            errors.append("media_folders: %r is not a folder name" % folder)
        if not isinstance(path, str) or not posixpath.isabs(path):
            errors.append("media_folders: the host path of %s must be an absolute path, got %r" % (folder, path))
    if not params["file_types"]:
        errors.append("file_types must name at least one type")
    for file_type in params["file_types"]:
        if not FILE_TYPE_PATTERN.match(file_type):
            errors.append("file_types: %r is not an asset_file type name" % file_type)
    return errors


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type="str", default="immich_postgres"),
            docker_bin=dict(type="str", default="docker"),
            database=dict(type="str", default="immich"),
            user=dict(type="str", default="postgres"),
            timeout=dict(type="int", default=30),
            media_location=dict(type="str", default="/data"),
            media_folders=dict(type="dict", required=True),
            file_types=dict(type="list", elements="str", default=["thumbnail", "preview"]),
            examples=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    errors = check_options(params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    file_types = list(dict.fromkeys(params["file_types"]))
    out, error = run_psql(module, params["container"], params["database"], params["user"], build_query(file_types),
                          params["timeout"], docker_bin=params["docker_bin"], record_separator=RECORD_SEPARATOR)
    facts = None
    if out is not None:
        try:
            facts = parse_rows(split_rows(out, 4, record_separator=RECORD_SEPARATOR), file_types)
        except (PsqlOutputError, RecoveryQueryError) as exc:
            error = str(exc)
    if facts is None:
        module.fail_json(msg="cannot query database %s as %s in container %s: %s"
                         % (params["database"], params["user"], params["container"], error))
    result = check_files(facts, file_types, params["media_location"], params["media_folders"], params["examples"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
