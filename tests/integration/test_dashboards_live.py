"""Every panel query of every dashboard returns series from a real Prometheus fed by real exporters."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from exporters.stack.procs import ManagedProcess
from tests.conftest import Anvil
from tests.dashboards_util import REPO, load, panel_queries
from tests.helpers import prom_query, wait_for
from tests.integration.blockchain_support import DEV_ACCOUNT, SENDER, deploy_registry, network, registry_config, web3
from tests.integration.rpc_servers import rpc_server
from tests.stack_util import start_stack

# Dashboards whose exporters run here, and the value $job takes in each.
LIVE = {
    "system.json": "alismon-system",
    "overview.json": "alismon-system",
    "exporters.json": ".*",
    "business.json": "alismon-business",
    "blockchain.json": "alismon-blockchain",
}


def feed_business(url: str) -> None:
    """Claims, verifications (some failing), node events and one refused request."""
    import requests

    from tests.business_util import TOKEN

    headers = {"Authorization": f"Bearer {TOKEN}"}
    events = [
        {"type": "claims", "labels": {"type": "land", "status": "submitted"}},
        {"type": "verifications", "labels": {"type": "kyc", "outcome": "success"}, "value": 0.4},
        {"type": "verifications", "labels": {"type": "kyc", "outcome": "failed"}, "value": 2.0},
        {"type": "node_events", "labels": {"sender": "node-1", "event": "heartbeat"}},
    ]
    assert requests.post(f"{url}/api/v1/events", json=events, headers=headers, timeout=5).ok
    requests.post(f"{url}/api/v1/events", data=b"{", headers={**headers, "Content-Type": "application/json"}, timeout=5)


def feed_chain(registry: Contract, w3: Web3) -> None:
    """Contract calls that succeed and one that reverts (fixed gas, so it is mined), plus a transfer."""
    sender = SENDER
    hashes = [
        registry.functions.submitClaim(os.urandom(32)).transact(sender),
        registry.functions.verifyClaim(10**6, True).transact({**sender, "gas": 200_000}),  # no such claim
        w3.eth.send_transaction({**sender, "to": registry.address, "value": Wei(1)}),
    ]
    for h in hashes:
        w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.1)


def test_every_panel_query_returns_series(
    tmp_path: Path, procs: list[ManagedProcess], start_anvil: Callable[..., Anvil]
) -> None:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "alismon-dash-probe"])
    anvil = start_anvil()
    w3 = web3(anvil.url)
    registry = deploy_registry(w3)
    # A second endpoint through a proxy that reports peers and a sync in progress (anvil has neither).
    try:
        with rpc_server("syncing", anvil.url) as syncing:
            chain = network(
                "dev",
                {"name": "a", "url": anvil.url},
                {"name": "b", "url": syncing.url},
                accounts=[{"alias": "dev0", "address": DEV_ACCOUNT}],
                contracts=[registry_config(registry)],
            )
            stack = start_stack(
                tmp_path,
                procs,
                system={"processes": [{"name": "chain-client", "match": {"cmdline": "alismon-dash-probe"}}]},
                business=True,
                networks=[chain],
            )
            assert stack.business is not None
            # Rates need increases inside their window: feed, wait for a scrape, feed again.
            feed_business(stack.business)
            feed_chain(registry, w3)
            wait_for(lambda: prom_query(stack.prometheus, "business_claims_total"), 30, "the first business scrape")
            wait_for(lambda: prom_query(stack.prometheus, "blockchain_gas_used_count"), 30, "the first chain scrape")
            business = stack.business

            def feed() -> None:
                feed_business(business)
                feed_chain(registry, w3)

            feed()
            _every_query_answers(stack.prometheus, feed)
    finally:
        watched.kill()


def _every_query_answers(prometheus: str, feed: Callable[[], None]) -> None:
    """Every panel query returns series. Quantiles keep `>= 0`, so a window without observations is empty:
    on a slow machine the traffic is fed again while waiting, so rates always have increases in their window."""
    queries = [(name, title, expr) for name, job in LIVE.items() for title, expr in panel_queries(load(name), job)]
    assert len(queries) > 80
    assert {p.name for p in (REPO / "dashboards").glob("*.json")} == set(LIVE)

    def empty() -> list[str]:
        return [f"{name} / {title}: {expr}" for name, title, expr in queries if not prom_query(prometheus, expr)]

    # Rates need two scrapes and recording rules a first evaluation: poll, bounded.
    remaining: list[str] = []

    def all_answer() -> bool:
        remaining[:] = empty()
        if remaining:
            feed()
        return not remaining

    try:
        wait_for(all_answer, 90, "every panel query to return series", interval=2)
    except AssertionError:
        raise AssertionError("panel queries without series:\n" + "\n".join(remaining)) from None
