"""Our lean encoders produce exactly what client_python's encoders produce."""

from __future__ import annotations

import math

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram as ClientHistogram
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
from prometheus_client.utils import floatToGoString

from exporters.core.exposition import (
    _Families,
    encode_openmetrics,
    encode_text,
    format_value,
    has_samples,
    negotiate,
)
from exporters.core.metrics import Histogram, HistogramBounds, MetricFamily, bucket_le


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
    counter.add_metric(["a"], 1, exemplar=Exemplar({"trace_id": "abc"}, 1.0))
    families: list[Metric] = [counter]
    assert encode_openmetrics(families) == client_openmetrics(_Families(families))
    assert b'# {trace_id="abc"} 1.0' in encode_openmetrics(families)


def test_created_samples_fall_back_in_text_format() -> None:
    counter = CounterMetricFamily("demo_created", "Has created.", labels=["k"], created=1700000000.0)
    counter.add_metric(["a"], 1, created=1700000000.0)
    families: list[Metric] = [counter]
    assert encode_text(families) == client_text(_Families(families))


@pytest.mark.parametrize(
    "value", [0.0, -0.0, 0, 1.0, -2.5, 1e21, 1234567.0, 0.000123, math.inf, -math.inf, math.nan, 7, True]
)
def test_value_formatting_matches(value: float) -> None:
    assert format_value(value) == floatToGoString(value)
    assert format_value(value) == floatToGoString(value)  # again, from the cache


def test_negotiation() -> None:
    assert negotiate("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")[1] is True
    assert negotiate("text/plain")[1] is False
    assert negotiate("")[0].startswith("text/plain; version=0.0.4")


def lines_and_reference() -> tuple[list[Metric], list[Metric]]:
    """The same families built as MetricFamily and as client_python families."""
    gauge = MetricFamily("demo_gauge", "Gauge.", "gauge", ["b", "a"])
    ref_gauge = GaugeMetricFamily("demo_gauge", "Gauge.", labels=["b", "a"])
    for values, v in ((("x", 'quote " and \\ and \n'), 1.5), (("y", "plain"), math.inf), (("z", "n"), 10**24)):
        gauge.add(values, v)
        ref_gauge.add_metric(list(values), v)
    counter = MetricFamily("demo_events", "Events.", "counter", ["kind"])
    ref_counter = CounterMetricFamily("demo_events", "Events.", labels=["kind"])
    counter.add(("a",), 3)
    ref_counter.add_metric(["a"], 3)
    plain = MetricFamily("demo_plain", "No labels.", "gauge")
    plain.add((), 42)
    ref_plain = GaugeMetricFamily("demo_plain", "No labels.", value=42)
    hist = MetricFamily("demo_latency_seconds", "Latency.", "histogram", ["op", "chain"])
    ref_hist = HistogramMetricFamily("demo_latency_seconds", "Latency.", labels=["op", "chain"])
    for op in ("transfer", "z-last"):
        hist.add_histogram((op, "dev"), Histogram(HistogramBounds((0.1, 1)), [1, 3, 1], 2.5))
        ref_hist.add_metric([op, "dev"], buckets=[("0.1", 1.0), ("1.0", 4.0), ("+Inf", 5.0)], sum_value=2.5)
    empty = MetricFamily.counter("demo_empty", "Nothing yet.", ["k"])
    ref_empty = CounterMetricFamily("demo_empty", "Nothing yet.", labels=["k"])
    info = MetricFamily.info("demo_build", "Build.", ["version", "python"])
    info.add(("1.0", "3.11"), 1)
    ref_info = InfoMetricFamily("demo_build", "Build.", labels=["version", "python"])
    ref_info.add_metric(["1.0", "3.11"], {})
    return [gauge, counter, plain, hist, empty, info], [
        ref_gauge,
        ref_counter,
        ref_plain,
        ref_hist,
        ref_empty,
        ref_info,
    ]


def test_lines_families_encode_like_client_python_in_both_formats() -> None:
    ours, reference = lines_and_reference()
    assert encode_text(ours) == client_text(_Families(reference))
    assert encode_openmetrics(ours) == client_openmetrics(_Families(reference))


def test_lines_families_still_offer_their_samples() -> None:
    ours, reference = lines_and_reference()
    for mine, ref in zip(ours, reference, strict=True):
        expected = [(s.name, s.labels, float(s.value)) for s in ref.samples]
        assert [(s.name, s.labels, s.value) for s in mine.samples] == expected
        assert has_samples(mine) == bool(ref.samples)


def test_lines_refuse_what_they_cannot_render() -> None:
    with pytest.raises(ValueError, match="_total"):
        MetricFamily("demo_total", "Counter named with _total.", "counter")
    with pytest.raises(ValueError, match="_info"):
        MetricFamily.info("demo_build_info", "Info named with _info.")
    with pytest.raises(ValueError, match="stateset"):
        MetricFamily("demo_state", "State set.", "stateset")
    with pytest.raises(ValueError, match="1 label values for 2 label names"):
        MetricFamily("demo_g", "Gauge.", "gauge", ["a", "b"]).add(("x",), 1.0)


# Integer, fractional and large bounds: the three kinds client_python writes differently from str().
BOUNDS = (0.005, 1, 2.5, 3, 21_000, 1e6, 3e7)


@pytest.mark.parametrize(
    ("bound", "le"),
    [(3, "3.0"), (3.0, "3.0"), (21_000, "21000.0"), (1e6, "1e+06"), (3e7, "3e+07"), (0.005, "0.005"), (2.5, "2.5")],
)
def test_bucket_bounds_are_labelled_as_client_python_labels_them(bound: float, le: str) -> None:
    assert bucket_le(bound) == le == floatToGoString(bound)


def test_a_histogram_encodes_like_client_pythons_histogram_in_both_formats() -> None:
    observed = [0.001, 0.005, 1, 2, 3, 3, 20_999.5, 21_000, 500_000, 1e6, 2.9e7, 3e7, 4e7]
    registry = CollectorRegistry(auto_describe=False)
    reference = ClientHistogram("demo_gas", "Gas used.", ["op"], registry=registry, buckets=BOUNDS)
    ours = MetricFamily.histogram("demo_gas", "Gas used.", ["op"])
    bounds = HistogramBounds(BOUNDS)
    for op, values in (("approve", observed[:5]), ("transfer", observed), ("unused", [])):
        hist = Histogram(bounds)
        for v in values:
            hist.observe(v)
            reference.labels(op).observe(v)
        if not values:
            reference.labels(op)
        ours.add_histogram((op,), hist)
    prometheus_client.disable_created_metrics()  # client_python's _created samples are not ours to write
    try:
        text, openmetrics = client_text(registry), client_openmetrics(registry)
    finally:
        prometheus_client.enable_created_metrics()
    assert b'le="21000.0"' in text and b'le="1e+06"' in text and b'le="3e+07"' in text and b'le="3.0"' in text
    assert encode_text([ours]) == text
    assert encode_openmetrics([ours]) == openmetrics


def test_observing_one_by_one_or_all_at_once_gives_the_same_histogram() -> None:
    values = [0.1 * i for i in range(50)] + [3, 3e7, math.inf]
    one, many = Histogram(HistogramBounds(BOUNDS)), Histogram(HistogramBounds(BOUNDS))
    for v in values:
        one.observe(v)
    many.observe_all(values)
    assert one == many and one.count == len(values)
    copied = one.copy()
    copied.observe(1)
    assert copied != one and copied.count == one.count + 1


def test_histograms_refuse_bounds_and_counts_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        HistogramBounds((1, 1))
    with pytest.raises(ValueError, match="finite"):
        HistogramBounds((1, math.inf))
    with pytest.raises(ValueError, match="3 bucket counts for 4 buckets"):
        Histogram(HistogramBounds((1, 2, 3)), [0, 0, 0])
