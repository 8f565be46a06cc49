"""SQL sources: periodic read-only queries whose rows become gauges.

For state that lives in an application database ("claims pending verification"). Each source
runs its queries one after another in its own worker thread, every `interval`; each query has
`timeout` seconds. Results are cached and a scrape only reads the cache: a scrape never runs SQL
and never waits on a database.

Read-only, three times over for SQLite: the file is opened with `mode=ro`, `query_only` is on,
and an authorizer allows nothing but reading (no INSERT/UPDATE/DELETE/DDL, no ATTACH, no PRAGMA).
A fresh connection per round means a database file that appears later, or is replaced (a
restore, an atomic rename), is simply picked up on the next round. Postgres runs in read-only
transactions with a server-side statement_timeout, when psycopg is installed.

A failing query keeps no values: its gauge series are dropped until it succeeds again (the
node_exporter textfile way), because a number that is silently hours old is worse than a gap;
`business_sql_query_success` is then 0, `business_sql_query_errors_total{reason}` counts why,
and `business_sql_query_last_success_timestamp_seconds` says how old the last good data is.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import logging
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client.metrics_core import Metric

from exporters.config.business import BusinessConfig, SQLQuery, SQLSource, sqlite_path
from exporters.core.metrics import MetricFamily

log = logging.getLogger(__name__)

# Error reasons, the `reason` label of business_sql_query_errors_total.
CONNECT, TIMEOUT, QUERY, RESULT = "connect", "timeout", "query", "result"
# What a SQLite query may do: read tables and views, call functions, recurse in a CTE. Nothing else.
_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_PROGRESS_STEPS = 1000  # SQLite VM instructions between deadline checks (a few microseconds)


class QueryFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class QueryState:
    success: bool = False
    duration: float = 0.0
    last_success: float | None = None
    rows: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)


def driver_problems(config: BusinessConfig) -> list[str]:
    """Config problems only visible at start: a Postgres source without its driver."""
    if importlib.util.find_spec("psycopg") is not None:
        return []
    return [
        f"business.sql_sources[{i}]: source {source.name!r} has a postgres url, but the psycopg driver is not "
        "installed (pip install 'psycopg[binary]')"
        for i, source in enumerate(config.sql_sources)
        if source.driver == "postgres"
    ]


class _Deadline:
    """Shared by a connection's progress handler: interrupt past `at`, or when the exporter stops."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.at = float("inf")

    def __call__(self) -> int:
        return 1 if self.stop.is_set() or time.monotonic() > self.at else 0


def _sqlite_authorizer(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _SQLITE_ALLOWED else sqlite3.SQLITE_DENY


class _SQLiteConnection:
    def __init__(self, source: SQLSource, stop: threading.Event) -> None:
        path = sqlite_path(source.resolved_url()).absolute()
        if not path.is_file():
            raise QueryFailed(CONNECT, f"database file {str(path)!r} does not exist")
        self.deadline = _Deadline(stop)
        uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
        try:
            # timeout: how long to wait for a writer's lock; isolation_level None: no implicit transactions.
            self.db = sqlite3.connect(uri, uri=True, timeout=source.timeout, isolation_level=None)
            self.db.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise QueryFailed(CONNECT, f"cannot open {str(path)!r}: {exc}") from None
        self.db.set_authorizer(_sqlite_authorizer)
        self.db.set_progress_handler(self.deadline, _PROGRESS_STEPS)

    def run(self, sql: str, timeout: float, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        self.deadline.at = time.monotonic() + timeout
        try:
            cursor = self.db.execute(sql)
            if cursor.description is None:
                raise QueryFailed(QUERY, "the statement returned no rows (only a SELECT can be a source)")
            rows = cursor.fetchmany(max_rows + 1)
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted" and not self.deadline.stop.is_set():
                raise QueryFailed(TIMEOUT, f"stopped after the timeout of {timeout:g}s") from None
            raise QueryFailed(QUERY, str(exc)) from None
        except sqlite3.Error as exc:  # DatabaseError "not authorized" for a write, ProgrammingError, ...
            raise QueryFailed(QUERY, str(exc)) from None
        finally:
            self.deadline.at = float("inf")
        return [d[0] for d in cursor.description], rows

    def close(self) -> None:
        self.db.close()


class _PostgresConnection:
    def __init__(self, source: SQLSource, stop: threading.Event) -> None:
        import psycopg  # type: ignore[import-not-found,unused-ignore]  # optional: only for postgres sources

        self.psycopg = psycopg
        try:
            self.db = psycopg.connect(
                source.resolved_url(),
                connect_timeout=max(1, round(source.timeout)),
                options="-c default_transaction_read_only=on",
            )
        except psycopg.Error as exc:
            raise QueryFailed(CONNECT, f"cannot connect: {exc}") from None
        self.db.read_only = True

    def run(self, sql: str, timeout: float, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        psycopg = self.psycopg
        try:
            with self.db.transaction(), self.db.cursor() as cursor:
                # SET LOCAL: the timeout holds for this read-only transaction only.
                cursor.execute(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
                cursor.execute(sql)  # type: ignore[arg-type,unused-ignore]  # the config's SQL; psycopg may be absent
                if cursor.description is None:
                    raise QueryFailed(QUERY, "the statement returned no rows (only a SELECT can be a source)")
                rows = cursor.fetchmany(max_rows + 1)
                return [d.name for d in cursor.description], rows
        except psycopg.errors.QueryCanceled:
            raise QueryFailed(TIMEOUT, f"stopped after the timeout of {timeout:g}s") from None
        except psycopg.Error as exc:
            raise QueryFailed(QUERY, str(exc).strip()) from None

    def close(self) -> None:
        self.db.close()


def _number(raw: Any, column: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool | int | float | Decimal):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            pass
    raise QueryFailed(RESULT, f"value column {column!r} holds {raw!r}, not a number")


def to_samples(query: SQLQuery, columns: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[tuple[str, ...], float]]:
    """Rows -> (label values, value); a NULL value gives no sample, a NULL label the empty string."""
    missing = [c for c in [query.value_column, *query.label_columns] if c not in columns]
    if missing:
        raise QueryFailed(RESULT, f"column {missing[0]!r} is not in the result (columns: {', '.join(columns)})")
    if len(rows) > query.max_rows:
        raise QueryFailed(RESULT, f"more than max_rows ({query.max_rows}) rows")
    value_at = columns.index(query.value_column)
    label_at = [columns.index(c) for c in query.label_columns]
    out: dict[tuple[str, ...], float] = {}
    for row in rows:
        labels = tuple("" if row[i] is None else str(row[i]) for i in label_at)
        value = _number(row[value_at], query.value_column)
        if value is None:
            continue
        if labels in out:
            raise QueryFailed(
                RESULT, f"two rows have the same labels {dict(zip(query.label_columns, labels, strict=True))}"
            )
        out[labels] = value
    return sorted(out.items())


class SQLSources:
    """The scheduler, the cache and the sub-collector (`collector="sql"`) of every SQL source."""

    name = "sql"

    def __init__(self, config: BusinessConfig) -> None:
        self.sources = config.sql_sources
        self.states: dict[tuple[str, str], QueryState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self.sources:
            return
        # One thread per source: a slow database never delays another source.
        self._executor = ThreadPoolExecutor(max_workers=len(self.sources), thread_name_prefix="sql")
        self._tasks = [asyncio.create_task(self._loop(source), name=f"sql-{source.name}") for source in self.sources]

    async def stop(self) -> None:
        self._stop.set()  # a running SQLite query is interrupted by its progress handler
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _loop(self, source: SQLSource) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await loop.run_in_executor(self._executor, self.run_source, source)
            await asyncio.sleep(max(0.0, started + source.interval - loop.time()))

    def run_source(self, source: SQLSource) -> None:
        """One round: every query of the source, in order, on one fresh read-only connection."""
        start = time.perf_counter()
        try:
            conn = (_SQLiteConnection if source.driver == "sqlite" else _PostgresConnection)(source, self._stop)
        except QueryFailed as exc:
            for query in source.queries:
                self._record(source, query, time.perf_counter() - start, exc)
            return
        try:
            for query in source.queries:
                if self._stop.is_set():
                    return
                start = time.perf_counter()
                try:
                    columns, rows = conn.run(query.sql, source.timeout, query.max_rows)
                    result: list[tuple[tuple[str, ...], float]] | QueryFailed = to_samples(query, columns, rows)
                except QueryFailed as exc:
                    result = exc
                self._record(source, query, time.perf_counter() - start, result)
        finally:
            conn.close()

    def _record(
        self,
        source: SQLSource,
        query: SQLQuery,
        duration: float,
        result: list[tuple[tuple[str, ...], float]] | QueryFailed,
    ) -> None:
        if self._stop.is_set():
            return  # interrupted by shutdown: not the query's fault
        key = (source.name, query.name)
        with self._lock:
            was_failing = key in self.states and not self.states[key].success
            state = self.states.setdefault(key, QueryState())
            state.duration = duration
            if isinstance(result, QueryFailed):
                state.success = False
                state.rows = []  # dropped, not kept stale: success 0 and the error count say why
                state.errors[result.reason] += 1
            else:
                state.success = True
                state.rows = result
                state.last_success = time.time()
        if isinstance(result, QueryFailed):
            # Every failure is logged; the first of a run of failures as an error.
            (log.warning if was_failing else log.error)(
                "sql query failed",
                extra={"source": source.name, "query": query.name, "reason": result.reason, "err": str(result)},
            )
        elif was_failing:
            log.info("sql query succeeded again", extra={"source": source.name, "query": query.name})

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            states = {
                key: (s.success, s.duration, s.last_success, s.rows, dict(s.errors)) for key, s in self.states.items()
            }
        labels = ["source", "query"]
        success = MetricFamily.gauge(
            "business_sql_query_success", "Whether the last run of a SQL source query succeeded (1) or not.", labels
        )
        duration = MetricFamily.gauge(
            "business_sql_query_duration_seconds", "How long the last run of a SQL source query took.", labels
        )
        last = MetricFamily.gauge(
            "business_sql_query_last_success_timestamp_seconds",
            "Unix time of the last successful run of a SQL source query.",
            labels,
        )
        errors = MetricFamily.counter(
            "business_sql_query_errors",
            "Failed runs of a SQL source query, by reason (connect, timeout, query, result).",
            [*labels, "reason"],
        )
        out: list[Metric] = [success, duration, last, errors]
        for source in self.sources:
            for query in source.queries:
                state = states.get((source.name, query.name))
                if state is None:  # not run yet
                    continue
                ok, took, last_ok, rows, errs = state
                names = (source.name, query.name)
                success.add(names, 1.0 if ok else 0.0)
                duration.add(names, took)
                if last_ok is not None:
                    last.add(names, last_ok)
                for reason, count in sorted(errs.items()):
                    errors.add((*names, reason), count)
                gauge = MetricFamily.gauge(
                    query.metric,
                    query.help or f"Query {query.name} of SQL source {source.name}.",
                    query.label_columns,
                )
                for label_values, value in rows:
                    gauge.add(label_values, value)
                out.append(gauge)
        return out
