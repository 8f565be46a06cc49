"""The ingest's fast paths give exactly what the reference code gives, event by event.

EventParser remembers validated label sets and EventStore folds events per label set; both exist for
speed only, so any input must come out the same as parse_event, and as folding one event at a time.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.business.aggregates import Aggregates, Key, Value, apply_group
from exporters.business.events import EventParser, Rejection, parse_event
from exporters.business.store import EventStore
from exporters.config import load_config

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config.yml").business
NOW = 1_800_000_000.0

LABEL_VALUES = st.one_of(
    st.sampled_from(["t1", "t2", "submitted", "approved", "success", "failed", "registered", "node-1", ""]),
    st.text(max_size=4),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=2), max_size=1),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(max_size=2),
    st.none(),
)
EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["claims", "verifications", "node_events", "nope", 7, None])},
    optional={
        "labels": st.one_of(
            st.dictionaries(
                st.sampled_from(["type", "status", "outcome", "sender", "event", "x"]), LABEL_VALUES, max_size=3
            ),
            st.lists(st.text(max_size=2), max_size=1),
        ),
        "value": NUMBERS,
        "id": st.one_of(st.text(max_size=130), st.integers(), st.none()),
        "timestamp": st.one_of(NUMBERS, st.just(NOW + 301), st.just(NOW - 5)),
        "extra": st.integers(),
    },
)

# Valid label sets with the other fields drawn freely: these reach the cached path.
LABEL_SETS = [
    ("claims", {"type": "t1", "status": "approved"}),
    ("claims", {"status": "approved", "type": "t1"}),
    ("verifications", {"type": "kyc", "outcome": "failed"}),
    ("node_events", {"sender": "node-1", "event": "synced"}),
]
VALID_LABELS = st.sampled_from(LABEL_SETS)
NEAR_VALID = st.builds(
    lambda kind_labels, extra: {"type": kind_labels[0], "labels": kind_labels[1], **extra},
    VALID_LABELS,
    st.fixed_dictionaries(
        {},
        optional={
            "value": NUMBERS,
            "id": st.one_of(st.text(max_size=130), st.integers(), st.none()),
            "timestamp": st.one_of(NUMBERS, st.just(NOW + 301), st.just(NOW - 5)),
        },
    ),
)


def reference(raw: Any, index: int) -> Any:
    try:
        return parse_event(raw, index, CONFIG, NOW)
    except Rejection as rejection:
        return ("rejected", rejection.status, rejection.reason, rejection.message, rejection.field)


def fast(parser: EventParser, raw: Any) -> Any:
    try:
        return parser.parse_body([raw], NOW)[0]
    except Rejection as rejection:
        return ("rejected", rejection.status, rejection.reason, rejection.message, rejection.field)


def same(a: Any, b: Any) -> bool:
    # NaN != NaN: compare events field by field with NaN equal to itself.
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


@settings(max_examples=600, deadline=None)
@given(events=st.lists(st.one_of(EVENTS, NEAR_VALID), min_size=1, max_size=8))
def test_the_parser_cache_changes_no_answer(events: list[dict[str, Any]]) -> None:
    parser = EventParser(CONFIG)
    for kind, labels in LABEL_SETS:
        parser.parse_body({"type": kind, "labels": labels, "value": 1.0}, NOW)
    # Twice each: the second time a label set that passed is served from the cache.
    for raw in events + events:
        assert same(fast(parser, raw), reference(raw, 0)), raw


def test_a_flood_of_label_sets_keeps_the_cache_bounded() -> None:
    parser = EventParser(CONFIG)
    for n in range(3 * EventParser.CACHE_SIZE):
        parser.parse_body({"type": "node_events", "labels": {"sender": f"n{n}", "event": "started"}}, NOW)
    assert 0 < len(parser._labels) <= EventParser.CACHE_SIZE


def test_a_batch_error_names_the_event_whether_cached_or_not() -> None:
    parser = EventParser(CONFIG)
    good = {"type": "claims", "labels": {"type": "t1", "status": "approved"}}
    parser.parse_body(good, NOW)
    bad = {**good, "value": -1}
    try:
        parser.parse_body([good, good, bad], NOW)
    except Rejection as rejection:
        assert (rejection.status, rejection.reason, rejection.index, rejection.field) == (
            422,
            "invalid_value",
            2,
            "value",
        )
    else:
        raise AssertionError("a negative counter increment was accepted")


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.sampled_from(["claims", "verifications", "node_events"]),
            st.sampled_from(["a", "b"]),
            st.floats(min_value=0, max_value=1e6),
            st.floats(min_value=NOW - 1e5, max_value=NOW),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_folding_per_label_set_equals_applying_event_by_event(values: list[tuple[str, str, float, float]]) -> None:
    parser = EventParser(CONFIG)
    labels = {
        "claims": lambda v: {"type": v, "status": "approved"},
        "verifications": lambda v: {"type": v, "outcome": "success"},
        "node_events": lambda v: {"sender": v, "event": "synced"},
    }
    body = [{"type": kind, "labels": labels[kind](v), "value": value, "timestamp": ts} for kind, v, value, ts in values]
    events = parser.parse_body(body, NOW)
    aggregates = Aggregates(CONFIG)
    expected: dict[Key, Value] = {}
    for event in events:  # one at a time, in order: the reference
        apply_group([event], event.labels, aggregates.families[event.type], {}, expected)
    store = EventStore(CONFIG, aggregates)
    staged: dict[Key, Value] = {}
    from exporters.business.store import _Batch

    outcome = store._stage(_Batch(events), staged, {}, {}, time.time())
    assert outcome.accepted == len(events)
    assert staged == expected
