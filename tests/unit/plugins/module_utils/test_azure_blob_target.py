# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/azure_blob_target.py: options, URLs, SAS, secrets, resolve_target.

No network, no SDK needed.
"""

from __future__ import annotations

import datetime

import pytest
import yaml

from ansible_collections.homelab.immich_pi.plugins.doc_fragments.azure_blob_auth import ModuleDocFragment
from ansible_collections.homelab.immich_pi.plugins.module_utils.azure_blob_target import (
    AUTH_OPTIONS,
    REDACTED,
    auth_method_of,
    azure_blob_argument_spec,
    container_name_problem,
    inspect_sas,
    parse_connection_string,
    parse_sas_time,
    resolve_target,
    scrub,
    split_blob_url,
    strip_query,
)

NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SIG = "wsqc0zkpT20Om6ZGUVacS9rpGtrpdK3EEkCl6UBAGNI%3D"
SAS = "sv=2026-10-06&sr=c&sp=racwdl&st=2026-05-01T00%3A00%3A00Z&se=2027-01-01T00%3A00%3A00Z&sig=" + SIG
EXPIRED_SAS = "st=2026-05-01T18%3A32%3A37Z&se=2026-05-01T19%3A32%3A37Z&sp=rl&sv=2026-10-06&sr=c&sig=" + SIG


def params(**kwargs):
    base = dict(
        account_name=None,
        account_key=None,
        sas_url=None,
        connection_string=None,
        service_principal=None,
        endpoint=None,
        container="photos",
        timeout=10,
    )
    base.update(kwargs)
    return base


def kinds(target):
    return [problem.kind for problem in target.problems]


# --- documentation and argument spec agree --------------------------------------------------


def test_doc_fragment_documents_the_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = azure_blob_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert bool(documented[name].get("required")) == bool(option.get("required")), name
    assert set(documented["service_principal"]["suboptions"]) == set(spec["service_principal"]["options"])
    assert all(spec[name].get("no_log") for name in ("account_key", "sas_url", "connection_string"))
    assert spec["service_principal"]["options"]["client_secret"]["no_log"] is True


def test_auth_method_of():
    assert auth_method_of(params(sas_url="https://x")) == "sas_url"
    assert auth_method_of(params(service_principal={"tenant_id": "t"})) == "service_principal"
    with pytest.raises(ValueError, match="account_key, sas_url, connection_string, service_principal"):
        auth_method_of(params())
    assert AUTH_OPTIONS == ("account_key", "sas_url", "connection_string", "service_principal")


# --- URLs and names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoint", "account", "container", "blob"),
    [
        ("https://immichphotos.blob.core.windows.net/photos?" + SAS, "https://immichphotos.blob.core.windows.net", "immichphotos", "photos", None),
        ("https://immichphotos.blob.core.windows.net/?" + SAS, "https://immichphotos.blob.core.windows.net", "immichphotos", None, None),
        ("https://immichphotos-secondary.blob.core.windows.net/photos", "https://immichphotos-secondary.blob.core.windows.net", "immichphotos", "photos", None),
        ("https://acct.blob.core.usgovcloudapi.net/photos/backup/x.gz", "https://acct.blob.core.usgovcloudapi.net", "acct", "photos", "backup/x.gz"),
        ("http://172.17.0.1:10000/devstoreaccount1/photos?" + SAS, "http://172.17.0.1:10000/devstoreaccount1", "devstoreaccount1", "photos", None),
        ("http://localhost:10000/devstoreaccount1", "http://localhost:10000/devstoreaccount1", "devstoreaccount1", None, None),
        ("http://azurite:10000/devstoreaccount1/photos", "http://azurite:10000/devstoreaccount1", "devstoreaccount1", "photos", None),
        ("http://[::1]:10000/devstoreaccount1/", "http://[::1]:10000/devstoreaccount1", "devstoreaccount1", None, None),
        ("https://photos.example.com/photos", "https://photos.example.com", None, "photos", None),
    ],
)
def test_split_blob_url(url, endpoint, account, container, blob):
    parts = split_blob_url(url)
    assert (parts["endpoint"], parts["account"], parts["container"], parts["blob"]) == (endpoint, account, container, blob)


@pytest.mark.parametrize("name", ["photos", "abc", "a-b-c", "immich-photos-2024", "$root", "x" * 63])
def test_valid_container_names(name):
    assert container_name_problem(name) is None


@pytest.mark.parametrize("name", ["ab", "Photos", "photos_2024", "-photos", "photos-", "pho--tos", "x" * 64, ""])
def test_invalid_container_names(name):
    assert "is not a valid container name" in container_name_problem(name)


# --- SAS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T19:32:37Z", datetime.datetime(2026, 5, 1, 19, 32, 37, tzinfo=datetime.timezone.utc)),
        ("2026-05-01T19:32Z", datetime.datetime(2026, 5, 1, 19, 32, tzinfo=datetime.timezone.utc)),
        ("2026-05-01", datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc)),
        ("2026-05-01T19:32:37.1234567Z", None),
    ],
)
def test_parse_sas_time(text, expected):
    if expected is None:
        with pytest.raises(ValueError):
            parse_sas_time(text)
    else:
        assert parse_sas_time(text) == expected


def test_valid_sas():
    info, problems = inspect_sas("?" + SAS, NOW)
    assert problems == []
    assert info["expiry"] == datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)
    assert (info["permissions"], info["resource"], info["version"]) == ("racwdl", "c", "2026-10-06")


def test_expired_sas_is_found_without_a_request():
    info, problems = inspect_sas(EXPIRED_SAS, NOW)
    assert [problem.kind for problem in problems] == ["sas_expired"]
    message = problems[0].message
    assert "expired at 2026-05-01T19:32:37Z" in message
    assert "issue a new SAS" in message
    assert SIG not in message and "sig=" not in message


def test_sas_not_valid_yet():
    _info, problems = inspect_sas("sv=2026-10-06&st=2026-07-01&se=2027-01-01&sig=abc", NOW)
    assert [problem.kind for problem in problems] == ["sas_not_yet_valid"]
    assert "valid only from 2026-07-01T00:00:00Z" in problems[0].message


@pytest.mark.parametrize(
    ("query", "message_has"),
    [
        ("sv=2026-10-06&se=2027-01-01&sp=rl", "no signature (sig=)"),
        ("se=2027-01-01&sig=abc", "no service version (sv=)"),
        ("sv=2026-10-06&se=next-year&sig=abc", "unreadable expiry time (se=next-year)"),
        ("sv=2026-10-06&sr=b&se=2027-01-01&sig=abc", "single blob (sr=b)"),
    ],
)
def test_broken_sas(query, message_has):
    _info, problems = inspect_sas(query, NOW)
    assert [problem.kind for problem in problems] == ["invalid_input"]
    assert message_has in problems[0].message


def test_stored_access_policy_sas_without_expiry_is_not_checked():
    info, problems = inspect_sas("sv=2026-10-06&si=immich-policy&sr=c&sig=abc", NOW)
    assert problems == [] and info["expiry"] is None and info["identifier"] == "immich-policy"


# --- secrets never leave in text ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "cannot reach https://immichphotos.blob.core.windows.net/photos?restype=container&comp=list&sig=%s: refused" % SIG,
        "Max retries exceeded with url: /photos?restype=container&comp=list&%s (Caused by NewConnectionError)" % SAS,
        "token sv=2026-10-06&sig=%s in the text" % SIG,
        "DefaultEndpointsProtocol=https;AccountName=immichphotos;AccountKey=%s;EndpointSuffix=core.windows.net" % KEY,
        "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2026-10-06&sig=%s" % SIG,
    ],
)
def test_scrub_removes_query_strings_and_signatures(text):
    clean = scrub(text)
    assert SIG not in clean and SIG.replace("%3D", "=") not in clean
    assert KEY not in clean
    assert "sig=" + SIG not in clean


def test_scrub_keeps_the_url_without_its_query():
    text = "cannot reach https://immichphotos.blob.core.windows.net/photos?restype=container&sig=%s (timed out)" % SIG
    assert scrub(text) == "cannot reach https://immichphotos.blob.core.windows.net/photos (timed out)"
    assert strip_query("https://a.blob.core.windows.net/c?" + SAS) == "https://a.blob.core.windows.net/c"


def test_scrub_replaces_literal_secrets():
    assert scrub("the key %s is wrong" % KEY, [KEY, None, ""]) == "the key %s is wrong" % REDACTED
    assert scrub("client secret s3cr3t-value leaked", ["s3cr3t-value"]) == "client secret %s leaked" % REDACTED


# --- resolving what the task points at ------------------------------------------------------


def test_account_key_with_account_name():
    target = resolve_target(params(account_name="immichphotos", account_key=KEY), NOW)
    assert target.problems == []
    assert (target.auth_method, target.account, target.endpoint) == (
        "account_key",
        "immichphotos",
        "https://immichphotos.blob.core.windows.net",
    )
    assert KEY in target.secrets


def test_account_key_takes_the_account_from_the_emulator_endpoint():
    target = resolve_target(params(account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1/"), NOW)
    assert target.problems == [] and target.warnings == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://172.17.0.1:10000/devstoreaccount1")


@pytest.mark.parametrize(
    ("options", "message_has"),
    [
        (dict(account_key=KEY), "account_key needs account_name (or an endpoint that names the account)"),
        (dict(account_key=KEY, endpoint="https://photos.example.com"), "account_key needs account_name"),
        (dict(service_principal=dict(tenant_id="t", client_id="c", client_secret="s3cr3t")), "service_principal needs account_name"),
        (dict(account_name="other", account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1"), "does not match the account 'devstoreaccount1'"),
        (dict(account_name="Immich_Photos", account_key=KEY), "not a valid storage account name"),
        (dict(account_name="immichphotos", account_key=KEY, container="Photos"), "not a valid container name"),
        (dict(account_key=KEY, endpoint="ftp://x/devstoreaccount1"), "is not an http(s) URL"),
        (dict(account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1?" + SAS), "must not carry a query string"),
        (dict(account_key=KEY, endpoint="http://172.17.0.1:10000/devstoreaccount1/photos"), "names a container"),
        (dict(account_name="immichphotos", account_key=KEY, timeout=0), "timeout must be a positive"),
        (
            dict(service_principal=dict(tenant_id="t", client_id="c", client_secret="s"), endpoint="http://172.17.0.1:10000/devstoreaccount1"),
            "service_principal needs an https endpoint",
        ),
    ],
)
def test_input_problems(options, message_has):
    target = resolve_target(params(**options), NOW)
    assert "invalid_input" in kinds(target)
    assert any(message_has in problem.message for problem in target.problems), target.problems
    assert all(SIG not in problem.message for problem in target.problems)


def test_service_principal_with_account_name():
    principal = dict(tenant_id="t", client_id="c", client_secret="s3cr3t-value", authority_host=None)
    target = resolve_target(params(account_name="immichphotos", service_principal=principal), NOW)
    assert target.problems == []
    assert target.endpoint == "https://immichphotos.blob.core.windows.net"
    assert "s3cr3t-value" in target.secrets


def test_container_sas_url():
    target = resolve_target(params(sas_url="https://immichphotos.blob.core.windows.net/photos?" + SAS), NOW)
    assert target.problems == []
    assert (target.account, target.endpoint, target.sas_token) == ("immichphotos", "https://immichphotos.blob.core.windows.net", SAS)
    assert (target.sas_expiry, target.sas_permissions) == ("2027-01-01T00:00:00Z", "racwdl")


def test_account_sas_url_for_the_emulator_needs_no_warning():
    target = resolve_target(params(sas_url="http://172.17.0.1:10000/devstoreaccount1?" + SAS), NOW)
    assert target.problems == [] and target.warnings == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://172.17.0.1:10000/devstoreaccount1")


def test_sas_over_plain_http_to_a_real_host_warns():
    target = resolve_target(params(sas_url="http://immichphotos.blob.core.windows.net/photos?" + SAS), NOW)
    assert target.problems == []
    assert target.warnings == [
        "sas_url uses plain http to immichphotos.blob.core.windows.net: the SAS signature travels unencrypted; use https"
    ]


def test_expired_sas_url():
    target = resolve_target(params(sas_url="https://immichphotos.blob.core.windows.net/photos?" + EXPIRED_SAS), NOW)
    assert kinds(target) == ["sas_expired"]
    assert target.sas_expiry == "2026-05-01T19:32:37Z"


@pytest.mark.parametrize(
    ("sas_url", "message_has"),
    [
        ("https://immichphotos.blob.core.windows.net/videos?" + SAS, "sas_url is for container 'videos' but container is 'photos'"),
        ("https://immichphotos.blob.core.windows.net/photos/backup/db.gz?" + SAS, "sas_url points at a blob"),
        (SAS, "sas_url is not a URL"),
        ("https://immichphotos.blob.core.windows.net/photos", "has no signature (sig=)"),
    ],
)
def test_sas_url_problems(sas_url, message_has):
    target = resolve_target(params(sas_url=sas_url), NOW)
    assert any(message_has in problem.message for problem in target.problems), target.problems
    assert all(SIG not in problem.message for problem in target.problems)


def test_connection_string_with_key_and_blob_endpoint():
    text = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://172.17.0.1:10000/devstoreaccount1;" % KEY
    target = resolve_target(params(connection_string=text), NOW)
    assert target.problems == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://172.17.0.1:10000/devstoreaccount1")
    assert KEY in target.secrets and text in target.secrets


def test_connection_string_for_azure():
    text = "DefaultEndpointsProtocol=https;AccountName=immichphotos;AccountKey=%s;EndpointSuffix=core.windows.net" % KEY
    target = resolve_target(params(connection_string=text), NOW)
    assert target.problems == []
    assert target.endpoint == "https://immichphotos.blob.core.windows.net"


def test_development_storage_connection_string():
    target = resolve_target(params(connection_string="UseDevelopmentStorage=true"), NOW)
    assert target.problems == []
    assert (target.account, target.endpoint) == ("devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1")


def test_connection_string_with_an_expired_sas():
    text = "BlobEndpoint=https://immichphotos.blob.core.windows.net/;SharedAccessSignature=" + EXPIRED_SAS
    target = resolve_target(params(connection_string=text), NOW)
    assert kinds(target) == ["sas_expired"]
    assert "the SAS in connection_string expired" in target.problems[0].message
    assert target.account == "immichphotos"


@pytest.mark.parametrize(
    ("text", "message_has"),
    [
        ("AccountName=immichphotos", "carries no credential"),
        ("AccountKey=%s" % KEY, "names neither AccountName nor BlobEndpoint"),
        ("just-a-key", "connection_string is malformed"),
    ],
)
def test_connection_string_problems(text, message_has):
    target = resolve_target(params(connection_string=text), NOW)
    assert any(message_has in problem.message for problem in target.problems), target.problems
    assert all(KEY not in problem.message for problem in target.problems)


def test_parse_connection_string_keeps_base64_padding():
    settings = parse_connection_string("AccountName=a;AccountKey=%s;" % KEY)
    assert settings == {"ACCOUNTNAME": "a", "ACCOUNTKEY": KEY}
