"""The business exporter as a process: happy paths, every error, idempotency, caps, metrics."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from exporters.stack.procs import ManagedProcess, alismon_argv
from tests.business_util import TOKEN, Business, start_business
from tests.conftest import tool, write_config
from tests.helpers import prom_query, value, wait_for


@pytest.fixture
def biz(tmp_path: Path, procs: list[ManagedProcess]) -> Business:
    return start_business(tmp_path, procs, {"limits": {"max_body_size": "4KiB", "max_batch_events": 50}})


def claim(status: str = "submitted", kind: str = "land", **extra: object) -> dict:
    return {"type": "claims", "labels": {"type": kind, "status": status}, **extra}


def test_single_event_and_batch(biz: Business) -> None:
    r = biz.post(claim())
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0}
    r = biz.post([claim("approved"), claim("approved"), claim("rejected", value=3)])
    assert r.json() == {"accepted": 3, "duplicates": 0}
    body = biz.metrics()
    assert value(body, "business_claims_total", type="land", status="submitted") == 1
    assert value(body, "business_claims_total", type="land", status="approved") == 2
    assert value(body, "business_claims_total", type="land", status="rejected") == 3
    assert value(body, "business_events_accepted_total") == 4


def test_verification_latency_histogram(biz: Business) -> None:
    for seconds, outcome in ((0.07, "success"), (0.3, "success"), (12.0, "failed")):
        assert (
            biz.post(
                {"type": "verifications", "labels": {"type": "kyc", "outcome": outcome}, "value": seconds}
            ).status_code
            == 200
        )
    body = biz.metrics()
    assert value(body, "business_verifications_total", type="kyc", outcome="success") == 2
    le = dict(type="kyc", outcome="success")
    assert value(body, "business_verification_duration_seconds_bucket", le="0.05", **le) == 0
    assert value(body, "business_verification_duration_seconds_bucket", le="0.1", **le) == 1
    assert value(body, "business_verification_duration_seconds_bucket", le="0.5", **le) == 2
    assert value(body, "business_verification_duration_seconds_bucket", le="+Inf", **le) == 2
    assert value(body, "business_verification_duration_seconds_sum", **le) == pytest.approx(0.37)
    assert value(body, "business_verification_duration_seconds_bucket", le="10.0", type="kyc", outcome="failed") == 0
    assert value(body, "business_verification_duration_seconds_count", type="kyc", outcome="failed") == 1


def test_node_events_with_last_seen(biz: Business) -> None:
    node = {"sender": "node-7", "event": "synced"}
    assert (
        biz.post(
            [
                {"type": "node_events", "labels": node, "timestamp": 1_700_000_100},
                {"type": "node_events", "labels": node, "timestamp": 1_700_000_050},
            ]
        ).status_code
        == 200
    )
    body = biz.metrics()
    assert value(body, "business_node_events_total", **node) == 2
    assert value(body, "business_node_event_last_seen_timestamp_seconds", **node) == 1_700_000_100


def test_retry_with_same_id_is_idempotent(biz: Business) -> None:
    assert biz.post([claim(id="evt-1"), claim(id="evt-2")]).json() == {"accepted": 2, "duplicates": 0}
    assert biz.post([claim(id="evt-1"), claim(id="evt-2")]).json() == {"accepted": 0, "duplicates": 2}
    assert biz.post([claim(id="evt-3"), claim(id="evt-3")]).json() == {"accepted": 1, "duplicates": 1}
    body = biz.metrics()
    assert value(body, "business_claims_total", type="land", status="submitted") == 3
    assert value(body, "business_events_duplicate_total") == 3


def expect(r: requests.Response, status: int, error: str, **fields: object) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error, body
    for key, expected in fields.items():
        assert body[key] == expected, body
    assert body["message"]
    return body


def test_every_error_code(biz: Business) -> None:
    url = f"{biz.url}/api/v1/events"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    expect(
        requests.post(url, data=b"{not json", headers={**auth, "Content-Type": "application/json"}, timeout=5),
        400,
        "bad_json",
    )
    expect(biz.post(claim(), token=None), 401, "unauthorized")
    expect(biz.post(claim(), token="wrong"), 401, "unauthorized")
    expect(
        requests.post(url, data=b"x" * 5000, headers={**auth, "Content-Type": "application/json"}, timeout=5),
        413,
        "body_too_large",
    )
    expect(biz.post([claim()] * 51), 413, "batch_too_large")
    expect(
        requests.post(url, data=b"{}", headers={**auth, "Content-Type": "text/plain"}, timeout=5),
        415,
        "unsupported_media_type",
    )
    expect(biz.post([claim(), {"type": "refunds", "labels": {}}]), 422, "unknown_type", event=1, field="type")
    expect(
        biz.post([claim(), {"type": "claims", "labels": {"type": "a", "status": "submitted", "region": "eu"}}]),
        422,
        "unknown_label",
        event=1,
        field="labels.region",
    )
    expect(biz.post({"type": "claims", "labels": {"type": "a"}}), 422, "missing_label", event=0, field="labels.status")
    body = expect(biz.post(claim("lost")), 422, "label_value_not_allowed", event=0, field="labels.status")
    assert "'lost' is not one of" in body["message"]
    expect(
        biz.post({"type": "verifications", "labels": {"type": "a", "outcome": "success"}}),
        422,
        "invalid_value",
        field="value",
    )
    expect(biz.post(claim(value=-1)), 422, "invalid_value", field="value")
    expect(biz.post(claim(value="many")), 422, "invalid_value", field="value")
    expect(biz.post(claim(colour="red")), 422, "invalid_event", field="colour")
    expect(biz.post([]), 422, "invalid_event")
    # A refused batch is all or nothing: the valid claim before the bad one was not counted.
    assert "business_claims_total{" not in biz.metrics()
    metrics_text = biz.metrics()
    for reason, count in {
        "bad_json": 1,
        "unauthorized": 2,
        "body_too_large": 1,
        "batch_too_large": 1,
        "unsupported_media_type": 1,
        "unknown_type": 1,
        "unknown_label": 1,
        "missing_label": 1,
        "label_value_not_allowed": 1,
        "invalid_value": 3,
        "invalid_event": 2,
    }.items():
        assert value(metrics_text, "business_events_rejected_total", reason=reason) == count, reason


def test_cardinality_cap_refuses_new_values_atomically(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    biz = start_business(
        tmp_path,
        procs,
        {
            "events": {
                "claims": {
                    "kind": "counter",
                    "metric": "business_claims_total",
                    "labels": {"type": {"max_values": 3}, "status": ["submitted"]},
                }
            }
        },
    )
    assert biz.post([claim(kind=k) for k in ("a", "b", "c")]).status_code == 200
    body = expect(biz.post([claim(kind="a"), claim(kind="d")]), 429, "cardinality_cap", event=1, field="labels.type")
    assert "already has 3 distinct values" in body["message"]
    assert biz.post(claim(kind="b")).status_code == 200  # known values still count
    metrics = biz.metrics()
    assert value(metrics, "business_claims_total", type="a", status="submitted") == 1
    assert value(metrics, "business_claims_total", type="b", status="submitted") == 2
    assert value(metrics, "business_label_values", event="claims", label="type") == 3
    assert value(metrics, "business_label_values_limit", event="claims", label="type") == 3
    assert value(metrics, "business_events_rejected_total", reason="cardinality_cap") == 1


def test_rate_limit_refuses_past_the_bucket_and_says_when_to_come_back(
    tmp_path: Path, procs: list[ManagedProcess]
) -> None:
    biz = start_business(tmp_path, procs, {"limits": {"events_per_second": 2, "burst": 100}})
    assert biz.post([claim(id=f"a{i}") for i in range(150)]).status_code == 200  # takes the bucket 50 into debt
    r = biz.post(claim(id="b"))
    expect(r, 429, "rate_limited")
    # 50 events of debt at 2 per second: back in about 25 s, never "now".
    assert 20 <= int(r.headers["Retry-After"]) <= 26, r.headers
    assert "2 events per second" in r.json()["message"]
    metrics = biz.metrics()
    # Nothing accepted is lost, and the refused event is not counted.
    assert value(metrics, "business_claims_total", type="land", status="submitted") == 150
    assert value(metrics, "business_events_rejected_total", reason="rate_limited") == 1
    assert value(metrics, "business_events_accepted_total") == 150


def test_unauthenticated_start_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yml", {"business": {"auth_token": None}})
    result = subprocess.run(
        alismon_argv("business", config_file=cfg),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: business.auth_token: no ingest token is set")


def test_promtool_check_metrics_and_openapi(biz: Business) -> None:
    biz.post(
        [
            claim(),
            {"type": "verifications", "labels": {"type": "kyc", "outcome": "failed"}, "value": 1.2},
            {"type": "node_events", "labels": {"sender": "n1", "event": "started"}},
        ]
    )
    biz.post(claim("nope"))
    result = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=biz.metrics(), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stdout + result.stderr
    doc = requests.get(f"{biz.url}/api/v1/openapi.json", timeout=5).json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["components"]["schemas"]) == {"claims", "verifications", "node_events", "Error"}
    assert {"400", "401", "413", "415", "422", "429"} <= set(doc["paths"]["/api/v1/events"]["post"]["responses"])


def test_prometheus_scrapes_it(biz: Business, start_prometheus: Callable[[dict], str]) -> None:
    biz.post(claim())
    prom = start_prometheus(
        {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": "alismon-business", "static_configs": [{"targets": [biz.url.removeprefix("http://")]}]}
            ],
        }
    )
    wait_for(
        lambda: prom_query(prom, 'business_claims_total{job="alismon-business"} == 1'),
        30,
        "Prometheus to scrape the business exporter",
    )
    assert prom_query(prom, 'up{job="alismon-business"} == 1')


def test_state_survives_a_clean_restart(biz: Business) -> None:
    biz.post([claim(id=f"r{i}") for i in range(5)])
    assert biz.process.stop() == 0
    biz.restart()
    assert value(biz.metrics(), "business_claims_total", type="land", status="submitted") == 5
    assert biz.post(claim(id="r0")).json() == {"accepted": 0, "duplicates": 1}  # ids survive too


def test_every_documented_metric_is_exposed_and_vice_versa(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    import re
    import sqlite3

    from tests.conftest import REPO

    # A SQL source with a good and a failing query, so every business_sql_* family has samples.
    sqlite3.connect(tmp_path / "app.db").close()
    queries = [
        {"name": "good", "metric": "app_answer", "sql": "SELECT 42 AS value"},
        {"name": "bad", "metric": "app_broken", "sql": "SELECT value FROM missing"},
    ]
    sources = [{"name": "app", "url": f"sqlite:///{tmp_path / 'app.db'}", "interval": "100ms", "queries": queries}]
    biz = start_business(tmp_path, procs, {"sql_sources": sources})
    wait_for(lambda: "business_sql_query_errors_total{" in biz.metrics(), 20, "the SQL source to run")
    biz.post(
        [
            claim(),
            {"type": "verifications", "labels": {"type": "kyc", "outcome": "failed"}, "value": 1.2},
            {"type": "node_events", "labels": {"sender": "n1", "event": "started"}},
        ]
    )
    biz.post(claim("nope"))
    text = (REPO / "docs/metrics.md").read_text()
    section = text.split("## Business exporter", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `((?:business|alismon)_[a-z0-9_]+)`", section, re.M))
    # The gauges of a SQL source are the user's own (none in the shipped config), like event families.
    exposed = set(re.findall(r"^# TYPE (\S+) ", biz.metrics(), re.M)) - {"app_answer"}
    assert len(documented) >= 16
    assert documented - exposed == set(), "documented but not exposed"
    assert exposed - documented == set(), "exposed but not documented in docs/metrics.md"


def test_values_stay_finite_and_in_range(biz: Business) -> None:
    """No event can make a counter or a histogram's sum infinite, nor a duration negative."""
    assert biz.post(claim(value=1e308, id="big-1")).status_code == 200
    body = expect(biz.post([claim("approved"), claim(value=1e308, id="big-2")]), 422, "value_overflow", event=1)
    assert body["field"] == "value" and "business_claims_total" in body["message"]
    assert biz.post(claim(value=1e308, id="big-2")).status_code == 422  # refused again, never half-counted
    latency = {"type": "verifications", "labels": {"type": "kyc", "outcome": "success"}}
    expect(biz.post({**latency, "value": -1e308}), 422, "invalid_value", event=0, field="value")
    assert biz.post({**latency, "value": 1e308}).status_code == 200
    expect(biz.post({**latency, "value": 1e308}), 422, "value_overflow", event=0, field="value")
    # JSON has no NaN or Infinity; orjson refuses the literals and huge exponents alike.
    for literal in (b"NaN", b"Infinity", b"1e999"):
        raw = b'{"type": "claims", "labels": {"type": "land", "status": "submitted"}, "value": ' + literal + b"}"
        r = requests.post(
            f"{biz.url}/api/v1/events",
            data=raw,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            timeout=5,
        )
        assert r.status_code in (400, 422), (literal, r.text)
    metrics = biz.metrics()
    assert value(metrics, "business_claims_total", type="land", status="submitted") == 1e308
    assert "business_claims_total{" in metrics and "approved" not in metrics  # the refused batch counted nothing
    assert value(metrics, "business_verification_duration_seconds_sum", type="kyc", outcome="success") == 1e308
    assert value(metrics, "business_events_rejected_total", reason="value_overflow") == 3
    assert "+Inf" not in metrics.replace('le="+Inf"', "") and "NaN" not in metrics
    biz.process.stop()
    biz.restart()
    assert value(biz.metrics(), "business_claims_total", type="land", status="submitted") == 1e308
