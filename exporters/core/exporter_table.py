"""The exporters alismon runs, one row each: the command line, the config defaults, the rendered
Prometheus jobs and targets, and the native stack all loop over this table.

It lives in core so that every layer can read it. A row names its exporter class by import path
instead of importing it: the exporters sit above config, which needs the names and ports here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exporters.core.http import Exporter


@dataclass(frozen=True)
class ExporterRow:
    # The subcommand (`alismon <name>`), its key under `exporters`, `prometheus.targets`,
    # `inventory.ports` and `alerting.jobs`, and the prefix of its self-metrics.
    name: str
    port: int  # the default listen port
    title: str  # the heading of its landing page
    summary: str  # its line in `alismon --help`
    section: str  # the config.yml section its exporter reads
    factory: str  # "module:Class", an Exporter subclass, imported only when it is needed

    @property
    def listen_address(self) -> str:
        return f"0.0.0.0:{self.port}"

    @property
    def service(self) -> str:
        """Its compose service, and its component in the native stack."""
        return f"{self.name}-exporter"

    @property
    def job(self) -> str:
        """Its Prometheus job name unless `alerting.jobs` says otherwise."""
        return f"alismon-{self.name}"

    def load(self) -> type[Exporter[Any]]:
        module, _, attr = self.factory.partition(":")
        exporter: type[Exporter[Any]] = getattr(importlib.import_module(module), attr)
        return exporter


EXPORTERS: tuple[ExporterRow, ...] = (
    ExporterRow(
        name="system",
        port=9810,
        title="AlisChain system exporter",
        summary="run the system exporter",
        section="system",
        factory="exporters.system.exporter:SystemExporter",
    ),
    ExporterRow(
        name="blockchain",
        port=9811,
        title="AlisChain blockchain exporter",
        summary="run the blockchain exporter",
        section="blockchain",
        factory="exporters.blockchain.exporter:BlockchainExporter",
    ),
    ExporterRow(
        name="business",
        port=9812,
        title="AlisChain business exporter",
        summary="run the business exporter and its ingest API",
        section="business",
        factory="exporters.business.exporter:BusinessExporter",
    ),
)
EXPORTER_NAMES: tuple[str, ...] = tuple(row.name for row in EXPORTERS)


def exporter_row(name: str) -> ExporterRow:
    for row in EXPORTERS:
        if row.name == name:
            return row
    raise KeyError(f"no exporter named {name!r} (known: {', '.join(EXPORTER_NAMES)})")
