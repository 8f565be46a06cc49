"""The `prometheus` section: scrape and evaluation intervals, targets, limits, and the scale-out plan."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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


class VictoriaMetrics(Strict):
    """VictoriaMetrics single-node as the store, vmalert as its ruler, vmagent as an optional shard scraper.

    Rendered into provisioning/victoriametrics/ (flags files read with the tree root as working
    directory) whenever the scale-out is rendered or `store` is victoriametrics.
    """

    # Where shards, vmagent and vmalert reach the store (the compose service by default).
    url: str = Field(default="http://victoriametrics:8428", pattern=r"^https?://[^/]+$")
    # -retentionPeriod: whole days (VictoriaMetrics keeps at least one).
    retention: Duration = Field(default=15 * 86400.0, ge=86400.0)
    # -dedup.minScrapeInterval: one sample per series and interval is kept, so the two replicas of an
    # HA shard pair store one copy. Unset: the scrape interval. 0 turns deduplication off.
    dedup_interval: Duration | None = None
    # What a person opens for VictoriaMetrics (its vmui): the source link of the alerts vmalert sends.
    external_url: str = Field(default="http://localhost:8428", pattern=r"^https?://")
    # -search.latencyOffset: how long a fresh sample stays invisible to queries (VictoriaMetrics waits
    # for late samples of the same interval). Every alert vmalert evaluates fires this much later.
    query_latency_offset: Duration = 30.0
    # host:port of the vmagent shards (shard i, replica r in order) when vmagent scrapes instead of
    # Prometheus shards; the store scrapes these (or else `shard_targets`) as job prometheus-shards.
    vmagent_targets: list[str] = []


class ScaleOut(Strict):
    """Hashmod-sharded Prometheus servers remote-writing to a store; rendered when shards > 1."""

    shards: int = Field(default=1, ge=1, le=64)
    replicas: int = Field(default=1, ge=1, le=3)
    remote_write: list[RemoteWrite] = []
    # host:port of every shard as the central Prometheus scrapes them (shard i, replica r in order).
    shard_targets: list[str] = []
    # The central Prometheus that evaluates the rules over everything (remote-write receiver).
    central_retention: Duration = 15 * 86400.0
    # Where the fleet-wide view lives: the central Prometheus, or VictoriaMetrics evaluated by vmalert.
    # With victoriametrics every Prometheus (shards, or the single one) also remote-writes into it,
    # and `alismon stack up` starts it and vmalert from the local binaries.
    store: Literal["prometheus", "victoriametrics"] = "prometheus"
    victoriametrics: VictoriaMetrics = VictoriaMetrics()

    @model_validator(mode="after")
    def _complete(self) -> ScaleOut:
        want = self.shards * self.replicas
        if want > 1:
            if not self.remote_write and self.store != "victoriametrics":
                raise ValueError("remote_write needs at least one store when shards or replicas > 1")
            if self.shard_targets and len(self.shard_targets) != want:
                raise ValueError(f"shard_targets lists {len(self.shard_targets)} addresses for {want} shard replicas")
        vmagents = self.victoriametrics.vmagent_targets
        if vmagents and len(vmagents) != want:
            raise ValueError(
                f"victoriametrics.vmagent_targets lists {len(vmagents)} addresses for {want} shard replicas"
            )
        return self

    @property
    def rendered(self) -> bool:
        """Shard, central and store configs are rendered: more than one shard replica."""
        return self.shards * self.replicas > 1

    @property
    def victoriametrics_rendered(self) -> bool:
        return self.rendered or self.store == "victoriametrics"

    @property
    def victoriametrics_write_url(self) -> str:
        return f"{self.victoriametrics.url}/api/v1/write"


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
