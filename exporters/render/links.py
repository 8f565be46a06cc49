"""Dashboard uids and runbook links: one place, so rules, dashboards and messages agree."""

from __future__ import annotations

from exporters.config.alerting import AlertingConfig
from exporters.core.exporter_table import EXPORTERS

# Stable, deterministic, at most 40 characters (Grafana's limit). An exporter's drill-down dashboard,
# when it has one (dashboards/templates/<name>.json.j2), is alischain-<name>.
DASHBOARD_UIDS = {
    "overview": "alischain-overview",
    **{row.name: f"alischain-{row.name}" for row in EXPORTERS},
    "exporters": "alischain-exporters",
}


def dashboard_url(alerting: AlertingConfig, dashboard: str) -> str:
    return f"{alerting.grafana_url.rstrip('/')}/d/{DASHBOARD_UIDS[dashboard]}"


def runbook_url(alerting: AlertingConfig, alert: str) -> str:
    return f"{alerting.runbook_base_url.rstrip('/')}/{alert}.md"
