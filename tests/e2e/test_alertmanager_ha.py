"""Alertmanager HA end to end: two clustered peers, one Prometheus sending to both, one alert.

Both peers receive the alert; the peer that would notify first is killed with SIGKILL during
group_wait, before it sends: the survivor must deliver the notification, exactly once. The killed
peer is then restarted with the same
web and cluster addresses (and storage dir, whose notification log was never snapshotted
because of the SIGKILL): it must rejoin the cluster, receive the alert again from Prometheus
and stay silent, because the notification log it pulls from the survivor on join says the
notification already went out.

Real processes on loopback; everything goes through config.yml and `alismon render --out`
(short routing intervals, WatchedProcessDown's `for`); only the cluster timings are flags,
because that is where Alertmanager takes them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exporters.stack.procs import ManagedProcess
from tests.e2e.receivers import WebhookReceiver
from tests.helpers import families, wait_for
from tests.stack_util import AlertmanagerPeer, start_stack

MARKER = "alismon-e2e-ha-chain-client"
ALERT = "WatchedProcessDown"
# group_wait is long enough to kill the notifying peer after it has the alert but before it sends.
GROUP_WAIT, GROUP_INTERVAL, PEER_TIMEOUT = 3.0, 1.0, 2.0
# Gossip fast enough for a test; peer_timeout is how long the peer at position n waits (n x) for
# the others' notification log before it notifies itself.
CLUSTER = {
    "gossip-interval": "100ms",
    "pushpull-interval": "1s",
    "peer-timeout": f"{PEER_TIMEOUT:g}s",
    "settle-timeout": "2s",
    "probe-interval": "200ms",
    "probe-timeout": "100ms",
    "reconnect-interval": "1s",
}
# Long enough after a notification for any second one to show up: the last peer's wait
# (position x peer_timeout) after group_wait, plus several group_interval flushes.
QUIET = GROUP_WAIT + PEER_TIMEOUT + 3 * GROUP_INTERVAL + 1.0


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def notifications(hook: WebhookReceiver) -> list[float]:
    """Arrival times of firing Slack messages about ALERT."""
    return [
        post.at
        for post in hook.posts
        for a in post.body.get("attachments", [])
        if a["title"].startswith("[FIRING") and f"] {ALERT} " in a["title"]
    ]


def status(peer: AlertmanagerPeer) -> dict[str, Any]:
    r = requests.get(f"{peer.url}/api/v2/status", timeout=2)
    r.raise_for_status()
    return r.json()["cluster"]


def members(peer: AlertmanagerPeer) -> int:
    """alertmanager_cluster_members as the peer itself reports it (0 if it does not answer)."""
    try:
        text = requests.get(f"{peer.url}/metrics", timeout=2).text
    except requests.RequestException:
        return 0
    return int(families(text)["alertmanager_cluster_members"].samples[0].value)


def counter(peer: AlertmanagerPeer, name: str, **labels: str) -> float:
    text = requests.get(f"{peer.url}/metrics", timeout=2).text
    family = families(text)[name.removesuffix("_total")]
    return sum(s.value for s in family.samples if s.name == name and labels.items() <= s.labels.items())


def active(peer: AlertmanagerPeer) -> list[dict[str, Any]]:
    r = requests.get(f"{peer.url}/api/v2/alerts", params={"filter": f"alertname={ALERT}"}, timeout=2)
    r.raise_for_status()
    return [a for a in r.json() if a["status"]["state"] == "active"]


@pytest.mark.timeout(120)
def test_one_peer_killed_and_restarted_notifies_exactly_once(
    tmp_path: Path, webhook: WebhookReceiver, procs: list[ManagedProcess]
) -> None:
    hook = tmp_path / "slack_webhook_url"
    hook.write_text(webhook.url)
    client = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", MARKER])
    try:
        stack = start_stack(
            tmp_path,
            procs,
            system={"processes": [{"name": "chain-client", "match": {"cmdline": MARKER}}]},
            alerting={
                "alerts": {ALERT: {"for": "1s"}, "ExporterAbsent": {"enabled": False}},
                "notification_channels": {"slack": [{"name": "oncall", "api_url_file": str(hook)}]},
                "routing": {
                    "group_wait": f"{GROUP_WAIT:g}s",
                    "group_interval": f"{GROUP_INTERVAL:g}s",
                    "repeat_interval_critical": "1h",
                    "repeat_interval_warning": "1h",
                },
            },
            alertmanagers=2,
            cluster=CLUSTER,
        )
        peers = stack.alertmanagers
        assert len(peers) == 2 and all(p.cluster for p in peers)

        # 1. The cluster forms: each peer lists both, and has settled ("ready").
        wait_for(
            lambda: all(len(status(p)["peers"]) == 2 and status(p)["status"] == "ready" for p in peers),
            20,
            "both peers to see a settled cluster of 2",
        )
        formed = time.monotonic() - peers[0].started_at
        assert [members(p) for p in peers] == [2, 2]
        print(f"\ncluster formed and settled {formed:.2f} s after the first peer started")

        # 2. The condition: the watched chain client dies; Prometheus sends the alert to both peers.
        wait_for(
            lambda: b'system_process_up{process="chain-client"} 1.0' in requests.get(f"{stack.system}/metrics").content,
            30,
            "the chain client to be watched",
        )
        client.kill()
        client.wait()
        condition_at = time.time()
        wait_for(lambda: all(active(p) for p in peers), 30, "the alert on both peers", interval=0.05)
        received_at = time.time()

        # 3. Kill -9 the peer at position 0 (lowest peer name) while its group_wait runs: it is the
        # one that would notify, right after group_wait; the other waits peer_timeout more and
        # notifies only if the notification log still has no entry for the group.
        assert notifications(webhook) == [], "notified before group_wait"
        names = {status(p)["name"]: p for p in peers}
        first = names[min(names)]
        survivor = next(p for p in peers if p is not first)
        first.process.kill()
        killed_at = time.monotonic()
        dropped_after: list[float] = []

        def notified() -> list[float]:
            if not dropped_after and members(survivor) == 1:
                dropped_after.append(time.monotonic() - killed_at)
            return notifications(webhook)

        wait_for(notified, 40, f"the {ALERT} notification", interval=0.05)
        print(f"condition -> alert on both peers: {received_at - condition_at:.2f} s")
        print(f"condition -> notification from the survivor: {notifications(webhook)[0] - condition_at:.2f} s")
        wait_for(lambda: notified() and dropped_after, 20, "the survivor to drop the dead peer", interval=0.05)
        print(f"dead peer dropped from the survivor's members {dropped_after[0]:.2f} s after kill -9")
        time.sleep(QUIET)
        assert len(notifications(webhook)) == 1, [p.body for p in webhook.posts]
        assert active(survivor), "the firing alert is not on the survivor"
        assert counter(survivor, "alertmanager_notifications_total", integration="slack") == 1

        # 4. Restart the killed peer with the same addresses: it rejoins, gets the alert from
        # Prometheus again, and its gossip-synced notification log keeps it from notifying.
        first.restart(procs)
        wait_for(lambda: members(first) == 2 and members(survivor) == 2, 20, "the restarted peer to rejoin")
        rejoined = time.monotonic() - first.started_at
        print(f"restarted peer rejoined {rejoined:.2f} s after start")
        wait_for(lambda: status(first)["status"] == "ready", 20, "the restarted peer to settle")
        wait_for(lambda: active(first), 20, "Prometheus to resend the alert to the restarted peer")
        position = sorted(status(p)["name"] for p in peers).index(status(first)["name"])
        print(f"restarted peer's cluster position: {position}")
        time.sleep(QUIET)
        assert len(notifications(webhook)) == 1, [p.body for p in webhook.posts]
        assert counter(first, "alertmanager_notifications_total", integration="slack") == 0
        assert [len(status(p)["peers"]) for p in peers] == [2, 2]
        print(f"notifications of {ALERT}: {len(notifications(webhook))}; all webhook posts: {len(webhook.posts)}")
    finally:
        client.kill()
