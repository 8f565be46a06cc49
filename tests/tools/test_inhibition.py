"""The generated inhibit_rules on a real Alertmanager: alerts added with amtool, read back with amtool.

Each case is a cause and the alerts it must and must not mute; label values keep the cases apart,
so one Alertmanager serves them all.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.config import parse_config
from exporters.config.alerting import AlertingConfig
from exporters.render.provisioning import alertmanager_config
from exporters.render.rules import dump_yaml
from exporters.stack.procs import ManagedProcess, free_port
from tests.conftest import tool
from tests.helpers import wait_for

BC = {"job": "alismon-blockchain", "instance": "bc1:9811"}
SYS = {"job": "alismon-system", "instance": "h9:9810"}
# Chains whose endpoints name the watched process that runs them.
CHAINS = {
    "system": {"processes": [{"name": n, "match": {"comm": n}} for n in ("chain-client", "node-a")]},
    "blockchain": {
        "networks": [
            {
                "name": "c6",
                "chain_id": 1,
                "endpoints": [{"name": "a", "url": "http://h1:8545", "process": "chain-client"}],
            },
            {
                "name": "c7",
                "chain_id": 1,
                "endpoints": [
                    {"name": "a", "url": "http://h1:8545", "process": "node-a"},
                    {"name": "b", "url": "http://h2:8545"},
                ],
            },
        ]
    },
}

# (cause, muted, not muted): label dicts, alertname included.
CASES = {
    "endpoint down": (
        {"alertname": "BlockchainEndpointDown", **BC, "chain": "c1", "endpoint": "a", "severity": "critical"},
        [
            {"alertname": name, **BC, "chain": "c1", "endpoint": "a", "severity": sev}
            for name, sev in (
                ("BlockchainSync", "critical"),
                ("BlockchainRPCErrors", "warning"),
                ("BlockchainPeersLow", "warning"),
                ("BlockchainNodeBehind", "warning"),
            )
        ],
        [
            {"alertname": "BlockchainSync", **BC, "chain": "c1", "endpoint": "b", "severity": "critical"},
            {"alertname": "BlockchainNoNewBlocks", **BC, "chain": "c1", "severity": "warning"},
        ],
    ),
    "chain down": (
        {"alertname": "BlockchainChainDown", **BC, "chain": "c2", "severity": "critical"},
        [
            {"alertname": "BlockchainEndpointDown", **BC, "chain": "c2", "endpoint": "a", "severity": "critical"},
            {"alertname": "BlockchainNoNewBlocks", **BC, "chain": "c2", "severity": "warning"},
            {"alertname": "BlockchainRPCErrors", **BC, "chain": "c2", "endpoint": "a", "severity": "warning"},
        ],
        [
            {"alertname": "BlockchainNoNewBlocks", **BC, "chain": "c3", "severity": "warning"},
            {"alertname": "BlockchainChainIdMismatch", **BC, "chain": "c2", "endpoint": "b", "severity": "critical"},
        ],
    ),
    "chain outage window": (
        {"alertname": "BlockchainChainOutage", **BC, "chain": "c4", "severity": "info"},
        [{"alertname": "BlockchainNoNewBlocks", **BC, "chain": "c4", "severity": "warning"}],
        # An endpoint failing again after the recovery is a new page.
        [{"alertname": "BlockchainEndpointDown", **BC, "chain": "c4", "endpoint": "a", "severity": "critical"}],
    ),
    "endpoint outage window": (
        {"alertname": "BlockchainEndpointOutage", **BC, "chain": "c5", "endpoint": "a", "severity": "info"},
        [{"alertname": "BlockchainRPCErrors", **BC, "chain": "c5", "endpoint": "a", "severity": "warning"}],
        [{"alertname": "BlockchainEndpointDown", **BC, "chain": "c5", "endpoint": "a", "severity": "critical"}],
    ),
    "exporter down": (
        {"alertname": "ExporterDown", "job": "alismon-system", "instance": "h1:9810", "severity": "critical"},
        [
            {
                "alertname": "WatchedProcessDown",
                "job": "alismon-system",
                "instance": "h1:9810",
                "process": "p",
                "severity": "critical",
            },
            {"alertname": "SystemOverload", "job": "alismon-system", "instance": "h1:9810", "severity": "critical"},
        ],
        [{"alertname": "SystemOverload", "job": "alismon-system", "instance": "h2:9810", "severity": "critical"}],
    ),
    "exporter outage window": (
        {"alertname": "ExporterOutage", "job": "alismon-business", "instance": "h1:9812", "severity": "info"},
        [{"alertname": "HighFailureRate", "job": "alismon-business", "instance": "h1:9812", "severity": "warning"}],
        [{"alertname": "ExporterDown", "job": "alismon-business", "instance": "h1:9812", "severity": "critical"}],
    ),
    # blockchain.networks[].endpoints[].process (CHAINS above): c6 runs wholly on chain-client, c7's endpoint a on
    # node-a (b elsewhere). The process' outage window mutes the same while the chain comes back.
    "process backing a whole chain": (
        {"alertname": "WatchedProcessDown", **SYS, "process": "chain-client", "severity": "critical"},
        [
            {"alertname": "BlockchainChainDown", **BC, "chain": "c6", "severity": "critical"},
            {"alertname": "BlockchainEndpointDown", **BC, "chain": "c6", "endpoint": "a", "severity": "critical"},
            {"alertname": "BlockchainNoNewBlocks", **BC, "chain": "c6", "severity": "warning"},
        ],
        [
            {"alertname": "BlockchainChainDown", **BC, "chain": "c1", "severity": "critical"},
            {"alertname": "BlockchainChainIdMismatch", **BC, "chain": "c6", "endpoint": "a", "severity": "critical"},
            {"alertname": "SystemOverload", **SYS, "severity": "critical"},
        ],
    ),
    "process backing one endpoint": (
        {"alertname": "WatchedProcessOutage", **SYS, "process": "node-a", "severity": "info"},
        [{"alertname": "BlockchainEndpointDown", **BC, "chain": "c7", "endpoint": "a", "severity": "critical"}],
        [
            {"alertname": "BlockchainEndpointDown", **BC, "chain": "c7", "endpoint": "b", "severity": "critical"},
            {"alertname": "BlockchainNoNewBlocks", **BC, "chain": "c7", "severity": "warning"},
        ],
    ),
    "host down": (
        {"alertname": "HostDown", "host": "node1", "severity": "critical"},
        [
            {
                "alertname": "ExporterDown",
                "job": "alismon-system",
                "instance": "10.0.0.1:9810",
                "host": "node1",
                "severity": "critical",
            }
        ],
        [
            {
                "alertname": "ExporterDown",
                "job": "alismon-system",
                "instance": "10.0.0.2:9810",
                "host": "node2",
                "severity": "critical",
            }
        ],
    ),
}


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("am")
    # The default channels (none): nothing is delivered anywhere, only inhibition is looked at.
    config = tmp / "alertmanager.yml"
    chains = parse_config(CHAINS)
    config.write_text(dump_yaml(alertmanager_config(chains.alerting, chains.blockchain)))
    port = free_port()
    proc = ManagedProcess(
        "alertmanager",
        [
            tool("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        tmp / "alertmanager.log",
    ).start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def amtool(url: str, *args: str) -> str:
    result = subprocess.run(
        [tool("amtool"), f"--alertmanager.url={url}", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_amtool_sees_the_rendered_config_check_clean(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(dump_yaml(alertmanager_config(AlertingConfig())))
    result = subprocess.run([tool("amtool"), "check-config", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_a_cause_mutes_its_symptoms_and_nothing_else(alertmanager: str, case: str) -> None:
    cause, muted, kept = CASES[case]
    for labels in [cause, *muted, *kept]:
        amtool(alertmanager, "alert", "add", *(f"{k}={v}" for k, v in labels.items()))

    def states() -> dict[tuple[tuple[str, str], ...], list[str]]:
        alerts = json.loads(amtool(alertmanager, "alert", "query", "--active", "--inhibited", "-o", "json"))
        return {_key(a["labels"]): a["status"]["inhibitedBy"] for a in alerts}

    wanted = {_key(labels) for labels in [cause, *muted, *kept]}
    wait_for(lambda: wanted <= set(states()) and all(states()[_key(m)] for m in muted), 15, f"{case}: muted")
    seen = states()
    assert seen[_key(cause)] == [], f"{case}: the cause itself is muted"
    for labels in kept:
        assert seen[_key(labels)] == [], f"{case}: {labels} must not be muted"
