"""The `exporters` section: where each exporter listens, and the limits of its HTTP server.

One field per row of the exporter table (exporters/core/exporter_table.py), defaulting to the
row's port; tests/unit/test_exporter_table.py holds the two in step.
"""

from __future__ import annotations

from exporters.core.exporter_table import exporter_row
from exporters.core.httplimits import HTTPLimits
from exporters.core.models import Strict
from exporters.core.types import ListenAddress


class ExporterListen(Strict):
    listen_address: ListenAddress
    http: HTTPLimits = HTTPLimits()


def _default(name: str) -> ExporterListen:
    return ExporterListen(listen_address=exporter_row(name).listen_address)


class ExportersConfig(Strict):
    system: ExporterListen = _default("system")
    blockchain: ExporterListen = _default("blockchain")
    business: ExporterListen = _default("business")
