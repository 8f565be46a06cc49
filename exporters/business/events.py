"""Turning a request body into validated events, or a rejection that says what is wrong and where."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from exporters.config.business import BusinessConfig, EventType

MAX_ID_LENGTH = 128
_FIELDS = frozenset({"type", "labels", "value", "id", "timestamp"})


class Event(NamedTuple):  # a tuple: built ~100,000 times a second at full ingest rate
    type: str
    labels: tuple[str, ...]  # values in the order the config declares the labels
    value: float
    id: str | None
    timestamp: float


class Rejection(Exception):
    """An HTTP error with a machine-readable reason, counted in business_events_rejected_total{reason}."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        index: int | None = None,
        field: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.index, self.field = status, reason, message, index, field
        self.retry_after = retry_after  # a Retry-After header: only for a refusal that passes with time

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.reason, "message": self.message}
        if self.index is not None:
            out["event"] = self.index
        if self.field is not None:
            out["field"] = self.field
        return out


def _invalid(index: int, field: str, message: str, reason: str = "invalid_event") -> Rejection:
    return Rejection(422, reason, f"event {index}: {field}: {message}", index, field)


def _short(text: str, limit: int = 64) -> str:
    """A client's string echoed in a message: a megabyte of it helps nobody."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _number(raw: Any, index: int, field: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise _invalid(index, field, "must be a finite number", "invalid_value")
    return float(raw)


def lowest_value(spec: EventType) -> float:
    """The smallest value an event of this type may carry: 0 (increments, and observations of a
    histogram whose buckets are all positive: a negative one would make its `_sum` go down, so
    rate() over it is wrong), or no bound for a histogram that declares negative buckets."""
    buckets = spec.histogram_buckets
    return -math.inf if buckets and buckets[0] < 0 else 0.0


def parse_event(raw: Any, index: int, config: BusinessConfig, now: float) -> Event:
    if not isinstance(raw, dict):
        raise _invalid(index, "(event)", "must be a JSON object")
    if not _FIELDS.issuperset(raw):
        raise _invalid(
            index, _short(sorted(set(raw) - _FIELDS)[0]), f"unknown field (known: {', '.join(sorted(_FIELDS))})"
        )
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise _invalid(index, "type", "is required and must be a string")
    spec: EventType | None = config.events.get(kind)
    if spec is None:
        raise _invalid(
            index,
            "type",
            f"unknown event type {_short(kind)!r} (known: {', '.join(sorted(config.events))})",
            "unknown_type",
        )
    labels = raw.get("labels", {})
    if not isinstance(labels, dict):
        raise _invalid(index, "labels", "must be an object of label values")
    for name in labels:
        if name not in spec.labels:
            raise _invalid(
                index,
                f"labels.{_short(name)}",
                f"unknown label for {kind} (declared: {', '.join(spec.labels)})",
                "unknown_label",
            )
    values = []
    for name, rule in spec.labels.items():
        value = labels.get(name)
        if value is None or value == "":
            raise _invalid(index, f"labels.{name}", "is required and must be a non-empty string", "missing_label")
        if not isinstance(value, str):
            raise _invalid(index, f"labels.{name}", f"must be a string, not {_json_type(value)}", "invalid_label_value")
        if len(value) > config.limits.max_label_value_length:
            raise _invalid(
                index,
                f"labels.{name}",
                f"longer than {config.limits.max_label_value_length} characters",
                "invalid_label_value",
            )
        if rule.values is not None and value not in rule.values:
            raise _invalid(index, f"labels.{name}", f"{value!r} is not one of {rule.values}", "label_value_not_allowed")
        values.append(value)
    observed = spec.observes_value
    if "value" in raw:
        value = _number(raw["value"], index, "value")
        if not observed and value < 0:
            raise _invalid(index, "value", "a counter increment cannot be negative", "invalid_value")
        if observed and value < lowest_value(spec):
            raise _invalid(
                index,
                "value",
                f"{value!r} is below zero and {kind}'s buckets start at {spec.histogram_buckets[0]!r}: "
                "an observation must be in the histogram's range",
                "invalid_value",
            )
    elif observed:
        raise _invalid(index, "value", f"is required: {kind} observes a value", "invalid_value")
    else:
        value = 1.0
    event_id = raw.get("id")
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH):
        raise _invalid(index, "id", f"must be a string of 1 to {MAX_ID_LENGTH} characters")
    timestamp = now
    if "timestamp" in raw:
        timestamp = _number(raw["timestamp"], index, "timestamp")
        if timestamp > now + config.limits.max_clock_skew:
            raise _invalid(index, "timestamp", "is in the future beyond the allowed clock skew", "invalid_value")
    return Event(kind, tuple(values), value, event_id, timestamp)


class EventParser:
    """parse_event with a fast path for the common event, built once per config.

    Validating a label set is most of parse_event's cost, and a stream repeats a few label sets
    many times: a label set that passed once is remembered (the type and its label items, in
    the order sent), so the next event with it only checks its value, id and timestamp. Anything
    the fast path does not recognise goes through parse_event, which gives the exact error.
    """

    CACHE_SIZE = 4096  # label sets remembered; emptied when full, so a flood of new values costs no memory

    def __init__(self, config: BusinessConfig) -> None:
        self.config = config
        self._observed = {name: spec.observes_value for name, spec in config.events.items()}
        self._lowest = {name: lowest_value(spec) for name, spec in config.events.items()}
        self._labels: dict[tuple[str, tuple[tuple[str, Any], ...]], tuple[str, ...]] = {}
        self._max_batch = config.limits.max_batch_events
        self._max_skew = config.limits.max_clock_skew

    def parse_body(self, body: Any, now: float) -> list[Event]:
        """One event object or a list of them (a batch: all events valid, or the whole batch is refused)."""
        batch = body if isinstance(body, list) else [body]
        if not batch:
            raise Rejection(422, "invalid_event", "the batch is empty")
        if len(batch) > self._max_batch:
            raise Rejection(413, "batch_too_large", f"{len(batch)} events in one request; at most {self._max_batch}")
        fast = self._fast
        return [fast(raw, now) or self._slow(raw, i, now) for i, raw in enumerate(batch)]

    def _slow(self, raw: Any, index: int, now: float) -> Event:
        event = parse_event(raw, index, self.config, now)
        labels = raw.get("labels", {})
        try:
            key = (event.type, tuple(labels.items()))
        except TypeError:
            return event
        if len(self._labels) >= self.CACHE_SIZE:
            self._labels.clear()
        self._labels[key] = event.labels
        return event

    def _fast(self, raw: Any, now: float) -> Event | None:
        if type(raw) is not dict or not _FIELDS.issuperset(raw):
            return None
        kind, labels = raw.get("type"), raw.get("labels", _NO_LABELS)
        if type(kind) is not str or type(labels) is not dict:
            return None
        try:
            values = self._labels.get((kind, tuple(labels.items())))
        except TypeError:  # an unhashable label value: parse_event names it
            return None
        if values is None:
            return None
        value = raw.get("value", _ABSENT)
        if value is _ABSENT:
            if self._observed[kind]:
                return None
            value = 1.0
        elif type(value) is float or type(value) is int:
            if not math.isfinite(value) or value < self._lowest[kind]:
                return None
            value = float(value)
        else:
            return None
        event_id = raw.get("id")
        if event_id is not None and (type(event_id) is not str or not 0 < len(event_id) <= MAX_ID_LENGTH):
            return None
        timestamp = raw.get("timestamp", _ABSENT)
        if timestamp is _ABSENT:
            timestamp = now
        elif (type(timestamp) is float or type(timestamp) is int) and math.isfinite(timestamp):
            if timestamp > now + self._max_skew:
                return None
            timestamp = float(timestamp)
        else:
            return None
        return new_event(Event, (kind, values, value, event_id, timestamp))


new_event = tuple.__new__  # Event(...) goes through NamedTuple's Python __new__: twice as slow
_ABSENT = object()
_NO_LABELS: dict[str, str] = {}


def parse_body(body: Any, config: BusinessConfig, now: float) -> list[Event]:
    """EventParser(config).parse_body, for callers that parse once."""
    return EventParser(config).parse_body(body, now)
