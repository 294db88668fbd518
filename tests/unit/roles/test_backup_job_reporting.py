# SPDX-License-Identifier: GPL-3.0-or-later
"""How the backup jobs end a run (roles/backup/files): the ping before the status file, its
outcome in the status file, a failed ping or an unwritable status file failing the run with
its own exit code, and the ping URL never written out beyond its scheme and host."""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error

import pytest
import yaml

from ansible_collections.homelab.immich_pi.tests.unit.roles.backup_job_files import FILES, load

job = load("immich_db_backup")
media = load("immich_media_backup")

SECRET = "5f1b7c1e-0d7a-4c43-9a55-2b8e1d0c9f11"  # the check's UUID: never in a log or a status file
URL = "https://hc-ping.com/" + SECRET
OBJECT = "backup/immich-db-20261122T031924Z-v3.2.2.sql.zst"


# --- which URLs the jobs ping, and how they name them ---------------------------------------------


@pytest.mark.parametrize("url, target", [
    (URL, "https://hc-ping.com"),
    ("http://127.0.0.1:8000/ping/" + SECRET, "http://127.0.0.1"),
    ("HTTPS://HC-PING.COM/" + SECRET, "https://HC-PING.COM"),
    ("https://hc-ping.com", "https://hc-ping.com"),
    ("https://user:%s@ping.example.org/check" % SECRET, "https://ping.example.org"),
    ("http://[fd00::1]:8000/" + SECRET, "http://[fd00::1]"),
    ("https://hc-ping.com/%s?create=1#x" % SECRET, "https://hc-ping.com"),
])
def test_a_ping_url_is_named_by_its_scheme_and_host_only(url, target):
    assert job.PING_URL.match(url)
    assert job.ping_target(url) == target


@pytest.mark.parametrize("url", [
    "hc-ping.com/" + SECRET,                  # no scheme
    "ftp://hc-ping.com/" + SECRET,            # not http(s)
    "file:///etc/" + SECRET,
    "https:///" + SECRET,                     # no host
    "http://",
    "https://hc-ping.com/%s " % SECRET,       # a space pasted with it
    " https://hc-ping.com/" + SECRET,
    "https://hc-ping.com/%s\n" % SECRET,      # a line break
    "https://hc ping.com/" + SECRET,
    "https://hc-ping.com:port/" + SECRET,     # a port that is not a number
    "not a url " + SECRET,
])
def test_what_is_not_an_http_url_with_a_host_and_no_spaces_is_no_ping_url(url):
    assert not job.PING_URL.match(url)
    assert SECRET not in job.ping_target(url) and "not shown" in job.ping_target(url)


def test_the_role_refuses_what_the_jobs_refuse():
    """The preflight's pattern is the jobs' own (the Jinja match test is re.match)."""
    with open(os.path.join(FILES, "..", "vars", "main.yml"), encoding="utf-8") as handle:
        role_vars = yaml.safe_load(handle)
    assert role_vars["__backup_ping_url_pattern"] == job.PING_URL.pattern
    assert job.PING_URL.flags & re.IGNORECASE
    with open(os.path.join(FILES, "..", "tasks", "preflight.yml"), encoding="utf-8") as handle:
        preflight = handle.read()
    assert "'ansible.builtin.match', __backup_ping_url_pattern, ignorecase=true" in preflight


def test_an_error_that_quotes_the_url_is_told_without_its_secret():
    text = job.without_secrets("InvalidURL: URL can't contain control characters. '/%s' (found at least ' ')"
                               % SECRET, URL)
    assert SECRET not in text and "InvalidURL" in text


# --- the ping ----------------------------------------------------------------------------------------


class Answer:
    status = 200

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


class Sent(list):
    """The URLs the job opened, in order; `error`: what opening one raises."""

    error: BaseException | None = None


@pytest.fixture
def sent(monkeypatch):
    calls = Sent()

    def urlopen(url, timeout):
        assert timeout == job.PING_TIMEOUT
        calls.append(url)
        if calls.error is not None:
            raise calls.error
        return Answer()

    # The one urllib.request, whichever copy of the job calls it.
    monkeypatch.setattr(job.urllib.request, "urlopen", urlopen)
    return calls


def test_no_ping_url_is_no_ping(sent):
    assert job.ping(dict(job.DEFAULTS), True) is None
    assert sent == []


@pytest.mark.parametrize("ok, path", [(True, URL), (False, URL + "/fail")])
def test_a_ping_that_is_answered_is_ok(sent, ok, path):
    outcome = job.ping(dict(job.DEFAULTS, ping_url=URL + "/"), ok)
    assert sent == [path]
    assert outcome == {"to": "https://hc-ping.com", "signal": "success" if ok else "fail", "result": "ok",
                       "http_status": 200}


@pytest.mark.parametrize("error, words", [
    (urllib.error.HTTPError(URL, 500, "Internal Server Error", {}, None), "HTTPError: HTTP Error 500: Internal Server Error"),
    (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "Connection refused"),
    (TimeoutError("timed out"), "TimeoutError: timed out"),
    (http.client.BadStatusLine("HELLO"), "BadStatusLine"),  # not an OSError
    (http.client.InvalidURL("URL can't contain control characters. '/%s'" % SECRET), "InvalidURL"),
])
def test_a_ping_that_fails_is_a_failed_outcome_not_a_crash(sent, error, words):
    sent.error = error
    outcome = job.ping(dict(job.DEFAULTS, ping_url=URL), True)
    assert outcome["result"] == "failed" and words in outcome["error"]
    assert SECRET not in json.dumps(outcome)


def test_a_malformed_ping_url_is_never_opened(sent):
    outcome = job.ping(dict(job.DEFAULTS, ping_url="hc-ping.com/" + SECRET), True)
    assert sent == []
    assert outcome == {"to": "the ping URL (not shown)", "signal": "success", "result": "failed",
                       "error": "not an http:// or https:// URL with a host and no spaces"}


# --- the end of a run: exit code, result, message ---------------------------------------------------


def config(tmp_path, **changes):
    return dict(job.DEFAULTS, status_file=str(tmp_path / "state" / "status.json"), **changes)


def work(result="ok"):
    messages = {"ok": "stored %s (1587 bytes), pruned 0" % OBJECT,
                "suspicious": "%s is 10 bytes, less than 50%% of the previous backup" % OBJECT,
                "failed": "nothing stored: pg_dumpall exited 1"}
    return {"object": OBJECT, "result": result, "message": messages[result]}


CODES = {"ok": job.OK, "suspicious": job.SUSPICIOUS, "failed": job.FAILED}


def finish(cfg, result, capsys):
    status = work(result)
    code = job.finish(cfg, status, CODES[result], 0.0, "the backup itself (%s)" % OBJECT)
    return code, status, capsys.readouterr().err


@pytest.mark.parametrize("result", ["ok", "suspicious", "failed"])
def test_without_a_ping_the_run_keeps_the_works_code_and_result(tmp_path, sent, capsys, result):
    code, status, log = finish(config(tmp_path), result, capsys)
    assert code == CODES[result] and status["result"] == status["backup_result"] == result
    assert status["ping"] is None
    with open(tmp_path / "state" / "status.json", encoding="utf-8") as handle:
        assert json.load(handle) == status
    assert log.startswith("immich-db-backup: %s in " % result)


@pytest.mark.parametrize("result, path", [("ok", URL), ("suspicious", URL + "/fail"), ("failed", URL + "/fail")])
def test_a_ping_that_is_answered_keeps_the_works_code_and_is_in_the_status_file(
        tmp_path, sent, capsys, result, path):
    code, status, _log = finish(config(tmp_path, ping_url=URL), result, capsys)
    assert code == CODES[result] and status["result"] == result
    assert sent == [path] and status["ping"]["result"] == "ok"


@pytest.mark.parametrize("result", ["ok", "suspicious"])
def test_a_failed_ping_after_a_stored_backup_fails_the_run_and_says_the_backup_is_stored(
        tmp_path, sent, capsys, result):
    sent.error = urllib.error.HTTPError(URL, 500, "Internal Server Error", {}, None)
    code, status, log = finish(config(tmp_path, ping_url=URL), result, capsys)
    assert code == job.REPORT_FAILED == 4
    assert status["result"] == "failed" and status["backup_result"] == result
    assert status["ping"]["result"] == "failed"
    assert status["message"].endswith(
        "; the backup itself (%s) is stored, but the %sping to https://hc-ping.com failed: HTTPError: HTTP Error 500: "
        "Internal Server Error (check backup_ping_url)" % (OBJECT, "" if result == "ok" else "/fail "))
    with open(tmp_path / "state" / "status.json", encoding="utf-8") as handle:
        assert json.load(handle) == status
    assert "immich-db-backup: failed in " in log and status["message"] in log
    assert SECRET not in log + json.dumps(status)


def test_a_failed_ping_after_a_failed_backup_is_told_too(tmp_path, sent, capsys):
    sent.error = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    code, status, _log = finish(config(tmp_path, ping_url=URL), "failed", capsys)
    assert code == job.FAILED and status["result"] == status["backup_result"] == "failed"
    assert status["message"].startswith("nothing stored: pg_dumpall exited 1; and the /fail ping to https://hc-ping.com "
                                        "failed: URLError:")
    assert "is stored" not in status["message"]


def test_a_malformed_ping_url_fails_the_run_without_showing_it(tmp_path, sent, capsys):
    code, status, log = finish(config(tmp_path, ping_url="hc-ping.com/" + SECRET), "ok", capsys)
    assert code == job.REPORT_FAILED and status["result"] == "failed" and sent == []
    assert "the ping to the ping URL (not shown) failed: not an http:// or https:// URL" in status["message"]
    assert OBJECT in status["message"] and SECRET not in log + json.dumps(status)


@pytest.mark.parametrize("result, code", [("ok", 4), ("suspicious", 4), ("failed", 1)])
def test_an_unwritable_status_file_is_logged_and_fails_the_run(tmp_path, sent, capsys, result, code):
    (tmp_path / "state").write_text("a file where the status folder should be")
    found, status, log = finish(config(tmp_path, ping_url=URL), result, capsys)
    assert found == code and status["result"] == "failed"
    assert sent == [URL if result == "ok" else URL + "/fail"]  # the ping went out first
    assert "the status file %s cannot be written: " % (tmp_path / "state" / "status.json") in log
    assert ("the backup itself (%s) is stored, but" % OBJECT in log) is (result != "failed")


def test_a_failed_ping_and_an_unwritable_status_file_are_both_told(tmp_path, sent, capsys):
    (tmp_path / "state").write_text("not a folder")
    sent.error = TimeoutError("timed out")
    code, _status, log = finish(config(tmp_path, ping_url=URL), "ok", capsys)
    assert code == job.REPORT_FAILED
    assert "but the ping to https://hc-ping.com failed: TimeoutError: timed out (check backup_ping_url); and the " \
           "status file" in log


def test_the_media_copy_names_its_own_variable_and_what_it_copied(tmp_path, sent, capsys, monkeypatch):
    sent.error = urllib.error.HTTPError(URL, 404, "Not Found", {}, None)
    folders = {"thumbs": {"destination": "azurephotos:photos/backup/thumbs/", "local_files": 3, "local_bytes": 30}}

    def checked(cfg, found):
        found.update(folders)

    monkeypatch.setattr(media, "check_folders", checked)
    monkeypatch.setattr(media, "check_remote", lambda cfg, found, accept_loss: None)
    monkeypatch.setattr(media, "sync", lambda cfg, name, folder, accept_loss: folder.update(
        copied_files=3, copied_bytes=30, deleted_files=0) or "")
    cfg = dict(media.DEFAULTS, ping_url=URL, status_file=str(tmp_path / "media-status.json"))
    assert media.backup(cfg, False) == job.REPORT_FAILED
    with open(cfg["status_file"], encoding="utf-8") as handle:
        status = json.load(handle)
    assert status["result"] == "failed" and status["backup_result"] == "ok"
    assert status["message"] == ("thumbs: 3 files (30 bytes) copied, 0 deleted; the copy itself "
                                 "(azurephotos:photos/backup/thumbs/) is stored, but the ping to https://hc-ping.com "
                                 "failed: HTTPError: HTTP Error 404: Not Found (check backup_media_ping_url)")
    assert os.stat(cfg["status_file"]).st_mode & 0o777 == 0o600
    assert capsys.readouterr().err.startswith("immich-media-backup: failed in ")
