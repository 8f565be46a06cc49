"""Alertmanager and Prometheus provisioning checked by amtool and promtool: configs, routes, message templates."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, tool

AM_CONFIG = REPO / "provisioning/alertmanager/alertmanager.yml"
TEMPLATES = REPO / "provisioning/alertmanager/templates/*.tmpl"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("amtool"), *args], capture_output=True, text=True, timeout=60)


def test_amtool_check_config_is_clean() -> None:
    result = amtool("check-config", str(AM_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "1 templates" in result.stdout


def test_promtool_check_prometheus_config() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "config", "--lint=all", str(REPO / "provisioning/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=WatchedProcessDown"], "alismon-slack,alismon-email"),
        (["severity=warning", "alertname=FilesystemAlmostFull"], "alismon-slack"),
        (["severity=info", "alertname=Something"], "null"),
        (["severity=info", "alertname=Watchdog"], "alismon-heartbeat"),
        (["alertname=Unlabelled"], "null"),
    ],
)
def test_routes(labels: list[str], receivers: str) -> None:
    result = amtool(
        "config", "routes", "test", f"--config.file={AM_CONFIG}", f"--verify.receivers={receivers}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_routes_reject_a_wrong_expectation() -> None:
    result = amtool(
        "config", "routes", "test", f"--config.file={AM_CONFIG}", "--verify.receivers=alismon-email", "severity=warning"
    )
    assert result.returncode == 1


def _alert(status: str, **annotations: str) -> dict:
    return {
        "status": status,
        "labels": {
            "alertname": "WatchedProcessDown",
            "severity": "critical",
            "instance": "node1:9810",
            "job": "alismon-system",
            "process": "chain-client",
        },
        "annotations": {
            "summary": "A watched process is not running.",
            "description": "No process matching chain-client has run on node1:9810 for 1m.",
            "value": "0",
            "runbook_url": "https://example.org/docs/runbooks/WatchedProcessDown.md",
            "dashboard_url": "http://grafana.example.org/d/alischain-system",
            **annotations,
        },
        "startsAt": "2026-11-23T10:00:00Z",
        "endsAt": "2026-11-23T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=system_process_up",
        "fingerprint": "abc",
    }


def _data(tmp_path: Path, status: str, count: int = 1) -> Path:
    alerts = [_alert(status) for _ in range(count)]
    data = {
        "receiver": "alismon-slack",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "WatchedProcessDown", "instance": "node1:9810"},
        "commonLabels": alerts[0]["labels"],
        "commonAnnotations": alerts[0]["annotations"],
        "externalURL": "http://alertmanager.example.org:9093",
    }
    path = tmp_path / f"{status}.json"
    path.write_text(json.dumps(data))
    return path


def render(tmp_path: Path, name: str, status: str = "firing", count: int = 1, kind: str = "text") -> str:
    result = amtool(
        "template",
        "render",
        f"--template.glob={TEMPLATES}",
        f"--template.type={kind}",
        f"--template.data={_data(tmp_path, status, count)}",
        f'--template.text={{{{ template "{name}" . }}}}',
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


def test_slack_templates(tmp_path: Path) -> None:
    assert render(tmp_path, "alismon.slack.title", count=2) == "[FIRING:2] WatchedProcessDown (critical)"
    assert render(tmp_path, "alismon.slack.title", "resolved") == "[RESOLVED] WatchedProcessDown (critical)"
    assert render(tmp_path, "alismon.slack.color") == "danger"
    assert render(tmp_path, "alismon.slack.color", "resolved") == "good"
    text = render(tmp_path, "alismon.slack.text")
    assert "*:fire: FIRING: A watched process is not running.*" in text
    assert "No process matching chain-client has run on node1:9810 for 1m." in text
    assert "*Value:* 0" in text
    assert "<https://example.org/docs/runbooks/WatchedProcessDown.md|Runbook>" in text
    assert "<http://grafana.example.org/d/alischain-system|Dashboard>" in text
    assert (
        "<http://alertmanager.example.org:9093/#/silences/new?filter=%7Binstance%3D%22node1%3A9810%22%2C%20"
        "job%3D%22alismon-system%22%2C%20process%3D%22chain-client%22%2C%20severity%3D%22critical%22%2C%20"
        "alertname%3D%22WatchedProcessDown%22%7D|Silence these alerts>"
    ) in text
    assert "`process=chain-client`" in text
    assert ":white_check_mark: RESOLVED" in render(tmp_path, "alismon.slack.text", "resolved")


def test_email_templates_carry_the_same_content(tmp_path: Path) -> None:
    assert render(tmp_path, "alismon.email.subject") == "[FIRING:1] WatchedProcessDown (critical)"
    text = render(tmp_path, "alismon.email.text")
    html = render(tmp_path, "alismon.email.html", kind="html")
    for body in (text, html):
        assert "A watched process is not running." in body
        assert "No process matching chain-client has run on node1:9810 for 1m." in body
        assert "https://example.org/docs/runbooks/WatchedProcessDown.md" in body
        assert "http://grafana.example.org/d/alischain-system" in body
        assert "/#/silences/new?filter=" in body
        assert "process=chain-client" in body
    assert "Value: 0" in text and "<td>Value</td><td>0</td>" in html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    resolved = render(tmp_path, "alismon.email.text", "resolved")
    assert "RESOLVED: A watched process is not running." in resolved and "resolved: 2026-11-23 10:05:00 UTC" in resolved
