"""The `exporters` section: where each exporter listens."""

from __future__ import annotations

from exporters.core.models import Strict
from exporters.core.types import ListenAddress


class ExporterListen(Strict):
    listen_address: ListenAddress


class ExportersConfig(Strict):
    system: ExporterListen = ExporterListen(listen_address="0.0.0.0:9810")
    blockchain: ExporterListen = ExporterListen(listen_address="0.0.0.0:9811")
    business: ExporterListen = ExporterListen(listen_address="0.0.0.0:9812")
