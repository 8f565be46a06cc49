"""Checks promtool does not make: every alert well-formed and covered by unit tests.

promtool 2.42 has no coverage option, so coverage is computed here from the test files:
each alert (each severity of a warning/critical pair) needs a case where it fires and a case
where it does not; each recording rule needs a promql_expr_test that uses it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = {"critical", "warning", "info"}
# Alerts that fire by design all the time (dead man's switch): no silent case can exist.
ALWAYS_FIRING = {"Watchdog"}
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")


def load_rules(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text()) or {}
    return [rule for group in data.get("groups", []) for rule in group.get("rules", [])]


def check_alerts(alerts_file: Path, runbook_dir: Path) -> list[str]:
    problems: list[str] = []
    for rule in load_rules(alerts_file):
        name = rule.get("alert")
        if not name:
            continue
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{name}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in REQUIRED_ANNOTATIONS:
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: annotation {key} is missing")
        summary = str(annotations.get("summary", ""))
        if "{{" in summary:
            problems.append(f"{name}: summary must be static, found a template")
        runbook = str(annotations.get("runbook_url", ""))
        if "{{" in runbook:
            problems.append(f"{name}: runbook_url must be static, found a template")
        elif runbook and not runbook.endswith(f"/{name}.md"):
            problems.append(f"{name}: runbook_url {runbook!r} does not point at {name}.md")
        if not (runbook_dir / f"{name}.md").is_file():
            problems.append(f"{name}: runbook page {runbook_dir / (name + '.md')} does not exist")
    return list(dict.fromkeys(problems))  # a pair or a per-job alert repeats the same finding


def _tests(test_dir: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(test_dir.glob("*.yml")):
        out.extend((yaml.safe_load(path.read_text()) or {}).get("tests", []))
    return out


def check_coverage(alerts_file: Path, recording_file: Path, test_dir: Path) -> list[str]:
    wanted: dict[str, set[str]] = {}
    for rule in load_rules(alerts_file):
        if "alert" in rule:
            wanted.setdefault(rule["alert"], set()).add(rule.get("labels", {}).get("severity", ""))
    fired: dict[str, set[str]] = {}
    silent: set[str] = set()
    exprs: list[str] = []
    for test in _tests(test_dir):
        for case in test.get("alert_rule_test", []):
            name = case["alertname"]
            if case.get("exp_alerts"):
                for alert in case["exp_alerts"]:
                    fired.setdefault(name, set()).add(alert.get("exp_labels", {}).get("severity", ""))
            else:
                silent.add(name)
        exprs.extend(case["expr"] for case in test.get("promql_expr_test", []))
    problems = []
    for name, severities in sorted(wanted.items()):
        missing = severities - fired.get(name, set())
        if missing:
            problems.append(f"{name}: no test case where it fires with severity {', '.join(sorted(missing))}")
        if name not in silent and name not in ALWAYS_FIRING:
            problems.append(f"{name}: no test case where it must not fire")
    for rule in load_rules(recording_file):
        record = rule.get("record")
        if record and not any(re.search(rf"(?<![\w:]){re.escape(record)}(?![\w:])", e) for e in exprs):
            problems.append(f"{record}: no promql_expr_test uses this recording rule")
    return problems
