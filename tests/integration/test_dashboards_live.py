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
LIVE = {"system.json": "alismon-system", "overview.json": "alismon-system", "exporters.json": ".*"}


def test_every_panel_query_returns_series(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "alismon-dash-probe"])
    try:
        stack = start_stack(
            tmp_path,
            procs,
            system={"processes": [{"name": "chain-client", "match": {"cmdline": "alismon-dash-probe"}}]},
        )
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
