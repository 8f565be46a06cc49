"""The blockchain exporter against real anvil nodes: head and client facts, exposition, docs, Prometheus."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable

import requests

from tests.conftest import REPO, Anvil, tool
from tests.helpers import families, prom_query, wait_for
from tests.integration.blockchain_support import (
    DEV_ACCOUNT,
    SENDER,
    deploy_registry,
    get,
    network,
    registry_config,
    scrape,
    wait_scrape,
    web3,
)
from tests.integration.rpc_servers import rpc_server


def test_head_timestamp_and_sync_delay_match_web3(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    anvil = start_anvil()
    base = start_blockchain_exporter([network("dev", anvil.url, accounts=[{"alias": "dev0", "address": DEV_ACCOUNT}])])
    labels = {"chain": "dev", "endpoint": "a"}
    wait_scrape(base, lambda t: (get(t, "blockchain_head_block_number", **labels) or 0) >= 2, 15, "two blocks")
    anvil.rpc("anvil_setIntervalMining", 0)  # hold the head still so both readers see the same block
    w3 = web3(anvil.url)
    latest = w3.eth.get_block("latest")
    text = wait_scrape(
        base,
        lambda t: get(t, "blockchain_head_block_number", **labels) == latest["number"],
        10,
        "the exporter to see the head web3 sees",
    )
    assert get(text, "blockchain_head_timestamp_seconds", **labels) == latest["timestamp"]
    delay = get(text, "blockchain_sync_delay_seconds", **labels)
    assert delay is not None and abs(delay - (time.time() - latest["timestamp"])) < 1.0
    assert get(text, "blockchain_up", **labels) == 1
    assert get(text, "blockchain_endpoint_chain_id", **labels) == 31337
    assert get(text, "blockchain_chain_id_mismatch", **labels) == 0
    assert get(text, "blockchain_client_info", client_version=w3.client_version, **labels) == 1
    assert get(text, "blockchain_gas_price_wei", **labels) == w3.eth.gas_price
    assert get(text, "blockchain_max_priority_fee_wei", **labels) == w3.eth.max_priority_fee
    assert get(text, "blockchain_finalized_block_number", **labels) == w3.eth.get_block("finalized")["number"]
    assert get(text, "blockchain_safe_block_number", **labels) == w3.eth.get_block("safe")["number"]
    assert get(text, "blockchain_syncing", **labels) == 0
    assert get(text, "blockchain_txpool_transactions", state="pending", **labels) == 0
    assert get(text, "blockchain_account_balance_wei", chain="dev", account="dev0") == w3.eth.get_balance(DEV_ACCOUNT)
    assert get(text, "blockchain_account_nonce", chain="dev", account="dev0") == 0
    assert get(text, "blockchain_followed_block_number", chain="dev") == latest["number"]
    assert get(text, "blockchain_block_gas_limit", chain="dev") == latest["gasLimit"]
    # anvil has no net_peerCount: asked once, exported as unsupported, never asked again.
    assert get(text, "blockchain_rpc_method_supported", method="net_peerCount", **labels) == 0
    assert get(text, "blockchain_rpc_method_supported", method="eth_feeHistory", **labels) == 1
    assert get(text, "blockchain_rpc_errors_total", method="net_peerCount", code="unsupported", **labels) == 1
    assert get(text, "blockchain_peers", **labels) is None
    # The delay is computed at scrape time: with the head held still it keeps growing.
    time.sleep(1.1)
    later = get(scrape(base), "blockchain_sync_delay_seconds", **labels)
    assert later is not None and later >= delay + 1.0


def documented_blockchain_metrics() -> set[str]:
    text = (REPO / "docs/metrics.md").read_text()
    section = text.split("## Blockchain exporter", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `((?:blockchain|alismon)_[a-z0-9_]+)`", section, re.M))


def _full_featured_exporter(anvil: Anvil, syncing_url: str, start: Callable[..., str]) -> tuple[str, str]:
    """An exporter with every kind of series: accounts, a contract with a call, ws, a syncing node."""
    w3 = web3(anvil.url)
    registry = deploy_registry(w3)
    base = start(
        [
            network(
                "dev",
                {"name": "a", "url": anvil.url, "ws_url": anvil.ws_url},
                {"name": "syncing", "url": syncing_url},
                accounts=[{"alias": "dev0", "address": DEV_ACCOUNT}],
                contracts=[registry_config(registry)],
            )
        ]
    )
    wait_scrape(base, lambda t: get(t, "blockchain_up", chain="dev", endpoint="a") == 1, 15, "the endpoint up")
    registry.functions.submitClaim(b"\x01" * 32).transact(SENDER)
    return base, wait_scrape(
        base,
        lambda t: (
            get(t, "blockchain_gas_used_count", chain="dev", contract="registry", operation="submitClaim") == 1
            and get(t, "blockchain_ws_heads_total", chain="dev", endpoint="a") is not None
        ),
        15,
        "the contract call to be counted",
    )


def test_promtool_clean_and_docs_match_both_ways(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    anvil = start_anvil()
    with rpc_server("syncing", anvil.url) as syncing:
        _, body = _full_featured_exporter(anvil, syncing.url, start_blockchain_exporter)
    result = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
    assert get(body, "blockchain_syncing", chain="dev", endpoint="syncing") == 1
    assert get(body, "blockchain_sync_highest_block_number", chain="dev", endpoint="syncing") == 100
    assert get(body, "blockchain_peers", chain="dev", endpoint="syncing") == 7
    documented = documented_blockchain_metrics()
    exposed = set(re.findall(r"^# TYPE (\S+) ", body, re.M))
    assert len(documented) >= 40
    assert documented - exposed == set(), "documented but not exposed"
    assert exposed - documented == set(), "exposed but not documented in docs/metrics.md"
    assert [n for n, f in families(body).items() if not f.samples] == []


def test_prometheus_scrapes_every_documented_family(
    start_anvil: Callable[..., Anvil],
    start_blockchain_exporter: Callable[..., str],
    start_prometheus: Callable[[dict], str],
) -> None:
    anvil = start_anvil()
    with rpc_server("syncing", anvil.url) as syncing:
        exporter, _ = _full_featured_exporter(anvil, syncing.url, start_blockchain_exporter)
        prom = start_prometheus(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {"job_name": "blockchain", "static_configs": [{"targets": [exporter.removeprefix("http://")]}]}
                ],
            }
        )
        wait_for(lambda: prom_query(prom, 'up{job="blockchain"} == 1'), 30, "the first successful scrape")
        missing = [
            name
            for name in sorted(documented_blockchain_metrics())
            if not prom_query(prom, f'count({{__name__=~"{name}(_bucket)?", job="blockchain"}})')
        ]
    assert missing == []
    head = prom_query(prom, 'blockchain_head_block_number{job="blockchain", chain="dev", endpoint="a"}')
    assert int(head[0]["value"][1]) >= 1


def test_ready_after_first_poll_and_clean_sigterm(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], procs: list
) -> None:
    anvil = start_anvil()
    base = start_blockchain_exporter([network("dev", anvil.url)])
    wait_for(lambda: requests.get(f"{base}/-/ready", timeout=2).ok, 10, "readiness")
    assert 'href="/metrics"' in requests.get(base + "/", timeout=5).text
    assert procs[-1].stop() == 0
    assert 'msg="shutting down"' in procs[-1].log_path.read_text()
