"""The `alerting` section: job selectors, links, and per-alert severity, `for` and thresholds.

Defaults live here, in one typed model per alert (the mixin `_config` habit); config.yml
overrides any field. Thresholds are checked where they are declared, so a negative ratio or a
warning level beyond its critical twin is a config error with a key path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from exporters.config.blockchain import REORG_DEPTH_BUCKETS
from exporters.config.fields import ChannelName, HttpUrl, JobName, unique
from exporters.core.exporter_table import EXPORTERS, exporter_row
from exporters.core.models import Strict
from exporters.core.types import Duration

Severity = Literal["critical", "warning", "info"]
Ratio = float  # checked by Field(ge=0, le=1) where used


class Alert(Strict):
    """Fields every alert has; `for` is a Python keyword, hence the alias."""

    enabled: bool = True
    for_: Duration = Field(default=300.0, alias="for")
    severity: Severity = "warning"


# ---- exporters and meta


class ExporterDownAlert(Alert):
    for_: Duration = Field(default=120.0, alias="for")
    severity: Severity = "critical"


class ExporterAbsentAlert(Alert):
    for_: Duration = Field(default=300.0, alias="for")
    severity: Severity = "critical"


class ExporterCollectorFailingAlert(Alert):
    for_: Duration = Field(default=900.0, alias="for")


class HostDownAlert(Alert):
    """Every exporter of an inventory host (`host` label) is down: one page for the host."""

    for_: Duration = Field(default=120.0, alias="for")
    severity: Severity = "critical"


class OutageWindowAlert(Strict):
    """Never notified (severity info, routed nowhere): it holds from the first failed scrape or poll until
    `alerting.rate_window` after the last one, so the alerts of rates and ranges over the outage stay
    inhibited after recovery, until their windows no longer hold it."""

    enabled: bool = True
    for_: Duration = Field(default=0.0, alias="for")
    severity: Literal["info"] = "info"


class WatchdogAlert(Alert):
    for_: Duration = Field(default=0.0, alias="for")
    severity: Severity = "info"


class PrometheusRuleEvaluationFailuresAlert(Alert):
    for_: Duration = Field(default=300.0, alias="for")
    severity: Severity = "critical"


class PrometheusNotificationsFailingAlert(Alert):
    for_: Duration = Field(default=300.0, alias="for")
    severity: Severity = "critical"
    error_ratio: float = Field(default=0.01, gt=0, le=1)


class AlertmanagerNotificationsFailingAlert(Alert):
    for_: Duration = Field(default=300.0, alias="for")
    severity: Severity = "critical"


class ConfigReloadFailedAlert(Alert):
    for_: Duration = Field(default=600.0, alias="for")


# ---- host


class SystemOverloadAlert(Alert):
    """CPU or memory use above a ratio for a while: the host cannot take more work."""

    for_: Duration = Field(default=600.0, alias="for")
    severity: Severity = "critical"
    cpu_ratio: float = Field(default=0.80, gt=0, le=1)
    memory_ratio: float = Field(default=0.85, gt=0, le=1)


class FillLevel(Strict):
    """One severity of a fill-up prediction: fires when the fit says full within `hours`
    and free space is already below `available_ratio`, on a writable filesystem."""

    for_: Duration = Field(alias="for")
    hours: float = Field(gt=0)
    available_ratio: float = Field(gt=0, lt=1)


class FilesystemSpaceFillingUpAlert(Strict):
    enabled: bool = True
    # Fit over 6h so a burst (log rotation, a big download) does not extrapolate to "full".
    window: Duration = 6 * 3600.0
    warning: FillLevel = FillLevel(**{"for": 3600.0, "hours": 24, "available_ratio": 0.40})
    critical: FillLevel = FillLevel(**{"for": 1800.0, "hours": 4, "available_ratio": 0.20})

    @model_validator(mode="after")
    def _ordered(self) -> FilesystemSpaceFillingUpAlert:
        if self.warning.hours < self.critical.hours:
            raise ValueError("warning.hours must be at least critical.hours")
        if self.warning.available_ratio < self.critical.available_ratio:
            raise ValueError("warning.available_ratio must be at least critical.available_ratio")
        return self


class SpaceLevel(Strict):
    for_: Duration = Field(alias="for")
    available_ratio: float = Field(gt=0, lt=1)


class FilesystemAlmostFullAlert(Strict):
    enabled: bool = True
    warning: SpaceLevel = SpaceLevel(**{"for": 1800.0, "available_ratio": 0.05})
    critical: SpaceLevel = SpaceLevel(**{"for": 1800.0, "available_ratio": 0.03})

    @model_validator(mode="after")
    def _ordered(self) -> FilesystemAlmostFullAlert:
        if self.warning.available_ratio < self.critical.available_ratio:
            raise ValueError("warning.available_ratio must be at least critical.available_ratio")
        return self


class MemoryPressureAlert(Alert):
    """Swapping hard while memory is nearly used up: the host is thrashing."""

    for_: Duration = Field(default=600.0, alias="for")
    memory_ratio: float = Field(default=0.90, gt=0, le=1)
    swap_bytes_per_second: float = Field(default=1024.0 * 1024, ge=0)


class FileDescriptorsExhaustionAlert(Alert):
    for_: Duration = Field(default=900.0, alias="for")
    ratio: float = Field(default=0.90, gt=0, le=1)


class WatchedProcessDownAlert(Alert):
    for_: Duration = Field(default=60.0, alias="for")
    severity: Severity = "critical"


# ---- business


class HighFailureRateAlert(Alert):
    """The share of verifications that fail, over the rate window."""

    for_: Duration = Field(default=300.0, alias="for")
    ratio: float = Field(default=0.10, gt=0, le=1)
    # Below this many verifications per second the ratio is noise, not a signal.
    min_rate: float = Field(default=0.01, ge=0)


class BusinessEventsRejectedAlert(Alert):
    for_: Duration = Field(default=600.0, alias="for")
    # Rejected requests per second, summed over reasons.
    rate: float = Field(default=0.1, gt=0)


class BusinessStoreErrorsAlert(Alert):
    for_: Duration = Field(default=60.0, alias="for")
    severity: Severity = "critical"


class BusinessStoreNotWritableAlert(Alert):
    for_: Duration = Field(default=60.0, alias="for")
    severity: Severity = "critical"


# ---- blockchain


class BlockchainEndpointDownAlert(Alert):
    for_: Duration = Field(default=120.0, alias="for")
    severity: Severity = "critical"


class BlockchainChainDownAlert(Alert):
    """Every endpoint of a chain is down: one chain-level page instead of one per endpoint and symptom."""

    for_: Duration = Field(default=120.0, alias="for")
    severity: Severity = "critical"


class BlockchainChainIdMismatchAlert(Alert):
    for_: Duration = Field(default=60.0, alias="for")
    severity: Severity = "critical"


class BlockchainSyncAlert(Alert):
    """A node's latest block is older than this: it has fallen behind the chain."""

    for_: Duration = Field(default=300.0, alias="for")
    severity: Severity = "critical"
    delay_seconds: float = Field(default=300.0, gt=0)


class BlockchainNoNewBlocksAlert(Alert):
    """No endpoint of a chain saw a new block within `window`: the chain (or our view of it) stopped."""

    for_: Duration = Field(default=120.0, alias="for")
    window: Duration = Field(default=180.0, gt=0)


class BlockchainNodeSyncingAlert(Alert):
    for_: Duration = Field(default=1800.0, alias="for")


class BlockchainPeersLowAlert(Alert):
    for_: Duration = Field(default=600.0, alias="for")
    min_peers: int = Field(default=3, ge=1)


class BlockchainRPCErrorsAlert(Alert):
    """Failed calls per JSON-RPC round trip of an endpoint (a batch is one round trip)."""

    for_: Duration = Field(default=600.0, alias="for")
    ratio: float = Field(default=0.05, gt=0)


class BlockchainReorgDeepAlert(Alert):
    for_: Duration = Field(default=0.0, alias="for")
    depth_blocks: int = 3

    @field_validator("depth_blocks")
    @classmethod
    def _a_bucket_bound(cls, v: int) -> int:
        if v not in REORG_DEPTH_BUCKETS:
            raise ValueError(f"must be one of the reorg depth buckets {', '.join(map(str, REORG_DEPTH_BUCKETS))}")
        return v


class BlockchainNodeBehindAlert(Alert):
    for_: Duration = Field(default=300.0, alias="for")
    max_lag_blocks: int = Field(default=5, ge=1)


class BlockchainFinalizedStalledAlert(Alert):
    """The head moves but the finalized block has not for `window` (post-merge Ethereum finalizes every ~6.4 min)."""

    for_: Duration = Field(default=300.0, alias="for")
    window: Duration = Field(default=1800.0, gt=0)


class BlockchainFollowerStalledAlert(Alert):
    """The nodes report newer blocks but the exporter has recorded none for `stall`: nothing of the chain is counted."""

    for_: Duration = Field(default=60.0, alias="for")
    stall: Duration = Field(default=180.0, gt=0)


class BlockchainBalanceLowAlert(Alert):
    """A watched account below this many native units (ether, POL...): it cannot pay for gas much longer."""

    for_: Duration = Field(default=300.0, alias="for")
    min_balance: float = Field(default=0.1, ge=0)
    # Per account alias, overriding min_balance (accounts on other chains hold other coins).
    per_account: dict[str, float] = {}

    @field_validator("per_account")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, x in v.items() if x < 0)
        if bad:
            raise ValueError(f"balances must not be negative: {', '.join(bad)}")
        return v


class BlockchainTransactionsFailingAlert(Alert):
    """The share of the platform's own transactions (to watched contracts) that fail."""

    for_: Duration = Field(default=600.0, alias="for")
    ratio: float = Field(default=0.10, gt=0, le=1)
    # Below this many transactions per second the ratio is noise.
    min_rate: float = Field(default=0.001, ge=0)


class PrometheusShardDownAlert(Alert):
    for_: Duration = Field(default=120.0, alias="for")
    severity: Severity = "critical"


class Alerts(Strict):
    ExporterDown: ExporterDownAlert = ExporterDownAlert()
    ExporterAbsent: ExporterAbsentAlert = ExporterAbsentAlert()
    ExporterCollectorFailing: ExporterCollectorFailingAlert = ExporterCollectorFailingAlert()
    ExporterOutage: OutageWindowAlert = OutageWindowAlert()
    HostDown: HostDownAlert = HostDownAlert()
    Watchdog: WatchdogAlert = WatchdogAlert()
    PrometheusRuleEvaluationFailures: PrometheusRuleEvaluationFailuresAlert = PrometheusRuleEvaluationFailuresAlert()
    PrometheusNotificationsFailing: PrometheusNotificationsFailingAlert = PrometheusNotificationsFailingAlert()
    AlertmanagerNotificationsFailing: AlertmanagerNotificationsFailingAlert = AlertmanagerNotificationsFailingAlert()
    PrometheusConfigReloadFailed: ConfigReloadFailedAlert = ConfigReloadFailedAlert()
    AlertmanagerConfigReloadFailed: ConfigReloadFailedAlert = ConfigReloadFailedAlert()
    PrometheusShardDown: PrometheusShardDownAlert = PrometheusShardDownAlert()
    SystemOverload: SystemOverloadAlert = SystemOverloadAlert()
    FilesystemSpaceFillingUp: FilesystemSpaceFillingUpAlert = FilesystemSpaceFillingUpAlert()
    FilesystemAlmostFull: FilesystemAlmostFullAlert = FilesystemAlmostFullAlert()
    MemoryPressure: MemoryPressureAlert = MemoryPressureAlert()
    FileDescriptorsExhaustion: FileDescriptorsExhaustionAlert = FileDescriptorsExhaustionAlert()
    WatchedProcessDown: WatchedProcessDownAlert = WatchedProcessDownAlert()
    WatchedProcessOutage: OutageWindowAlert = OutageWindowAlert()
    HighFailureRate: HighFailureRateAlert = HighFailureRateAlert()
    BusinessEventsRejected: BusinessEventsRejectedAlert = BusinessEventsRejectedAlert()
    BusinessStoreErrors: BusinessStoreErrorsAlert = BusinessStoreErrorsAlert()
    BusinessStoreNotWritable: BusinessStoreNotWritableAlert = BusinessStoreNotWritableAlert()
    BlockchainEndpointDown: BlockchainEndpointDownAlert = BlockchainEndpointDownAlert()
    BlockchainEndpointOutage: OutageWindowAlert = OutageWindowAlert()
    BlockchainChainDown: BlockchainChainDownAlert = BlockchainChainDownAlert()
    BlockchainChainOutage: OutageWindowAlert = OutageWindowAlert()
    BlockchainChainIdMismatch: BlockchainChainIdMismatchAlert = BlockchainChainIdMismatchAlert()
    BlockchainSync: BlockchainSyncAlert = BlockchainSyncAlert()
    BlockchainNoNewBlocks: BlockchainNoNewBlocksAlert = BlockchainNoNewBlocksAlert()
    BlockchainNodeSyncing: BlockchainNodeSyncingAlert = BlockchainNodeSyncingAlert()
    BlockchainPeersLow: BlockchainPeersLowAlert = BlockchainPeersLowAlert()
    BlockchainRPCErrors: BlockchainRPCErrorsAlert = BlockchainRPCErrorsAlert()
    BlockchainReorgDeep: BlockchainReorgDeepAlert = BlockchainReorgDeepAlert()
    BlockchainNodeBehind: BlockchainNodeBehindAlert = BlockchainNodeBehindAlert()
    BlockchainFinalizedStalled: BlockchainFinalizedStalledAlert = BlockchainFinalizedStalledAlert()
    BlockchainFollowerStalled: BlockchainFollowerStalledAlert = BlockchainFollowerStalledAlert()
    BlockchainBalanceLow: BlockchainBalanceLowAlert = BlockchainBalanceLowAlert()
    BlockchainTransactionsFailing: BlockchainTransactionsFailingAlert = BlockchainTransactionsFailingAlert()


class Jobs(Strict):
    """Prometheus job names: the selectors every rule and dashboard uses.

    One field per row of the exporter table (see `exporter_jobs`), then the servers around them.
    """

    system: JobName = exporter_row("system").job
    blockchain: JobName = exporter_row("blockchain").job
    business: JobName = exporter_row("business").job
    prometheus: JobName = "prometheus"
    alertmanager: JobName = "alertmanager"
    # The shard Prometheus servers, as the central Prometheus of a scaled-out setup scrapes them.
    prometheus_shards: JobName = "prometheus-shards"

    def exporter_jobs(self) -> list[str]:
        """The job of every exporter, in table order."""
        return [getattr(self, row.name) for row in EXPORTERS]


class SlackChannel(Strict):
    name: ChannelName
    # The webhook URL is a secret: Alertmanager reads it from this file; it never appears in rendered files.
    api_url_file: str
    channel: str | None = None
    username: str = "AlisChain Monitoring"


class EmailChannel(Strict):
    name: ChannelName
    to: list[str] = Field(min_length=1)
    from_: str = Field(alias="from")
    smarthost: str = Field(pattern=r"^[^:\s]+:\d+$")
    auth_username: str | None = None
    auth_password_file: str | None = None
    require_tls: bool = True

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if "@" not in a]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return v

    @model_validator(mode="after")
    def _auth(self) -> EmailChannel:
        if (self.auth_username is None) != (self.auth_password_file is None):
            raise ValueError("set auth_username and auth_password_file together")
        return self


class Heartbeat(Strict):
    """Where the Watchdog goes: a dead man's switch webhook, posted every `interval` while the pipeline lives.

    `url_file` keeps a secret URL out of the rendered files (Alertmanager 0.26 and newer); `url` is written
    into alertmanager.yml as is, and works on every version (0.25 included), for a URL that is no secret
    (a receiver on the host or the private network). Neither: no heartbeat receiver.
    """

    url: HttpUrl | None = None
    url_file: str | None = None
    interval: Duration = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> Heartbeat:
        if self.url is not None and self.url_file is not None:
            raise ValueError("set url or url_file, not both")
        return self


class NotificationChannels(Strict):
    slack: list[SlackChannel] = []
    email: list[EmailChannel] = []
    heartbeat: Heartbeat = Heartbeat()

    @model_validator(mode="after")
    def _unique(self) -> NotificationChannels:
        unique([c.name for c in self.slack] + [c.name for c in self.email], "channel names")
        return self


class Routing(Strict):
    # `process`: each watched process down is its own notification (two demo breaks, two pages).
    group_by: list[str] = ["alertname", "chain", "instance", "process"]
    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    repeat_interval_critical: Duration = 4 * 3600.0
    repeat_interval_warning: Duration = 12 * 3600.0
    # Labels that must match for a critical alert to silence its warning/info twin.
    inhibit_equal: list[str] = ["alertname", "job", "instance", "chain", "endpoint", "mountpoint", "process"]
    resolve_timeout: Duration = 300.0


class AlertingConfig(Strict):
    jobs: Jobs = Jobs()
    # Where runbooks are read (docs/runbooks/<AlertName>.md is appended) and Grafana is reached.
    runbook_base_url: HttpUrl = "https://github.com/alischain/alischain-monitoring/blob/main/docs/runbooks"
    grafana_url: HttpUrl = "http://localhost:3000"
    # The window of the rates the rules use; at least four scrape intervals.
    rate_window: Duration = 300.0
    # The address on-call uses to reach Alertmanager (alert list and silence links in messages).
    alertmanager_url: HttpUrl = "http://localhost:9093"
    # Without a web UI (Debian's build), messages give the amtool command to silence instead of a link.
    alertmanager_ui: bool = True
    # The address on-call uses to reach Prometheus (query links in messages).
    prometheus_url: HttpUrl = "http://localhost:9090"
    # Builds without the React UI (Debian's) serve /classic/graph and /classic/alerts instead.
    prometheus_ui: Literal["react", "classic"] = "react"

    def prometheus_page(self, page: str) -> str:
        """A page of Prometheus' web UI as on-call opens it: graph, alerts, targets."""
        prefix = "/classic" if self.prometheus_ui == "classic" else ""
        return f"{self.prometheus_url.rstrip('/')}{prefix}/{page}"

    alerts: Alerts = Alerts()
    notification_channels: NotificationChannels = NotificationChannels()
    routing: Routing = Routing()
