"""End to end: a real condition -> exporter -> Prometheus (generated rules) -> Alertmanager ->
Slack-format webhook and email, all real processes on loopback.

Everything is configured through config.yml (short intervals, thresholds) and rendered with
`alismon render --out`; no generated file is edited by hand.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from exporters.stack.procs import ManagedProcess, free_port
from tests.conftest import REPO, tool
from tests.e2e.receivers import SMTPReceiver, WebhookReceiver
from tests.helpers import wait_for

MARKER = "alismon-e2e-chain-client"


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, SMTPReceiver]]:
    slack, smtp = WebhookReceiver(), SMTPReceiver()
    yield slack, smtp
    slack.close()
    smtp.close()


def start_chain_client() -> subprocess.Popen[bytes]:
    """A stand-in for the chain client: a process the system exporter watches by command line."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", MARKER])


def slack_alerts(slack: WebhookReceiver, alertname: str, status: str) -> list[tuple[float, dict]]:
    """(arrival time, attachment) of Slack messages about `alertname` with `status`."""
    out = []
    for post in slack.posts:
        for attachment in post.body.get("attachments", []):
            if f"] {alertname} " in attachment["title"] and attachment["title"].startswith(f"[{status.upper()}"):
                out.append((post.at, attachment))
    return out


@pytest.mark.timeout(240)
def test_alerts_reach_slack_and_email_then_resolve(
    tmp_path: Path, receivers: tuple[WebhookReceiver, SMTPReceiver], procs: list[ManagedProcess]
) -> None:
    slack, smtp = receivers
    sys_port, prom_port, am_port = free_port(), free_port(), free_port()
    hook = tmp_path / "slack_webhook_url"
    hook.write_text(slack.url)
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config["exporters"]["system"]["listen_address"] = f"127.0.0.1:{sys_port}"
    config["system"]["processes"] = [{"name": "chain-client", "match": {"cmdline": MARKER}}]
    config["prometheus"] = {
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
        "targets": {
            "system": [f"127.0.0.1:{sys_port}"],
            "blockchain": [],
            "business": [],
            "prometheus": [f"127.0.0.1:{prom_port}"],
            "alertmanager": [f"127.0.0.1:{am_port}"],
        },
    }
    config["alerting"].update(
        {
            "alertmanager_url": f"http://127.0.0.1:{am_port}",
            "alerts": {
                "WatchedProcessDown": {"for": "1s"},
                # Both levels fire on this host's root filesystem, so the critical must inhibit the warning.
                "FilesystemAlmostFull": {
                    "warning": {"available_ratio": 0.999, "for": "0s"},
                    "critical": {"available_ratio": 0.998, "for": "0s"},
                },
                "ExporterAbsent": {"enabled": False},  # the other exporters are not part of this test
            },
            "notification_channels": {
                "slack": [{"name": "oncall", "api_url_file": str(hook), "channel": "#alerts"}],
                "email": [
                    {
                        "name": "oncall-email",
                        "to": ["oncall@alischain.test"],
                        "from": "am@alischain.test",
                        "smarthost": f"127.0.0.1:{smtp.port}",
                        "require_tls": False,
                    }
                ],
            },
            "routing": {
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval_critical": "1h",
                "repeat_interval_warning": "1h",
            },
        }
    )
    cfg = tmp_path / "config.yml"
    cfg.write_text(yaml.safe_dump(config))
    out = tmp_path / "tree"
    rendered = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporters.cli",
            "render",
            "--config.file",
            str(cfg),
            "--root",
            str(REPO),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr

    client = start_chain_client()
    try:
        procs.append(
            ManagedProcess(
                "system",
                [sys.executable, "-m", "exporters.cli", "system", "--config.file", str(cfg)],
                tmp_path / "system.log",
            ).start()
        )
        procs[-1].wait_http(f"http://127.0.0.1:{sys_port}/-/ready")
        procs.append(
            ManagedProcess(
                "alertmanager",
                [
                    tool("prometheus-alertmanager"),
                    f"--config.file={out / 'provisioning/alertmanager/alertmanager.yml'}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                    f"--web.external-url=http://127.0.0.1:{am_port}",
                ],
                tmp_path / "am.log",
            ).start()
        )
        procs[-1].wait_http(f"http://127.0.0.1:{am_port}/-/ready")
        procs.append(
            ManagedProcess(
                "prometheus",
                [
                    tool("prometheus"),
                    f"--config.file={out / 'provisioning/prometheus/prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--rules.alert.resend-delay=1s",
                ],
                tmp_path / "prometheus.log",
            ).start()
        )
        procs[-1].wait_http(f"http://127.0.0.1:{prom_port}/-/ready")

        # Inhibition: the critical FilesystemAlmostFull reaches Slack; its warning twin never does.
        wait_for(
            lambda: slack_alerts(slack, "FilesystemAlmostFull", "firing"),
            60,
            "FilesystemAlmostFull (critical) in Slack",
        )
        firing = slack_alerts(slack, "FilesystemAlmostFull", "firing")
        assert all("(critical)" in a["title"] for _, a in firing), [a["title"] for _, a in firing]
        assert all(a["color"] == "danger" for _, a in firing)

        # The condition: the chain client dies.
        wait_for(
            lambda: (
                b'system_process_up{process="chain-client"} 1.0'
                in requests.get(f"http://127.0.0.1:{sys_port}/metrics", timeout=5).content
            ),
            30,
            "the chain client to be watched",
        )
        killed_at = time.time()
        client.kill()
        client.wait()
        wait_for(lambda: slack_alerts(slack, "WatchedProcessDown", "firing"), 60, "WatchedProcessDown in Slack")
        posted_at, attachment = slack_alerts(slack, "WatchedProcessDown", "firing")[0]
        latency = posted_at - killed_at
        print(f"\nend-to-end latency, process killed -> Slack POST: {latency:.2f} s")
        text = attachment["text"]
        assert attachment["title"] == "[FIRING:1] WatchedProcessDown (critical)"
        assert "A watched process is not running." in text
        assert "No process matching chain-client has run on" in text
        assert "/docs/runbooks/WatchedProcessDown.md|Runbook>" in text
        assert "/d/alischain-system|Dashboard>" in text
        assert f"http://127.0.0.1:{am_port}/#/silences/new?filter=" in text

        def mail(status: str) -> list:
            return [
                m.body
                for m in smtp.messages
                if m.body["Subject"].startswith(f"[{status.upper()}") and "WatchedProcessDown" in m.body["Subject"]
            ]

        wait_for(lambda: mail("firing"), 30, "the WatchedProcessDown email")
        message = mail("firing")[0]
        assert message["To"] == "oncall@alischain.test"
        plain = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for body in (plain, html):
            assert "A watched process is not running." in body
            assert "/docs/runbooks/WatchedProcessDown.md" in body and "/d/alischain-system" in body

        # The condition clears: the resolved notification follows, in Slack and by email.
        client = start_chain_client()
        wait_for(lambda: slack_alerts(slack, "WatchedProcessDown", "resolved"), 60, "the resolved Slack message")
        _, resolved = slack_alerts(slack, "WatchedProcessDown", "resolved")[0]
        assert resolved["color"] == "good" and ":white_check_mark: RESOLVED" in resolved["text"]
        wait_for(lambda: mail("resolved"), 30, "the resolved email")
        assert not any(
            "FilesystemAlmostFull (warning)" in a["title"]
            for post in slack.posts
            for a in post.body.get("attachments", [])
        )
    finally:
        client.kill()
