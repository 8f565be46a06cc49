"""The `alerting` section: job selectors, links, and per-alert severity, `for` and thresholds.

Defaults live here, in one typed model per alert (the mixin `_config` habit); config.yml
overrides any field. Thresholds are checked where they are declared, so a negative ratio or a
warning level beyond its critical twin is a config error with a key path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from exporters.core.config_base import Strict
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
    """The seed's alert: cpu or memory use above a ratio for a while."""

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


class Alerts(Strict):
    ExporterDown: ExporterDownAlert = ExporterDownAlert()
    ExporterAbsent: ExporterAbsentAlert = ExporterAbsentAlert()
    ExporterCollectorFailing: ExporterCollectorFailingAlert = ExporterCollectorFailingAlert()
    Watchdog: WatchdogAlert = WatchdogAlert()
    PrometheusRuleEvaluationFailures: PrometheusRuleEvaluationFailuresAlert = PrometheusRuleEvaluationFailuresAlert()
    PrometheusNotificationsFailing: PrometheusNotificationsFailingAlert = PrometheusNotificationsFailingAlert()
    AlertmanagerNotificationsFailing: AlertmanagerNotificationsFailingAlert = AlertmanagerNotificationsFailingAlert()
    PrometheusConfigReloadFailed: ConfigReloadFailedAlert = ConfigReloadFailedAlert()
    AlertmanagerConfigReloadFailed: ConfigReloadFailedAlert = ConfigReloadFailedAlert()
    SystemOverload: SystemOverloadAlert = SystemOverloadAlert()
    FilesystemSpaceFillingUp: FilesystemSpaceFillingUpAlert = FilesystemSpaceFillingUpAlert()
    FilesystemAlmostFull: FilesystemAlmostFullAlert = FilesystemAlmostFullAlert()
    MemoryPressure: MemoryPressureAlert = MemoryPressureAlert()
    FileDescriptorsExhaustion: FileDescriptorsExhaustionAlert = FileDescriptorsExhaustionAlert()
    WatchedProcessDown: WatchedProcessDownAlert = WatchedProcessDownAlert()


class Jobs(Strict):
    """Prometheus job names: the selectors every rule and dashboard uses."""

    system: str = Field(default="alismon-system", pattern=r"^[a-zA-Z_][a-zA-Z0-9_:.-]*$")
    blockchain: str = Field(default="alismon-blockchain", pattern=r"^[a-zA-Z_][a-zA-Z0-9_:.-]*$")
    business: str = Field(default="alismon-business", pattern=r"^[a-zA-Z_][a-zA-Z0-9_:.-]*$")
    prometheus: str = Field(default="prometheus", pattern=r"^[a-zA-Z_][a-zA-Z0-9_:.-]*$")
    alertmanager: str = Field(default="alertmanager", pattern=r"^[a-zA-Z_][a-zA-Z0-9_:.-]*$")


class AlertingConfig(Strict):
    jobs: Jobs = Jobs()
    # Where runbooks are read (docs/runbooks/<AlertName>.md is appended) and Grafana is reached.
    runbook_base_url: str = Field(
        default="https://github.com/alischain/alischain-monitoring/blob/main/docs/runbooks", pattern=r"^https?://"
    )
    grafana_url: str = Field(default="http://localhost:3000", pattern=r"^https?://")
    # The window of the rates the rules use; at least four scrape intervals.
    rate_window: Duration = 300.0
    alerts: Alerts = Alerts()
