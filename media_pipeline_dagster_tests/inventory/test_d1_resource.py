"""The D1 resource on both backends, and the local D1 REST server it is tested against."""

from __future__ import annotations

import time

import cloudflare
import httpx
import pytest

from media_pipeline_dagster.resources.d1 import (
    MAX_STATEMENT_BYTES,
    D1ConfigurationError,
    D1Error,
    Statement,
    pack_requests,
)

from ..servers.d1_fake import fake_d1_server
from .conftest import rest_resource

CREATE = Statement("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, size INTEGER)")


def test_rest_resolves_the_database_by_name_and_runs_a_batch(d1_server, d1_database):
    name, db_id = d1_database
    with rest_resource(d1_server, name).connect() as db:
        assert db.database_id == db_id
        assert db.requests == 1 and d1_server.requests["list"] == 1
        db.run([CREATE])
        results = db.run(
            [
                Statement(
                    "INSERT INTO t (name, size) VALUES (?, ?), (?, ?)",
                    ("a'b;c", 12, "Música 🎵", 0),
                ),
                Statement("SELECT name, size, typeof(size) FROM t ORDER BY id"),
            ]
        )
    assert results[0].changes == 2
    assert results[1].columns == ("name", "size", "typeof(size)")
    # Parameters travel as strings (the API's type); the column's affinity keeps sizes integers.
    assert results[1].rows == [("a'b;c", 12, "integer"), ("Música 🎵", 0, "integer")]
    assert d1_server.requests["raw"] == 2
    assert not any("Música" in sql or "a'b" in sql for sql in d1_server.sql_seen)


def test_rest_with_a_database_id_skips_the_lookup(d1_server, d1_database):
    _name, db_id = d1_database
    with rest_resource(d1_server, "ignored", database_id=db_id).connect() as db:
        db.run([Statement("SELECT 1")])
    assert d1_server.requests["list"] == 0 and d1_server.requests["raw"] == 1


def test_unknown_database_name_is_named_before_any_query(d1_server, d1_database):
    with pytest.raises(D1ConfigurationError) as err:
        rest_resource(d1_server, "lgfc_lite_typo").connect()
    assert "'lgfc_lite_typo' not found" in str(err.value) and "D1_DATABASE_NAME" in str(err.value)
    assert d1_server.sql_requests == 0


def test_missing_token_or_account_fails_before_any_request(d1_server, d1_database):
    with pytest.raises(D1ConfigurationError, match="CLOUDFLARE_API_TOKEN is empty"):
        rest_resource(d1_server, d1_database[0], api_token="  ").connect()
    with pytest.raises(D1ConfigurationError, match="CLOUDFLARE_ACCOUNT_ID is empty"):
        rest_resource(d1_server, d1_database[0], account_id="").connect()
    assert sum(d1_server.requests.values()) == 0


def test_a_rejected_token_says_so_without_showing_it(d1_server, d1_database):
    with pytest.raises(D1ConfigurationError) as err:
        rest_resource(d1_server, d1_database[0], api_token="wrong-token-123").connect()
    assert "rejected the API token" in str(err.value) and "wrong-token-123" not in str(err.value)


def test_the_token_wins_over_other_cloudflare_credentials_in_the_environment(
    d1_server, d1_database, monkeypatch
):
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "someone@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "global-key")
    with rest_resource(d1_server, d1_database[0]).connect() as db:
        db.run([Statement("SELECT 1")])


@pytest.mark.parametrize("backend", ["rest", "local"])
def test_limits_are_enforced_before_anything_is_sent(backend, request, d1_server):
    resource = request.getfixturevalue(f"{backend}_d1")
    with resource.connect() as db:
        sent = d1_server.sql_requests
        with pytest.raises(D1Error, match="binds 101 parameters, D1 allows 100"):
            db.run([Statement("SELECT " + ", ".join("?" * 101), tuple(range(101)))])
        with pytest.raises(D1Error, match="D1 allows 100,000"):
            db.run([Statement("SELECT 1 -- " + "x" * MAX_STATEMENT_BYTES)])
        assert d1_server.sql_requests == sent
        assert db.run([Statement("SELECT " + ", ".join("?" * 100), tuple(range(100)))])[0].rows[0][
            99
        ] in (99, "99")


def test_the_server_enforces_d1_limits_on_the_wire(d1_server, d1_database):
    url = f"{d1_server.base_url}/accounts/{d1_server.account_id}/d1/database/{d1_database[1]}/query"
    headers = {"Authorization": f"Bearer {d1_server.api_token}"}
    too_many = httpx.post(
        url, headers=headers, json={"sql": "SELECT " + ", ".join("?" * 101), "params": ["1"] * 101}
    )
    too_long = httpx.post(
        url, headers=headers, json={"sql": "SELECT 1 -- " + "x" * MAX_STATEMENT_BYTES}
    )
    fine = httpx.post(url, headers=headers, json={"sql": "SELECT ? AS v", "params": ["ok"]})
    for response, text in ((too_many, "too many SQL variables"), (too_long, "statement too long")):
        assert response.status_code == 400 and response.json()["success"] is False
        assert text in response.json()["errors"][0]["message"]
    assert fine.json()["success"] is True and fine.json()["result"][0]["results"] == [{"v": "ok"}]


def test_the_server_stops_a_request_past_its_time_limit(tmp_path):
    with fake_d1_server(tmp_path, time_limit_seconds=0.2) as server:
        name = "slow"
        server.create_database(name)
        with (
            rest_resource(server, name).connect() as db,
            pytest.raises(D1Error, match="exceeded its time limit"),
        ):
            db.run(
                [
                    Statement(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
                    )
                ]
            )


def test_429_with_retry_after_is_waited_out(d1_server, rest_d1):
    with rest_d1.connect() as db:
        d1_server.inject("429", retry_after=1)
        started = time.monotonic()
        assert db.run([Statement("SELECT 1 AS one")])[0].rows == [(1,)]
        assert time.monotonic() - started >= 1.0
    assert d1_server.requests["raw"] == 2


@pytest.mark.parametrize(("kind", "text"), [("429", "HTTP 429"), ("500", "HTTP 500")])
def test_persistent_429_or_500_fails_loudly_after_the_retries(d1_server, rest_d1, kind, text):
    with rest_d1.connect() as db:
        db.run([CREATE])
        d1_server.inject(kind, times=10, retry_after=0 if kind == "429" else None)
        with pytest.raises(D1Error) as err:
            db.run([Statement("INSERT INTO t (name) VALUES (?)", ("x",))])
    assert text in str(err.value) and "after 3 attempt(s)" in str(err.value)
    assert "rolls a failed request back as a whole" in str(err.value)


def test_a_retry_after_beyond_the_limit_gives_up_at_once(d1_server, rest_d1):
    with rest_d1.connect() as db:
        d1_server.inject("429", retry_after=600)
        with pytest.raises(D1Error, match="after 1 attempt"):
            db.run([Statement("SELECT 1")])


def test_success_false_is_a_failure_though_the_sdk_would_swallow_it(
    d1_server, d1_database, rest_d1
):
    # What the SDK alone does with HTTP 200 + success:false: an empty page, no exception.
    client = cloudflare.Cloudflare(
        api_token=d1_server.api_token, base_url=d1_server.base_url, max_retries=0
    )
    d1_server.inject("success_false")
    page = client.d1.database.raw(d1_database[1], account_id=d1_server.account_id, sql="SELECT 1")
    assert list(page) == []
    with rest_d1.connect() as db:
        d1_server.inject("success_false")
        with pytest.raises(D1Error, match="success=false.*injected failure"):
            db.run([Statement("SELECT 1")])


@pytest.mark.parametrize("backend", ["rest", "local"])
def test_a_request_is_all_or_nothing(backend, request, d1_server):
    resource = request.getfixturevalue(f"{backend}_d1")
    with resource.connect() as db:
        db.run([CREATE])
        with pytest.raises(D1Error, match="NOT NULL"):
            db.run(
                [
                    Statement("INSERT INTO t (name) VALUES (?)", ("kept?",)),
                    Statement("INSERT INTO t (name) VALUES (?)", (None,)),
                ]
            )
        assert db.run([Statement("SELECT count(*) FROM t")])[0].rows == [(0,)]


def test_local_backend_keeps_a_sqlite_file(local_d1, tmp_path):
    with local_d1.connect() as db:
        db.run([CREATE, Statement("INSERT INTO t (name, size) VALUES (?, ?)", ("a", 1))])
        assert db.requests == 1
    assert (tmp_path / "d1" / "lgfc_lite.sqlite").is_file()
    assert local_d1.describe().startswith("file://")


def test_requests_are_packed_within_statement_and_byte_budgets():
    statements = [Statement("SELECT ?", ("x" * 100,)) for _ in range(25)]
    assert [len(r) for r in pack_requests(statements, max_statements=10, max_bytes=10**6)] == [
        10,
        10,
        5,
    ]
    one = statements[0].wire_bytes
    assert [len(r) for r in pack_requests(statements, max_statements=50, max_bytes=one * 7)] == [
        7,
        7,
        7,
        4,
    ]
