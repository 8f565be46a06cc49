"""One outage, one page: the chain's only node stops, and Slack and email each get one firing and one
resolved notice, nothing for the symptoms, also while the rate window still holds the outage after
recovery. Real anvil, exporters, Prometheus (generated rules), Alertmanager (generated inhibit_rules).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporters.stack.procs import ManagedProcess
from tests.conftest import Anvil
from tests.e2e.receivers import SMTPReceiver, WebhookReceiver
from tests.helpers import prom_query, wait_for
from tests.stack_util import Stack, start_stack

RATE_WINDOW = 10.0
# Conditions the outage really causes in Prometheus; none of them may reach a receiver.
SYMPTOMS = {"BlockchainEndpointDown", "BlockchainSync", "BlockchainNoNewBlocks", "BlockchainRPCErrors"}


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, SMTPReceiver]]:
    slack, smtp = WebhookReceiver(), SMTPReceiver()
    yield slack, smtp
    slack.close()
    smtp.close()


def slack_titles(slack: WebhookReceiver) -> list[str]:
    return [a["title"] for post in slack.posts for a in post.body.get("attachments", [])]


def mail_subjects(smtp: SMTPReceiver) -> list[str]:
    return [str(m.body["Subject"]) for m in smtp.messages]


def firing(prometheus: str) -> set[str]:
    return {s["metric"]["alertname"] for s in prom_query(prometheus, 'ALERTS{alertstate="firing"}')}


def start_chain_stack(
    tmp_path: Path, procs: list[ManagedProcess], receivers: tuple[WebhookReceiver, SMTPReceiver], anvil: Anvil
) -> Stack:
    """The chain exporter on anvil, Prometheus and Alertmanager with short windows, Slack and email to loopback."""
    slack, smtp = receivers
    hook = tmp_path / "slack_webhook_url"
    hook.write_text(slack.url)
    return start_stack(
        tmp_path,
        procs,
        system={"processes": []},  # the process alert has its own test; this one is about the chain
        networks=[
            {
                "name": "dev",
                "chain_id": 31337,
                "endpoints": [{"name": "local", "url": anvil.url}],
                "poll_interval": "500ms",
            }
        ],
        alerting={
            "rate_window": f"{RATE_WINDOW:.0f}s",
            "alerts": {
                "BlockchainEndpointDown": {"for": "2s"},
                "BlockchainChainDown": {"for": "2s"},
                "BlockchainSync": {"for": "1s", "delay_seconds": 5},
                "BlockchainNoNewBlocks": {"for": "1s", "window": "4s"},
                "BlockchainRPCErrors": {"for": "1s", "ratio": 0.01},
                "ExporterAbsent": {"enabled": False},  # no business exporter here
                "ExporterDown": {"for": "2s"},
            },
            "notification_channels": {
                "slack": [{"name": "oncall", "api_url_file": str(hook)}],
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
            "routing": {"group_wait": "1s", "group_interval": "1s"},
        },
    )


@pytest.mark.timeout(240)
def test_a_chain_outage_is_one_page_and_one_resolved_notice(
    tmp_path: Path,
    receivers: tuple[WebhookReceiver, SMTPReceiver],
    procs: list[ManagedProcess],
    start_anvil: Callable[..., Anvil],
) -> None:
    slack, smtp = receivers
    # --state: a restart continues the same chain, as a real node does after an outage.
    anvil = start_anvil("--block-time", "1", "--state", str(tmp_path / "anvil-state.json"))
    stack = start_chain_stack(tmp_path, procs, receivers, anvil)
    wait_for(
        lambda: prom_query(stack.prometheus, 'blockchain_up{chain="dev"} == 1'), 30, "the chain to be scraped as up"
    )
    time.sleep(3)  # a quiet start: nothing about the chain is sent while it is healthy
    assert not [t for t in slack_titles(slack) if "Blockchain" in t], slack_titles(slack)

    stopped_at = time.time()
    anvil.stop()
    wait_for(lambda: any("BlockchainChainDown" in t for t in slack_titles(slack)), 60, "the chain page in Slack")
    paged_after = slack.posts[-1].at - stopped_at
    wait_for(lambda: SYMPTOMS <= firing(stack.prometheus), 30, f"the symptoms {sorted(SYMPTOMS)} firing")
    time.sleep(3)  # the symptoms fire, and still nothing more arrives

    anvil.start()
    wait_for(lambda: any(t.startswith("[RESOLVED") for t in slack_titles(slack)), 60, "the resolved notice in Slack")
    resolved_after = slack.posts[-1].at - stopped_at
    # The error ratio still covers the outage, so its alert fires on after the cause resolved...
    assert "BlockchainRPCErrors" in firing(stack.prometheus)
    # ...until the window has passed; then wait a few group intervals more for anything late.
    wait_for(lambda: not SYMPTOMS & firing(stack.prometheus), RATE_WINDOW + 30, "the symptoms to resolve")
    time.sleep(3)
    wait_for(lambda: len(mail_subjects(smtp)) >= 2, 30, "the firing and resolved emails")

    chain = [t for t in slack_titles(slack) if "Blockchain" in t]
    mails = [s for s in mail_subjects(smtp) if "Blockchain" in s]
    print(f"\nchain stopped -> page in Slack {paged_after:.1f} s, -> resolved {resolved_after:.1f} s; Slack {chain}")
    expected = ["[FIRING:1] BlockchainChainDown (critical)", "[RESOLVED] BlockchainChainDown (critical)"]
    assert chain == expected
    assert mails == expected
    firing_text, resolved_text = (a["text"] for post in slack.posts for a in post.body["attachments"])
    assert "No endpoint of chain dev has answered a poll" in firing_text and "*Since:* " in firing_text
    assert "/docs/runbooks/BlockchainChainDown.md|Runbook>" in firing_text
    assert f"<{stack.alertmanager}/#/silences/new?filter=" in firing_text  # alerting.alertmanager_url
    assert f"<{stack.prometheus}/graph?g0.expr=" in firing_text  # alerting.prometheus_url
    # The resolved notice says what resolved and how long it lasted, not the firing text again.
    assert "RESOLVED: Every RPC endpoint of a chain is down." in resolved_text and "*Lasted:* " in resolved_text
    assert "No endpoint of chain" not in resolved_text


@pytest.mark.timeout(240)
def test_an_exporter_outage_is_one_page_and_one_resolved_notice(
    tmp_path: Path,
    receivers: tuple[WebhookReceiver, SMTPReceiver],
    procs: list[ManagedProcess],
    start_anvil: Callable[..., Anvil],
) -> None:
    """The blockchain exporter stops and starts again (a restart resets its counters): ExporterDown pages once."""
    slack, smtp = receivers
    stack = start_chain_stack(tmp_path, procs, receivers, start_anvil())
    assert stack.blockchain is not None
    wait_for(lambda: prom_query(stack.prometheus, 'blockchain_up{chain="dev"} == 1'), 30, "the chain to be up")
    time.sleep(3)
    exporter = next(p for p in procs if p.name == "blockchain")
    stopped_at = time.time()
    exporter.stop()
    wait_for(lambda: any("ExporterDown" in t for t in slack_titles(slack)), 60, "the exporter page in Slack")
    paged_after = slack.posts[-1].at - stopped_at
    assert "ExporterOutage" in firing(stack.prometheus)
    time.sleep(3)

    restarted = ManagedProcess(exporter.name, exporter.argv, exporter.log_path).start()
    procs.append(restarted)
    restarted.wait_http(f"{stack.blockchain}/-/ready")
    wait_for(lambda: any(t.startswith("[RESOLVED") for t in slack_titles(slack)), 60, "the resolved notice")
    resolved_after = slack.posts[-1].at - stopped_at
    wait_for(lambda: "ExporterOutage" not in firing(stack.prometheus), RATE_WINDOW + 30, "the outage window to pass")
    time.sleep(3)
    wait_for(lambda: len(mail_subjects(smtp)) >= 2, 30, "the firing and resolved emails")
    titles = slack_titles(slack)
    print(f"\nexporter stopped -> page {paged_after:.1f} s, -> resolved {resolved_after:.1f} s; Slack {titles}")
    expected = ["[FIRING:1] ExporterDown (critical)", "[RESOLVED] ExporterDown (critical)"]
    assert titles == expected
    assert mail_subjects(smtp) == expected
