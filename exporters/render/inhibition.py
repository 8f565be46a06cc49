"""Alertmanager inhibit_rules: a cause mutes its symptoms, so one outage is one page.

Each rule names its cause alerts as the source and mutes every other alert that carries the same
identifying labels: an endpoint's alerts share job, instance, chain and endpoint; a chain's share job,
instance and chain; an exporter's share job and instance; a host's share `host`. Alertmanager's `equal`
counts a label missing on both sides as equal, but a source always has these labels set, so an alert
without them (another chain, the Watchdog) is never muted. A cause's page is one alert; its outage
window (severity info, routed nowhere) keeps the symptoms muted after recovery while rates still
cover the outage.
"""

from __future__ import annotations

from typing import Any

from exporters.config.alerting import AlertingConfig


def _regex(names: list[str]) -> str:
    return "|".join(names)


def _rule(sources: list[str], spared: list[str], equal: list[str]) -> dict[str, Any]:
    return {
        "source_matchers": [f'alertname=~"{_regex(sources)}"'],
        "target_matchers": [f'alertname!~"{_regex(spared)}"'],
        "equal": equal,
    }


def cause_rules(alerting: AlertingConfig) -> list[dict[str, Any]]:
    """Rules muting symptoms under their cause; a rule whose causes are all disabled is left out."""
    alerts = alerting.alerts

    def enabled(*names: str) -> list[str]:
        return [n for n in names if getattr(alerts, n).enabled]

    chain_causes = ["BlockchainChainDown", "BlockchainChainOutage"]
    endpoint_causes = ["BlockchainEndpointDown", "BlockchainEndpointOutage"]
    # A wrong chain id is its own cause: an endpoint on another chain counts as down.
    own_causes = [*chain_causes, *endpoint_causes, "BlockchainChainIdMismatch"]
    plans = [
        # A host with every exporter down: one HostDown, no ExporterDown per exporter, nothing else of it.
        (enabled("HostDown"), ["HostDown"], ["host"]),
        # An exporter down: the alerts computed from its metrics (same job and instance).
        (
            enabled("ExporterDown", "ExporterOutage"),
            ["ExporterDown", "ExporterOutage", "ExporterAbsent", "HostDown"],
            ["job", "instance"],
        ),
        # Every endpoint of a chain down: one chain page; the endpoints' pages and every symptom muted.
        (enabled("BlockchainChainDown"), [*chain_causes, "BlockchainChainIdMismatch"], ["job", "instance", "chain"]),
        # After it, the chain's symptoms stay muted while rate windows hold the outage; the endpoint
        # pages do not, so an endpoint failing again is paged.
        (enabled("BlockchainChainOutage"), own_causes, ["job", "instance", "chain"]),
        # One endpoint down: its sync, peers, RPC error and lag alerts.
        (enabled(*endpoint_causes), own_causes, ["job", "instance", "chain", "endpoint"]),
    ]
    return [_rule(sources, spared, equal) for sources, spared, equal in plans if sources]
