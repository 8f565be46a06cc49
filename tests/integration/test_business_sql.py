"""SQL sources against real SQLite files: gauges, failures shown, timeouts, read-only, files coming and going."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from exporters.business.sql import SQLSources
from exporters.config import parse_config
from exporters.stack.procs import ManagedProcess, alismon_argv
from tests.business_util import TOKEN, Business, start_business
from tests.conftest import tool, write_config
from tests.helpers import samples, value, wait_for

PENDING = "SELECT type, count(*) AS value FROM claims WHERE status = 'pending' GROUP BY type"
# Counts forever: only the timeout ends it.
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) AS value FROM c"


def make_db(path: Path, rows: list[tuple[str, str]]) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE claims (id INTEGER PRIMARY KEY, type TEXT, status TEXT)")
    db.executemany("INSERT INTO claims (type, status) VALUES (?, ?)", rows)
    db.commit()
    db.close()
    return path


def source(db: Path, *queries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "url": f"sqlite:///{db}",
        "interval": "200ms",
        "timeout": "2s",
        "queries": list(queries),
        **extra,
    }


def query(name: str, sql: str, metric: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "metric": metric or f"app_{name}", "sql": sql, **extra}


def start(tmp_path: Path, procs: list[ManagedProcess], *sources: dict[str, Any]) -> Business:
    return start_business(tmp_path, procs, {"sql_sources": list(sources)})


def has(biz: Business, name: str, **labels: str) -> float | None:
    return samples(biz.metrics()).get((name, tuple(sorted(labels.items()))))


def ran(biz: Business, query: str, times: int = 1, source: str = "app") -> bool:
    """The query has run (and been recorded) at least `times` times."""
    body = samples(biz.metrics())
    errors = sum(
        v for (n, lab), v in body.items() if n == "business_sql_query_errors_total" and ("query", query) in lab
    )
    ok = body.get(("business_sql_query_success", (("query", query), ("source", source))))
    return ok is not None and (errors >= times or (ok == 1 and times == 1))


def test_rows_become_gauges_with_labels_and_follow_the_database(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    db = make_db(tmp_path / "app.db", [("land", "pending"), ("land", "pending"), ("car", "pending"), ("car", "done")])
    biz = start(
        tmp_path,
        procs,
        source(
            db,
            query("pending", PENDING, "app_claims_pending", help="Claims waiting.", label_columns=["type"]),
            query("all", "SELECT count(*) AS n FROM claims", "app_claims", value_column="n"),
        ),
    )
    wait_for(lambda: has(biz, "app_claims_pending", type="land") == 2, 20, "the pending gauge")
    body = biz.metrics()
    assert "# HELP app_claims_pending Claims waiting." in body
    assert "# TYPE app_claims_pending gauge" in body
    assert value(body, "app_claims_pending", type="car") == 1
    assert value(body, "app_claims") == 4
    assert value(body, "business_sql_query_success", source="app", query="pending") == 1
    assert 0 <= value(body, "business_sql_query_duration_seconds", source="app", query="pending") < 1
    assert (
        abs(value(body, "business_sql_query_last_success_timestamp_seconds", source="app", query="all") - time.time())
        < 30
    )
    assert "business_sql_query_errors_total{" not in body
    assert value(body, "business_scrape_collector_success", collector="sql") == 1
    # The next rounds follow the database: a type with no pending claim left loses its series (no stale series).
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE claims SET status = 'done' WHERE type = 'car'")
        conn.execute("INSERT INTO claims (type, status) VALUES ('land', 'pending')")
    wait_for(lambda: has(biz, "app_claims_pending", type="land") == 3, 20, "the new value")
    assert has(biz, "app_claims_pending", type="car") is None
    assert value(biz.metrics(), "app_claims") == 5


def test_a_failing_query_is_shown_and_does_not_affect_the_others(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    db = make_db(tmp_path / "app.db", [("land", "pending")])
    biz = start(
        tmp_path,
        procs,
        source(
            db,
            query("syntax", "SELEC 1 AS value"),
            query("missing_table", "SELECT count(*) AS value FROM verifications"),
            query("good", PENDING, label_columns=["type"]),
            query("no_value_column", "SELECT 1 AS n"),
            query("not_a_number", "SELECT 'many' AS value"),
            query("duplicate_labels", "SELECT 'x' AS type, 1 AS value UNION ALL SELECT 'x', 2", label_columns=["type"]),
            query("too_many_rows", "SELECT 'a' AS type, 1 AS v UNION ALL SELECT 'b', 2", value_column="v", max_rows=1)
            | {"label_columns": ["type"]},
        ),
    )
    wait_for(lambda: ran(biz, "too_many_rows", 2), 20, "two rounds")
    body = biz.metrics()
    assert value(body, "app_good", type="land") == 1
    assert value(body, "business_sql_query_success", source="app", query="good") == 1
    reasons = {
        "syntax": "query",
        "missing_table": "query",
        "no_value_column": "result",
        "not_a_number": "result",
        "duplicate_labels": "result",
        "too_many_rows": "result",
    }
    for name, reason in reasons.items():
        assert value(body, "business_sql_query_success", source="app", query=name) == 0, name
        assert value(body, "business_sql_query_errors_total", source="app", query=name, reason=reason) >= 1, name
        assert f"app_{name}" not in body, f"{name}: a failing query keeps no series"
        assert has(biz, "business_sql_query_last_success_timestamp_seconds", source="app", query=name) is None
    lint = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert lint.returncode == 0 and lint.stdout == lint.stderr == "", lint.stdout + lint.stderr
    log = biz.process.log_path.read_text()  # the error names the source, the query and the cause
    assert (
        'msg="sql query failed" source=app query=missing_table reason=query err="no such table: verifications"' in log
    )
    assert "column 'value' is not in the result (columns: n)" in log
    # Fix the database: the query recovers without a restart.
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE verifications (id INTEGER)")
    wait_for(lambda: has(biz, "app_missing_table") == 0, 20, "the query to recover")
    assert value(biz.metrics(), "business_sql_query_success", source="app", query="missing_table") == 1


def test_a_query_running_too_long_is_stopped_and_reported(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    db = make_db(tmp_path / "app.db", [("land", "pending")])
    biz = start(
        tmp_path,
        procs,
        source(db, query("endless", ENDLESS), query("after", "SELECT 7 AS value"), timeout="300ms", interval="1s"),
    )
    wait_for(lambda: ran(biz, "endless", 2), 30, "the endless query to time out twice")
    body = biz.metrics()
    assert value(body, "business_sql_query_success", source="app", query="endless") == 0
    assert value(body, "business_sql_query_errors_total", source="app", query="endless", reason="timeout") >= 2
    assert 0.3 <= value(body, "business_sql_query_duration_seconds", source="app", query="endless") < 1.5
    # The next query of the same source still ran, and a scrape never waits for SQL.
    assert value(body, "app_after") == 7
    started = time.perf_counter()
    biz.metrics()
    assert time.perf_counter() - started < 0.25
    assert "stopped after the timeout of 0.3s" in biz.process.log_path.read_text()


def test_sigterm_interrupts_a_running_query(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    db = make_db(tmp_path / "app.db", [])
    biz = start(tmp_path, procs, source(db, query("endless", ENDLESS), timeout="60s"))
    time.sleep(0.5)  # the query is running now
    started = time.monotonic()
    assert biz.process.stop() == 0
    assert time.monotonic() - started < 5


WRITES = {
    "delete": "DELETE FROM claims RETURNING id AS value",
    "update": "UPDATE claims SET status = 'x' RETURNING id AS value",
    "insert": "INSERT INTO claims (type, status) VALUES ('a', 'b') RETURNING id AS value",
    "create": "CREATE TABLE evil (value INTEGER)",
    "drop": "DROP TABLE claims",
    "attach": "ATTACH DATABASE '{other}' AS other",
    "pragma": "PRAGMA journal_mode = DELETE",
    "vacuum": "VACUUM INTO '{other}'",
    "two_statements": "SELECT 1 AS value; DELETE FROM claims",
}


def run_once(tmp_path: Path, *sources: dict[str, Any]) -> SQLSources:
    """One round of every source, in this process (no exporter), for checks on the query runner itself."""
    config = parse_config({"business": {"auth_token": TOKEN, "sql_sources": list(sources)}}).business
    sql = SQLSources(config)
    for s in config.sql_sources:
        sql.run_source(s)
    return sql


def test_writes_are_refused(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", [("land", "pending")])
    os.chmod(db, 0o644)
    before = db.read_bytes()
    other = tmp_path / "other.db"
    queries = [query(name, sql.format(other=other)) for name, sql in WRITES.items()]
    sql = run_once(tmp_path, source(db, *queries))
    for name in WRITES:
        state = sql.states[("app", name)]
        assert not state.success and state.errors == {"query": 1}, (name, state)
    assert db.read_bytes() == before
    assert not other.exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM claims").fetchone() == (1,)


def test_result_shapes(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", [("land", "pending"), (None, "pending")])  # type: ignore[list-item]
    sql = run_once(
        tmp_path,
        source(
            db,
            query("null_label", PENDING, label_columns=["type"]),
            query("null_value", "SELECT 'a' AS type, NULL AS value UNION ALL SELECT 'b', 2.5", label_columns=["type"]),
            query("text_number", "SELECT '42' AS value"),
            query("no_rows", "SELECT 1 AS value WHERE 0"),
            query("view_of_pragma", "SELECT count(*) AS value FROM pragma_table_info('claims')"),
        ),
    )
    rows = {name: sql.states[("app", name)].rows for name in ("null_label", "null_value", "text_number", "no_rows")}
    assert rows == {
        "null_label": [(("",), 1.0), (("land",), 1.0)],
        "null_value": [(("b",), 2.5)],  # a NULL value gives no sample
        "text_number": [((), 42.0)],
        "no_rows": [],
    }
    assert sql.states[("app", "view_of_pragma")].errors == {"query": 1}  # pragmas are refused, even as functions


def test_database_file_appearing_later_and_being_replaced(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    db = tmp_path / "later.db"
    biz = start(tmp_path, procs, source(db, query("all", "SELECT count(*) AS value FROM claims")))
    wait_for(lambda: ran(biz, "all", 2), 20, "two failed rounds")
    body = biz.metrics()
    assert value(body, "business_sql_query_success", source="app", query="all") == 0
    assert value(body, "business_sql_query_errors_total", source="app", query="all", reason="connect") >= 2
    assert not db.exists(), "a read-only source must not create the file"
    make_db(db, [("a", "b")])
    wait_for(lambda: has(biz, "app_all") == 1, 20, "the file to be picked up")
    # Replaced atomically (a restore): the next round reads the new file, not the old inode.
    make_db(tmp_path / "new.db", [("a", "b")] * 3)
    os.replace(tmp_path / "new.db", db)
    wait_for(lambda: has(biz, "app_all") == 3, 20, "the replaced file to be read")
    # Deleted: the series goes, success says why.
    db.unlink()
    wait_for(lambda: has(biz, "app_all") is None, 20, "the series to be dropped")
    assert value(biz.metrics(), "business_sql_query_success", source="app", query="all") == 0


def test_a_busy_writer_does_not_block_reads(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    db = make_db(tmp_path / "app.db", [("land", "pending")])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    biz = start(tmp_path, procs, source(db, query("pending", PENDING, label_columns=["type"])))
    stop = threading.Event()

    def write() -> None:
        writer = sqlite3.connect(db, isolation_level=None)
        while not stop.is_set():
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO claims (type, status) VALUES ('land', 'pending')")
            time.sleep(0.05)
            writer.execute("COMMIT")
        writer.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        first = wait_for(lambda: has(biz, "app_pending", type="land"), 20, "a value")
        wait_for(lambda: (has(biz, "app_pending", type="land") or 0) > first + 5, 20, "values while writing")
    finally:
        stop.set()
        t.join()
    assert "business_sql_query_errors_total{" not in biz.metrics()


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is not None, reason="psycopg is installed")
def test_postgres_without_driver_is_a_clear_startup_error(tmp_path: Path) -> None:
    pg = {"name": "ledger", "url": "postgresql://monitor@db.invalid/app", "queries": [query("q", "SELECT 1")]}
    cfg = write_config(tmp_path / "c.yml", {"business": {"auth_token": TOKEN, "sql_sources": [pg]}})
    result = subprocess.run(
        alismon_argv("business", config_file=cfg),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: business.sql_sources[0]: source 'ledger' has a postgres url, but the psycopg driver is not installed"
    ), result.stderr
    assert "Traceback" not in result.stderr
