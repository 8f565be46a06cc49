"""Durable state in SQLite (WAL): the aggregated series and the recent event ids.

One writer thread owns the connection. Requests queue their validated batches; the writer
takes everything queued, applies it in one transaction and commits once (group commit), and
only then answers each request and publishes the new values to scrapes. A crash after an
answer therefore loses nothing; a crash before it loses only unacknowledged events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import queue
import sqlite3
import threading
import time
from array import array
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from exporters.business.aggregates import Aggregates, EventFamily, Key, Layered, Value, apply_group
from exporters.business.events import Event, Rejection
from exporters.business.idindex import IdIndex
from exporters.config.business import BusinessConfig
from exporters.core.errors import ConfigError
from exporters.core.metrics import Histogram, HistogramBounds

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (metric TEXT NOT NULL, labels TEXT NOT NULL, value TEXT NOT NULL,
                                   PRIMARY KEY (metric, labels)) WITHOUT ROWID;
-- The ids of one group commit in one row (a JSON array): one insert per commit instead of one
-- per event, which was a quarter of the writer's time at full rate. All share the commit's time.
CREATE TABLE IF NOT EXISTS event_id_batches (seen REAL NOT NULL, ids TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_id_batches_seen ON event_id_batches (seen);
-- A group commit is one INSERT into this view: a single statement writes the commit's series and
-- its ids in one implicit transaction. One statement is one step with the GIL released, where
-- BEGIN, a row per series, the ids and COMMIT were a step each, and the writer had to win the
-- GIL back from the request parsing after every one of them.
CREATE VIEW IF NOT EXISTS group_commit (seen, ids, series) AS SELECT NULL, NULL, NULL WHERE 0;
CREATE TRIGGER IF NOT EXISTS group_commit_write INSTEAD OF INSERT ON group_commit BEGIN
  INSERT INTO series (metric, labels, value)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(NEW.series) WHERE true
    ON CONFLICT (metric, labels) DO UPDATE SET value = excluded.value;
  INSERT INTO event_id_batches (seen, ids) SELECT NEW.seen, NEW.ids WHERE NEW.ids IS NOT NULL;
END;
-- One row rewritten while commits fail, to learn when the store takes writes again.
CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY, at REAL NOT NULL);
"""
PROBE_INTERVAL = 1.0  # seconds between write probes while commits fail
MAX_GROUP = 512  # batches per transaction; bounds a commit's latency under a flood


@dataclass
class Outcome:
    accepted: int
    duplicates: int


@dataclass
class _Batch:
    events: list[Event]
    future: Future[Outcome] | asyncio.Future[Outcome] = field(default_factory=Future)
    loop: asyncio.AbstractEventLoop | None = None  # set when `future` is the loop's own


def _settle(answers: list[tuple[asyncio.Future[Outcome], Outcome | Rejection]]) -> None:
    """On the event loop: answer every request of one group commit (one wake-up for all)."""
    for future, result in answers:
        if future.done():  # the request went away
            continue
        if isinstance(result, Rejection):
            future.set_exception(result)
        else:
            future.set_result(result)


def _answer(results: list[tuple[_Batch, Outcome | Rejection]]) -> None:
    """Hand each batch its outcome: loop futures in one call per loop, the others at once."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Outcome | Rejection]]] = {}
    for batch, result in results:
        if batch.loop is not None:
            by_loop.setdefault(batch.loop, []).append((batch.future, result))  # type: ignore[arg-type]
        elif isinstance(result, Rejection):
            batch.future.set_exception(result)
        else:
            batch.future.set_result(result)
    for loop, answers in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, answers)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass


COMMIT_BOUNDS = HistogramBounds((0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))


@dataclass
class StoreStats:
    commits: int = 0
    committed_events: int = 0
    duplicates: int = 0
    errors: int = 0
    commit_seconds: Histogram = field(default_factory=lambda: Histogram(COMMIT_BOUNDS))  # fsync included


class EventStore:
    def __init__(self, config: BusinessConfig, aggregates: Aggregates) -> None:
        self.config = config
        self.aggregates = aggregates
        self.path = Path(config.store.path)
        self.stats = StoreStats()
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()  # C: a third of Queue's cost a batch
        # The ids inside the idempotency window, as fingerprints by commit (~20 bytes an id).
        self._ids = IdIndex()
        self._labels: dict[tuple[str, str], set[str]] = {}
        self._label_json: dict[tuple[str, ...], str] = {}  # as many as there are series, which the caps bound
        self._caps = {
            (event, label): rule.max_values
            for event, spec in config.events.items()
            for label, rule in spec.labels.items()
            if rule.max_values is not None
        }
        self._label_index = {event: list(spec.labels) for event, spec in config.events.items()}
        self._capped_types = {event for event, _ in self._caps}
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        # False from a failed commit until a commit or a write probe succeeds: readiness and
        # business_store_writable follow it.
        self.writable = True

    # ---- lifecycle

    def open(self) -> None:
        """Create or open the database and load the state (counters survive restarts and crashes)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.config.store.synchronous.upper()}")
            db.executescript(SCHEMA)
            db.execute("BEGIN IMMEDIATE")  # a store that opens read-only fails here, at start, not at the first event
            db.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                [f"business.store.path: cannot open the event store {str(self.path)!r}: {_cause(self.path, exc)}"]
            ) from None
        restored: dict[Key, Value] = {}
        known = {f.metric: f for fams in self.aggregates.families.values() for f in fams}
        for metric, labels, value in db.execute("SELECT metric, labels, value FROM series"):
            family = known.get(metric)
            if family is None:  # a family removed from the config stays on disk but is not exposed
                continue
            restored_value = _stored_value(family, json.loads(value))
            if restored_value is None:
                log.warning(
                    "stored series does not fit its configured family (kind or buckets changed): it starts from zero",
                    extra={"metric": metric, "labels": labels},
                )
                continue
            if not _finite(restored_value):
                # Stores written before event values were bounded can hold +Inf: kept, it would make
                # every rate() over the family NaN for good. As a counter reset, rate() copes.
                log.warning(
                    "stored series is not a finite number (written before event values were bounded): "
                    "it starts from zero",
                    extra={"metric": metric, "labels": labels, "value": value[:64]},
                )
                continue
            restored[(metric, tuple(json.loads(labels)))] = restored_value
        self.aggregates.merge(restored)
        _migrate_event_ids(db)
        horizon = time.time() - self.config.idempotency.window
        self._ids = IdIndex()
        for seen, ids in db.execute("SELECT seen, ids FROM event_id_batches WHERE seen >= ? ORDER BY seen", (horizon,)):
            self._ids.add_commit(seen, orjson.loads(ids))
        self._labels = self.aggregates.label_values()
        self._db = db
        self._thread = threading.Thread(target=self._run, name="business-store", daemon=True)
        self._thread.start()
        log.info("store opened", extra={"path": str(self.path), "series": len(restored), "ids": len(self._ids)})

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
        if self._db is not None:
            self._db.close()

    # ---- requests

    def submit(self, events: list[Event]) -> Future[Outcome]:
        batch = _Batch(events)
        self._queue.put(batch)
        return batch.future  # type: ignore[return-value]

    def submit_async(self, events: list[Event]) -> asyncio.Future[Outcome]:
        """submit() for a caller on an event loop: the outcome arrives with one loop wake-up per
        group commit rather than one per request."""
        loop = asyncio.get_running_loop()
        batch = _Batch(events, loop.create_future(), loop)
        self._queue.put(batch)
        return batch.future  # type: ignore[return-value]

    # ---- the writer thread

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=None if self.writable else PROBE_INTERVAL)
            except queue.Empty:
                self._probe()
                continue
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(nxt)
            self._commit(group)

    def _probe(self) -> None:
        assert self._db is not None
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO write_probe (id, at) VALUES (1, ?)", (time.time(),))
            self._db.execute("COMMIT")
        except sqlite3.Error:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            return
        self.writable = True
        log.info("store takes writes again", extra={"path": str(self.path)})

    def _stage(
        self,
        batch: _Batch,
        staged: dict[Key, Value],
        staged_ids: list[str],
        staged_labels: dict[tuple[str, str], set[str]],
        now: float,
        claimed: list[array[int]] | None = None,
    ) -> Outcome:
        """Fold one batch into the commit's staged values, or refuse it whole.

        Its ids are claimed in the index first (checked and remembered in one probe each, which
        also finds an id repeated earlier in the same commit); they are released again if the
        batch is refused, and by the caller if the commit fails."""
        fresh = batch.events
        new_ids = [e.id for e in fresh if e.id is not None]
        taken: array[int] | None = None
        if new_ids:
            taken, repeated = self._ids.claim(new_ids)
            if repeated:
                skip, fresh, position = set(repeated), [], 0
                for event in batch.events:
                    if event.id is not None:
                        position += 1
                        if position - 1 in skip:
                            continue
                    fresh.append(event)
                new_ids = [e.id for e in fresh if e.id is not None]
        try:
            self._fold(batch, fresh, staged, staged_labels)
        except Rejection:
            if taken is not None:
                self._ids.release(taken)
            raise
        if taken is not None:
            staged_ids.extend(new_ids)  # unique: the claim found repeats within the commit too
            if claimed is not None:
                claimed.append(taken)
        return Outcome(len(fresh), len(batch.events) - len(fresh))

    def _fold(
        self,
        batch: _Batch,
        fresh: list[Event],
        staged: dict[Key, Value],
        staged_labels: dict[tuple[str, str], set[str]],
    ) -> None:
        # Each distinct label set once, in first-seen order: a batch repeats a few of them many times.
        groups: dict[tuple[str, tuple[str, ...]], list[Event]] = {}
        for event in fresh:
            group = groups.get((event.type, event.labels))
            if group is None:
                groups[(event.type, event.labels)] = [event]
            else:
                group.append(event)
        # Cardinality caps, for the whole batch before any of it is applied (all or nothing).
        adds: dict[tuple[str, str], set[str]] = {}
        families, series = self.aggregates.families, self.aggregates.series
        for kind, labels in groups:
            if kind not in self._capped_types:
                continue
            main = (families[kind][0].metric, labels)
            if main in series or main in staged:  # a series that exists has had its values counted
                continue
            for name, value in zip(self._label_index[kind], labels, strict=True):
                key = (kind, name)
                cap = self._caps.get(key)
                if cap is None or value in self._labels.get(key, ()) or value in staged_labels.get(key, ()):
                    continue
                new = adds.setdefault(key, set())
                new.add(value)
                total = len(self._labels.get(key, ())) + len(staged_labels.get(key, ())) + len(new)
                if total > cap:
                    raise Rejection(
                        429,
                        "cardinality_cap",
                        f"label {name} of {kind} already has {cap} distinct values (its cap); "
                        f"{value!r} would be one more",
                        batch.events.index(groups[(kind, labels)][0]),
                        f"labels.{name}",
                    )
        for key, values in adds.items():
            staged_labels.setdefault(key, set()).update(values)
        # Folded apart first: a batch whose sums overflow is refused whole, staging nothing of it.
        folded: dict[Key, Value] = {}
        current = Layered(staged, series)
        for (kind, labels), events in groups.items():
            apply_group(events, labels, families[kind], current, folded)
        for series_key, folded_value in folded.items():
            if not math.isfinite(folded_value.sum if isinstance(folded_value, Histogram) else folded_value):
                metric, labels = series_key
                kind = next(k for k, fams in families.items() if any(f.metric == metric for f in fams))
                raise _overflow(batch.events, groups[(kind, labels)], metric, current.get(series_key))
        staged.update(folded)

    def _commit(self, group: list[_Batch]) -> None:
        assert self._db is not None
        start = time.perf_counter()
        now = time.time()
        staged: dict[Key, Value] = {}
        staged_ids: list[str] = []
        staged_labels: dict[tuple[str, str], set[str]] = {}
        claimed: list[array[int]] = []
        results: list[tuple[_Batch, Outcome | Rejection]] = []
        for batch in group:
            try:
                results.append((batch, self._stage(batch, staged, staged_ids, staged_labels, now, claimed)))
            except Rejection as rejection:
                results.append((batch, rejection))
        try:
            if staged or staged_ids:
                series = orjson.dumps(
                    [(m, self._labels_json(labels), _value_json(v)) for (m, labels), v in staged.items()]
                )
                ids = orjson.dumps(staged_ids).decode() if staged_ids else None
                # Text, not bytes: SQLite's JSON functions read a blob as their binary format.
                self._db.execute(
                    "INSERT INTO group_commit (seen, ids, series) VALUES (?, ?, ?)", (now, ids, series.decode())
                )
        except sqlite3.Error as exc:
            self.stats.errors += 1
            self.writable = False
            log.error("store commit failed", extra={"err": str(exc), "batches": len(group)})
            if self._db.in_transaction:  # a failed statement rolls itself back, but not every failed commit
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            for taken in claimed:  # not stored, so not remembered: a retry is counted
                self._ids.release(taken)
            failed = Rejection(503, "store_error", f"the event store failed: {exc}")
            _answer([(batch, failed) for batch, _ in results])
            return
        self.writable = True
        # Published only now: a scrape never shows an event that is not durable.
        self.aggregates.merge(staged)
        if claimed:
            self._ids.record(now, claimed[0] if len(claimed) == 1 else array("Q", b"".join(map(bytes, claimed))))
        for key, values in staged_labels.items():
            self._labels.setdefault(key, set()).update(values)
        self.stats.commits += 1
        self.stats.committed_events += sum(r.accepted for _, r in results if isinstance(r, Outcome))
        self.stats.duplicates += sum(r.duplicates for _, r in results if isinstance(r, Outcome))
        self.stats.commit_seconds.observe(time.perf_counter() - start)
        _answer(results)
        if self.stats.commits % 1000 == 0:  # after the answers: pruning is nobody's wait
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget ids older than the idempotency window, and the oldest beyond max_ids."""
        assert self._db is not None
        horizon = now - self.config.idempotency.window
        cutoff: float | None = None
        # Whole commits, oldest first: those past the window, then more until at most max_ids remain.
        commits = self._ids.commits
        while commits and (commits[0][0] < horizon or len(self._ids) > self.config.idempotency.max_ids):
            cutoff = self._ids.forget_oldest()
        if cutoff is not None:
            self._db.execute("DELETE FROM event_id_batches WHERE seen <= ?", (cutoff,))

    def _labels_json(self, labels: tuple[str, ...]) -> str:
        """The series key as stored; cached, as the same few label sets are written at every commit."""
        text = self._label_json.get(labels)
        if text is None:
            text = self._label_json[labels] = json.dumps(labels)
        return text

    def label_counts(self) -> dict[tuple[str, str], int]:
        return {key: len(values) for key, values in self._labels.items()}


def _cause(path: Path, exc: OSError | sqlite3.Error) -> str:
    """Why a store cannot be opened, in the user's terms (sqlite3 says "unable to open database file")."""
    if path.is_dir():
        return "it is a directory"
    if path.parent.exists() and not path.parent.is_dir():
        return f"{str(path.parent)!r} is not a directory"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if os.access(path.parent, os.W_OK) is False or (path.exists() and not os.access(path, os.W_OK)):
        return f"not writable ({exc})"
    return str(exc)


def _overflow(events: list[Event], series_events: list[Event], metric: str, before: Value | None) -> Rejection:
    """The refusal naming the first event whose value takes a series (or a histogram's sum) past a float."""
    total = before.sum if isinstance(before, Histogram) else (before or 0.0)
    group = {id(e) for e in series_events}
    index = 0
    for position, event in enumerate(events):
        if id(event) in group:
            total += event.value
            if not math.isfinite(total):
                index = position
                break
    return Rejection(
        422,
        "value_overflow",
        f"event {index}: value: {events[index].value!r} would take {metric} past the largest number a sample "
        "can hold; the batch was not counted",
        index,
        "value",
    )


# How a series is stored (the `value` column, JSON): a counter or gauge as its float, a histogram
# as [count per bucket..., count in +Inf, sum, count], per-bucket counts (not cumulative).


def _value_json(value: Value) -> str:
    if isinstance(value, Histogram):
        return json.dumps([*value.counts, value.sum, value.count])
    # repr is json.dumps for a finite float, without the encoder's set-up per call.
    return repr(value) if isinstance(value, float) and math.isfinite(value) else json.dumps(value)


def _stored_value(family: EventFamily, stored: float | list[float]) -> Value | None:
    """A stored series as the aggregates hold it; None if it was stored for another kind or other buckets."""
    if family.bounds is None:
        return None if isinstance(stored, list) else float(stored)
    if not isinstance(stored, list) or len(stored) != len(family.bounds) + 2:
        return None
    return Histogram(family.bounds, stored[:-2], stored[-2])


def _finite(value: Value) -> bool:
    if isinstance(value, Histogram):
        return math.isfinite(value.sum) and all(map(math.isfinite, value.counts))
    return math.isfinite(value)


def _migrate_event_ids(db: sqlite3.Connection) -> None:
    """Stores written before ids were kept per commit had one row per id: move them over, once."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_ids'").fetchone() is None:
        return
    by_seen: dict[float, list[str]] = {}
    for event_id, seen in db.execute("SELECT id, seen FROM event_ids"):
        by_seen.setdefault(seen, []).append(event_id)
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO event_id_batches (seen, ids) VALUES (?, ?)", [(t, json.dumps(ids)) for t, ids in by_seen.items()]
    )
    db.execute("DROP TABLE event_ids")
    db.execute("COMMIT")
    log.info("store migrated", extra={"ids": sum(map(len, by_seen.values()))})
