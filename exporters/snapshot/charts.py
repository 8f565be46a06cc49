"""SVG drawings: line charts with time and value axes, threshold lines and sparklines."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from exporters.snapshot.queries import Series
from exporters.snapshot.units import axis_ticks, fmt_value, time_ticks

# Grafana's classic palette, in its order.
PALETTE = ("#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0")
NAMED_COLORS = {
    "green": "#37872d",
    "orange": "#e55400",
    "red": "#c4162a",
    "yellow": "#cc9d00",
    "blue": "#1f60c4",
    "purple": "#8f3bb8",
}
HEIGHT = 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 10, 8, 22


@dataclass(frozen=True)
class Step:
    """A threshold step: from `value` up the colour is `color`; the base step has value None."""

    value: float | None
    color: str


def steps(panel: dict[str, Any]) -> list[Step]:
    raw = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    return [Step(s.get("value"), NAMED_COLORS.get(s.get("color", ""), s.get("color", "#888"))) for s in raw]


def color_for(value: float, thresholds: list[Step], default: str = "#37872d") -> str:
    color = default
    for s in thresholds:
        if s.value is None or (math.isfinite(value) and value >= s.value):
            color = s.color
    return color


def _finite(series: list[Series]) -> list[float]:
    return [v for s in series for _, v in s.points if math.isfinite(v)]


def y_range(
    values: list[float], fixed_min: float | None, fixed_max: float | None, limits: list[float]
) -> tuple[float, float]:
    """The value range to draw: the data, the panel's min/max, and thresholds not far above the data."""
    lo, hi = min(values), max(values)
    for limit in limits:  # flat data shows its distance to the line; varying data is not squashed by a far one
        if hi == lo or lo - 3 * (hi - lo) <= limit <= hi + 3 * (hi - lo):
            lo, hi = min(lo, limit), max(hi, limit)
    if fixed_min is not None:
        lo = min(lo, fixed_min)
    if fixed_max is not None:
        hi = max(hi, fixed_max)
    if hi == lo:  # a flat series: a band around it, never below zero for non-negative data
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = (lo - pad if lo - pad >= 0 or lo < 0 else 0.0), hi + pad
    if lo > 0 and lo < (hi - lo) * 0.5 and fixed_min is None:
        lo = 0.0  # close enough to zero that starting at zero is easier to read
    return lo, hi


def line_chart(
    series: list[Series],
    unit: str,
    window: tuple[float, float, float],
    width: int,
    fixed: tuple[float | None, float | None] = (None, None),
    thresholds: list[Step] | None = None,
) -> str:
    """Series over the window with a time axis, value ticks in `unit` and dashed threshold lines."""
    values = _finite(series)
    if not values:
        return "<p class=empty>no finite values</p>"
    start, end, step = window
    limits = [s.value for s in thresholds or [] if s.value is not None]
    lo, hi = y_range(values, fixed[0], fixed[1], limits)
    yticks = axis_ticks(lo, hi, unit)
    lo, hi = min(lo, yticks[0][0]), max(hi, yticks[-1][0])
    plot_w, plot_h = width - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x(t: float) -> float:
        return _LEFT + (t - start) / max(end - start, 1e-9) * plot_w

    def y(v: float) -> float:
        return _TOP + plot_h - (v - lo) / (hi - lo) * plot_h

    parts = [f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#ccc"/>']
    for value, label in yticks:
        parts.append(
            f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 4}" y="{y(value) + 3.5:.1f}" text-anchor="end" class=tick>{html.escape(label)}</text>'
        )
    for t, label in time_ticks(start, end):
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{_TOP}" y2="{_TOP + plot_h}" stroke="#eee"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="middle" class=tick>{label}</text>')
    for limit in thresholds or []:
        if limit.value is not None and lo <= limit.value <= hi:
            at = f"{y(limit.value):.1f}"
            parts.append(
                f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{at}" y2="{at}" stroke="{limit.color}" '
                f'stroke-dasharray="6 4" stroke-width="1.2" class=threshold>'
                f"<title>threshold {html.escape(fmt_value(limit.value, unit))}</title></line>"
            )
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        for run in _runs(s.points, step):
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            if len(run) == 1:
                parts.append(f'<circle cx="{x(run[0][0]):.1f}" cy="{y(run[0][1]):.1f}" r="1.5" fill="{color}"/>')
            else:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>')
    off_chart = [t for t in thresholds or [] if t.value is not None and not lo <= t.value <= hi]
    caption = "".join(
        f'<span style="color:{t.color}">threshold {html.escape(fmt_value(t.value, unit))} is off the chart</span> '
        for t in off_chart
        if t.value is not None
    )
    box = f'width="{width}" height="{HEIGHT}" viewBox="0 0 {width} {HEIGHT}"'
    svg = f'<svg class=chart {box} role="img">{"".join(parts)}</svg>'
    return svg + (f"<p class=caption>{caption}</p>" if caption else "")


def _runs(points: list[tuple[float, float]], step: float) -> list[list[tuple[float, float]]]:
    """Unbroken stretches of finite points: a gap longer than two steps is drawn as a gap."""
    runs: list[list[tuple[float, float]]] = []
    last_t = -math.inf
    for t, v in points:
        if not math.isfinite(v):
            last_t = -math.inf
            continue
        if t - last_t > 2 * step or not runs:
            runs.append([])
        runs[-1].append((t, v))
        last_t = t
    return runs


def sparkline(points: list[tuple[float, float]], width: int = 160, height: int = 28) -> str:
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    if len(finite) < 2:
        return ""
    t0, t1 = finite[0][0], finite[-1][0]
    lo, hi = min(v for _, v in finite), max(v for _, v in finite)
    span = (hi - lo) or 1.0
    coords = " ".join(
        f"{(t - t0) / max(t1 - t0, 1e-9) * width:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for t, v in finite
    )
    return (
        f'<svg class=spark width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<polyline fill="none" stroke="rgba(255,255,255,.85)" stroke-width="1.5" points="{coords}"/></svg>'
    )


def legend(series: list[Series], unit: str) -> str:
    """A table of every drawn series with its last, min and max values."""
    rows = []
    for i, s in enumerate(series):
        finite = [v for _, v in s.points if math.isfinite(v)]
        last = next((v for _, v in reversed(s.points) if math.isfinite(v)), s.last)
        low, high = (min(finite), max(finite)) if finite else (math.nan, math.nan)
        rows.append(
            f'<tr><td><span class=swatch style="background:{PALETTE[i % len(PALETTE)]}"></span>'
            f"{html.escape(s.name)}</td>"
            + "".join(f"<td class=num>{html.escape(fmt_value(v, unit))}</td>" for v in (last, low, high))
            + "</tr>"
        )
    return "<table class=legend><tr><th></th><th>last</th><th>min</th><th>max</th></tr>" + "".join(rows) + "</table>"
