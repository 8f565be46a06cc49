"""`alismon lint`: every check a user's CI runs on the generated rules, dashboards and provisioning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exporters.config import Config
from exporters.core.tools import ToolMissing, find_tool
from exporters.lint.dashboards import dropped_keys, lint_dashboard_files, sdk_round_trip
from exporters.lint.provisioning import missing_secret_files
from exporters.lint.rules import check_alerts, check_coverage
from exporters.lint.victoriametrics import dry_runs
from exporters.render.main import render_all, stale


def _run(title: str, argv: list[str], cwd: Path | None = None) -> bool:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=cwd)
    ok = result.returncode == 0
    print(f"{'ok  ' if ok else 'FAIL'} {title}")
    if not ok:
        print((result.stdout + result.stderr).rstrip(), file=sys.stderr)
    return ok


def _report(title: str, problems: list[str]) -> bool:
    print(f"{'ok  ' if not problems else 'FAIL'} {title}")
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return not problems


def _round_trip_problems(root: Path) -> list[str]:
    import json

    try:
        problems = []
        for path in sorted((root / "dashboards").glob("*.json")):
            dashboard = json.loads(path.read_text())
            problems += [f"{path.name}: {key} dropped" for key in dropped_keys(dashboard, sdk_round_trip(dashboard))]
        return problems
    except ImportError:
        return ["grafana-foundation-sdk is not installed: pip install 'grafana-foundation-sdk==1769699379!11.6.0'"]


def _secret_files(root: Path, skip: bool) -> bool:
    title = "secret files named by the Prometheus and Alertmanager configs exist"
    if skip:
        print(f"skip {title} (--skip-secret-files: they live on the host that runs the stack)")
        return True
    configs = [root / "provisioning/alertmanager/alertmanager.yml", root / "provisioning/prometheus/prometheus.yml"]
    return _report(title, [problem for path in configs for problem in missing_secret_files(path)])


def _victoriametrics(config: Config, root: Path) -> list[bool]:
    try:
        runs = dry_runs(config, root)
    except (ToolMissing, FileNotFoundError) as exc:
        return [_report("VictoriaMetrics, vmalert and vmagent dry runs", [str(exc)])]
    # The flags files name their configs relative to the tree root.
    return [_run(run.title, run.argv, cwd=root) for run in runs]


def run_lint(config: Config, root: Path, skip_secret_files: bool = False) -> int:
    try:
        promtool, amtool = find_tool("promtool"), find_tool("amtool")
    except ToolMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rules = [str(root / "rules/alerts.yml"), str(root / "rules/recording.yml")]
    tests = sorted(str(p) for p in (root / "tests/rules").glob("*.yml"))
    results = [
        _report("generated files up to date (alismon render --check)", [p for p, _ in stale(render_all(config), root)]),
        _run(
            "promtool check rules --lint=all --lint-fatal",
            [promtool, "check", "rules", "--lint=all", "--lint-fatal", *rules],
        ),
        _report(
            "alerts: severity, annotations, runbook pages",
            check_alerts(root / "rules/alerts.yml", root / "docs/runbooks"),
        ),
        _report(
            "every alert fires and stays silent in a test; every recording rule tested",
            check_coverage(root / "rules/alerts.yml", root / "rules/recording.yml", root / "tests/rules"),
        ),
        _run(
            "promtool check config --lint=all (provisioning/prometheus/prometheus.yml)",
            [promtool, "check", "config", "--lint=all", str(root / "provisioning/prometheus/prometheus.yml")],
        ),
        _run(
            "amtool check-config (provisioning/alertmanager/alertmanager.yml)",
            [amtool, "check-config", str(root / "provisioning/alertmanager/alertmanager.yml")],
        ),
        _secret_files(root, skip_secret_files),
        _report(
            "dashboards: variables, ids, layout, units, datasource, rate interval",
            lint_dashboard_files(root / "dashboards"),
        ),
        _report("dashboards: lossless round trip through grafana-foundation-sdk", _round_trip_problems(root)),
        _run(f"promtool test rules ({len(tests)} files)", [promtool, "test", "rules", *tests])
        if tests
        else _report("promtool test rules", ["no test files in tests/rules"]),
        *_victoriametrics(config, root),
    ]
    return 0 if all(results) else 1
