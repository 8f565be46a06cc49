"""The index page: is anything wrong? What fires now, per dashboard, and the health of each component."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from exporters.snapshot.queries import Alert, Prometheus, QueryError

# Always firing by design: it proves the alert pipeline works, it is not a problem.
HEARTBEAT_ALERTS = frozenset({"Watchdog"})


@dataclass
class Summary:
    title: str
    page: str
    description: str
    firing: list[Alert] = field(default_factory=list)
    failed_queries: int = 0
    error: str = ""  # the dashboard's alert query failed


@dataclass
class Component:
    name: str
    healthy: bool
    detail: str


def _substitute(expr: str, values: dict[str, str]) -> str:
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return expr


def summarize(
    dashboard: dict[str, Any], page: str, values: dict[str, str], prometheus: Prometheus, at: float, failed: int
) -> Summary:
    """The dashboard's firing alerts, from its own "Alerts" annotation query."""
    summary = Summary(dashboard["title"], page, dashboard.get("description", ""), failed_queries=failed)
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("name") != "Alerts" or "expr" not in annotation:
            continue
        expr = _substitute(annotation["expr"], values)
        try:
            for s in prometheus.query(expr, at):
                labels = {k: v for k, v in s.labels.items() if k not in ("__name__", "alertname", "alertstate")}
                name = s.labels.get("alertname", "?")
                if name not in HEARTBEAT_ALERTS:
                    summary.firing.append(Alert(name, "firing", labels))
        except QueryError as exc:
            summary.error = f"{expr}: {exc}"
    summary.firing.sort(key=lambda a: (a.labels.get("severity", "") != "critical", a.name))
    return summary


def current_alerts(prometheus: Prometheus, at: float) -> list[Alert]:
    """Pending and firing alerts at `at`, from the same ALERTS series the dashboards' lists read (so the
    page agrees with itself when an alert flaps), with the summaries Prometheus holds for them."""
    summaries = {(a.name, tuple(sorted(a.labels.items()))): a.summary for a in prometheus.alerts()}
    out = []
    for s in prometheus.query("ALERTS", at):
        labels = {k: v for k, v in s.labels.items() if k not in ("__name__", "alertname", "alertstate")}
        name = s.labels.get("alertname", "?")
        summary = summaries.get((name, tuple(sorted(labels.items()))), "")
        out.append(Alert(name, s.labels.get("alertstate", ""), labels, summary))
    return sorted(out, key=lambda a: (a.labels.get("severity", "") != "critical", a.name))


def health(prometheus: Prometheus, at: float, alertmanager_expected: bool) -> list[Component]:
    """Prometheus itself, every scrape job by its `up`, and the Alertmanagers Prometheus sends to."""
    components = [Component("Prometheus", True, f"answering at {prometheus.url}")]
    try:
        managers = prometheus.alertmanagers()
        if managers:
            components.append(Component("Alertmanager", True, f"{len(managers)} discovered: " + ", ".join(managers)))
        elif alertmanager_expected:
            components.append(Component("Alertmanager", False, "configured, but Prometheus has discovered none"))
    except QueryError as exc:
        components.append(Component("Alertmanager", False, f"unknown: {exc}"))
    try:
        jobs: dict[str, list[tuple[str, bool]]] = {}
        for s in prometheus.query("up", at):
            jobs.setdefault(s.labels.get("job", "?"), []).append((s.labels.get("instance", "?"), s.last == 1))
        for job, targets in sorted(jobs.items()):
            down = sorted(instance for instance, up in targets if not up)
            detail = f"{len(targets) - len(down)} of {len(targets)} targets up"
            components.append(Component(job, not down, detail + (": down " + ", ".join(down) if down else "")))
    except QueryError as exc:
        components.append(Component("scrape targets", False, f"unknown: {exc}"))
    return components


def _alert_line(alert: Alert) -> str:
    severity = alert.labels.get("severity", "")
    where = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in ("severity", "job"))
    cls = "bad" if severity == "critical" else "warn"
    return (
        f"<li><b class={cls}>{html.escape(alert.name)}</b> <span class=muted>{html.escape(severity)}</span> "
        f"{html.escape(where)}{(' — ' + html.escape(alert.summary)) if alert.summary else ''}</li>"
    )


def body(summaries: list[Summary], components: list[Component], alerts: list[Alert]) -> str:
    firing = [a for a in alerts if a.state == "firing" and a.name not in HEARTBEAT_ALERTS]
    pending = [a for a in alerts if a.state == "pending"]
    unhealthy = [c for c in components if not c.healthy]
    failed = sum(s.failed_queries for s in summaries) + sum(1 for s in summaries if s.error)
    problems = []
    if firing:
        problems.append(f"{len(firing)} alert{'s' if len(firing) != 1 else ''} firing")
    if unhealthy:
        problems.append(f"{len(unhealthy)} component{'s' if len(unhealthy) != 1 else ''} unhealthy")
    if failed:
        problems.append(f"{failed} queries failed")
    verdict = (
        f"<p class='verdict bad'>Something is wrong: {html.escape(', '.join(problems))}.</p>"
        if problems
        else "<p class='verdict ok'>Nothing is wrong: no alert firing, every component healthy.</p>"
    )
    cards = []
    for s in summaries:
        bad = bool(s.firing or s.failed_queries or s.error)
        if s.firing:
            badge = f"<span class='badge bad'>{len(s.firing)} firing</span>"
        elif s.failed_queries or s.error:
            badge = "<span class='badge bad'>queries failed</span>"
        else:
            badge = "<span class='badge ok'>OK</span>"
        lines = "".join(_alert_line(a) for a in s.firing)
        if s.failed_queries:
            lines += f"<li class=bad>{s.failed_queries} panel queries failed</li>"
        if s.error:
            lines += f"<li class=bad>alert query failed: {html.escape(s.error)}</li>"
        cards.append(
            f"<div class='card{' bad' if bad else ''}'><h2><a href='{html.escape(s.page)}'>{html.escape(s.title)}</a> "
            f"{badge}</h2><div class=muted>{html.escape(s.description)}</div><ul>{lines}</ul></div>"
        )
    rows = "".join(
        f"<tr><td><span class='badge {'ok' if c.healthy else 'bad'}'>{'up' if c.healthy else 'DOWN'}</span></td>"
        f"<td><b>{html.escape(c.name)}</b></td><td>{html.escape(c.detail)}</td></tr>"
        for c in components
    )
    alert_list = "".join(_alert_line(a) for a in firing) or "<li class=ok>none</li>"
    pending_list = f"<h2 class=row>Pending</h2><ul>{''.join(_alert_line(a) for a in pending)}</ul>" if pending else ""
    return (
        f"{verdict}<div class=cards>{''.join(cards)}</div>"
        f"<h2 class=row>Components</h2><table class='data health'>{rows}</table>"
        f"<h2 class=row>Firing alerts</h2><ul>{alert_list}</ul>{pending_list}"
    )
