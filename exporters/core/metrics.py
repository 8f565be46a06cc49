"""The one way every collector builds its metric families: gauges, counters, histograms and info.

A MetricFamily renders each sample to its exposition line as it is added (no Sample tuples, no
label dicts), with client_python's value formatting, so the bytes are the ones client_python would
write, at about a third of the cost. Sample lines of these types are the same in the text format
and OpenMetrics, so both encoders copy them as they are.

Histogram samples come only from a `Histogram`, whose `HistogramBounds` format each bucket's `le`
label once, as client_python does (3 -> "3.0", 21000 -> "21000.0", 1e6 -> "1e+06"): every
histogram of every exporter writes a bound the same way.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from exporters.core.exposition import format_value, label_block

_SAMPLE_SUFFIX = {"counter": "_total", "info": "_info"}


def bucket_le(bound: float) -> str:
    """The `le` label of a bucket's upper bound, as client_python writes it: 3 -> "3.0", 1e6 -> "1e+06"."""
    return format_value(float(bound))


class HistogramBounds:
    """The upper bounds of a histogram's buckets (+Inf implied) and their `le` labels, formatted once."""

    __slots__ = ("le", "upper")

    def __init__(self, upper: Iterable[float]) -> None:
        self.upper = tuple(float(b) for b in upper)
        if not all(math.isfinite(b) for b in self.upper) or any(a >= b for a, b in itertools.pairwise(self.upper)):
            raise ValueError(f"bucket bounds must be finite and strictly increasing: {self.upper}")
        self.le = (*map(bucket_le, self.upper), "+Inf")

    def __len__(self) -> int:
        """The number of buckets, +Inf included."""
        return len(self.le)

    def __repr__(self) -> str:
        return f"HistogramBounds({self.upper})"


class Histogram:
    """Observations counted per bucket and summed; a scrape renders it with `MetricFamily.add_histogram`.

    `counts[i]` counts the values in (upper[i-1], upper[i]], the last one those above every bound
    (+Inf): counts per bucket, not cumulative, so a histogram can be stored and restored as it is.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: HistogramBounds, counts: Sequence[float] | None = None, sum_value: float = 0.0) -> None:
        if counts is not None and len(counts) != len(bounds):
            raise ValueError(f"{len(counts)} bucket counts for {len(bounds)} buckets")
        self.bounds = bounds
        self.counts: list[float] = [0.0] * len(bounds) if counts is None else list(counts)
        self.sum = sum_value

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds.upper, value)] += 1
        self.sum += value

    def observe_all(self, values: Iterable[float]) -> None:
        """`observe` each value in turn (the same floats, with one attribute lookup for all of them)."""
        counts, upper, total = self.counts, self.bounds.upper, self.sum
        for value in values:
            counts[bisect_left(upper, value)] += 1
            total += value
        self.sum = total

    @property
    def count(self) -> float:
        return sum(self.counts)

    def copy(self) -> Histogram:
        return Histogram(self.bounds, self.counts, self.sum)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return self.bounds.upper == other.bounds.upper and self.counts == other.counts and self.sum == other.sum

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Histogram({self.bounds.upper}, counts={self.counts}, sum={self.sum})"


class MetricFamily(Metric):
    """A gauge, counter, histogram or info family; build one with `gauge()`, `counter()`, `histogram()`, `info()`.

    `samples` is still available (parsed back from the lines) for anything else that reads them.
    """

    _checked: set[tuple[str, str]] = set()  # (name, type) pairs Metric.__init__ has validated

    def __init__(self, name: str, documentation: str, typ: str, labelnames: Sequence[str] = ()) -> None:
        if (name, typ) in MetricFamily._checked:  # the same families are built at every scrape: check each once
            self.name, self.documentation, self.unit, self.type = name, documentation, "", typ
        else:
            if typ not in ("counter", "gauge", "histogram", "info"):
                raise ValueError(f"a MetricFamily is a counter, gauge, histogram or info, not {typ}")
            suffix = _SAMPLE_SUFFIX.get(typ)
            if suffix and name.endswith(suffix):
                raise ValueError(f"a {typ} family is named without {suffix}: {name}")
            super().__init__(name, documentation, typ)
            MetricFamily._checked.add((name, typ))
        self.labelnames = tuple(labelnames)
        self._le_names = (*self.labelnames, "le")
        self._sample_name = name + _SAMPLE_SUFFIX.get(typ, "")
        self.lines: list[str] = []

    @classmethod
    def gauge(cls, name: str, documentation: str, labelnames: Sequence[str] = ()) -> MetricFamily:
        return cls(name, documentation, "gauge", labelnames)

    @classmethod
    def counter(cls, name: str, documentation: str, labelnames: Sequence[str] = ()) -> MetricFamily:
        """`name` without `_total`: the sample lines get it."""
        return cls(name, documentation, "counter", labelnames)

    @classmethod
    def histogram(cls, name: str, documentation: str, labelnames: Sequence[str] = ()) -> MetricFamily:
        return cls(name, documentation, "histogram", labelnames)

    @classmethod
    def info(cls, name: str, documentation: str, labelnames: Sequence[str] = ()) -> MetricFamily:
        """`name` without `_info`; add each label set with the value 1."""
        return cls(name, documentation, "info", labelnames)

    @property
    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for family in text_string_to_metric_families("".join(self.lines)):
            out.extend(family.samples)
        return out

    @samples.setter
    def samples(self, _: list[Sample]) -> None:
        pass  # Metric.__init__ starts an empty list; the lines are the samples here

    def add(self, labelvalues: Sequence[str], value: float) -> None:
        block = label_block(self.labelnames, tuple(labelvalues))
        self.lines.append(f"{self._sample_name}{block} {format_value(value)}\n")

    def add_histogram(self, labelvalues: Sequence[str], histogram: Histogram) -> None:
        """The histogram's cumulative buckets (`le` as its bounds write it), count and sum."""
        values = tuple(labelvalues)
        name, lines, le_names = self.name, self.lines, self._le_names
        cumulative = 0.0
        for le, count in zip(histogram.bounds.le, histogram.counts, strict=True):
            cumulative += count
            lines.append(f"{name}_bucket{label_block(le_names, (*values, le))} {format_value(cumulative)}\n")
        block = label_block(self.labelnames, values)
        lines.append(f"{name}_count{block} {format_value(cumulative)}\n")
        lines.append(f"{name}_sum{block} {format_value(histogram.sum)}\n")
