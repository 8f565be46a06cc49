"""Panels that show values rather than lines: stat and gauge tiles, bar gauges and tables."""

from __future__ import annotations

import html
import math
from typing import Any

from exporters.snapshot.charts import Step, color_for, sparkline
from exporters.snapshot.queries import Series
from exporters.snapshot.units import fmt_value


def _last_finite(s: Series) -> float:
    return next((v for _, v in reversed(s.points) if math.isfinite(v)), s.last)


def stat_tiles(series: list[Series], unit: str, thresholds: list[Step]) -> str:
    """One tile per series: the last value on its threshold colour, with a sparkline of the window."""
    tiles = []
    for s in series:
        value = _last_finite(s)
        color = color_for(value, thresholds, "#1f60c4")
        name = f"<div class=stat-name>{html.escape(s.name)}</div>" if len(series) > 1 or s.name else ""
        tiles.append(
            f'<div class=stat style="background:{color}">{name}'
            f"<div class=stat-value>{html.escape(fmt_value(value, unit))}</div>{sparkline(s.points)}</div>"
        )
    return f"<div class=stats>{''.join(tiles)}</div>"


def bar_gauges(
    series: list[Series], unit: str, thresholds: list[Step], fixed: tuple[float | None, float | None]
) -> str:
    """One horizontal bar per series, from the panel's min to its max (or the largest value)."""
    values = [_last_finite(s) for s in series]
    finite = [v for v in values if math.isfinite(v)]
    lo = fixed[0] if fixed[0] is not None else min([0.0, *finite])
    hi = fixed[1] if fixed[1] is not None else max([*finite, lo + 1e-9])
    rows = []
    for s, value in sorted(zip(series, values, strict=True), key=lambda sv: sv[0].name):
        share = 0.0 if not math.isfinite(value) else max(0.0, min(1.0, (value - lo) / ((hi - lo) or 1)))
        color = color_for(value, thresholds)
        rows.append(
            f"<tr><td>{html.escape(s.name)}</td><td class=bar-cell><div class=bar>"
            f'<div style="width:{share * 100:.1f}%;background:{color}"></div></div></td>'
            f'<td class=num style="color:{color}">{html.escape(fmt_value(value, unit))}</td></tr>'
        )
    return f"<table class=bars>{''.join(rows)}</table>"


def value_column(target: dict[str, Any], targets: int) -> str:
    """Grafana's name for a table's value column: the legend when it is plain text, else Value (#refId)."""
    fmt = target.get("legendFormat", "")
    if fmt and fmt != "__auto" and "{{" not in fmt:
        return str(fmt)
    return "Value" if targets == 1 else f"Value #{target.get('refId', 'A')}"


def table(series: list[Series], targets: list[dict[str, Any]], unit: str) -> str:
    """Instant results as Grafana's merge transformation shows them: one row per label set, a column per label
    and one value column per query."""
    columns = [value_column(t, len(targets)) for t in targets]
    by_ref = {t.get("refId", "A"): col for t, col in zip(targets, columns, strict=True)}
    rows: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
    for s in series:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "__name__"))
        rows.setdefault(key, {})[by_ref.get(s.ref, "Value")] = s.last
    labels = sorted({k for key in rows for k, _ in key})
    head = "".join(f"<th>{html.escape(c)}</th>" for c in [*labels, *columns])
    body = []
    for key, cells in sorted(rows.items()):
        label_values = dict(key)
        tds = [f"<td>{html.escape(label_values.get(k, ''))}</td>" for k in labels]
        tds += [f"<td class=num>{html.escape(fmt_value(cells[c], unit)) if c in cells else ''}</td>" for c in columns]
        body.append(f"<tr>{''.join(tds)}</tr>")
    return f"<table class=data><tr>{head}</tr>{''.join(body)}</table>"
