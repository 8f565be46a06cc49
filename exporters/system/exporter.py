"""Wires the system collectors into an Exporter, and the `--collector.<name>` flags that choose them."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Self

from exporters.config.system import SystemConfig
from exporters.core.collect import SubCollector, TimedCollectors
from exporters.core.http import Exporter
from exporters.system.collectors import COLLECTORS

DEFAULT_COLLECTORS = tuple(spec.name for spec in COLLECTORS if spec.enabled_by_default)


def build_collectors(config: SystemConfig, enabled: Collection[str] = DEFAULT_COLLECTORS) -> list[SubCollector]:
    return [spec.build(config) for spec in COLLECTORS if spec.name in enabled]


class SystemExporter(Exporter[SystemConfig]):
    name = "system"
    # Collection is a few reads of /proc that never wait on a device (about 1 ms of CPU per scrape): on the
    # event loop it saves a thread hop per scrape, a tenth of the scrape's CPU. statvfs, which can hang on a
    # dead mount, still runs in the filesystem collector's pool under its deadline; the loop waits at most
    # filesystem.stat_timeout once for a mount that hangs, which is then skipped.
    collect_inline = True

    def __init__(self, config: SystemConfig, enabled: Collection[str] = DEFAULT_COLLECTORS) -> None:
        super().__init__(config)
        self.registry.register(TimedCollectors("system", build_collectors(config, enabled)))

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """`--collector.<name>` / `--no-collector.<name>` for every collector, defaulting as node_exporter does."""
        for spec in COLLECTORS:
            parser.add_argument(
                f"--collector.{spec.name}",
                dest=f"collector_{spec.name}",
                default=spec.enabled_by_default,
                action=argparse.BooleanOptionalAction,
                help=f"{spec.summary} (default: {'on' if spec.enabled_by_default else 'off'})",
            )

    @staticmethod
    def enabled_collectors(args: argparse.Namespace) -> list[str]:
        """The collector names the flags of add_arguments() turned on."""
        return [spec.name for spec in COLLECTORS if getattr(args, f"collector_{spec.name}")]

    @classmethod
    def from_args(cls, config: SystemConfig, args: argparse.Namespace) -> Self:
        return cls(config, cls.enabled_collectors(args))
