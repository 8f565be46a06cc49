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

from exporters.stack.procs import ManagedProcess
from tests.e2e.receivers import SMTPReceiver, WebhookReceiver, slack_alerts
from tests.helpers import wait_for
from tests.stack_util import start_stack

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


@pytest.mark.timeout(240)
def test_alerts_reach_slack_and_email_then_resolve(
    tmp_path: Path, receivers: tuple[WebhookReceiver, SMTPReceiver], procs: list[ManagedProcess]
) -> None:
    slack, smtp = receivers
    hook = tmp_path / "slack_webhook_url"
    hook.write_text(slack.url)
    client = start_chain_client()
    try:
        stack = start_stack(
            tmp_path,
            procs,
            system={"processes": [{"name": "chain-client", "match": {"cmdline": MARKER}}]},
            alerting={
                "alerts": {
                    "WatchedProcessDown": {"for": "1s"},
                    # Both levels fire on this host's root filesystem: the critical must inhibit the warning.
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
            },
        )
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
                in requests.get(f"{stack.system}/metrics", timeout=5).content
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
        assert f"{stack.alertmanager}/#/silences/new?filter=" in text

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
