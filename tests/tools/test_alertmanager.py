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


def render(
    tmp_path: Path, name: str, status: str = "firing", count: int = 1, kind: str = "text", glob: Path = TEMPLATES
) -> str:
    result = amtool(
        "template",
        "render",
        f"--template.glob={glob}",
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
        "<http://localhost:9093/#/silences/new?filter=%7Binstance%3D%22node1%3A9810%22%2C%20"
        "job%3D%22alismon-system%22%2C%20process%3D%22chain-client%22%2C%20severity%3D%22critical%22%2C%20"
        "alertname%3D%22WatchedProcessDown%22%7D|Silence these alerts>"
    ) in text
    assert "`process=chain-client`" in text
    # Links come from config.yml (alerting.*_url), not from the servers' own external URLs.
    assert "<http://localhost:9090/graph?g0.expr=system_process_up|Query>" in text
    assert render(tmp_path, "alismon.slack.title_link") == "http://localhost:9093/#/alerts?receiver=alismon-slack"
    assert "*Since:* 2026-11-23 09:59:00 UTC" in text
    resolved = render(tmp_path, "alismon.slack.text", "resolved")
    assert "*:white_check_mark: RESOLVED: A watched process is not running.*" in resolved
    lasted = "*Lasted:* 5m0s of firing, until 2026-11-23 10:05:00 UTC (condition since 2026-11-23 09:59:00 UTC)"
    assert lasted in resolved
    assert "No process matching" not in resolved


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
    assert "RESOLVED: A watched process is not running." in resolved
    # What resolved and how long it lasted; not the firing text (its value is stale by now).
    assert "Lasted: 5m0s of firing, until 2026-11-23 10:05:00 UTC (condition since 2026-11-23 09:59:00 UTC)" in resolved
    assert "No process matching" not in resolved and "Value:" not in resolved
    # Firing: since when the condition holds, `for` (1m) before Prometheus sent it.
    assert "Since: 2026-11-23 09:59:00 UTC" in text and "<td>Since</td><td>2026-11-23 09:59:00 UTC</td>" in html


def test_links_follow_the_config_and_the_ui_the_servers_have(tmp_path: Path) -> None:
    """Debian's builds: Prometheus only /classic/..., Alertmanager no UI (silence by amtool command)."""
    from exporters.config import parse_config
    from exporters.render.provisioning import render_provisioning

    alerting = {
        "alertmanager_url": "http://am.example.org:19093",
        "alertmanager_ui": False,
        "prometheus_url": "http://prom.example.org:19090/",
        "prometheus_ui": "classic",
    }
    files = render_provisioning(parse_config({"alerting": alerting}), REPO)
    for name in ("slack.tmpl", "email.tmpl"):
        (tmp_path / name).write_text(files[f"provisioning/alertmanager/templates/{name}"])
    glob = tmp_path / "*.tmpl"
    text = render(tmp_path, "alismon.slack.text", glob=glob)
    assert "<http://prom.example.org:19090/classic/graph?g0.expr=system_process_up|Query>" in text
    command = (
        "amtool silence add --alertmanager.url=http://am.example.org:19093 --duration=2h --comment=on-call "
        "'alertname=WatchedProcessDown' 'instance=node1:9810' 'job=alismon-system' 'process=chain-client' "
        "'severity=critical'"
    )
    assert f"Silence these alerts: `{command}`" in text
    assert "#/silences" not in text
    assert render(tmp_path, "alismon.slack.title_link", glob=glob) == "http://prom.example.org:19090/classic/alerts"
    mail = render(tmp_path, "alismon.email.text", glob=glob)
    assert f"Silence these alerts: {command}" in mail and "/classic/graph?g0.expr=" in mail
