"""The event store on a real SQLite file: ids kept per group commit, pruning, and old stores migrated."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from exporters.business.aggregates import Aggregates
from exporters.business.events import parse_body
from exporters.business.store import EventStore
from exporters.config import parse_config


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
    second_commit = max(store._ids.values())
    # As if a day had passed since the first commit but not since the second.
    store._prune(second_commit + store.config.idempotency.window - 0.001)
    assert set(store._ids) == {"c"}
    assert send(store, ["a", "c"]) == (1, 1)  # "a" counts again: a retry after the window is a new event
    store.close()
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM event_id_batches").fetchone()[0]
    assert rows == 2  # the commit of "c" and the one of the second "a"; the first is gone
