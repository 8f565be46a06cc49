"""Traffic for a live stack, and the check that every panel query of every dashboard returns series from it."""

from __future__ import annotations

import os
from collections.abc import Callable

from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from tests.dashboards_util import JOBS, REPO, load, panel_queries
from tests.helpers import prom_query, wait_for
from tests.integration.blockchain_support import SENDER


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


def every_query_answers(prometheus: str, feed: Callable[[], None]) -> None:
    """Every panel query returns series. Quantiles keep `>= 0`, so a window without observations is empty:
    on a slow machine the traffic is fed again while waiting, so rates always have increases in their window."""
    queries = [(name, title, expr) for name, job in JOBS.items() for title, expr in panel_queries(load(name), job)]
    assert len(queries) > 80
    assert {p.name for p in (REPO / "dashboards").glob("*.json")} == set(JOBS)

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
