"""The demo delivers to its inbox on loopback: every destination in its rendered Alertmanager and
Prometheus configs is a loopback IP address (an address, never a name: nothing to resolve)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from exporters.config import parse_config
from exporters.config.loader import load_config
from exporters.render.provisioning import alertmanager_config, prometheus_config, target_files
from exporters.stack.topology import effective_config
from tests.conftest import REPO


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it would be looked up


def destinations(node: Any, key: str = "") -> list[str]:
    """Every host a config sends to: URLs, smarthosts, and the URLs inside *_file secrets."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out += destinations(v, k)
    elif isinstance(node, list):
        for v in node:
            out += destinations(v, key)
    elif isinstance(node, str):
        value = Path(node).read_text().strip() if key.endswith("url_file") else node
        if key == "smarthost" or key == "targets":
            out.append(value.rsplit(":", 1)[0])
        elif "://" in value and (key.endswith("url") or key.endswith("url_file")):
            out.append(urlsplit(value).hostname or value)
    return out


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    return parse_config(effective_config(load_config(str(REPO / "config.yml")), tmp_path, demo=True))


def test_the_demo_alertmanager_sends_only_to_loopback(demo: Any) -> None:
    config = alertmanager_config(demo.alerting)
    found = destinations(config["receivers"])
    # The inbox's Slack webhook and SMTP sink; the configured Slack and smtp.alischain.example are gone.
    assert len(found) == 2, found
    assert [h for h in found if not _loopback(h)] == []


def test_the_demo_prometheus_reaches_only_loopback(demo: Any) -> None:
    import yaml

    found = destinations(prometheus_config(demo)) + destinations(
        [yaml.safe_load(text) for text in target_files(demo).values()]
    )
    assert len(found) >= 5, found
    assert [h for h in found if not _loopback(h)] == []


def test_the_check_catches_a_name() -> None:
    config = {"receivers": [{"email_configs": [{"smarthost": "smtp.alischain.example:587"}]}]}
    assert [h for h in destinations(config) if not _loopback(h)] == ["smtp.alischain.example"]


def test_a_demo_chain_break_pages_once_for_the_chain_client(demo: Any) -> None:
    """anvil is the chain-client process: its WatchedProcessDown mutes the whole demo chain's alerts."""
    (endpoint,) = demo.blockchain.networks[0].endpoints
    assert endpoint.process == "chain-client"
    rules = alertmanager_config(demo.alerting, demo.blockchain)["inhibit_rules"]
    assert {
        "source_matchers": ['alertname=~"WatchedProcessDown|WatchedProcessOutage"', 'process="chain-client"'],
        "target_matchers": ['chain="demo"', 'alertname!="BlockchainChainIdMismatch"'],
    } in rules
