"""Every panel query of every dashboard returns series from a real Prometheus fed by real exporters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exporters.stack.procs import ManagedProcess
from tests.dashboards_util import REPO, load, panel_queries
from tests.helpers import prom_query, wait_for
from tests.stack_util import start_stack

# Dashboards whose exporters run here, and the value $job takes in each.
LIVE = {
    "system.json": "alismon-system",
    "overview.json": "alismon-system",
    "exporters.json": ".*",
    "business.json": "alismon-business",
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


def test_every_panel_query_returns_series(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "alismon-dash-probe"])
    try:
        stack = start_stack(
            tmp_path,
            procs,
            system={"processes": [{"name": "chain-client", "match": {"cmdline": "alismon-dash-probe"}}]},
            business=True,
        )
        assert stack.business is not None
        # Rates need increases inside their window: feed, wait for a scrape, feed again.
        feed_business(stack.business)
        wait_for(lambda: prom_query(stack.prometheus, "business_claims_total"), 30, "the first business scrape")
        feed_business(stack.business)
        queries = [(name, title, expr) for name, job in LIVE.items() for title, expr in panel_queries(load(name), job)]
        assert len(queries) > 40
        assert {p.name for p in (REPO / "dashboards").glob("*.json")} >= set(LIVE)

        def empty() -> list[str]:
            return [
                f"{name} / {title}: {expr}" for name, title, expr in queries if not prom_query(stack.prometheus, expr)
            ]

        # Rates need two scrapes and recording rules a first evaluation: poll, bounded.
        remaining: list[str] = []

        def all_answer() -> bool:
            remaining[:] = empty()
            return not remaining

        try:
            wait_for(all_answer, 90, "every panel query to return series")
        except AssertionError:
            raise AssertionError("panel queries without series:\n" + "\n".join(remaining)) from None
    finally:
        watched.kill()
