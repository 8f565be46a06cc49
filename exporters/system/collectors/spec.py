"""What the exporter and the command line know about a collector before building it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exporters.config.system import SystemConfig
from exporters.core.collect import SubCollector


@dataclass(frozen=True)
class CollectorSpec:
    """A collector's name (its `--collector.<name>` flag and `collector` label), default and factory."""

    name: str
    enabled_by_default: bool
    summary: str  # what it exposes, for `--help`
    build: Callable[[SystemConfig], SubCollector]
