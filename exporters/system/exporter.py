"""Wires the system collectors into an Exporter."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Self

from exporters.config.system import SystemConfig
from exporters.core.collect import SubCollector, TimedCollectors
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


class SystemExporter(Exporter[SystemConfig]):
    name = "system"

    def __init__(self, config: SystemConfig, enabled: Collection[str] = COLLECTORS) -> None:
        super().__init__(config)
        self.registry.register(TimedCollectors("system", build_collectors(config, enabled)))

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for name in COLLECTORS:
            parser.add_argument(
                f"--collector.{name}",
                dest=f"collector_{name}",
                default=True,
                action=argparse.BooleanOptionalAction,
                help=f"enable the {name} collector",
            )

    @classmethod
    def from_args(cls, config: SystemConfig, args: argparse.Namespace) -> Self:
        return cls(config, [name for name in COLLECTORS if getattr(args, f"collector_{name}")])
