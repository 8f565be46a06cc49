"""Fuzzing the ingest API of a real exporter with hypothesis: every answer is a 2xx or a 4xx in
the JSON error shape, and the exporter counts exactly the events it acknowledged.

The one fuzz run of the suite: mostly well-formed events with bad parts (so the validation of each
field is reached), some arbitrary JSON, some raw bytes, broken encodings, headers and credentials.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from pathlib import Path
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.stack.procs import ManagedProcess
from tests.business_util import TOKEN, start_business
from tests.helpers import value

CASES = 2000

labels_of = {
    "claims": st.fixed_dictionaries(
        {"type": st.sampled_from(["land", "kyc", "x" * 200, ""]), "status": st.sampled_from(["submitted", "lost"])}
    ),
    "verifications": st.fixed_dictionaries(
        {"type": st.sampled_from(["kyc", "land"]), "outcome": st.sampled_from(["success", "failed"])}
    ),
    "node_events": st.fixed_dictionaries(
        {"sender": st.text(min_size=0, max_size=20), "event": st.sampled_from(["synced", "started"])}
    ),
}
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 1e308, -1e308, 5e-324]),
)
# Sent with json.dumps(allow_nan=True): the NaN and Infinity literals JSON does not have.
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
# A label set of any shape: unknown names, missing ones, values that are not strings.
any_labels = st.dictionaries(
    st.sampled_from(["type", "status", "outcome", "sender", "event", "x"]),
    st.one_of(st.text(max_size=20), st.integers(), st.none(), st.sampled_from(["submitted", "success", "land"])),
    max_size=4,
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


# Ids: short text of any characters, lengths around the 128-character bound (a long text drawn
# character by character made hypothesis' generation half the run), or not a string at all.
ids = st.one_of(
    st.text(max_size=12),
    st.tuples(st.integers(120, 140), st.characters()).map(lambda t: t[1] * t[0]),
    json_values,
)


# Strategies built once: built inside the composites, their validation was a third of the run.
kinds = st.sampled_from([*labels_of, "refunds"])
odd_kinds = st.sampled_from(["", None, 7, ["claims"]])
odd_values = st.one_of(numbers, json_values, non_finite)
timestamps = numbers | non_finite | st.text(max_size=3)
no_labels: st.SearchStrategy[dict[str, str]] = st.just({})
field_names = st.text(max_size=5)
chance = {n: st.integers(0, n - 1) for n in (5, 10, 15, 20, 30)}  # draw(chance[n]) == 0: one in n


@st.composite
def events(draw: st.DrawFn) -> Any:
    kind: Any = draw(kinds)
    if draw(chance[30]) == 0:
        kind = draw(odd_kinds)
    labels = labels_of.get(kind, no_labels) if isinstance(kind, str) else no_labels
    event: dict[str, Any] = {"type": kind, "labels": draw(any_labels if draw(chance[15]) == 0 else labels)}
    if draw(st.booleans()):
        event["value"] = draw(odd_values if draw(chance[5]) == 0 else numbers)
    if draw(st.booleans()):
        event["id"] = draw(ids)
    if draw(chance[10]) == 0:
        event["timestamp"] = draw(timestamps)
    if draw(chance[20]) == 0:
        event[draw(field_names)] = draw(json_values)
    if draw(chance[20]) == 0:
        return draw(json_values)  # not an event at all
    return event


bodies = st.one_of(events(), st.lists(events(), max_size=6))
raw_bodies = st.binary(max_size=64)
encodings = st.sampled_from(["identity", "identity", "identity", "gzip", "deflate", "br", "garbage"])
content_types = st.sampled_from(
    ["text/plain", "application/json; charset=latin-1", "application/json; charset=utf-8", ""]
)
authorizations = st.sampled_from(["", "Bearer wrong", "Basic eDp5"])


@st.composite
def requests_(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    if draw(chance[10]) == 0:
        raw = draw(raw_bodies)
    else:
        raw = json.dumps(draw(bodies), allow_nan=True).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    encoding = draw(encodings)
    if encoding == "gzip":
        raw = gzip.compress(raw)
    elif encoding == "deflate":
        raw = zlib.compress(raw)
    if encoding != "identity":
        headers["Content-Encoding"] = encoding
    if draw(chance[20]) == 0:
        headers["Content-Type"] = draw(content_types)
    if draw(chance[30]) == 0:
        headers["Authorization"] = draw(authorizations)
    return raw, headers


def test_fuzzed_requests_get_2xx_or_json_4xx_and_accepted_counts_match(
    tmp_path: Path, procs: list[ManagedProcess]
) -> None:
    biz = start_business(tmp_path, procs, {"limits": {"max_body_size": "64KiB"}})
    url = f"{biz.url}/api/v1/events"
    acknowledged = 0
    answers: dict[int, int] = {}
    session = requests.Session()

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure reproduces
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests_())
    def one(request: tuple[bytes, dict[str, str]]) -> None:
        nonlocal acknowledged
        raw, headers = request
        r = session.post(url, data=raw, headers=headers, timeout=10)
        answers[r.status_code] = answers.get(r.status_code, 0) + 1
        assert 200 <= r.status_code < 300 or 400 <= r.status_code < 500, (r.status_code, r.text, raw[:200])
        assert r.headers["Content-Type"].startswith("application/json"), r.text
        body = r.json()
        if r.status_code == 200:
            acknowledged += body["accepted"]
        else:
            assert isinstance(body["error"], str) and isinstance(body["message"], str), body
            assert len(r.content) < 2048, "an error echoes too much of the request"

    one()
    session.close()
    metrics = biz.metrics()
    print(f"answers by status: {dict(sorted(answers.items()))}, {acknowledged} events acknowledged")
    assert sum(answers.values()) >= CASES
    assert answers.get(200, 0) >= 50 and sum(n for s, n in answers.items() if s >= 400) >= 500, answers
    assert value(metrics, "business_events_accepted_total") == acknowledged
    biz.process.stop()  # a clean stop writes the summary of the refusals not logged one by one
    log = biz.process.log_path.read_text()
    assert "Traceback" not in log and "level=error" not in log
    # Refusals are logged one line each for the first 10 of a minute, then summed up per minute.
    one_by_one = log.count('msg="event request refused" ')
    left_out = sum(
        int(n) for n in re.findall(r'msg="event request refused \(more, not logged one by one\)" left_out=(\d+)', log)
    )
    refused = sum(n for status, n in answers.items() if status >= 400)
    assert one_by_one <= 10 * (1 + log.count("not logged one by one")), one_by_one
    assert one_by_one + left_out == refused, (one_by_one, left_out, refused)
