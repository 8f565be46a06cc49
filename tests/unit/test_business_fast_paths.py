"""The ingest's fast paths give exactly what the reference code gives, event by event.

EventParser remembers validated label sets, FastDecoder validates whole bodies in C, and EventStore
folds events per label set; all exist for speed only, so any input must come out the same as
parse_event, and as folding one event at a time.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.business.aggregates import Aggregates, Key, Value, apply_group
from exporters.business.decoder import FastDecoder
from exporters.business.events import EventParser, Rejection, parse_event
from exporters.business.store import EventStore
from exporters.config import load_config
from exporters.config.business import BusinessConfig

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

    outcome = store._stage(_Batch(events), staged, [], {}, time.time())
    assert outcome.accepted == len(events)
    assert staged == expected


# ---- the C decoder (msgspec) against the reference parser, on the wire format

# A config beside config.yml's with what it lacks: a histogram with negative buckets, a type
# without labels, a label named like a Python keyword, an allowed value longer than the limit.
ODD_CONFIG = BusinessConfig.model_validate(
    {
        "events": {
            "offsets": {
                "kind": "histogram",
                "metric": "business_offsets_seconds",
                "buckets": [-1.0, 0.0, 1.0],
                "labels": {"class": ["a", "bb", "toolong"]},
            },
            "pings": {"kind": "counter", "metric": "business_pings_total"},
        },
        "limits": {"max_label_value_length": 4, "max_batch_events": 5},
    }
)
ODD_EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["offsets", "pings", "claims"])},
    optional={
        "labels": st.one_of(
            st.dictionaries(st.sampled_from(["class", "x"]), LABEL_VALUES, max_size=2),
            st.just({"class": "toolong"}),
            st.just({}),
        ),
        "value": NUMBERS,
        "id": st.one_of(st.text(max_size=130), st.none()),
        "timestamp": NUMBERS,
    },
)
# Byte-level faults the JSON encoder never writes: duplicate keys, out-of-range literals, a lone
# surrogate, invalid UTF-8, a byte order mark, trailing content.
MUTATIONS = st.sampled_from(
    [
        lambda b: b,
        lambda b: b.replace(b'"type":', b'"type":"pings","type":', 1),
        lambda b: b.replace(b'"labels":', b'"labels":{},"labels":', 1),
        lambda b: b.replace(b'"value":', b'"value":1e400,"value":', 1),
        lambda b: b.replace(b'"id":', b'"id":"\\ud800","id":', 1),
        lambda b: b.replace(b'"id":', b'"id":"\xff","id":', 1),
        lambda b: b"\xef\xbb\xbf" + b,
        lambda b: b + b" x",
        lambda b: b.replace(b'"value":', b'"value":-1e308,"value":', 1),
    ]
)


# Valid events, or nearly: most bodies drawn from these are taken by the decoder.
GOOD_NUMBERS = st.one_of(
    st.floats(min_value=0, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=2**70),
)
GOOD_FIELDS = {
    "value": GOOD_NUMBERS,
    "id": st.one_of(st.text(min_size=1, max_size=129), st.none()),
    "timestamp": st.one_of(st.floats(min_value=NOW - 1e6, max_value=NOW + 400), st.integers(0, 2**40)),
}
GOOD_EVENTS = st.builds(
    lambda kind_labels, extra: {"type": kind_labels[0], "labels": kind_labels[1], **extra},
    VALID_LABELS,
    st.fixed_dictionaries({}, optional=GOOD_FIELDS),
)
ODD_GOOD_EVENTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("offsets"),
            "labels": st.sampled_from([{"class": "a"}, {"class": "bb"}]),
            "value": GOOD_NUMBERS,
        },
        optional={k: v for k, v in GOOD_FIELDS.items() if k != "value"},
    ),
    st.fixed_dictionaries({"type": st.just("pings")}, optional={"labels": st.just({}), **GOOD_FIELDS}),
)
UNCHANGED = st.just(lambda b: b)


def reference_body(config: BusinessConfig, raw: bytes) -> Any:
    try:
        return EventParser(config).parse_body(orjson.loads(raw), NOW)
    except orjson.JSONDecodeError:
        return "bad_json"
    except Rejection as rejection:
        return ("rejected", rejection.status, rejection.reason, rejection.message, rejection.index, rejection.field)


def decoded_like_the_reference(config: BusinessConfig, raw: bytes) -> None:
    """What the decoder takes, the reference takes the same way; what it refuses goes to the reference."""
    decoded = FastDecoder(config).decode(raw, NOW)
    if decoded is not None:
        assert same(decoded, reference_body(config, raw)), raw


@settings(max_examples=800, deadline=None)
@given(
    events=st.one_of(
        st.lists(st.one_of(EVENTS, NEAR_VALID, GOOD_EVENTS), max_size=6), st.lists(GOOD_EVENTS, max_size=20)
    ),
    single=st.booleans(),
    mutate=st.one_of(UNCHANGED, MUTATIONS),
)
def test_the_decoder_accepts_only_what_the_reference_accepts_and_alike(
    events: list[dict[str, Any]], single: bool, mutate: Any
) -> None:
    body: Any = events[0] if single and events else events
    decoded_like_the_reference(CONFIG, mutate(json.dumps(body, allow_nan=True).encode()))


@settings(max_examples=600, deadline=None)
@given(
    events=st.one_of(
        st.lists(st.one_of(ODD_EVENTS, ODD_GOOD_EVENTS), max_size=7), st.lists(ODD_GOOD_EVENTS, max_size=7)
    ),
    mutate=st.one_of(UNCHANGED, MUTATIONS),
)
def test_the_decoder_follows_the_reference_on_odd_configs(events: list[dict[str, Any]], mutate: Any) -> None:
    decoded_like_the_reference(ODD_CONFIG, mutate(json.dumps(events, allow_nan=True).encode()))


def test_the_decoder_takes_the_common_bodies() -> None:
    """Not a path that refuses everything: what clients send most is decoded, equal to the reference."""
    bodies = [
        [{"type": "claims", "labels": {"type": "t1", "status": "approved"}, "id": "a1"}],
        {"type": "verifications", "labels": {"type": "kyc", "outcome": "failed"}, "value": 0.25, "timestamp": NOW - 5},
        [{"type": "node_events", "labels": {"event": "synced", "sender": "n1"}, "value": 2}] * 3,
    ]
    for body in bodies:
        raw = json.dumps(body).encode()
        assert FastDecoder(CONFIG).decode(raw, NOW) == reference_body(CONFIG, raw)
    odd = [
        {"type": "offsets", "labels": {"class": "bb"}, "value": -0.5},
        {"type": "pings"},
        {"type": "pings", "labels": {}},
    ]
    raw = json.dumps(odd).encode()
    assert FastDecoder(ODD_CONFIG).decode(raw, NOW) == reference_body(ODD_CONFIG, raw)
    # An allowed value longer than max_label_value_length stays refused, as the reference refuses it.
    assert FastDecoder(ODD_CONFIG).decode(b'[{"type":"offsets","labels":{"class":"toolong"},"value":1}]', NOW) is None
