"""`alismon snapshot`: the dashboards as static HTML, drawn from a Prometheus, for stacks without Grafana.

The native stack has no Grafana (Debian does not package it). This reads the rendered
dashboards/*.json, runs every panel's queries over the last minutes against a Prometheus (template
variables at their defaults, `$__rate_interval` at four scrape intervals), and writes one page per
dashboard: a small SVG line chart per graph panel, the latest values for stat, gauge and table
panels. No JavaScript, no external assets: the pages open from disk and can be attached to a ticket.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
MAX_SERIES = 8
WIDTH, HEIGHT = 420, 140
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]


def variables(dashboard: dict[str, Any], rate_interval: str) -> dict[str, str]:
    out = {"__rate_interval": rate_interval, "__interval": "15s", "__range": "15m"}
    for var in dashboard.get("templating", {}).get("list", []):
        value = str(var.get("current", {}).get("value", ".*"))
        out[var["name"]] = ".*" if value in ("$__all", "") else value
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return expr


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    params: dict[str, str | float] = {"query": expr, "start": start, "end": end, "step": step}
    r = requests.get(f"{prometheus.rstrip('/')}/api/v1/query_range", params=params, timeout=30)
    body = r.json()
    if body.get("status") != "success":
        raise ValueError(f"{body.get('errorType', 'error')}: {body.get('error', r.text[:200])}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def legend(fmt: str, labels: dict[str, str]) -> str:
    if fmt:
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt)
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__") + "}"


def fmt_value(value: float, unit: str) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    if unit in ("bytes", "decbytes"):
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(value) < 1024 or suffix == "TiB":
                return f"{value:.1f} {suffix}"
            value /= 1024
    if unit == "s":
        return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.1f} s"
    if unit.startswith("suffix:"):
        return f"{value:.4g}{unit.removeprefix('suffix:')}"
    if unit == "bool_yes_no":
        return "yes" if value else "no"
    return f"{value:.4g}" + {"ops": "/s", "reqps": " req/s", "Bps": " B/s"}.get(unit, "")


def svg_chart(series: list[Series], unit: str) -> str:
    points = [p for s in series for p in s.points if math.isfinite(p[1])]
    if not points:
        return "<p class=empty>no finite values</p>"
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    lo, hi = min(p[1] for p in points), max(p[1] for p in points)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    span = max(t1 - t0, 1e-9)

    def xy(t: float, v: float) -> str:
        return f"{(t - t0) / span * (WIDTH - 4) + 2:.1f},{HEIGHT - 2 - (v - lo) / (hi - lo) * (HEIGHT - 4):.1f}"

    lines = [
        f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5" '
        f'points="{" ".join(xy(t, v) for t, v in s.points if math.isfinite(v))}"/>'
        for i, s in enumerate(series)
    ]
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fafafa" stroke="#ddd"/>{"".join(lines)}'
        f'<text x="4" y="12" font-size="10">{html.escape(fmt_value(hi, unit))}</text>'
        f'<text x="4" y="{HEIGHT - 4}" font-size="10">{html.escape(fmt_value(lo, unit))}</text></svg>'
    )


def panel_html(
    panel: dict[str, Any], prometheus: str, values: dict[str, str], window: tuple[float, float, float]
) -> str:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    series: list[Series] = []
    errors: list[str] = []
    for target in panel.get("targets", []):
        expr = substitute(target["expr"], values)
        try:
            result = query_range(prometheus, expr, *window)
        except (requests.RequestException, ValueError) as exc:
            errors.append(f"{expr}: {exc}")
            continue
        for r in result:
            pts = [(float(t), float(v)) for t, v in r["values"]]
            series.append(Series(legend(target.get("legendFormat", ""), r["metric"]), pts))
    title = html.escape(panel["title"])
    if errors:
        body = "".join(f"<p class=error>{html.escape(e)}</p>" for e in errors)
    elif not series:
        body = "<p class=empty>no data</p>"
    elif panel["type"] in ("timeseries", "bargauge"):
        shown = series[:MAX_SERIES]
        keys = "".join(
            f'<li><span style="color:{COLORS[i % len(COLORS)]}">&#9632;</span> {html.escape(s.name)}: '
            f"{html.escape(fmt_value(s.points[-1][1], unit))}</li>"
            for i, s in enumerate(shown)
        )
        more = f"<li>... and {len(series) - MAX_SERIES} more series</li>" if len(series) > MAX_SERIES else ""
        body = svg_chart(shown, unit) + f"<ul>{keys}{more}</ul>"
    else:  # stat, gauge, table: the latest value of each series
        rows = "".join(
            f"<tr><td>{html.escape(s.name)}</td><td>{html.escape(fmt_value(s.points[-1][1], unit))}</td></tr>"
            for s in series
        )
        body = f"<table>{rows}</table>"
    return f'<section class=panel data-type="{panel["type"]}"><h3>{title}</h3>{body}</section>'


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:sans-serif;margin:1em}} .panel{{display:inline-block;vertical-align:top;width:440px;margin:4px;
padding:6px;border:1px solid #ddd}} h2{{clear:both;margin-top:1em}} h3{{font-size:14px;margin:0 0 4px}}
ul{{font-size:11px;padding-left:1em;margin:4px 0}} table{{font-size:12px}} .empty{{color:#888}} .error{{color:#c00}}
</style></head><body><p><a href="index.html">All dashboards</a></p><h1>{title}</h1><p>{meta}</p>{body}</body></html>"""


def snapshot(prometheus: str, dashboards: Path, out: Path, minutes: float, scrape_interval: float) -> list[Path]:
    """Write one page per dashboard and an index; returns the pages."""
    out.mkdir(parents=True, exist_ok=True)
    end = time.time()
    window = (end - minutes * 60, end, max(scrape_interval, minutes * 60 / 200))
    rate_interval = f"{int(max(4 * scrape_interval, 60))}s"
    taken = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(end))
    pages, links = [], []
    for path in sorted(dashboards.glob("*.json")):
        dashboard = json.loads(path.read_text())
        values = variables(dashboard, rate_interval)
        parts = []
        for panel in dashboard.get("panels", []):
            if panel["type"] == "row":
                parts.append(f"<h2>{html.escape(panel['title'])}</h2>")
            else:
                parts.append(panel_html(panel, prometheus, values, window))
        meta = html.escape(f"{prometheus}, the {minutes:g} minutes before {taken}")
        page = out / f"{dashboard['uid']}.html"
        title = html.escape(dashboard["title"])
        page.write_text(PAGE.format(title=title, meta=meta, body="".join(parts)))
        pages.append(page)
        links.append(f'<li><a href="{page.name}">{title}</a></li>')
    index = PAGE.format(title="AlisChain dashboards", meta=html.escape(taken), body=f"<ul>{''.join(links)}</ul>")
    (out / "index.html").write_text(index)
    return pages
