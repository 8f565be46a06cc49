"""Rules with the real tools: in sync with their templates, promtool-clean, promtool unit tests, `alismon lint`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from exporters.config import load_config, parse_config
from exporters.render.rules import render_rules
from exporters.stack.procs import alismon_argv
from tests.conftest import REPO, tool

ALERTS, RECORDING = REPO / "rules/alerts.yml", REPO / "rules/recording.yml"
CONFIG = REPO / "config.yml"


def test_generated_rules_are_in_sync() -> None:
    result = subprocess.run(
        alismon_argv("render", "--check", "--root", str(REPO), config_file=CONFIG),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_promtool_lint_is_clean() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal", str(ALERTS), str(RECORDING)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    files = sorted(str(p) for p in (REPO / "tests/rules").glob("*.yml"))
    assert len(files) >= 4
    result = subprocess.run([tool("promtool"), "test", "rules", *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_alismon_lint_passes_on_the_repo_and_names_missing_secret_files() -> None:
    lint = alismon_argv("lint", "--root", str(REPO), config_file=CONFIG)
    # The shipped provisioning names compose's /run/secrets, which do not exist on this machine.
    result = subprocess.run(lint, capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    assert "FAIL secret files" in result.stdout and result.stdout.count("ok  ") == 9
    assert "api_url_file: secret file /run/secrets/slack_webhook_url does not exist" in result.stderr
    result = subprocess.run([*lint, "--skip-secret-files"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok  ") == 9 and result.stdout.count("skip ") == 1


def test_render_check_reports_a_stale_file(tmp_path: Path) -> None:
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "provisioning", tmp_path / "provisioning")
    shutil.copytree(REPO / "dashboards", tmp_path / "dashboards")
    shutil.copytree(REPO / "docs/runbooks", tmp_path / "docs/runbooks")
    cmd = alismon_argv("render", "--check", "--root", str(REPO), "--out", str(tmp_path), config_file=CONFIG)
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=60).returncode == 0
    with (tmp_path / "rules/alerts.yml").open("a") as f:
        f.write("# hand edit\n")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "stale: rules/alerts.yml" in result.stderr and "-# hand edit" in result.stderr
    assert result.stderr.count("stale: ") == 1
    assert load_config(CONFIG)  # the shipped config still loads


# Non-default thresholds of every kind: renamed jobs, per-account balances, bucket bounds, windows, a disabled alert.
CUSTOM_ALERTING = {
    "jobs": {"system": "node-host", "blockchain": "evm"},
    "grafana_url": "https://grafana.example.org/",
    "alerts": {
        "SystemOverload": {"cpu_ratio": 0.95, "for": "30m", "severity": "warning"},
        "FilesystemAlmostFull": {"critical": {"available_ratio": 0.01, "for": "5m"}},
        "MemoryPressure": {"enabled": False},
        "BlockchainBalanceLow": {"min_balance": 2, "per_account": {"treasury": 50, "relayer": 0.5}},
        "BlockchainReorgDeep": {"depth_blocks": 8},
        "BlockchainSync": {"delay_seconds": 60},
        "BlockchainNoNewBlocks": {"window": "10m"},
    },
}


def test_a_non_default_render_is_promtool_clean(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    config["alerting"] = CUSTOM_ALERTING
    files = render_rules(parse_config(config), REPO)
    assert sorted(files) == ["rules/alerts.yml", "rules/recording.yml"]
    for name, text in files.items():
        path = tmp_path / Path(name).name
        path.write_text(text)
        result = subprocess.run(
            [tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
