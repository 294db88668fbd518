# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive immich_recovery_info's main() with ansible-core's patch_module_args.

run_command answers as docker and psql do. CAPTURED is the module's query answered by the test
bed's PostgreSQL 17 (postgres-pgvector:17) holding the Immich v3 tables asset, asset_file and
smart_search with six assets: a1 and a2 complete; a3 (archived) without a search row; a4 the
hidden video of a live photo (no files, no search row); a5 without a preview row and without a
search row; a6 in the trash. The media folders are directories under tmp_path.
"""

from __future__ import annotations

import functools
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.homelab.immich_pi.plugins.module_utils.docker_psql import FIELD_SEPARATOR, RECORD_SEPARATOR
from ansible_collections.homelab.immich_pi.plugins.modules import immich_recovery_info
from ansible_collections.homelab.immich_pi.plugins.modules.immich_recovery_info import build_query, host_path
from ansible_collections.homelab.immich_pi.tests.unit.plugins import module_runner

DOCKER = "/usr/bin/docker"
USER = "0f1e2d3c-0000-4000-8000-00000000000a"
THUMBS = "/data/thumbs/%s" % USER
A1 = "a1000000-0000-4000-8000-000000000001"
A2 = "a2000000-0000-4000-8000-000000000002"
A3 = "a3000000-0000-4000-8000-000000000003"
A5 = "a5000000-0000-4000-8000-000000000005"

CAPTURED = (
    "assets\x1f5\x1f1\x1f\x1e"
    "file\x1fthumbnail\x1fa1000000-0000-4000-8000-000000000001\x1f/data/thumbs/0f1e2d3c-0000-4000-8000-00000000000a/"
    "a1/00/a1000000-0000-4000-8000-000000000001_thumbnail.webp\x1e"
    "file\x1fthumbnail\x1fa2000000-0000-4000-8000-000000000002\x1f/data/thumbs/0f1e2d3c-0000-4000-8000-00000000000a/"
    "a2/00/a2000000-0000-4000-8000-000000000002_thumbnail.webp\x1e"
    "file\x1fthumbnail\x1fa3000000-0000-4000-8000-000000000003\x1f/data/thumbs/0f1e2d3c-0000-4000-8000-00000000000a/"
    "a3/00/a3000000-0000-4000-8000-000000000003_thumbnail.webp\x1e"
    "file\x1fthumbnail\x1fa5000000-0000-4000-8000-000000000005\x1f/data/thumbs/0f1e2d3c-0000-4000-8000-00000000000a/"
    "a5/00/a5000000-0000-4000-8000-000000000005_thumbnail.webp\x1e"
    "file\x1fpreview\x1fa1000000-0000-4000-8000-000000000001\x1f/data/thumbs/0f1e2d3c-0000-4000-8000-00000000000a/"
    "a1/00/a1000000-0000-4000-8000-000000000001_preview.jpeg\x1e"
    "file\x1fpreview\x1fa2000000-0000-4000-8000-000000000002\x1f/data/thumbs/0f1e2d3c-0000-4000-8000-00000000000a/"
    "a2/00/a2000000-0000-4000-8000-000000000002_preview.jpeg\x1e"
    "file\x1fpreview\x1fa3000000-0000-4000-8000-000000000003\x1f/data/thumbs/0f1e2d3c-0000-4000-8000-00000000000a/"
    "a3/00/a3000000-0000-4000-8000-000000000003_preview.jpeg\x1e"
    "norow\x1fpreview\x1f1\x1f/data/upload/0f1e2d3c-0000-4000-8000-00000000000a/a5/00/"
    "a5000000-0000-4000-8000-000000000005.jpg\x1e"
    "norow\x1fthumbnail\x1f0\x1f\x1e"
    "search\x1f2\x1f2\x1f/data/library/admin/2024/2024-06-01/IMG_0003.jpg\n"
)
THUMBNAILS = ["%s/%s/00/%s_thumbnail.webp" % (THUMBS, asset[:2], asset) for asset in (A1, A2, A3, A5)]
PREVIEWS = ["%s/%s/00/%s_preview.jpeg" % (THUMBS, asset[:2], asset) for asset in (A1, A2, A3)]

NOT_RUNNING = "Error response from daemon: container 3f1c0d9e2b7a is not running\n"
OLD_SCHEMA = 'ERROR:  relation "asset" does not exist\nLINE 1: ...den\' AS shown, "originalPath" FROM asset WHERE...\n'


def output(rows):
    return RECORD_SEPARATOR.join(FIELD_SEPARATOR.join(row) for row in rows) + "\n"


def healthy(assets, file_types=("thumbnail", "preview"), with_fullsize=()):
    """The answer for ``assets`` visible assets, each with a thumbnail, a preview and a search row,
    those in ``with_fullsize`` with a fullsize file too."""
    rows = [("assets", str(len(assets)), "0", "")]
    for file_type in file_types:
        if file_type == "fullsize":
            rows += [("file", "fullsize", asset, "%s/%s/00/%s_fullsize.jpeg" % (THUMBS, asset[:2], asset))
                     for asset in with_fullsize]
            rows += [("norow", "fullsize", str(len(assets) - len(with_fullsize)), "")]
        else:
            rows += [("file", file_type, asset, "%s/%s/00/%s_%s.webp" % (THUMBS, asset[:2], asset, file_type))
                     for asset in assets]
            rows += [("norow", file_type, "0", "")]
    rows += [("search", str(len(assets)), "0", "")]
    return output(rows)


def get_bin_path(module, name, required=False, opt_dirs=None):
    return {"docker": DOCKER}.get(name)  # no coreutils timeout: the plain command


class Commands:
    def __init__(self, monkeypatch, answer=(0, CAPTURED, "")):
        self.answer = answer
        self.calls = []
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", self.run_command)

    def run_command(self, args, **kwargs):
        self.calls.append((args, kwargs))
        return self.answer


run_module = functools.partial(module_runner.run_module, immich_recovery_info)


@pytest.fixture
def media(tmp_path):
    """media_folders under tmp_path, and a function that puts a database path's file there."""
    folders = {name: str(tmp_path / "host" / name) for name in ("upload", "library", "thumbs", "encoded-video")}
    folders["profile"] = str(tmp_path / "host" / "profile") + "/"  # a trailing slash is fine

    def put(*paths):
        for path in paths:
            target, reason = host_path(path, "/data", folders)
            assert reason is None
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(b"RIFF")
        return paths

    return folders, put


def test_captured(monkeypatch, capsys, media):
    folders, put = media
    put(*[path for path in THUMBNAILS + PREVIEWS if A2 not in path or "preview" in path])  # a2's thumbnail is gone
    commands = Commands(monkeypatch)
    result = run_module(capsys, {"media_folders": folders})
    assert result["rc"] == 0 and result["changed"] is False
    assert result["assets"] == 5 and result["hidden_assets"] == 1 and result["search_rows"] == 2
    missing = folders["thumbs"] + "/%s/a2/00/%s_thumbnail.webp" % (USER, A2)
    assert result["files"] == {
        "thumbnail": {"expected": 4, "present": 3, "missing": 1, "missing_examples": [missing]},
        "preview": {"expected": 3, "present": 3, "missing": 0, "missing_examples": []},
    }
    assert result["assets_with_all_files"] == 2  # a1 and a3; a2 lacks its thumbnail file, a5 its preview row
    assert result["problems"] == [
        "1 of 5 assets have no thumbnail on disk (first: %s); Immich shows grey tiles until the thumbnail job "
        "regenerates them (run Generate Thumbnails for All: Missing goes by the database, which still lists these "
        "files)" % missing,
        "1 of 4 visible assets have no preview in the database (first: /data/upload/%s/a5/00/%s.jpg); the Generate "
        "Thumbnails job (Missing) creates them" % (USER, A5),
        "2 of 4 visible assets have no smart search row (first: /data/library/admin/2024/2024-06-01/IMG_0003.jpg); "
        "smart search does not find them until the Smart Search job runs (Missing)",
    ]
    args, kwargs = commands.calls[0]
    assert args[:3] == [DOCKER, "exec", "-e"] and "immich_postgres" in args
    assert args[args.index("-U") + 1] == "postgres" and args[args.index("-d") + 1] == "immich"
    assert args[args.index("-R") + 1] == RECORD_SEPARATOR and "ON_ERROR_STOP=1" in args
    assert "PGCONNECT_TIMEOUT=30" in args and "PGOPTIONS=-c statement_timeout=30000" in args
    assert args[-1] == build_query(["thumbnail", "preview"])
    assert kwargs["environ_update"] == {}


def test_whole_library_in_check_mode(monkeypatch, capsys, media):
    folders, put = media
    assets = [A1, A2, A3]
    put(*["%s/%s/00/%s_%s.webp" % (THUMBS, asset[:2], asset, kind) for asset in assets
          for kind in ("thumbnail", "preview")])
    Commands(monkeypatch, (0, healthy(assets), ""))
    result = run_module(capsys, {"media_folders": folders}, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is False and result["problems"] == []
    assert result["assets"] == 3 and result["assets_with_all_files"] == 3 and result["search_rows"] == 3
    assert result["files"]["thumbnail"] == {"expected": 3, "present": 3, "missing": 0, "missing_examples": []}


def test_options_reach_the_command(monkeypatch, capsys, media):
    folders, put = media
    commands = Commands(monkeypatch, (0, healthy([A1], ("thumbnail", "preview", "fullsize"), with_fullsize=[A1]), ""))
    put("%s/a1/00/%s_thumbnail.webp" % (THUMBS, A1), "%s/a1/00/%s_preview.webp" % (THUMBS, A1),
        "%s/a1/00/%s_fullsize.jpeg" % (THUMBS, A1))
    result = run_module(capsys, {"media_folders": folders, "container": "db", "database": "photos", "user": "admin",
                                 "timeout": 7, "file_types": ["thumbnail", "preview", "fullsize", "thumbnail"]})
    assert result["problems"] == [] and result["assets_with_all_files"] == 1
    assert list(result["files"]) == ["thumbnail", "preview", "fullsize"]
    args = commands.calls[0][0]
    assert "db" in args and args[args.index("-d") + 1] == "photos" and args[args.index("-U") + 1] == "admin"
    assert "PGCONNECT_TIMEOUT=7" in args
    assert args[-1] == build_query(["thumbnail", "preview", "fullsize"])


def test_missing_fullsize_rows_are_no_problem(monkeypatch, capsys, media):
    folders, put = media
    put(*["%s/%s/00/%s_%s.webp" % (THUMBS, asset[:2], asset, kind) for asset in (A1, A2)
          for kind in ("thumbnail", "preview")])
    Commands(monkeypatch, (0, healthy([A1, A2], ("thumbnail", "preview", "fullsize")), ""))
    result = run_module(capsys, {"media_folders": folders, "file_types": ["thumbnail", "preview", "fullsize"]})
    assert result["problems"] == []  # fullsize only for RAW files
    assert result["files"]["fullsize"] == {"expected": 0, "present": 0, "missing": 0, "missing_examples": []}
    assert result["assets_with_all_files"] == 0  # none has a fullsize file


def test_everything_missing_with_few_examples(monkeypatch, capsys, media):
    folders = media[0]
    assets = ["%02x000000-0000-4000-8000-%012d" % (number, number) for number in range(16, 26)]
    Commands(monkeypatch, (0, healthy(assets, ("preview",)), ""))
    result = run_module(capsys, {"media_folders": folders, "examples": 2, "file_types": ["preview"]})
    files = result["files"]["preview"]
    assert files["expected"] == 10 and files["present"] == 0 and files["missing"] == 10
    assert files["missing_examples"] == [folders["thumbs"] + "/%s/%s/00/%s_preview.webp" % (USER, asset[:2], asset)
                                         for asset in assets[:2]]
    assert result["assets_with_all_files"] == 0
    assert len(result["problems"]) == 1 and result["problems"][0].startswith(
        "10 of 10 assets have no preview on disk (first: %s); Immich shows no image when one is opened"
        % files["missing_examples"][0])


def test_paths_that_cannot_be_placed(monkeypatch, capsys, media):
    folders, put = media
    good = put("%s/a1/00/%s_thumbnail.webp" % (THUMBS, A1))[0]
    rows = [("assets", "4", "0", ""),
            ("file", "thumbnail", A1, good),
            ("file", "thumbnail", A2, "/srv/old/thumbs/%s_thumbnail.webp" % A2),
            ("file", "thumbnail", A3, "/data/cache/%s_thumbnail.webp" % A3),
            ("file", "thumbnail", A5, "/data/thumbs/../../etc/passwd"),
            ("norow", "thumbnail", "0", ""), ("search", "4", "0", "")]
    Commands(monkeypatch, (0, output(rows), ""))
    result = run_module(capsys, {"media_folders": folders, "file_types": ["thumbnail"], "examples": 10})
    assert result["files"]["thumbnail"] == {
        "expected": 4, "present": 1, "missing": 3,
        "missing_examples": ["/data/cache/%s_thumbnail.webp (folder cache not in media_folders)" % A3,
                             "/data/thumbs/../../etc/passwd (has a '..' component)",
                             "/srv/old/thumbs/%s_thumbnail.webp (outside media_location /data)" % A2]}
    assert result["assets_with_all_files"] == 1
    assert result["problems"][0].startswith("3 of 4 assets have no thumbnail on disk (first: /data/cache/")
    assert result["problems"][1] == ("3 thumbnail paths cannot be placed on the host (first: /data/cache/%s_thumbnail"
                                     ".webp (folder cache not in media_folders)): check media_location and "
                                     "media_folders" % A3)


def test_other_media_location(monkeypatch, capsys, tmp_path):
    folders = {"thumbs": str(tmp_path)}
    os.makedirs(str(tmp_path / "u" / "a1"))
    (tmp_path / "u" / "a1" / "x_thumbnail.jpeg").write_bytes(b"")
    rows = [("assets", "1", "0", ""), ("file", "thumbnail", A1, "/usr/src/app/upload/thumbs/u/a1/x_thumbnail.jpeg"),
            ("norow", "thumbnail", "0", ""), ("search", "1", "0", "")]
    Commands(monkeypatch, (0, output(rows), ""))
    result = run_module(capsys, {"media_folders": folders, "media_location": "/usr/src/app/upload/",
                                 "file_types": ["thumbnail"]})
    assert result["problems"] == [] and result["files"]["thumbnail"]["present"] == 1


def test_empty_database(monkeypatch, capsys, media):
    folders = media[0]
    Commands(monkeypatch, (0, output([("assets", "0", "0", ""), ("norow", "thumbnail", "0", ""),
                                      ("norow", "preview", "0", ""), ("search", "0", "0", "")]), ""))
    result = run_module(capsys, {"media_folders": folders})
    assert result["rc"] == 0 and result["assets"] == 0 and result["assets_with_all_files"] == 0
    assert result["files"]["thumbnail"] == {"expected": 0, "present": 0, "missing": 0, "missing_examples": []}
    assert result["problems"] == ["the database has no assets (outside the trash): the restore did not bring the "
                                  "library back, or this is not the restored database"]


@pytest.mark.parametrize("answer, expected", [
    ((1, "", NOT_RUNNING), "Error response from daemon: container 3f1c0d9e2b7a is not running"),
    ((3, "", OLD_SCHEMA), 'ERROR:  relation "asset" does not exist LINE 1:'),
    ((0, "something else\n", ""), "unexpected psql output row (1 fields, expected 4): 'something else'"),
    ((0, "", ""), "the answer has no assets row"),
    ((0, output([("assets", "3", "0", "")]), ""), "the answer has no search row"),
    ((0, output([("assets", "many", "0", ""), ("search", "1", "0", "")]), ""), "the asset count is not a number"),
    ((0, output([("assets", "1", "0", ""), ("vacuum", "1", "0", "")]), ""), "unexpected row: ('vacuum', "),
    ((0, output([("assets", "1", "0", ""), ("file", "sidecar", A1, "/data/x")]), ""), "unexpected row: ('file'"),
])
def test_database_cannot_be_queried(monkeypatch, capsys, media, answer, expected):
    folders = media[0]
    Commands(monkeypatch, answer)
    result = run_module(capsys, {"media_folders": folders, "container": "immich_db"})
    assert result["failed"] is True and result["rc"] == 1
    assert result["msg"].startswith("cannot query database immich as postgres in container immich_db: ")
    assert expected in result["msg"] and "Traceback" not in result["msg"]


def test_timeout_of_docker_exec(monkeypatch, capsys, media):
    folders = media[0]
    commands = Commands(monkeypatch, (124, "", ""))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda module, name, required=False, opt_dirs=None: "/usr/bin/%s" % name)
    result = run_module(capsys, {"media_folders": folders, "timeout": 3})
    assert result["failed"] is True
    assert result["msg"] == "cannot query database immich as postgres in container immich_postgres: no answer from " \
                            "immich_postgres within 8s"
    assert commands.calls[0][0][:4] == ["/usr/bin/timeout", "-k", "5", "8"]


@pytest.mark.parametrize("args, expected", [
    ({"timeout": 0}, "timeout must be more than 0 seconds, got 0"),
    ({"examples": -1}, "examples must be 0 or more, got -1"),
    ({"media_location": "data"}, "media_location must be an absolute path, got 'data'"),
    ({"media_folders": {}}, "media_folders must name at least one folder"),
    ({"media_folders": {"thumbs/x": "/mnt/ssd"}}, "media_folders: 'thumbs/x' is not a folder name"),
    ({"media_folders": {"..": "/mnt/ssd"}}, "media_folders: '..' is not a folder name"),
    ({"media_folders": {"thumbs": "mnt/ssd"}}, "media_folders: the host path of thumbs must be an absolute path"),
    ({"media_folders": {"thumbs": 3}}, "media_folders: the host path of thumbs must be an absolute path, got 3"),
    ({"file_types": []}, "file_types must name at least one type"),
    ({"file_types": ["thumbnail", "x'); DROP TABLE asset; --"]}, "file_types: \"x'); DROP TABLE asset; --\" is not"),
])
def test_bad_options(monkeypatch, capsys, args, expected):
    commands = Commands(monkeypatch)
    result = run_module(capsys, dict({"media_folders": {"thumbs": "/mnt/ssd/immich/thumbs"}}, **args))
    assert result["failed"] is True and expected in result["msg"]
    assert commands.calls == []


def test_media_folders_required(monkeypatch, capsys):
    Commands(monkeypatch)
    result = run_module(capsys, {})
    assert result["failed"] is True and "media_folders" in result["msg"]


FOLDERS = {"upload": "/mnt/azurephotos/originals/upload", "thumbs": "/mnt/ssd/immich/thumbs/",
           "encoded-video": "/mnt/ssd/immich/encoded-video"}


@pytest.mark.parametrize("path, media_location, expected", [
    ("/data/thumbs/%s/ab/cd/x_thumbnail.webp" % USER, "/data",
     ("/mnt/ssd/immich/thumbs/%s/ab/cd/x_thumbnail.webp" % USER, None)),
    ("/data/upload/u/ab/cd/IMG 0001.HEIC", "/data/", ("/mnt/azurephotos/originals/upload/u/ab/cd/IMG 0001.HEIC", None)),
    ("/data/encoded-video/u/ab/cd/x.mp4", "/data", ("/mnt/ssd/immich/encoded-video/u/ab/cd/x.mp4", None)),
    ("//data/./thumbs//u/x.webp", "/data", ("/mnt/ssd/immich/thumbs/u/x.webp", None)),  # normalised
    ("/usr/src/app/upload/thumbs/u/x.webp", "/usr/src/app/upload", ("/mnt/ssd/immich/thumbs/u/x.webp", None)),
    ("/data/library/admin/2024/x.jpg", "/data", (None, "folder library not in media_folders")),
    ("/data/profile/u/x.jpg", "/data", (None, "folder profile not in media_folders")),
    ("/srv/thumbs/u/x.webp", "/data", (None, "outside media_location /data")),
    ("/database/thumbs/u/x.webp", "/data", (None, "outside media_location /data")),
    ("/usr/src/app/upload/thumbs/u/x.webp", "/data", (None, "outside media_location /data")),
    ("data/thumbs/u/x.webp", "/data", (None, "outside media_location /data")),  # relative
    ("/data", "/data", (None, "is media_location itself")),
    ("/data/thumbs", "/data", (None, "is the folder thumbs itself")),
    ("/data/thumbs/", "/data", (None, "is the folder thumbs itself")),
    ("", "/data", (None, "empty path")),
    ("/data/thumbs/../upload/u/x.jpg", "/data", (None, "has a '..' component")),  # would leave thumbs
    ("/data/thumbs/u/../../../etc/passwd", "/data", (None, "has a '..' component")),
    ("/data/../etc/passwd", "/data", (None, "has a '..' component")),
    ("/data/thumbs/u/a..b/x.webp", "/data", ("/mnt/ssd/immich/thumbs/u/a..b/x.webp", None)),  # not a component
])
def test_host_path(path, media_location, expected):
    assert host_path(path, media_location, FOLDERS) == expected


def test_query_refuses_odd_type_names():
    with pytest.raises(ValueError, match="is not a plain name"):
        build_query(["thumbnail", "preview'"])
    assert "IN ('thumbnail', 'encoded_video')" in build_query(["thumbnail", "encoded_video"])
