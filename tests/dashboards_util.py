"""Dashboard queries with the template variables substituted, for promtool and live checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted(p.name for p in (REPO / "dashboards").glob("*.json"))
# The job each dashboard's $job variable selects in the tests.
JOBS = {
    "system.json": "alismon-system",
    "overview.json": "alismon-system",
    "exporters.json": ".*",
    "business.json": "alismon-business",
    "blockchain.json": "alismon-blockchain",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((REPO / "dashboards" / name).read_text())


def substitute(expr: str, variables: dict[str, str]) -> str:
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return expr


def panel_queries(dashboard: dict[str, Any], job: str) -> list[tuple[str, str]]:
    """(panel title, query) with $job, $instance, $chain, $endpoint and $__rate_interval substituted."""
    variables = {
        "job": job,
        "instance": ".*",
        "chain": ".*",
        "endpoint": ".*",
        "__rate_interval": "1m",
        "__interval": "15s",
    }
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], substitute(target["expr"], variables)))
    return out
