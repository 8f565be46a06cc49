"""`alismon snapshot`: the dashboards as static HTML, drawn from a Prometheus, for stacks without Grafana.

The native stack has no Grafana (Debian does not package it). This reads the rendered
dashboards/*.json, runs every panel's queries over the last minutes against a Prometheus (template
variables at their defaults, `$__rate_interval` at four scrape intervals), and writes one page per
dashboard laid out on Grafana's 24-column grid: line charts with time and value axes, threshold
lines and a last/min/max legend; stat tiles coloured by their thresholds with a sparkline; bar
gauges; tables with a column per label. No JavaScript, no external assets: the pages open from disk
and can be attached to a ticket. A panel whose query failed says so, and the snapshot reports it.
"""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporters.snapshot import charts, index, tables
from exporters.snapshot.queries import Prometheus, QueryError, Series

MAX_SERIES = 10
PAGE_WIDTH = 1560  # px of Grafana's 24 columns
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class Snapshot:
    index: Path
    pages: list[Path] = field(default_factory=list)
    # "<dashboard> / <panel>: <query>: <error>" for every query that failed
    failures: list[str] = field(default_factory=list)


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


def legend(fmt: str, labels: dict[str, str]) -> str:
    if fmt and fmt != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


@dataclass
class Context:
    prometheus: Prometheus
    values: dict[str, str]
    window: tuple[float, float, float]  # start, end, step


def _fetch(panel: dict[str, Any], ctx: Context) -> tuple[list[Series], list[tuple[str, str]]]:
    """The panel's series (named by legend, tagged with refId) and (query, error) for each failed target."""
    series: list[Series] = []
    errors: list[tuple[str, str]] = []
    instant = panel["type"] in ("table", "bargauge")
    start, end, step = ctx.window
    for target in panel.get("targets", []):
        expr = substitute(target["expr"], ctx.values)
        try:
            result = ctx.prometheus.query(expr, end) if instant else ctx.prometheus.query_range(expr, start, end, step)
        except QueryError as exc:
            errors.append((expr, str(exc)))
            continue
        for s in result:
            s.name = legend(target.get("legendFormat", ""), s.labels)
            s.ref = target.get("refId", "A")
        series.extend(sorted(result, key=lambda s: s.name))
    return series, errors


def panel_html(panel: dict[str, Any], ctx: Context) -> tuple[str, list[str]]:
    """The panel's HTML and its failed queries."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = str(defaults.get("unit", ""))
    fixed = (defaults.get("min"), defaults.get("max"))
    thresholds = charts.steps(panel)
    width = max(240, round(panel.get("gridPos", {}).get("w", 12) / 24 * PAGE_WIDTH) - 26)
    series, errors = _fetch(panel, ctx)
    kind = panel["type"]
    if errors:
        body = "".join(
            f"<p class=error><b>query failed</b>: <code>{html.escape(q)}</code><br>{html.escape(e)}</p>"
            for q, e in errors
        )
    elif not series:
        body = "<p class=empty>no data</p>"
    elif kind == "timeseries":
        shown = series[:MAX_SERIES]
        body = charts.line_chart(shown, unit, ctx.window, width, fixed, thresholds) + charts.legend(shown, unit)
        if len(series) > MAX_SERIES:
            body += f"<p class=more>{len(series) - MAX_SERIES} more series not drawn</p>"
    elif kind == "table":
        body = tables.table(series, panel.get("targets", []), unit)
    elif kind == "bargauge":
        body = tables.bar_gauges(series, unit, thresholds, fixed)
    else:  # stat, gauge
        body = tables.stat_tiles(series, unit, thresholds)
    span = panel.get("gridPos", {}).get("w", 12)
    state = " failed" if errors else ""
    section = (
        f'<section class="panel{state}" data-type="{kind}" style="grid-column:span {span}">'
        f"<h3>{html.escape(panel['title'])}</h3>{body}</section>"
    )
    return section, [f"{panel['title']}: {q}: {e}" for q, e in errors]


STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f5;color:#222}
header{background:#1f2937;color:#fff;padding:10px 20px} header a{color:#9ecbff} header h1{margin:4px 0;font-size:22px}
header p{margin:2px 0;font-size:13px;color:#d1d5db}
main{padding:12px 20px;max-width:1600px}
.grid{display:grid;grid-template-columns:repeat(24,1fr);gap:8px}
.row{grid-column:span 24;margin:12px 0 0;font-size:17px;border-bottom:1px solid #ccc;padding-bottom:2px}
.panel{background:#fff;border:1px solid #d8d9da;border-radius:3px;padding:8px;min-width:0;overflow:hidden}
.panel.failed{border:2px solid #c4162a;background:#fff5f5}
.panel h3{font-size:14px;margin:0 0 6px}
.tick{font-size:10px;fill:#555}
.empty{color:#888;font-size:13px}
.error{color:#c4162a;font-size:12px;word-break:break-word}
.more,.caption{font-size:11px;color:#666;margin:2px 0}
table.data.health{width:auto;font-size:13px}
table{border-collapse:collapse;font-size:12px} td,th{padding:2px 8px 2px 0;text-align:left;vertical-align:top}
th{color:#555;font-weight:600;border-bottom:1px solid #ddd}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.legend{width:100%;margin-top:4px} table.legend td:first-child{word-break:break-all;width:64%}
table.legend th{text-align:right}
table.data{width:100%} table.data tr:nth-child(even){background:#f7f7f7}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
.stats{display:flex;flex-wrap:wrap;gap:6px}
.stat{flex:1 1 140px;color:#fff;border-radius:3px;padding:6px 8px;min-height:64px}
.stat-name{font-size:12px;opacity:.9}
.stat-value{font-size:26px;font-weight:600}
.spark{display:block;width:100%}
table.bars{width:100%} .bar-cell{width:55%} .bar{background:#eee;height:12px;border-radius:2px}
.bar div{height:12px;border-radius:2px}
.ok{color:#37872d} .bad{color:#c4162a} .warn{color:#e55400} .muted{color:#888}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.badge.ok{background:#37872d}
.badge.bad{background:#c4162a}
.badge.warn{background:#e55400}
.badge.muted{background:#888}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:10px}
.card{background:#fff;border:1px solid #d8d9da;border-left:6px solid #37872d;border-radius:3px;padding:10px}
.card.bad{border-left-color:#c4162a}
.card h2{font-size:17px;margin:0 0 4px}
.card ul{margin:4px 0;padding-left:18px;font-size:13px}
.verdict{font-size:20px;font-weight:600;margin:6px 0 12px}
"""

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>
<body><header><p><a href="index.html">&larr; All dashboards</a></p><h1>{title}</h1><p>{meta}</p></header>
<main>{body}</main></body></html>"""


def dashboard_page(dashboard: dict[str, Any], ctx: Context, meta: str) -> tuple[str, list[str]]:
    parts, failures = [], []
    for panel in dashboard.get("panels", []):
        if panel["type"] == "row":
            parts.append(f"<h2 class=row>{html.escape(panel['title'])}</h2>")
            continue
        section, failed = panel_html(panel, ctx)
        parts.append(section)
        failures += [f"{dashboard['title']} / {f}" for f in failed]
    notice = (
        f"<p class=error><b>{len(failures)} queries failed</b>: the panels marked red show why.</p>" if failures else ""
    )
    title = html.escape(dashboard["title"])
    body = f"{notice}<div class=grid>{''.join(parts)}</div>"
    return PAGE.format(title=title, style=STYLE, meta=html.escape(meta), body=body), failures


def snapshot(
    prometheus: Prometheus,
    dashboards: Path,
    out: Path,
    minutes: float,
    scrape_interval: float,
    alertmanager_expected: bool = True,
) -> Snapshot:
    """Write one page per dashboard and an index. Unreachable (before anything is written) if Prometheus
    does not answer; failed queries are marked on their panels and listed in the result."""
    version = prometheus.check()
    out.mkdir(parents=True, exist_ok=True)
    end = time.time()
    window = (end - minutes * 60, end, max(scrape_interval, minutes * 60 / 240))
    rate_interval = f"{int(max(4 * scrape_interval, 60))}s"
    taken = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(end))
    meta = f"Prometheus {prometheus.url} (version {version}), the {minutes:g} minutes before {taken}"
    result = Snapshot(out / "index.html")
    summaries = []
    for path in sorted(dashboards.glob("*.json")):
        dashboard = json.loads(path.read_text())
        ctx = Context(prometheus, variables(dashboard, rate_interval), window)
        page_html, failures = dashboard_page(dashboard, ctx, meta)
        page = out / f"{dashboard['uid']}.html"
        page.write_text(page_html)
        result.pages.append(page)
        result.failures += failures
        summaries.append(index.summarize(dashboard, page.name, ctx.values, prometheus, end, len(failures)))
    health = index.health(prometheus, end, alertmanager_expected)
    body = index.body(summaries, health, index.current_alerts(prometheus, end))
    result.index.write_text(PAGE.format(title="AlisChain monitoring", style=STYLE, meta=html.escape(meta), body=body))
    return result
