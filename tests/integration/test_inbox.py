"""`alismon demo inbox` as a process: Slack-format webhooks and SMTP mail in, a page and a JSON list out."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import requests

from exporters.stack.procs import ManagedProcess, free_port, start_alismon


def test_the_inbox_shows_what_slack_and_smtp_delivered(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    web, smtp = free_port(), free_port()
    proc = start_alismon(
        "demo inbox", "--smtp.listen-address", f"127.0.0.1:{smtp}", listen_address=f"127.0.0.1:{web}",
        log_path=tmp_path / "inbox.log",
    )  # fmt: skip
    procs.append(proc)
    base = f"http://127.0.0.1:{web}"
    proc.wait_http(f"{base}/-/ready")

    slack = {
        "channel": "#alerts",
        "attachments": [{"title": "[FIRING:1] BlockchainChainDown (critical)", "text": "chain <dev> is down"}],
    }
    answer = requests.post(f"{base}/slack", json=slack, timeout=5)
    assert (answer.status_code, answer.text) == (200, "ok")
    bad = requests.post(f"{base}/slack", data=b"{not json", timeout=5)
    assert bad.status_code == 400 and "invalid JSON payload" in bad.text

    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = "[RESOLVED] BlockchainChainDown (critical)", "am@demo", "oncall@demo"
    mail.set_content("resolved after 1m 2s")
    with smtplib.SMTP("127.0.0.1", smtp, timeout=10) as client:
        client.send_message(mail)

    messages = requests.get(f"{base}/api/messages", timeout=5).json()["messages"]
    assert [(m["id"], m["channel"], m["title"], m["to"]) for m in messages] == [
        (1, "slack", "[FIRING:1] BlockchainChainDown (critical)", "#alerts"),
        (2, "email", "[RESOLVED] BlockchainChainDown (critical)", "oncall@demo"),
    ]
    assert messages[0]["text"] == "chain <dev> is down"
    assert messages[1]["text"].strip() == "resolved after 1m 2s"
    page = requests.get(base + "/", timeout=5).text
    assert "chain &lt;dev&gt; is down" in page and "[RESOLVED] BlockchainChainDown (critical)" in page
    assert proc.stop() == 0
