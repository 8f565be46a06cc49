"""The `prometheus` section: scrape and evaluation intervals, targets, limits, and the scale-out plan."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from exporters.config.fields import Name
from exporters.core.exporter_table import exporter_row
from exporters.core.models import Strict
from exporters.core.types import Duration, ListenAddress


class ScrapeLimits(Strict):
    """Per-job guards: a target that blows up its cardinality fails its scrape instead of Prometheus."""

    sample_limit: int = Field(default=20_000, ge=0)
    label_limit: int = Field(default=30, ge=0)
    label_name_length_limit: int = Field(default=128, ge=0)
    label_value_length_limit: int = Field(default=512, ge=0)
    body_size_limit: str = Field(default="10MB", pattern=r"^\d+(B|KB|MB|GB)$")


def _compose_target(exporter: str) -> list[str]:
    row = exporter_row(exporter)
    return [f"{row.service}:{row.port}"]


class PrometheusTargets(Strict):
    """host:port of each component as Prometheus reaches it (compose service names by default).

    One field per row of the exporter table, then the two servers Prometheus also scrapes.
    """

    system: list[str] = _compose_target("system")
    blockchain: list[str] = _compose_target("blockchain")
    business: list[str] = _compose_target("business")
    prometheus: list[str] = ["localhost:9090"]
    alertmanager: list[str] = ["alertmanager:9093"]


class RemoteWriteQueue(Strict):
    """Prometheus's queue_config, tuned for a shard sending ~100k samples/s over a LAN or WAN link."""

    capacity: int = Field(default=10_000, ge=1)
    max_shards: int = Field(default=50, ge=1)
    min_shards: int = Field(default=1, ge=1)
    max_samples_per_send: int = Field(default=2_000, ge=1)
    batch_send_deadline: Duration = 5.0
    min_backoff: Duration = 0.03
    max_backoff: Duration = 5.0


class RemoteWrite(Strict):
    name: Name
    url: str = Field(pattern=r"^https?://")
    bearer_token_file: Path | None = None
    # Extra headers, e.g. X-Scope-OrgID for Mimir tenants or THANOS-TENANT for Thanos Receive.
    headers: dict[str, str] = {}
    queue_config: RemoteWriteQueue = RemoteWriteQueue()


class ScaleOut(Strict):
    """Hashmod-sharded Prometheus servers remote-writing to a store; rendered when shards > 1."""

    shards: int = Field(default=1, ge=1, le=64)
    replicas: int = Field(default=1, ge=1, le=3)
    remote_write: list[RemoteWrite] = []
    # host:port of every shard as the central Prometheus scrapes them (shard i, replica r in order).
    shard_targets: list[str] = []
    # The central Prometheus that evaluates the rules over everything (remote-write receiver).
    central_retention: Duration = 15 * 86400.0

    @model_validator(mode="after")
    def _complete(self) -> ScaleOut:
        if self.shards > 1 or self.replicas > 1:
            if not self.remote_write:
                raise ValueError("remote_write needs at least one store when shards or replicas > 1")
            want = self.shards * self.replicas
            if self.shard_targets and len(self.shard_targets) != want:
                raise ValueError(f"shard_targets lists {len(self.shard_targets)} addresses for {want} shard replicas")
        return self


class PrometheusConfig(Strict):
    listen_address: ListenAddress = "127.0.0.1:9090"
    scrape_interval: Duration = 15.0
    # Unset: 10s, or the scrape interval when that is shorter (Prometheus refuses a longer timeout).
    scrape_timeout: Duration | None = None
    evaluation_interval: Duration = 15.0
    retention: Duration = 15 * 86400.0
    external_labels: dict[str, str] = {"monitor": "alischain"}
    targets: PrometheusTargets = PrometheusTargets()
    limits: ScrapeLimits = ScrapeLimits()
    scale_out: ScaleOut = ScaleOut()

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> PrometheusConfig:
        if self.scrape_timeout is not None and self.scrape_timeout > self.scrape_interval:
            raise ValueError("scrape_timeout must not exceed scrape_interval")
        return self

    @property
    def effective_scrape_timeout(self) -> float:
        return self.scrape_timeout if self.scrape_timeout is not None else min(10.0, self.scrape_interval)
