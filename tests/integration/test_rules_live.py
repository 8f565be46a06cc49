"""The generated rules in a real Prometheus scraping real exporters.

Every recording rule whose exporter runs here returns series, and every alert expression
evaluates without error against the live data.
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from exporters.config import load_config
from exporters.lint.rules import load_rules
from tests.conftest import REPO
from tests.helpers import prom_query, wait_for

# Recording rules fed by the exporters this test starts (grows as exporters are added).
LIVE_PREFIXES = ("system:", "job:")


def test_rules_evaluate_against_live_data(
    start_system_exporter: Callable[..., str], start_prometheus: Callable[[dict], str]
) -> None:
    jobs = load_config(REPO / "config.yml").alerting.jobs
    exporter = start_system_exporter()
    prom = start_prometheus(
        {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(REPO / "rules/recording.yml"), str(REPO / "rules/alerts.yml")],
            "scrape_configs": [
                {"job_name": jobs.system, "static_configs": [{"targets": [exporter.removeprefix("http://")]}]},
            ],
        }
    )
    records = [r["record"] for r in load_rules(REPO / "rules/recording.yml") if r["record"].startswith(LIVE_PREFIXES)]
    assert len(records) >= 14

    def missing() -> list[str]:
        return [name for name in records if not prom_query(prom, name)]

    # Rates need two scrapes inside their window; poll rather than sleep.
    wait_for(lambda: not missing(), 60, f"every recording rule to return series (missing: {missing()})")

    rules = requests.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {g["name"] for g in rules} >= {"alismon-system.recording", "alismon-host", "alismon-meta"}
    for group in rules:
        for rule in group["rules"]:
            assert rule["health"] in ("ok", "unknown"), (rule["name"], rule.get("lastError"))
            # Evaluate each alert expression directly too: a query error fails here, loudly.
            if rule["type"] == "alerting":
                prom_query(prom, rule["query"])
    wait_for(
        lambda: all(
            r["health"] == "ok"
            for g in requests.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
            for r in g["rules"]
        ),
        30,
        "every rule to have been evaluated without error",
    )
    assert prom_query(prom, 'ALERTS{alertname="Watchdog", alertstate="firing"}')
