"""Runbook pages: docs/runbooks/templates/<Alert>.md.j2 plus the `alerting` config.

Each page's header line gives the values config.yml sets (severity, `for`, thresholds, windows), and the
body takes every threshold, duration and job name from the same context the rules are rendered with
(`A`, `w`, `sel`, `duration`), its PromQL from the rendered rule (`expr("Alert")`), so a runbook never
quotes a default the deployment overrode; `alismon render --check` keeps them in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from exporters.config import Config
from exporters.core.types import format_duration
from exporters.render.rules import jinja_env, render_rules, template_context

TEMPLATE_DIR = Path("docs/runbooks/templates")
OUT_DIR = "docs/runbooks"
# Fields holding seconds, shown as durations (5m, 2h).
DURATIONS = {"for_", "window", "delay_seconds", "stall"}
LEVELS = ("warning", "critical")


def _value(name: str, value: Any) -> str:
    if name in DURATIONS:
        return format_duration(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)


def _settings(model: BaseModel, skip: set[str]) -> list[str]:
    out = []
    for name, field in type(model).model_fields.items():
        if name in skip:
            continue
        key = field.alias or name
        out.append(f"`{key}` {_value(name, getattr(model, name))}")
    return out


def header(config: Config, alert: str) -> str:
    """`**Severity:** ... · **for:** ... · **Configured:** ... · **Tune:** ...`, from the config in effect."""
    settings = getattr(config.alerting.alerts, alert)
    tune = f"**Tune:** `alerting.alerts.{alert}` in config.yml (`alismon render` writes this line from it)"
    if not settings.enabled:
        return f"**Disabled** in config.yml (`alerting.alerts.{alert}.enabled: false`) · {tune}"
    if all(hasattr(settings, level) for level in LEVELS):  # a warning/critical pair
        parts = [f"**{level}:** " + ", ".join(_settings(getattr(settings, level), set())) for level in LEVELS]
        shared = _settings(settings, {"enabled", *LEVELS})
        return " · ".join([*parts, *([f"**Both:** {', '.join(shared)}"] if shared else []), tune])
    severity = f"{settings.severity} (never notified)" if alert.endswith("Outage") else settings.severity
    parts = [f"**Severity:** {severity}", f"**for:** {format_duration(settings.for_)}"]
    thresholds = _settings(settings, {"enabled", "for_", "severity"})
    if thresholds:
        parts.append("**Thresholds:** " + ", ".join(thresholds))
    if alert.endswith("Outage"):
        parts.append(f"**Holds:** `alerting.rate_window` {format_duration(config.alerting.rate_window)}")
    return " · ".join([*parts, tune])


def render_runbooks(config: Config, root: Path) -> dict[str, str]:
    """docs/runbooks/<Alert>.md for every template; an alert without one keeps its hand-written page."""
    env = jinja_env(root / TEMPLATE_DIR)
    exprs = rule_exprs(config, root)

    def expr(name: str, severity: str | None = None) -> str:
        """The alert's expression as rendered into rules/alerts.yml (a disabled alert: its expression with it on)."""
        return exprs.get((name, severity)) or exprs[(name, None)]

    context = {
        **template_context(config),
        "header": lambda name: header(config, name),
        "expr": expr,
        "alerting": config.alerting,
        "system": config.system,
        "pct": lambda ratio: f"{ratio * 100:g}%",  # 0.9 -> 90%
    }
    out = {}
    for path in sorted((root / TEMPLATE_DIR).glob("*.md.j2")):
        alert = path.name.removesuffix(".md.j2")
        page = env.get_template(path.name).render(context)
        out[f"{OUT_DIR}/{alert}.md"] = page
    return out


def rule_exprs(config: Config, root: Path) -> dict[tuple[str, str | None], str]:
    """(alertname, severity) and (alertname, None) -> the rendered expression, every alert enabled."""
    alerts = config.alerting.alerts.model_copy(
        update={
            name: getattr(config.alerting.alerts, name).model_copy(update={"enabled": True})
            for name in type(config.alerting.alerts).model_fields
        }
    )
    enabled = config.model_copy(update={"alerting": config.alerting.model_copy(update={"alerts": alerts})})
    rules = yaml.safe_load(render_rules(enabled, root)["rules/alerts.yml"])
    out: dict[tuple[str, str | None], str] = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            text = rule["expr"].strip()
            out.setdefault((rule["alert"], rule["labels"]["severity"]), text)
            out.setdefault((rule["alert"], None), text)
    return out
