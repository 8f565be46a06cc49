"""The `business` section: event types and their metric families, the store, ingest limits.

Each event type maps to a counter or a histogram with declared labels; every label has an
allow-list or a cardinality cap, so no client can blow up the series count.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator as _BeforeValidator
from pydantic import Field, field_validator, model_validator

from exporters.config.fields import EventName, LabelName, MetricName, unique
from exporters.core.models import Strict
from exporters.core.secrets import exactly_one_secret, read_secret
from exporters.core.types import Duration

# The exporter's own families; an event metric may not take one of these names.
BUSINESS_RESERVED_PREFIXES = (
    "business_events_",
    "business_store_",
    "business_label_",
    "business_sql_",
    "business_scrape_",
)
DEFAULT_HISTOGRAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BYTE_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}


def parse_byte_size(value: object) -> int:
    """1048576, '512KiB', '1MiB' or '1MB' -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1MiB or 65536")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", value)
        if not m or m.group(2).lower() not in _BYTE_UNITS:
            raise ValueError(f"{value!r} is not a size (use e.g. 65536, 512KiB, 1MiB)")
        size = int(m.group(1)) * _BYTE_UNITS[m.group(2).lower()]
    else:
        raise ValueError("expected a size such as 1MiB or 65536")
    if size < 1:
        raise ValueError("a size must be positive")
    return size


ByteSize = Annotated[int, _BeforeValidator(parse_byte_size)]


def _label_shorthand(value: object) -> object:
    # `status: [approved, rejected]` is short for `status: {values: [approved, rejected]}`.
    return {"values": value} if isinstance(value, list) else value


class LabelRule(Strict):
    """A label's allowed values, or a cap on how many distinct values it may take."""

    values: list[str] | None = None
    max_values: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _one_rule(self) -> LabelRule:
        if (self.values is None) == (self.max_values is None):
            raise ValueError("set exactly one of values (an allow-list) or max_values (a cardinality cap)")
        if self.values is not None:
            if not self.values:
                raise ValueError("values must not be empty")
            unique(self.values, "values")
            if any(v == "" for v in self.values):
                raise ValueError("values must not be empty strings")
        return self


def _check_buckets(v: list[float]) -> list[float]:
    if not v:
        raise ValueError("at least one bucket is needed")
    if any(not math.isfinite(b) for b in v):
        raise ValueError("buckets must be finite (+Inf is always added)")
    if any(a >= b for a, b in itertools.pairwise(v)):
        raise ValueError("buckets must be strictly increasing")
    return v


class ObserveHistogram(Strict):
    """A histogram attached to a counter event: the event's value is observed here, the counter counts events."""

    metric: MetricName
    help: str = ""
    buckets: list[float] = list(DEFAULT_HISTOGRAM_BUCKETS)

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, v: list[float]) -> list[float]:
        return _check_buckets(v)


class LastSeenGauge(Strict):
    """A gauge holding the newest event timestamp (Unix seconds) per label set."""

    metric: MetricName
    help: str = ""


class EventType(Strict):
    kind: Literal["counter", "histogram"]
    metric: MetricName
    help: str = ""
    labels: dict[LabelName, Annotated[LabelRule, _BeforeValidator(_label_shorthand)]] = {}
    buckets: list[float] | None = None
    observe: ObserveHistogram | None = None
    last_seen: LastSeenGauge | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EventType:
        if self.kind == "counter":
            if not self.metric.endswith("_total"):
                raise ValueError(f"a counter's metric name must end in _total: {self.metric!r}")
            if self.buckets is not None:
                raise ValueError("buckets belong to a histogram; for a counter use observe.buckets")
        else:
            if self.observe is not None:
                raise ValueError("observe is for counters; a histogram observes its value itself")
            _check_buckets(self.buckets if self.buckets is not None else list(DEFAULT_HISTOGRAM_BUCKETS))
        for name in self.metric_names():
            if name.startswith(BUSINESS_RESERVED_PREFIXES):
                raise ValueError(f"metric name {name!r} is reserved for the exporter's own metrics")
        for name in [n for n in self.metric_names() if n != self.metric or self.kind == "histogram"]:
            if name.endswith(("_total", "_bucket", "_count", "_sum", "_created")):
                raise ValueError(f"{name!r}: only a counter's name may end in _total (or _bucket, _count, _sum)")
        if "le" in self.labels:
            raise ValueError("le is the bucket label of histograms, not usable as an event label")
        return self

    def metric_names(self) -> list[str]:
        names = [self.metric]
        if self.observe is not None:
            names.append(self.observe.metric)
        if self.last_seen is not None:
            names.append(self.last_seen.metric)
        return names

    @property
    def observes_value(self) -> bool:
        """Events carry a value to observe (a histogram, or a counter with `observe`); otherwise each counts 1."""
        return self.kind == "histogram" or self.observe is not None

    @property
    def histogram_buckets(self) -> list[float]:
        if self.kind == "histogram":
            return self.buckets if self.buckets is not None else list(DEFAULT_HISTOGRAM_BUCKETS)
        return self.observe.buckets if self.observe is not None else []


class BusinessStore(Strict):
    path: Path = Path("data/business.sqlite")
    # full: fsync the WAL at every group commit (survives power loss); normal: survives a process crash only.
    synchronous: Literal["full", "normal"] = "full"


class Idempotency(Strict):
    window: Duration = 86400.0
    # Bounds the id table on disk whatever the rate; the oldest ids are forgotten first.
    max_ids: int = Field(default=5_000_000, ge=1000)


class IngestLimits(Strict):
    # A request body may be this large as sent and again once decompressed (gzip or deflate).
    max_body_size: ByteSize = 1024 * 1024
    # The whole body must arrive within this long after the headers (a stalled or slow upload gets 408).
    body_timeout: Duration = 30.0
    max_batch_events: int = Field(default=1000, ge=1, le=100_000)
    max_label_value_length: int = Field(default=128, ge=1, le=4096)
    # Accepted events per second over all clients (a token bucket); 0 turns the limit off. Past it a
    # request gets 429 rate_limited with Retry-After. burst: the bucket's size (0: one second's worth).
    events_per_second: float = Field(default=0.0, ge=0)
    burst: int = Field(default=0, ge=0)
    # How far ahead of the exporter's clock an event timestamp may be.
    max_clock_skew: Duration = 300.0


class SQLQuery(Strict):
    """One read-only query whose rows become samples of a gauge: labels from columns, value from a column."""

    name: EventName
    metric: MetricName
    help: str = ""
    sql: str = Field(min_length=1)
    value_column: str = "value"
    label_columns: list[LabelName] = []
    # More rows than this fail the query (a cardinality guard, like the label caps of events).
    max_rows: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("metric")
    @classmethod
    def _gauge_name(cls, v: str) -> str:
        if v.endswith(("_total", "_bucket", "_count", "_sum")) or v.startswith(BUSINESS_RESERVED_PREFIXES):
            raise ValueError(f"{v!r} is not a usable gauge name (reserved prefix or counter/histogram suffix)")
        return v

    @field_validator("label_columns")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        unique(v, "label columns")
        return v

    @model_validator(mode="after")
    def _value_not_a_label(self) -> SQLQuery:
        if self.value_column in self.label_columns:
            raise ValueError(f"value_column {self.value_column!r} is also a label column")
        return self


def sqlite_path(url: str) -> Path:
    """sqlite:///relative.db or sqlite:////absolute.db -> the file; anything else is a ValueError."""
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/") or len(rest) < 2:
        raise ValueError("a SQLite url is sqlite:///relative/path.db or sqlite:////absolute/path.db")
    path = rest[1:]
    if "?" in path or "#" in path or path == ":memory:":
        raise ValueError("a SQLite url names a database file, without query parameters (it is always opened read-only)")
    return Path(path)


class SQLSource(Strict):
    name: EventName
    # sqlite:///relative/path.db, sqlite:////absolute/path.db, or postgresql://... (needs psycopg installed)
    url: str | None = None
    url_file: Path | None = None
    interval: Duration = 60.0
    timeout: Duration = 10.0
    queries: list[SQLQuery] = Field(min_length=1)

    @field_validator("queries")
    @classmethod
    def _unique_queries(cls, v: list[SQLQuery]) -> list[SQLQuery]:
        unique([q.name for q in v], "query names", "within a source")
        return v

    @model_validator(mode="after")
    def _secret(self) -> SQLSource:
        exactly_one_secret(self, "url")
        url = read_secret(self.url, self.url_file, "url")
        if url is None:
            raise ValueError("set url or url_file")
        # The url may hold a password: name only its scheme in messages.
        if not re.match(r"^(sqlite|postgres|postgresql)://", url):
            raise ValueError(
                f"the url must start with sqlite://, postgres:// or postgresql://, not {url.partition(':')[0]!r}:"
            )
        if url.startswith("sqlite://"):
            sqlite_path(url)
        if self.timeout <= 0 or self.interval <= 0:
            raise ValueError("interval and timeout must be positive")
        return self

    @property
    def driver(self) -> Literal["sqlite", "postgres"]:
        return "sqlite" if self.resolved_url().startswith("sqlite://") else "postgres"

    def resolved_url(self) -> str:
        url = read_secret(self.url, self.url_file, "url")
        assert url is not None
        return url


class BusinessConfig(Strict):
    events: dict[EventName, EventType] = {}
    store: BusinessStore = BusinessStore()
    auth_token: str | None = None
    auth_token_file: Path | None = None
    # Only for local experiments: without a token anyone who reaches the port can push events.
    allow_unauthenticated: bool = False
    idempotency: Idempotency = Idempotency()
    limits: IngestLimits = IngestLimits()
    sql_sources: list[SQLSource] = []

    @model_validator(mode="after")
    def _checks(self) -> BusinessConfig:
        exactly_one_secret(self, "auth_token")
        read_secret(self.auth_token, self.auth_token_file, "auth_token")
        seen: dict[str, str] = {}
        for event, spec in self.events.items():
            for name in spec.metric_names():
                if name in seen:
                    raise ValueError(f"events.{event}: metric {name!r} is already used by {seen[name]}")
                seen[name] = f"events.{event}"
        unique([s.name for s in self.sql_sources], "sql_sources: source names")
        for i, source in enumerate(self.sql_sources):
            for j, query in enumerate(source.queries):
                where = f"sql_sources[{i}].queries[{j}].metric"
                if query.metric in seen:
                    raise ValueError(f"{where}: metric {query.metric!r} is already used by {seen[query.metric]}")
                seen[query.metric] = where.removesuffix(".metric")
        return self

    def token(self) -> str | None:
        """The ingest bearer token; None when unset (the exporter then refuses to start unless allowed)."""
        return read_secret(self.auth_token, self.auth_token_file, "auth_token") or None
