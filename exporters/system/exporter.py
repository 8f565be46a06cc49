"""Wires the system collectors into an Exporter."""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

from exporters.config.system import SystemConfig
from exporters.core.collect import BuildInfo, SubCollector, TimedCollectors
from exporters.core.http import Exporter
from exporters.system.filesystem import FilesystemCollector
from exporters.system.filters import NameFilter
from exporters.system.host import (
    CPUCollector,
    DiskIOCollector,
    KernelCollector,
    LoadCollector,
    MemoryCollector,
    NetworkCollector,
)
from exporters.system.processes import ProcessCollector

COLLECTORS = ("cpu", "loadavg", "meminfo", "filesystem", "diskstats", "netdev", "kernel", "processes")


def build_collectors(config: SystemConfig, enabled: Collection[str] = COLLECTORS) -> list[SubCollector]:
    factories = {
        "cpu": CPUCollector,
        "loadavg": LoadCollector,
        "meminfo": MemoryCollector,
        "filesystem": lambda: FilesystemCollector(config.filesystem),
        "diskstats": lambda: DiskIOCollector(NameFilter(config.disk)),
        "netdev": lambda: NetworkCollector(NameFilter(config.network)),
        "kernel": KernelCollector,
        "processes": lambda: ProcessCollector(config.processes, config.process_rescan_interval),
    }
    return [factories[name]() for name in COLLECTORS if name in enabled]


class SystemExporter(Exporter):
    name = "system"
    title = "AlisChain system exporter"

    def __init__(
        self, config: SystemConfig, enabled: Collection[str] = COLLECTORS, runtime_metrics: bool = False
    ) -> None:
        super().__init__()
        self.registry.register(BuildInfo(self.name))
        self.registry.register(TimedCollectors("system", build_collectors(config, enabled)))
        if runtime_metrics:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
