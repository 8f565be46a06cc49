"""The `inventory` section: the hosts Prometheus scrapes, rendered into file-SD target files."""

from __future__ import annotations

from typing import Literal, cast

from pydantic import Field, field_validator

from exporters.config.fields import TargetLabels, unique
from exporters.core.exporter_table import EXPORTERS
from exporters.core.models import Strict

# The names of the exporter table, spelled out so that a wrong name is a config error naming the choices.
ExporterKind = Literal["system", "blockchain", "business"]


def _default_ports() -> dict[ExporterKind, int]:
    return {cast(ExporterKind, row.name): row.port for row in EXPORTERS}


class InventoryHost(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
    address: str = Field(pattern=r"^[a-zA-Z0-9_.:\[\]-]+$")  # host name or IP; the port comes from `ports`
    exporters: list[ExporterKind] = ["system"]
    labels: TargetLabels = {}


class Inventory(Strict):
    """Adding a node is one line here."""

    labels: TargetLabels = {}  # on every host, e.g. {region: eu-west}
    ports: dict[ExporterKind, int] = Field(default_factory=_default_ports)
    hosts: list[InventoryHost] = []

    @field_validator("ports")
    @classmethod
    def _every_port(cls, v: dict[ExporterKind, int]) -> dict[ExporterKind, int]:
        return {**_default_ports(), **v}  # a kind left out keeps its default port

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, v: list[InventoryHost]) -> list[InventoryHost]:
        unique([h.name for h in v], "host names")
        return v
