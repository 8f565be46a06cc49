"""loadavg: the 1, 5 and 15 minute load averages from /proc/loadavg."""

from __future__ import annotations

from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.procfs import PROC, ProcFile


def parse_loadavg(loadavg: bytes) -> tuple[float, float, float]:
    one, five, fifteen = loadavg.split()[:3]
    return float(one), float(five), float(fifteen)


class LoadavgCollector:
    name = "loadavg"

    def __init__(self, procfs: str = PROC) -> None:
        self._loadavg = ProcFile(f"{procfs}/loadavg")

    def collect(self) -> list[MetricFamily]:
        out = []
        for minutes, value in zip((1, 5, 15), parse_loadavg(self._loadavg.read()), strict=True):
            family = MetricFamily.gauge(f"system_load{minutes}", f"{minutes}m load average.")
            family.add((), value)
            out.append(family)
        return out


SPEC = CollectorSpec("loadavg", True, "1, 5 and 15 minute load averages", lambda _: LoadavgCollector())
