"""Grafana dashboards: compact Jinja/JSON templates expanded into full Grafana 11 JSON.

A template lists panels compactly (type, title, size, unit, thresholds, queries). The
expander gives every panel a unique id, lays panels out left to right in rows of 24 columns,
points every panel and query at the `${datasource}` variable, and fills in the per-type
options, so no template repeats Grafana boilerplate and every dashboard is uniform.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporters.config import Config
from exporters.render.links import DASHBOARD_UIDS
from exporters.render.rules import jinja_env, template_context

TEMPLATE_DIR = Path("dashboards/templates")
SCHEMA_VERSION = 39  # Grafana 11
DATASOURCE_UID = "alischain-prometheus"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


def _thresholds(steps: list[list[Any]] | None) -> dict[str, Any]:
    steps = steps or [[None, "green"]]
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def _options(kind: str) -> dict[str, Any]:
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if kind == "stat":
        return {
            "reduceOptions": reduce,
            "colorMode": "background",
            "graphMode": "area",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        }
    if kind == "gauge":
        return {"reduceOptions": reduce, "showThresholdLabels": False, "showThresholdMarkers": True}
    if kind == "bargauge":
        return {"reduceOptions": reduce, "displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True}
    return {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}}


def _panel(spec: dict[str, Any], panel_id: int, pos: dict[str, int]) -> dict[str, Any]:
    kind = spec["type"]
    if kind == "row":
        return {"type": "row", "id": panel_id, "title": spec["title"], "collapsed": False, "gridPos": pos, "panels": []}
    targets = []
    for i, target in enumerate(spec["targets"]):
        targets.append(
            {
                "datasource": DATASOURCE,
                "refId": chr(ord("A") + i),
                "expr": target["expr"],
                "legendFormat": target.get("legend", "__auto"),
                "range": kind == "timeseries",
                "instant": kind in ("table", "bargauge") or target.get("instant", False),
                **({"format": "table"} if kind == "table" else {}),
            }
        )
    defaults: dict[str, Any] = {
        "unit": spec["unit"],
        "thresholds": _thresholds(spec.get("thresholds")),
        "color": {"mode": "thresholds" if kind != "timeseries" else "palette-classic"},
    }
    for key in ("min", "max", "decimals"):
        if key in spec:
            defaults[key] = spec[key]
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "dashed" if spec.get("thresholds") else "off"},
        }
    panel = {
        "type": kind,
        "id": panel_id,
        "title": spec["title"],
        "description": spec.get("description", ""),
        "datasource": DATASOURCE,
        "gridPos": pos,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": _options(kind),
    }
    if spec.get("links"):
        panel["links"] = spec["links"]
    if kind == "table":
        panel["transformations"] = [{"id": "merge", "options": {}}]
    return panel


def expand(template: dict[str, Any]) -> dict[str, Any]:
    """Compact dashboard -> Grafana JSON with ids and a flow layout."""
    panels, x, y, row_h = [], 0, 0, 0
    for panel_id, spec in enumerate(template["panels"], start=1):
        if spec["type"] == "row":
            y, x, row_h = y + row_h, 0, 0
            panels.append(_panel(spec, panel_id, {"x": 0, "y": y, "w": GRID_WIDTH, "h": 1}))
            y += 1
            continue
        w, h = spec.get("w", 12), spec.get("h", 8)
        if x + w > GRID_WIDTH:
            y, x, row_h = y + row_h, 0, 0
        panels.append(_panel(spec, panel_id, {"x": x, "y": y, "w": w, "h": h}))
        x, row_h = x + w, max(row_h, h)
    return {
        "uid": template["uid"],
        "title": template["title"],
        "description": template.get("description", ""),
        "tags": template.get("tags", ["alischain"]),
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": template.get("refresh", "30s"),
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": template.get("links", []),
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                # Firing alerts of this area as annotations on every time series.
                {
                    "datasource": DATASOURCE,
                    "enable": True,
                    "hide": False,
                    "iconColor": "red",
                    "name": "Alerts",
                    "expr": template["alerts_expr"],
                },
            ]
        },
        "templating": {"list": template["variables"]},
        "panels": panels,
    }


def render_dashboards(config: Config, root: Path) -> dict[str, str]:
    env = jinja_env(root / TEMPLATE_DIR)
    context = {**template_context(config), "uids": DASHBOARD_UIDS, "grafana_datasource_uid": DATASOURCE_UID}
    out = {}
    for path in sorted((root / TEMPLATE_DIR).glob("*.json.j2")):
        text = env.get_template(path.name).render(context)
        try:
            compact = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: rendered template is not JSON: {exc}") from None
        out[f"dashboards/{path.name.removesuffix('.j2')}"] = json.dumps(expand(compact), indent=2) + "\n"
    return out
