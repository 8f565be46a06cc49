"""The one way every collector builds its metric families: gauges, counters, histograms and info.

A MetricFamily renders each sample to its exposition line as it is added (no Sample tuples, no
label dicts), with client_python's value formatting, so the bytes are the ones client_python would
write, at about a third of the cost. Sample lines of these types are the same in the text format
and OpenMetrics, so both encoders copy them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from exporters.core.exposition import format_value, label_block

_SAMPLE_SUFFIX = {"counter": "_total", "info": "_info"}


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

    @property  # type: ignore[override]
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

    def add_histogram(self, labelvalues: Sequence[str], buckets: Sequence[tuple[str, float]], sum_value: float) -> None:
        """Cumulative (le, count) pairs ending with +Inf, as HistogramMetricFamily.add_metric takes them."""
        values = tuple(labelvalues)
        name, lines = self.name, self.lines
        for le, count in buckets:
            lines.append(f"{name}_bucket{label_block(self._le_names, (*values, le))} {format_value(count)}\n")
        block = label_block(self.labelnames, values)
        lines.append(f"{name}_count{block} {format_value(buckets[-1][1])}\n")
        lines.append(f"{name}_sum{block} {format_value(sum_value)}\n")
