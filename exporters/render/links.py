"""Dashboard uids and runbook links: one place, so rules, dashboards and messages agree."""

from __future__ import annotations

from exporters.config.alerting import AlertingConfig

# Stable, deterministic, at most 40 characters (Grafana's limit).
DASHBOARD_UIDS = {
    "overview": "alischain-overview",
    "system": "alischain-system",
    "blockchain": "alischain-blockchain",
    "business": "alischain-business",
    "exporters": "alischain-exporters",
}


def dashboard_url(alerting: AlertingConfig, dashboard: str) -> str:
    return f"{alerting.grafana_url.rstrip('/')}/d/{DASHBOARD_UIDS[dashboard]}"


def runbook_url(alerting: AlertingConfig, alert: str) -> str:
    return f"{alerting.runbook_base_url.rstrip('/')}/{alert}.md"
