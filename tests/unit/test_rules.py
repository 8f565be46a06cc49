"""Rules: every alert well-formed and covered, thresholds from the config rendered exactly where they belong."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporters.config import parse_config
from exporters.core.errors import ConfigError
from exporters.core.metrics import bucket_le
from exporters.lint.rules import check_alerts, check_coverage, load_rules
from exporters.render.rules import render_rules
from tests.conftest import REPO

ALERTS, RECORDING = REPO / "rules/alerts.yml", REPO / "rules/recording.yml"


def test_every_alert_is_well_formed_and_has_a_runbook() -> None:
    assert check_alerts(ALERTS, REPO / "docs/runbooks") == []


def test_every_alert_and_recording_rule_is_covered() -> None:
    assert check_coverage(ALERTS, RECORDING, REPO / "tests/rules") == []


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def test_bucket_selectors_name_le_exactly_as_the_exporters_write_it() -> None:
    selectors = []
    for path in [ALERTS, RECORDING, *sorted((REPO / "dashboards").glob("*.json"))]:
        doc = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        for expr in _exprs(doc):
            selectors += [(path.name, *m) for m in re.findall(r'\ble\s*(=~|!~|!=|=)\s*"([^"]*)"', expr)]
    assert selectors, "no le selector found: the reorg alert and panel select one"
    for name, op, value in selectors:
        assert op == "=" and value in ("+Inf", bucket_le(float(value))), f"{name}: le{op}{value!r}"


def test_the_seed_alerts_exist() -> None:
    names = {r["alert"] for r in load_rules(ALERTS) if "alert" in r}
    assert {"SystemOverload", "Watchdog", "ExporterDown", "ExporterAbsent", "FilesystemSpaceFillingUp"} <= names
    assert {"BlockchainSync", "HighFailureRate"} <= names
    records = {r["record"] for r in load_rules(RECORDING) if "record" in r}
    assert {"system:cpu_usage:ratio", "system:memory_usage:ratio", "system:disk_usage:ratio"} <= records


def _bad_alert(**changes: object) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": "Broken",
        "expr": "up == 0",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "s",
            "description": "d",
            "runbook_url": "https://x/Broken.md",
            "dashboard_url": "https://g/d/x",
        },
    }
    for key, value in changes.items():
        if key in ("severity",):
            rule["labels"][key] = value
        elif value is None:
            rule["annotations"].pop(key)
        else:
            rule["annotations"][key] = value
    return rule


def test_checker_catches_each_fault(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks/Broken.md").write_text("# Broken\n")
    cases = {
        "severity 'page' is not one of": _bad_alert(severity="page"),
        "annotation dashboard_url is missing": _bad_alert(dashboard_url=None),
        "runbook_url must be static": _bad_alert(runbook_url="https://x/{{ $labels.job }}.md"),
        "summary must be static": _bad_alert(summary="{{ $value }}"),
        "does not point at Broken.md": _bad_alert(runbook_url="https://x/Other.md"),
    }
    for expected, rule in cases.items():
        path = tmp_path / "alerts.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
        problems = check_alerts(path, tmp_path / "runbooks")
        assert any(expected in p for p in problems), (expected, problems)
    (tmp_path / "runbooks/Broken.md").unlink()
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [_bad_alert()]}]}))
    assert check_alerts(path, tmp_path / "runbooks") == [
        f"Broken: runbook page {tmp_path / 'runbooks/Broken.md'} does not exist"
    ]


def test_coverage_checker_names_what_is_missing(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(REPO / "tests/rules/meta.yml", tests / "meta.yml")
    problems = check_coverage(ALERTS, RECORDING, tests)
    assert "SystemOverload: no test case where it fires with severity critical" in problems
    assert "SystemOverload: no test case where it must not fire" in problems
    assert "FilesystemSpaceFillingUp: no test case where it fires with severity critical, warning" in problems
    assert "system:cpu_usage:ratio: no promql_expr_test uses this recording rule" in problems
    assert not any(p.startswith("Watchdog:") for p in problems)
    assert not any(p.startswith("PrometheusConfigReloadFailed:") for p in problems)


def _render(overrides: dict) -> dict[str, list[dict]]:
    base = yaml.safe_load((REPO / "config.yml").read_text())
    base["alerting"] = overrides
    out = render_rules(parse_config(base), REPO)
    return {path: load_rules_text(text) for path, text in out.items()}


def load_rules_text(text: str) -> list[dict]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def test_non_default_config_changes_exactly_what_it_should() -> None:
    default = _render({})
    custom = _render(
        {
            "jobs": {"system": "node-host"},
            "grafana_url": "https://grafana.example.org/",
            "alerts": {
                "SystemOverload": {"cpu_ratio": 0.95, "for": "30m", "severity": "warning"},
                "FilesystemAlmostFull": {"critical": {"available_ratio": 0.01, "for": "5m"}},
                "MemoryPressure": {"enabled": False},
            },
        }
    )
    d_alerts, c_alerts = default["rules/alerts.yml"], custom["rules/alerts.yml"]
    assert [r["alert"] for r in c_alerts] == [r["alert"] for r in d_alerts if r["alert"] != "MemoryPressure"]
    by_name = {(r["alert"], r["labels"]["severity"], r["expr"]): r for r in c_alerts}
    overload = next(r for r in c_alerts if r["alert"] == "SystemOverload")
    assert "> 0.95" in overload["expr"] and "> 0.85" in overload["expr"]
    assert overload["for"] == "30m" and overload["labels"]["severity"] == "warning"
    assert overload["annotations"]["summary"] == "Host CPU or memory use is above 95% / 85%."
    assert overload["annotations"]["dashboard_url"] == "https://grafana.example.org/d/alischain-system"
    crit = next(r for r in c_alerts if r["alert"] == "FilesystemAlmostFull" and r["labels"]["severity"] == "critical")
    assert "< 0.01" in crit["expr"] and crit["for"] == "5m"
    warn = next(r for r in c_alerts if r["alert"] == "FilesystemAlmostFull" and r["labels"]["severity"] == "warning")
    assert "< 0.05" in warn["expr"] and warn["for"] == "30m"
    # The job rename reaches every system selector, in alerts and recording rules alike.
    for rules in (c_alerts, custom["rules/recording.yml"]):
        text = yaml.safe_dump(rules)
        assert 'job="alismon-system"' not in text and "alismon-system|" not in text
    assert any('job="node-host"' in r["expr"] for r in custom["rules/recording.yml"])
    assert len(by_name) == len(c_alerts)
    # Everything not overridden is unchanged, but for the Grafana address in dashboard links.
    names = ("Watchdog", "PrometheusConfigReloadFailed")
    before = [r for r in d_alerts if r["alert"] in names]
    after = [r for r in c_alerts if r["alert"] in names]
    for rule in before + after:
        url = rule["annotations"].pop("dashboard_url")
        assert url.startswith(("http://localhost:3000/d/", "https://grafana.example.org/d/"))
    assert before == after


def test_chain_thresholds_render_into_the_expressions() -> None:
    custom = _render(
        {
            "jobs": {"blockchain": "evm"},
            "alerts": {
                "BlockchainBalanceLow": {"min_balance": 2, "per_account": {"treasury": 50, "relayer": 0.5}},
                "BlockchainReorgDeep": {"depth_blocks": 8},
                "BlockchainSync": {"delay_seconds": 60},
                "BlockchainNoNewBlocks": {"window": "10m"},
            },
        }
    )
    alerts = {r["alert"]: r for r in custom["rules/alerts.yml"]}
    balance = alerts["BlockchainBalanceLow"]["expr"]
    assert 'blockchain_account_balance_wei{job="evm", account!~"relayer|treasury"} / 1e18 < 2' in balance
    assert 'or blockchain_account_balance_wei{job="evm", account="relayer"} / 1e18 < 0.5' in balance
    assert 'or blockchain_account_balance_wei{job="evm", account="treasury"} / 1e18 < 50' in balance
    assert 'le="8.0"' in alerts["BlockchainReorgDeep"]["expr"]
    assert 'blockchain_sync_delay_seconds{job="evm"} > 60' in alerts["BlockchainSync"]["expr"]
    assert "[10m]" in alerts["BlockchainNoNewBlocks"]["expr"]
    assert alerts["BlockchainNoNewBlocks"]["annotations"]["value"] == "no block for 10m"


@pytest.mark.parametrize(
    ("alerting", "expected"),
    [
        (
            {"alerts": {"SystemOverload": {"cpu_ratio": -0.1}}},
            "alerting.alerts.SystemOverload.cpu_ratio: Input should be greater than 0",
        ),
        (
            {"alerts": {"FilesystemAlmostFull": {"warning": {"available_ratio": 0.02, "for": "1m"}}}},
            "alerting.alerts.FilesystemAlmostFull: warning.available_ratio must be at least critical.available_ratio",
        ),
        (
            {"alerts": {"FilesystemSpaceFillingUp": {"warning": {"hours": 2, "available_ratio": 0.4, "for": "1h"}}}},
            "alerting.alerts.FilesystemSpaceFillingUp: warning.hours must be at least critical.hours",
        ),
        (
            {"alerts": {"SystemOverload": {"severity": "page"}}},
            "alerting.alerts.SystemOverload.severity: Input should be 'critical', 'warning' or 'info'",
        ),
        ({"alerts": {"NoSuchAlert": {"enabled": False}}}, "alerting.alerts.NoSuchAlert: unknown key"),
        (
            {"alerts": {"BlockchainReorgDeep": {"depth_blocks": 7}}},
            "alerting.alerts.BlockchainReorgDeep.depth_blocks: must be one of the reorg depth buckets"
            " 1, 2, 3, 4, 5, 6, 8, 12, 16, 32, 64, 128",
        ),
        (
            {"alerts": {"BlockchainBalanceLow": {"per_account": {"hot": -1}}}},
            "alerting.alerts.BlockchainBalanceLow.per_account: balances must not be negative: hot",
        ),
        (
            {"alerts": {"Watchdog": {"for": "soon"}}},
            "alerting.alerts.Watchdog.for: 'soon' is not a duration (use e.g. 15s, 1m, 500ms)",
        ),
    ],
)
def test_invalid_thresholds_are_config_errors(alerting: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"alerting": alerting})
    assert info.value.problems == [expected]
