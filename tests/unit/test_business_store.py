"""The event store on a real SQLite file: ids kept per group commit, pruning, old stores migrated, series restored."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from exporters.business.aggregates import Aggregates
from exporters.business.events import Rejection, parse_body
from exporters.business.idindex import IdIndex
from exporters.business.store import SCHEMA, EventStore
from exporters.config import parse_config
from exporters.core.exposition import encode_text


def open_store(path: Path, max_ids: int = 1000) -> EventStore:
    config = parse_config(
        {
            "business": {
                "auth_token": "t",
                "store": {"path": str(path)},
                "idempotency": {"max_ids": max_ids},
                "events": {"claims": {"kind": "counter", "metric": "app_claims_total", "labels": {"status": ["ok"]}}},
            }
        }
    ).business
    store = EventStore(config, Aggregates(config))
    store.open()
    return store


def send(store: EventStore, ids: list[str]) -> tuple[int, int]:
    events = parse_body(
        [{"type": "claims", "labels": {"status": "ok"}, "id": i} for i in ids], store.config, time.time()
    )
    outcome = store.submit(events).result(timeout=10)
    return outcome.accepted, outcome.duplicates


def test_ids_survive_a_reopen_and_old_stores_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    db = sqlite3.connect(path)  # the layout before ids were kept per commit: one row per id
    db.executescript(
        "CREATE TABLE event_ids (id TEXT PRIMARY KEY, seen REAL NOT NULL) WITHOUT ROWID;"
        "CREATE INDEX event_ids_seen ON event_ids (seen);"
    )
    now = time.time()
    db.executemany("INSERT INTO event_ids VALUES (?, ?)", [("old-1", now), ("old-2", now - 1), ("ancient", 1.0)])
    db.commit()
    db.close()
    store = open_store(path)
    assert send(store, ["old-1", "old-2", "ancient", "new-1"]) == (2, 2)  # "ancient" is past the 24h window
    store.close()
    store = open_store(path)
    assert send(store, ["old-1", "new-1", "new-2"]) == (1, 2)
    store.close()
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "event_ids" not in tables


def exposed(store: EventStore) -> str:
    return encode_text(list(store.aggregates.collect())).decode()


def test_a_stored_counter_that_is_not_finite_starts_from_zero(tmp_path: Path, caplog: Any) -> None:
    """Stores written before values were bounded can hold +Inf (issue 16, F4): restored, it made
    every rate() over the family NaN for good; it restarts as a counter reset, with a warning."""
    path = tmp_path / "s.sqlite"
    store = open_store(path)
    assert send(store, ["a", "b"]) == (2, 0)
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("UPDATE series SET value = 'Infinity' WHERE metric = 'app_claims_total'").rowcount == 1
    db.commit()
    db.close()
    with caplog.at_level("WARNING"):
        store = open_store(path)
    try:
        assert "app_claims_total{" not in exposed(store)
        assert any("not a finite number" in r.getMessage() for r in caplog.records), caplog.records
        assert send(store, ["c"]) == (1, 0)
        assert 'app_claims_total{status="ok"} 1.0' in exposed(store)
    finally:
        store.close()
    store = open_store(path)  # the row was rewritten by the new event
    try:
        assert 'app_claims_total{status="ok"} 1.0' in exposed(store)
    finally:
        store.close()


def test_max_ids_forgets_the_oldest_commits_on_disk_too(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = open_store(path, max_ids=1000)
    for n in range(6):
        assert send(store, [f"c{n}-{i}" for i in range(300)]) == (300, 0)
        time.sleep(0.01)  # distinct commit times
    store._prune(time.time())  # normally every 1000 commits
    assert len(store._ids) == 900  # whole commits: the three oldest are forgotten
    store.close()
    store = open_store(path, max_ids=1000)
    assert send(store, ["c2-0", "c3-0", "c5-299"]) == (1, 2)
    store.close()


def test_ids_past_the_window_are_forgotten_in_memory_and_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = open_store(path)
    assert send(store, ["a", "b"]) == (2, 0)
    time.sleep(0.01)
    assert send(store, ["c"]) == (1, 0)
    second_commit = store._ids.commits[-1][0]
    # As if a day had passed since the first commit but not since the second.
    store._prune(second_commit + store.config.idempotency.window - 0.001)
    assert len(store._ids) == 1 and "c" in store._ids and "a" not in store._ids
    assert send(store, ["a", "c"]) == (1, 1)  # "a" counts again: a retry after the window is a new event
    store.close()
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM event_id_batches").fetchone()[0]
    assert rows == 2  # the commit of "c" and the one of the second "a"; the first is gone


# An observe histogram with integer, fractional and large bounds, and a histogram event.
CHECKS = {
    "kind": "counter",
    "metric": "app_checks_total",
    "labels": {"outcome": ["ok", "failed"]},
    "observe": {"metric": "app_check_seconds", "buckets": [0.5, 1, 3, 1e6]},
}
PAYOUTS = {"kind": "histogram", "metric": "app_payout_gas", "buckets": [21000, 3e7]}


def open_histogram_store(path: Path, events: dict[str, Any]) -> EventStore:
    config = parse_config({"business": {"auth_token": "t", "store": {"path": str(path)}, "events": events}}).business
    store = EventStore(config, Aggregates(config))
    store.open()
    return store


def write_rows(path: Path, rows: list[tuple[str, list[str], object]]) -> None:
    """Series rows as the store has always written them: JSON labels, and a float or, for a histogram,
    [count per bucket..., count in +Inf, sum, count]."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany(
        "INSERT INTO series (metric, labels, value) VALUES (?, ?, ?)",
        [(metric, json.dumps(labels), json.dumps(value)) for metric, labels, value in rows],
    )
    db.commit()
    db.close()


def test_a_store_written_before_scrapes_the_same_values_and_is_written_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    write_rows(
        path,
        [
            ("app_checks_total", ["ok"], 5.0),
            ("app_check_seconds", ["ok"], [1.0, 2.0, 0.0, 1.0, 1.0, 2000004.0, 5.0]),
            ("app_payout_gas", [], [0.0, 2.0, 1.0, 31000000.0, 3.0]),
        ],
    )
    store = open_histogram_store(path, {"checks": CHECKS, "payouts": PAYOUTS})
    body = encode_text(list(store.aggregates.collect())).decode()
    assert 'app_checks_total{outcome="ok"} 5.0\n' in body
    assert (
        'app_check_seconds_bucket{le="0.5",outcome="ok"} 1.0\n'
        'app_check_seconds_bucket{le="1.0",outcome="ok"} 3.0\n'
        'app_check_seconds_bucket{le="3.0",outcome="ok"} 3.0\n'
        'app_check_seconds_bucket{le="1e+06",outcome="ok"} 4.0\n'
        'app_check_seconds_bucket{le="+Inf",outcome="ok"} 5.0\n'
        'app_check_seconds_count{outcome="ok"} 5.0\n'
        'app_check_seconds_sum{outcome="ok"} 2.000004e+06\n'
    ) in body
    assert (
        'app_payout_gas_bucket{le="21000.0"} 0.0\n'
        'app_payout_gas_bucket{le="3e+07"} 2.0\n'
        'app_payout_gas_bucket{le="+Inf"} 3.0\n'
        "app_payout_gas_count 3.0\n"
        "app_payout_gas_sum 3.1e+07\n"
    ) in body
    events = parse_body(
        [{"type": "checks", "labels": {"outcome": "ok"}, "value": 2}, {"type": "payouts", "value": 21000}],
        store.config,
        time.time(),
    )
    assert store.submit(events).result(timeout=10).accepted == 2
    store.close()
    stored = dict(sqlite3.connect(path).execute("SELECT metric, value FROM series"))
    assert stored == {
        "app_checks_total": "6.0",
        "app_check_seconds": "[1.0, 2.0, 1.0, 1.0, 1.0, 2000006.0, 6.0]",
        "app_payout_gas": "[1.0, 2.0, 1.0, 31021000.0, 4.0]",
    }


def test_a_histogram_stored_with_other_buckets_starts_again_from_zero(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.sqlite"
    write_rows(path, [("app_check_seconds", ["ok"], [1.0, 2.0, 3.0, 1.5, 3.0]), ("app_checks_total", ["ok"], 3.0)])
    with caplog.at_level(logging.WARNING):
        store = open_histogram_store(path, {"checks": CHECKS})
    assert "kind or buckets changed" in caplog.text
    assert list(store.aggregates.series) == [("app_checks_total", ("ok",))]
    events = parse_body([{"type": "checks", "labels": {"outcome": "ok"}, "value": 0.7}], store.config, time.time())
    assert store.submit(events).result(timeout=10).accepted == 1
    body = encode_text(list(store.aggregates.collect())).decode()
    store.close()
    assert 'app_check_seconds_bucket{le="1.0",outcome="ok"} 1.0\n' in body
    assert 'app_check_seconds_count{outcome="ok"} 1.0\n' in body
    assert 'app_checks_total{outcome="ok"} 4.0\n' in body


def test_the_id_index_remembers_forgets_and_stays_small() -> None:
    """At most 40 bytes per remembered id (a dict of strings took ~140), exact membership, whole-commit pruning."""
    index = IdIndex()
    for commit in range(200):
        index.add_commit(float(commit), [f"evt-{commit}-{i}-{uuid.uuid4().hex}" for i in range(1000)])
    assert len(index) == 200_000
    assert index.nbytes() / len(index) <= 40, index.nbytes() / len(index)
    # Split in tables that double on their own: one doubling rehashes a small share of the ids.
    sizes = [len(table) for table in index._tables]
    assert max(sizes) <= sum(sizes) / 64, sizes
    kept = [f"kept-{i}" for i in range(5000)]
    index.add_commit(1000.0, kept)
    assert all(i in index for i in kept)
    assert not any(f"other-{i}" in index for i in range(5000))
    assert "x" not in index and "kept-7" in index
    while len(index) > 5000:
        index.forget_oldest()  # backward-shift deletion keeps every remaining probe run intact
    assert len(index) == 5000 and all(i in index for i in kept)
    assert index.forget_oldest() == 1000.0 and len(index) == 0 and "kept-1" not in index


def test_ids_are_claimed_once_and_released_when_not_stored(tmp_path: Path) -> None:
    """The writer checks and remembers an id in one probe: repeats within a batch and within one
    group commit are duplicates; a refused batch and a failed commit give their ids back."""
    index = IdIndex()
    taken, repeated = index.claim(["a", "b", "a", "c"])
    assert (len(taken), repeated) == (3, [2]) and len(index) == 3
    index.release(taken)
    assert len(index) == 0 and "a" not in index
    store = open_store(tmp_path / "s.sqlite")
    try:
        assert send(store, ["x", "x", "y"]) == (2, 1)
        # A group of two batches sharing an id: the second batch counts it as a duplicate.
        events = [
            parse_body(
                [{"type": "claims", "labels": {"status": "ok"}, "id": i} for i in ids], store.config, time.time()
            )
            for ids in (["p", "q"], ["q", "r"])
        ]
        staged: dict[Any, Any] = {}
        staged_ids: list[str] = []
        claimed: list[Any] = []
        from exporters.business.store import _Batch

        outcomes = [store._stage(_Batch(e), staged, staged_ids, {}, time.time(), claimed) for e in events]
        assert [(o.accepted, o.duplicates) for o in outcomes] == [(2, 0), (1, 1)]
        assert staged_ids == ["p", "q", "r"]
        for taken in claimed:  # as a failed commit does
            store._ids.release(taken)
        assert "p" not in store._ids and "x" in store._ids
        # A batch refused whole (here its sum overflows) leaves its ids unremembered: a fixed retry counts.
        huge = parse_body(
            [{"type": "claims", "labels": {"status": "ok"}, "id": f"big-{n}", "value": 1e308} for n in range(2)],
            store.config,
            time.time(),
        )
        with pytest.raises(Rejection, match="past the largest number"):
            store.submit(huge).result(timeout=10)
        assert "big-0" not in store._ids and send(store, ["big-0"]) == (1, 0)
    finally:
        store.close()
