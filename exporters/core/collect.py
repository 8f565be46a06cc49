"""Scrape-time collection: named sub-collectors, each timed and reported on its own.

node_exporter's pattern: one collector per subsystem and
`<prefix>_scrape_collector_duration_seconds{collector}` / `..._success{collector}`, so one
broken collector never fails the whole scrape.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from prometheus_client.metrics_core import Metric

from exporters import __version__
from exporters.core.exposition import has_samples
from exporters.core.metrics import MetricFamily

log = logging.getLogger(__name__)


class SubCollector(Protocol):
    name: str

    def collect(self) -> Iterable[Metric]: ...


class TimedCollectors:
    """A custom collector running each sub-collector in turn and reporting its duration and success."""

    def __init__(self, prefix: str, collectors: Sequence[SubCollector]) -> None:
        self.prefix = prefix
        self.collectors = list(collectors)

    def describe(self) -> list[Metric]:
        # Never let a registry call collect() at registration: collection may do I/O.
        return []

    def collect(self) -> Iterable[Metric]:
        duration = MetricFamily.gauge(
            f"{self.prefix}_scrape_collector_duration_seconds", "Duration of a collector scrape.", ["collector"]
        )
        success = MetricFamily.gauge(
            f"{self.prefix}_scrape_collector_success",
            "Whether a collector succeeded (1) or failed (0) on this scrape.",
            ["collector"],
        )
        out: list[Metric] = []
        for collector in self.collectors:
            start = time.perf_counter()
            try:
                # A family without samples is only noise (HELP/TYPE lines); node_exporter omits them too.
                out.extend(f for f in collector.collect() if has_samples(f))
                ok = 1.0
            except Exception as exc:  # one failing collector must not fail the scrape
                log.error("collector failed", extra={"collector": collector.name, "err": repr(exc)})
                ok = 0.0
            duration.add((collector.name,), time.perf_counter() - start)
            success.add((collector.name,), ok)
        out.append(duration)
        out.append(success)
        return out


class BuildInfo:
    """alismon_build_info{exporter,version,python_version} 1, constant for the process lifetime."""

    name = "build_info"

    def __init__(self, exporter: str) -> None:
        family = MetricFamily.gauge(
            "alismon_build_info",
            "A metric with a constant '1' value labeled by exporter, version and Python version.",
            ["exporter", "version", "python_version"],
        )
        family.add((exporter, __version__, platform.python_version()), 1.0)
        self._families: list[Metric] = [family]

    def describe(self) -> list[Metric]:
        return self._families

    def collect(self) -> Iterable[Metric]:
        return self._families
