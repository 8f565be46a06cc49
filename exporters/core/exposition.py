"""Lean encoders for the Prometheus text format 0.0.4 and OpenMetrics 1.0.

client_python's encoders are general (UTF-8 name escaping, exemplars, native histograms) and
cost more than collecting the host's metrics: about 14 us a sample for OpenMetrics here. Ours
handle what the exporters produce (counters, gauges, histograms, info; legacy names; no
exemplars) and hand anything else to client_python. The tests compare the output with
client_python's byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.exposition import generate_latest as client_text
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as client_openmetrics

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_TEXT_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_TEXT_SUFFIX = {"counter": "_total", "info": "_info"}
# Samples that client_python moves into separate families in the text format.
_OM_ONLY_SUFFIXES = ("_created", "_gsum", "_gcount")


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


class _Unsupported(Exception):
    pass


# Values repeat from scrape to scrape (counts, bucket counts, block numbers): formatting one costs
# more than looking it up. Zero is answered before the cache: 0.0 and -0.0 are equal keys.
_VALUE_CACHE: dict[float, str] = {}


def format_value(value: float) -> str:
    """client_python's floatToGoString: Go's formatting of floats, as Prometheus expects."""
    if not value:  # 0, 0.0 and -0.0 (NaN is truthy)
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    found = _VALUE_CACHE.get(value)
    if found is None:
        found = _format_value(value)
        if len(_VALUE_CACHE) >= _CACHE_MAX:
            _VALUE_CACHE.clear()
        _VALUE_CACHE[value] = found
    return found


def _format_value(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if value != value:
        return "NaN"
    s = repr(float(value))
    dot = s.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def _escape_label(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


# Label sets repeat from scrape to scrape; formatting one costs more than looking it up.
# (label names, label values) -> the rendered label block.
_BLOCK_CACHE: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
_CACHE_MAX = 50_000


def _label_string(labels: dict[str, str]) -> str:
    return label_block(tuple(labels), tuple(labels.values()))


def label_block(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    """`{a="1",b="2"}` with names sorted as client_python sorts them; "" without labels."""
    key = (names, values)
    found = _BLOCK_CACHE.get(key)
    if found is None:
        if len(names) != len(values):
            raise ValueError(f"{len(values)} label values for {len(names)} label names {names}")
        pairs = sorted(zip(names, values, strict=True))
        found = "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs) + "}" if pairs else ""
        if len(_BLOCK_CACHE) >= _CACHE_MAX:
            _BLOCK_CACHE.clear()
        _BLOCK_CACHE[key] = found
    return found


def has_samples(metric: Metric) -> bool:
    lines = getattr(metric, "lines", None)  # a MetricFamily (core.metrics) keeps its samples as lines
    return bool(lines) if lines is not None else bool(metric.samples)


def _sample_lines(metric: Metric, out: list[str], text: bool) -> None:
    lines = getattr(metric, "lines", None)
    if lines is not None:  # a MetricFamily: the sample lines are the same in both formats
        out.extend(lines)
        return
    om_only = {metric.name + suffix for suffix in _OM_ONLY_SUFFIXES} if text else ()
    for s in metric.samples:
        if s.exemplar is not None or s.native_histogram is not None or s.name in om_only:
            raise _Unsupported
        if s.labels:
            line = f"{s.name}{_label_string(s.labels)} {format_value(s.value)}"
        else:
            line = f"{s.name} {format_value(s.value)}"
        if s.timestamp is not None:
            line += f" {int(float(s.timestamp) * 1000):d}" if text else f" {s.timestamp}"
        out.append(line + "\n")


def _client_encoding(encoder: Callable[[Any], bytes], families: Sequence[Metric]) -> bytes:
    """client_python's own encoder, for what ours does not render (exemplars, native histograms)."""
    return encoder(_Families(list(families)))


def encode_text(families: Sequence[Metric]) -> bytes:
    out: list[str] = []
    try:
        for m in families:
            name = m.name + _TEXT_SUFFIX.get(m.type, "")
            doc = m.documentation.replace("\\", r"\\").replace("\n", r"\n")
            out.append(f"# HELP {name} {doc}\n# TYPE {name} {_TEXT_TYPES.get(m.type, m.type)}\n")
            _sample_lines(m, out, text=True)
    except _Unsupported:
        return _client_encoding(client_text, families)
    return "".join(out).encode()


def encode_openmetrics(families: Sequence[Metric]) -> bytes:
    out: list[str] = []
    try:
        for m in families:
            doc = m.documentation.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
            out.append(f"# HELP {m.name} {doc}\n# TYPE {m.name} {m.type}\n")
            if m.unit:
                out.append(f"# UNIT {m.name} {m.unit}\n")
            _sample_lines(m, out, text=False)
    except _Unsupported:
        return _client_encoding(client_openmetrics, families)
    out.append("# EOF\n")
    return "".join(out).encode()


def negotiate(accept: str) -> tuple[str, bool]:
    """(content type, is OpenMetrics) for an Accept header; OpenMetrics 1.0 whenever it is offered."""
    if "application/openmetrics-text" in accept:
        return OPENMETRICS_CONTENT_TYPE, True
    return TEXT_CONTENT_TYPE, False
