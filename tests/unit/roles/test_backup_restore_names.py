# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup and restore jobs' decisions that need no database: which names are backups,
which backups a release can run, how a backup is decoded and fed to psql, and how an error
is told in one line."""

from __future__ import annotations

import datetime
import os
import re

import pytest
import yaml
from ansible_collections.homelab.immich_pi.plugins.plugin_utils import immich_health
from ansible_collections.homelab.immich_pi.tests.unit.roles.backup_job_files import FILES, load

backup = load("immich_db_backup")
restore = load("immich_db_restore")
with open(os.path.join(FILES, "..", "vars", "main.yml"), encoding="utf-8") as role_vars:
    PREFLIGHT_PATTERN = yaml.safe_load(role_vars)["__backup_name_pattern"]

NAMES = [
    ("immich-db-20261122T033000Z-v3.2.2.sql.zst", True),
    ("immich-db-20261122T033000Z-v3.2.2.sql.gz", True),
    ("immich-db-20261122T033000Z-v10.22.333.sql.zst.age", True),
    ("immich-db-20261122T033000Z-manual-before-upgrade.sql", False),
    ("immich-db-20261122T033000Z-v3.2.2.sql", False),
    ("immich-db-20261122T033000Z-v3.2.sql.zst", False),
    ("immich-db-2026-11-22-v3.2.2.sql.zst", False),
    ("immich-db-notes.txt", False),
]


@pytest.mark.parametrize("name, ours", NAMES)
def test_the_job_the_restore_preflight_and_the_health_check_agree_on_what_a_backup_is(name, ours):
    """The name pattern lives in three places (the job on the Pi, the role's preflight, the
    health plugin on the controller); this keeps them in step."""
    assert (backup.backup_time("backup/" + name, "backup/") is not None) is ours
    assert (re.match(PREFLIGHT_PATTERN, name) is not None) is ours
    assert (re.match(PREFLIGHT_PATTERN, "backup/" + name) is not None) is ours
    assert (immich_health.BACKUP_NAME.fullmatch(name) is not None) is ours


@pytest.mark.parametrize("name, ours", [
    ("backup/immich-db-20261122T033000Z-v3.2.2.sql.zst", True),
    ("backup/immich-db-20261122T033000Z-v3.2.2.sql.gz.age", True),
    ("backup/immich-db-20261122T033000Z-manual-before-upgrade.sql", False),
    ("backup/immich-db-20261122T033000Z-v3.2.2.sql", False),
    ("backup/immich-db-notes.txt", False),
    ("other/immich-db-20261122T033000Z-v3.2.2.sql.zst", False),
])
def test_only_the_jobs_own_names_are_backups(name, ours):
    expected = datetime.datetime(2026, 11, 22, 3, 30, tzinfo=datetime.timezone.utc) if ours else None
    assert backup.backup_time(name, "backup/") == expected


@pytest.mark.parametrize("in_name, running, refused", [
    ("v3.2.2", "v3.2.2", False),
    ("v3.1.9", "v3.2.2", False),   # Immich migrates an older database forward
    ("v3.2.10", "v3.2.2", True),   # compared as numbers, not as text
    ("v4.0.0", "v3.2.2", True),
])
def test_a_backup_from_a_newer_release_is_refused(in_name, running, refused):
    name = "backup/immich-db-20261122T033000Z-%s.sql.zst" % in_name
    config = {"immich_version": running}
    if refused:
        with pytest.raises(restore.RestoreError, match="set immich_version to %s or newer" % in_name):
            restore.check_version(config, name)
    else:
        assert restore.check_version(config, name) == in_name


def test_an_encrypted_backup_needs_the_identity_and_is_decrypted_before_decompression():
    name = "backup/immich-db-20261122T033000Z-v3.2.2.sql.zst.age"
    with pytest.raises(restore.RestoreError, match="encrypted with age"):
        restore.decode_commands(name, "")
    commands = restore.decode_commands(name, "/run/identity")
    assert [command[0] for command in commands] == ["age", "zstd"]
    assert commands[0][-2:] == ["--identity", "/run/identity"]
    assert restore.decode_commands(name[:-len(".zst.age")] + ".gz", "")[0][0] == "gzip"
    with pytest.raises(restore.RestoreError, match="not a .sql.zst or .sql.gz"):
        restore.decode_commands("backup/dump.sql.xz", "")


@pytest.mark.parametrize("user, line", [("postgres", "DROP ROLE IF EXISTS postgres;"),
                                        ("Immich", 'DROP ROLE IF EXISTS "Immich";')])
def test_the_restore_leaves_out_exactly_its_own_role_and_stops_at_the_first_error(user, line):
    config = {"docker": "docker", "container": "immich_postgres", "db_user": user}
    commands = restore.restore_commands(config, "backup/immich-db-20261122T033000Z-v3.2.2.sql.zst", "")
    skip, psql = commands[-2], commands[-1]
    assert skip[:4] == ["grep", "--invert-match", "--line-regexp", "--fixed-strings"]
    assert line in skip and line.replace("DROP ROLE IF EXISTS", "CREATE ROLE") in skip
    assert psql[:5] == ["docker", "exec", "--interactive", "immich_postgres", "psql"]
    assert "ON_ERROR_STOP=1" in psql and psql[psql.index("--dbname") + 1] == "postgres"


@pytest.mark.parametrize("error, summary", [
    (TimeoutError(), "TimeoutError"),
    (OSError("   \n"), "OSError"),
    (ValueError("bad block\nsecond line"), "ValueError: bad block"),
    (backup.BackupError("nothing stored: zstd exited 1"), "BackupError: nothing stored: zstd exited 1"),
])
def test_an_error_is_told_in_one_line_even_without_a_message(error, summary):
    assert backup.error_summary(error) == summary
