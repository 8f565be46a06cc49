"""Alertmanager inhibit_rules: a cause mutes its symptoms, so one outage is one page.

Each rule names its cause alerts as the source and mutes every other alert that carries the same
identifying labels: an endpoint's alerts share job, instance, chain and endpoint; a chain's share job,
instance and chain; an exporter's share job and instance; a host's share `host`. Alertmanager's `equal`
counts a label missing on both sides as equal, but a source always has these labels set, so an alert
without them (another chain, the Watchdog) is never muted. A cause's page is one alert; its outage
window (severity info, routed nowhere) keeps the symptoms muted after recovery while rates still
cover the outage.

A watched process that runs a chain endpoint's node (`blockchain.networks[].endpoints[].process`) shares no
label with the chain's alerts, so its rules name both sides: WatchedProcessDown (and WatchedProcessOutage,
which also covers the seconds after a restart before the chain is seen up again) of that process mutes the
endpoint's alerts, and the whole chain's when the process backs every endpoint of the chain.
"""

from __future__ import annotations

from typing import Any

from exporters.config.alerting import AlertingConfig
from exporters.config.blockchain import BlockchainConfig


def _regex(names: list[str]) -> str:
    return "|".join(names)


def _rule(sources: list[str], spared: list[str], equal: list[str]) -> dict[str, Any]:
    return {
        "source_matchers": [f'alertname=~"{_regex(sources)}"'],
        "target_matchers": [f'alertname!~"{_regex(spared)}"'],
        "equal": equal,
    }


def _matcher(label: str, value: str) -> str:
    return f'{label}="{value}"'  # config patterns allow no quote or backslash in these names


def process_rules(alerting: AlertingConfig, blockchain: BlockchainConfig) -> list[dict[str, Any]]:
    """A chain client's process down mutes the chain endpoints it runs: one page, the process'."""
    alerts = alerting.alerts
    sources = [n for n in ("WatchedProcessDown", "WatchedProcessOutage") if getattr(alerts, n).enabled]
    if not alerts.WatchedProcessDown.enabled:
        return []  # the process would never page: the chain's own alerts must
    out = []
    for network in blockchain.networks:
        backing = {e.process for e in network.endpoints}
        for process in sorted(p for p in backing if p is not None):
            target = [_matcher("chain", network.name), 'alertname!="BlockchainChainIdMismatch"']
            if backing != {process}:  # other endpoints of the chain run elsewhere: only this one's alerts
                names = sorted(e.name for e in network.endpoints if e.process == process)
                target.insert(1, f'endpoint=~"{_regex(names)}"')
            out.append(
                {
                    "source_matchers": [f'alertname=~"{_regex(sources)}"', _matcher("process", process)],
                    "target_matchers": target,
                }
            )
    return out


def cause_rules(alerting: AlertingConfig, blockchain: BlockchainConfig | None = None) -> list[dict[str, Any]]:
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
    rules = [_rule(sources, spared, equal) for sources, spared, equal in plans if sources]
    return rules + (process_rules(alerting, blockchain) if blockchain is not None else [])
