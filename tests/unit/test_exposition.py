"""Our lean encoders produce exactly what client_python's encoders produce."""

from __future__ import annotations

import math

import pytest
from prometheus_client.exposition import generate_latest as client_text
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.openmetrics.exposition import generate_latest as client_openmetrics
from prometheus_client.samples import Exemplar

from exporters.core.exposition import _Families, encode_openmetrics, encode_text, format_value, negotiate


def sample_families() -> list[Metric]:
    gauge = GaugeMetricFamily("demo_gauge", 'Help with "quotes", a \\ backslash\nand a newline.', labels=["b", "a"])
    gauge.add_metric(["x", 'quote " and \\ and \n'], 1.5)
    gauge.add_metric(["y", "plain"], math.inf)
    gauge.add_metric(["z", "neg"], -math.inf)
    gauge.add_metric(["w", "nan"], math.nan)
    gauge.add_metric(["v", "big"], 123456789012.0)
    gauge.add_metric(["u", "tiny"], 1e-9)
    counter = CounterMetricFamily("demo_events", "Events.", labels=["kind"])
    counter.add_metric(["a"], 3)
    plain = GaugeMetricFamily("demo_plain", "No labels.", value=42)
    hist = HistogramMetricFamily("demo_latency_seconds", "Latency.", labels=["op"])
    hist.add_metric(["transfer"], buckets=[("0.1", 1), ("1.0", 4), ("+Inf", 5)], sum_value=2.5)
    info = InfoMetricFamily("demo_build", "Build.", value={"version": "1.2.3"})
    return [gauge, counter, plain, hist, info]


def test_text_is_byte_identical() -> None:
    families = sample_families()
    assert encode_text(families) == client_text(_Families(families))


def test_openmetrics_is_byte_identical() -> None:
    families = sample_families()
    assert encode_openmetrics(families) == client_openmetrics(_Families(families))


def test_exemplars_fall_back_to_client_python() -> None:
    counter = CounterMetricFamily("demo_ex", "With exemplar.", labels=["k"])
    counter.add_metric(["a"], 1, exemplar=Exemplar({"trace_id": "abc"}, 1.0))  # type: ignore[call-arg]
    families: list[Metric] = [counter]
    assert encode_openmetrics(families) == client_openmetrics(_Families(families))
    assert b'# {trace_id="abc"} 1.0' in encode_openmetrics(families)


def test_created_samples_fall_back_in_text_format() -> None:
    counter = CounterMetricFamily("demo_created", "Has created.", labels=["k"], created=1700000000.0)
    counter.add_metric(["a"], 1, created=1700000000.0)
    families: list[Metric] = [counter]
    assert encode_text(families) == client_text(_Families(families))


@pytest.mark.parametrize("value", [0.0, 1.0, -2.5, 1e21, 1234567.0, 0.000123, math.inf, -math.inf])
def test_value_formatting_matches(value: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert format_value(value) == floatToGoString(value)


def test_negotiation() -> None:
    assert negotiate("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")[1] is True
    assert negotiate("text/plain")[1] is False
    assert negotiate("")[0].startswith("text/plain; version=0.0.4")
