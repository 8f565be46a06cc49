"""Runbook pages give the values config.yml sets, not the defaults."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from exporters.config import Config, parse_config
from exporters.config.alerting import Jobs
from exporters.config.blockchain import REORG_DEPTH_BUCKETS
from exporters.core.types import format_duration
from exporters.render.runbooks import DURATIONS, render_runbooks
from tests.conftest import REPO


def test_a_runbook_header_follows_the_config() -> None:
    config = parse_config(
        {
            "alerting": {
                "rate_window": "2m",
                "alerts": {
                    "BlockchainEndpointDown": {"for": "7m", "severity": "warning"},
                    "SystemOverload": {"cpu_ratio": 0.5},
                    "FilesystemAlmostFull": {"critical": {"for": "1m", "available_ratio": 0.01}},
                    "BlockchainReorgDeep": {"enabled": False},
                },
            }
        }
    )
    pages = render_runbooks(config, REPO)
    header = {name.split("/")[-1]: text.splitlines()[2] for name, text in pages.items()}
    assert header["BlockchainEndpointDown.md"].startswith("**Severity:** warning · **for:** 7m · **Tune:**")
    assert "`cpu_ratio` 0.5, `memory_ratio` 0.85" in header["SystemOverload.md"]
    assert "**critical:** `for` 1m, `available_ratio` 0.01" in header["FilesystemAlmostFull.md"]
    assert header["BlockchainReorgDeep.md"].startswith("**Disabled** in config.yml")
    assert "**Holds:** `alerting.rate_window` 2m" in header["ExporterOutage.md"]
    # The body follows the config too: the rate window, the alert's own values.
    default = render_runbooks(Config(), REPO)["docs/runbooks/SystemOverload.md"]
    assert "over the rate window (5m)" in default
    assert "over the rate window (2m)" in pages["docs/runbooks/SystemOverload.md"]
    assert "cpu_ratio: 0.5" in pages["docs/runbooks/SystemOverload.md"]
    assert "**for:** 10m" in default.splitlines()[2]


def _odd(name: str, value: Any) -> Any:
    """A value no default has: durations and numbers moved off their defaults, order between levels kept."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, str)):
        return value
    if name in DURATIONS:
        return value + 13.0 if value else 7.0
    if name == "depth_blocks":
        return REORG_DEPTH_BUCKETS[REORG_DEPTH_BUCKETS.index(value) + 1]
    if isinstance(value, int):
        return value + 4
    return round(value * 0.77, 4)


def _oddify(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        out[info.alias or name] = _oddify(value) if isinstance(value, BaseModel) else _odd(name, value)
    return out


def _default_forms(name: str, value: Any) -> list[str]:
    """How a default value would read in a page: 5m; 0.1 and 10%; 3 blocks."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, str)):
        return []
    if name in DURATIONS:
        words = {60.0: ["one minute", "1 minute"], 3600.0: ["one hour", "1 hour"]}.get(value, [])
        words += [f"{value / 60:g} minutes", f"{value / 3600:g} hours", f"{value:g} s"]
        return [format_duration(value), *words] if value else []
    if isinstance(value, int):
        return [f"{value} {unit}" for unit in ("blocks", "peers")] + [f"> {value}", f"< {value}", f": {value}\n"]
    forms = [repr(value)]
    if value <= 1:
        forms.append(f"{value * 100:g}%")
    return forms


def _defaults(model: BaseModel) -> list[str]:
    out = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        out += _defaults(value) if isinstance(value, BaseModel) else _default_forms(name, value)
    return out


def test_no_default_threshold_duration_or_job_leaks_into_a_runbook_body() -> None:
    """Every alert's every threshold, window and `for`, the rate window and the job names set off their
    defaults: no page quotes a default of its own alert anywhere, nor a default job name."""
    defaults = Config().alerting
    alerts = {name: _oddify(getattr(defaults.alerts, name)) for name in type(defaults.alerts).model_fields}
    jobs = {name: f"odd-{name}" for name in type(defaults.jobs).model_fields}
    heartbeat = {"heartbeat": {"interval": "4m7s"}}
    config = parse_config(
        {
            "system": {"process_rescan_interval": "47s"},
            "alerting": {"rate_window": "7m13s", "jobs": jobs, "alerts": alerts, "notification_channels": heartbeat},
        }
    )
    leaks = []
    for path, page in render_runbooks(config, REPO).items():
        alert = path.split("/")[-1].removesuffix(".md")
        body = "\n".join(page.splitlines()[3:]) + "\n"
        forbidden = [*_defaults(getattr(defaults.alerts, alert)), "5m", "30s"]  # rate window, rescan interval
        forbidden += [f'"{job}"' for job in Jobs().model_dump().values()]
        for form in forbidden:
            for match in re.finditer(rf"(?<![\w.]){re.escape(form)}(?![\w])", body):
                line = body[: match.start()].count("\n") + 4
                leaks.append(f"{alert}.md:{line}: {form!r} in {body.splitlines()[line - 4].strip()!r}")
    assert leaks == []
