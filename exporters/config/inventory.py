"""The `inventory` section: the hosts Prometheus scrapes, rendered into file-SD target files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from exporters.config.fields import TargetLabels, unique
from exporters.core.models import Strict

ExporterKind = Literal["system", "blockchain", "business"]


class InventoryHost(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
    address: str = Field(pattern=r"^[a-zA-Z0-9_.:\[\]-]+$")  # host name or IP; the port comes from `ports`
    exporters: list[ExporterKind] = ["system"]
    labels: TargetLabels = {}


class Inventory(Strict):
    """Adding a node is one line here."""

    labels: TargetLabels = {}  # on every host, e.g. {region: eu-west}
    ports: dict[ExporterKind, int] = {"system": 9810, "blockchain": 9811, "business": 9812}
    hosts: list[InventoryHost] = []

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, v: list[InventoryHost]) -> list[InventoryHost]:
        unique([h.name for h in v], "host names")
        return v
