"""Dashboard checks without a Grafana server (after grafana/dashboard-linter's rules), and a
round trip through the pinned grafana-foundation-sdk, which drops keys it does not know."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ALLOWED_PANEL_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "row"}
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__url_time_range", "__all", "__auto"}
_VAR_USE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")
_RATE = re.compile(r"\b(rate|irate|increase|delta|deriv)\(([^()]|\([^()]*\))*?\[([^\]]+)\]")


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def lint_dashboard(dashboard: dict[str, Any], name: str) -> list[str]:
    problems: list[str] = []
    uid = dashboard.get("uid", "")
    if not uid or len(uid) > 40:
        problems.append(f"{name}: uid {uid!r} must be set and at most 40 characters")
    if "__inputs" in dashboard:
        problems.append(f"{name}: __inputs are never resolved by file provisioning")
    if not isinstance(dashboard.get("schemaVersion"), int):
        problems.append(f"{name}: schemaVersion is not pinned")
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    if "datasource" not in variables:
        problems.append(f"{name}: no datasource variable")
    text = json.dumps(dashboard)
    for m in _VAR_USE.finditer(text):
        var = m.group(1) or m.group(2)
        if var not in variables and var not in BUILTIN_VARIABLES:
            problems.append(f"{name}: variable ${var} is used but not defined")
    ids = [p.get("id") for p in _panels(dashboard)]
    dupes = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if dupes:
        problems.append(f"{name}: duplicate panel ids {dupes}")
    occupied: dict[tuple[int, int], str] = {}
    for panel in _panels(dashboard):
        title = f"{name}: panel {panel.get('title')!r}"
        kind = panel.get("type")
        if kind not in ALLOWED_PANEL_TYPES:
            problems.append(f"{title}: type {kind!r} is not one of {sorted(ALLOWED_PANEL_TYPES)}")
        pos = panel.get("gridPos", {})
        if pos.get("x", 0) < 0 or pos.get("x", 0) + pos.get("w", 0) > 24 or pos.get("w", 0) <= 0:
            problems.append(f"{title}: gridPos {pos} does not fit 24 columns")
        for dx in range(pos.get("w", 0)):
            for dy in range(pos.get("h", 0)):
                cell = (pos.get("x", 0) + dx, pos.get("y", 0) + dy)
                if cell in occupied and occupied[cell] != panel.get("title"):
                    problems.append(f"{title}: overlaps panel {occupied[cell]!r}")
                    break
                occupied[cell] = panel.get("title", "")
            else:
                continue
            break
        if kind == "row":
            continue
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{title}: no unit")
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{title}: datasource is not the ${{datasource}} variable")
        if not panel.get("targets"):
            problems.append(f"{title}: no queries")
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{title}: query {target.get('refId')} does not use the ${{datasource}} variable")
            for rate in _RATE.finditer(target.get("expr", "")):
                if rate.group(3) != "$__rate_interval":
                    problems.append(f"{title}: {rate.group(1)}() over [{rate.group(3)}]; use [$__rate_interval]")
    return list(dict.fromkeys(problems))


def dropped_keys(before: Any, after: Any, path: str = "") -> list[str]:
    """Key paths present in `before` and missing from `after` (the SDK parses leniently)."""
    out: list[str] = []
    if isinstance(before, dict):
        if not isinstance(after, dict):
            return [path or "(top)"]
        for key, value in before.items():
            where = f"{path}.{key}" if path else key
            if key not in after:
                out.append(where)
            else:
                out.extend(dropped_keys(value, after[key], where))
    elif isinstance(before, list) and isinstance(after, list):
        for i, (b, a) in enumerate(zip(before, after, strict=False)):
            out.extend(dropped_keys(b, a, f"{path}[{i}]"))
        if len(after) < len(before):
            out.append(f"{path}[{len(after)}:]")
    return out


def sdk_round_trip(dashboard: dict[str, Any]) -> dict[str, Any]:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    round_tripped: dict[str, Any] = json.loads(json.dumps(Dashboard.from_json(dashboard), cls=JSONEncoder))
    return round_tripped


def lint_dashboard_files(directory: Path) -> list[str]:
    problems = []
    for path in sorted(directory.glob("*.json")):
        problems.extend(lint_dashboard(json.loads(path.read_text()), path.name))
    return problems
