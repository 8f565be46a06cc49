"""One outage, one page, per outage class: a chain's only node stops, one endpoint of a chain with two stops
answering (the chain stays up through the other), an exporter stops, a host's every exporter stops, most
verifications fail, a watched process dies. Each gives exactly one firing and one resolved notice
to each receiver its severity routes to (critical: Slack and email; warning: Slack), nothing for the
symptoms, also while the rate window still holds the outage after recovery; the notices carry the configured
links. Real anvil, exporters, Prometheus (generated rules), Alertmanager (generated inhibit_rules) and the
demo inbox (Slack webhook and SMTP sink), one stack for the module.

Outages on distinct label sets run at once (one wave); the exporter outage stops the blockchain exporter the
chain outage needs, so it runs in a second wave. Every message is then accounted for: it carries an
outage's label pair and arrived during that outage.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from exporters.demo.inbox import InboxServer, Message
from exporters.stack.procs import ManagedProcess, alismon_argv, free_port
from tests.business_util import TOKEN
from tests.conftest import Anvil, write_config
from tests.e2e.receivers import WebhookReceiver
from tests.helpers import prom_query, wait_for
from tests.integration.rpc_servers import rpc_server
from tests.stack_util import Stack, start_stack

RATE_WINDOW = 10.0
HEARTBEAT_INTERVAL = 2.0
HOST = "outage-host"  # an inventory host whose only exporter is a second system exporter
PROBE = "outage-probe"  # a watched process, found by its pid file
GRAFANA = "http://127.0.0.1:3999/grafana"
RUNBOOKS = "http://127.0.0.1:3999/runbooks"


@dataclass
class Outage:
    """One outage class: how to cause and undo it, and what must (and must not) reach the receivers."""

    name: str
    page: str  # the alertname of its one page
    severity: str
    selector: str  # its alerts in Prometheus' ALERTS
    mark: str  # a label pair every notice about it shows
    dashboard: str
    cause: Callable[[], None]
    recover: Callable[[], None]
    symptoms: frozenset[str] = frozenset()  # alerts it really fires in Prometheus, muted in Alertmanager
    window: str = ""  # its outage-window helper, which must have passed before the quiet check
    started: float = 0.0
    finished: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def receivers(self) -> tuple[str, ...]:
        return ("slack", "email") if self.severity == "critical" else ("slack",)


@dataclass
class OutageStack:
    stack: Stack
    inbox: InboxServer
    heartbeat: WebhookReceiver
    outages: dict[str, Outage]

    def firing(self, selector: str) -> set[str]:
        expr = f'ALERTS{{alertstate="firing", {selector}}}'
        return {s["metric"]["alertname"] for s in prom_query(self.stack.prometheus, expr)}

    def notices(self, outage: Outage, channel: str, status: str = "") -> list[Message]:
        """The messages about `outage` that arrived on `channel` while it ran, `status` FIRING or RESOLVED."""
        return [
            m
            for m in self.inbox.inbox.messages()
            if m.channel == channel
            and outage.mark in m.text
            and outage.started <= m.received_at <= (outage.finished or time.time())
            and m.title.startswith(f"[{status}")
        ]

    def wait_for_notices(self, outage: Outage, status: str) -> float:
        """Wait until every receiver of `outage` got its `status` notice; seconds since the outage began."""
        wait_for(
            lambda: all(self.notices(outage, c, status) for c in outage.receivers),
            60,
            f"{outage.name}: the {status} notice in {' and '.join(outage.receivers)}",
        )
        arrived = max(self.notices(outage, c, status)[0].received_at for c in outage.receivers)
        return arrived - outage.started

    def run(self, outage: Outage) -> None:
        """Cause it, wait for its page (and its symptoms in Prometheus), recover, wait for the resolved notice
        and until its outage window has passed; then a few seconds more for anything late."""
        try:
            outage.started = time.time()
            outage.cause()
            outage.timings["page"] = self.wait_for_notices(outage, "FIRING")
            if outage.symptoms:
                wait_for(
                    lambda: outage.symptoms <= self.firing(outage.selector),
                    30,
                    f"{outage.name}: the symptoms {sorted(outage.symptoms)} firing",
                )
            time.sleep(3)  # the symptoms fire, and nothing more arrives
            recovered = time.time()
            outage.recover()
            outage.timings["resolved"] = self.wait_for_notices(outage, "RESOLVED") - (recovered - outage.started)
            held = outage.symptoms | {outage.window, outage.page}
            wait_for(
                lambda: not held & self.firing(outage.selector),
                RATE_WINDOW + 30,
                f"{outage.name}: {sorted(held)} to resolve",
            )
            time.sleep(3)
        except BaseException as exc:  # reported by the outage's own test
            outage.error = f"{type(exc).__name__}: {exc}"
        finally:
            outage.finished = time.time()

    def wave(self, *names: str) -> None:
        threads = [threading.Thread(target=self.run, args=(self.outages[n],)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)


class Probe:
    """A stand-in for a watched service: a sleeping process whose pid the system exporter reads from a file."""

    def __init__(self, pidfile: Path) -> None:
        self.pidfile = pidfile
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
        self.pidfile.write_text(f"{self.proc.pid}\n")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


class Verifications:
    """Verification events at 5/s, all failed while `failing` is set, all successful otherwise."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            outcome = "failed" if self.failing else "success"
            event = {"type": "verifications", "labels": {"type": "kyc", "outcome": outcome}, "value": 0.2}
            try:
                requests.post(
                    f"{self.url}/api/v1/events", json=event, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
                )
            except requests.RequestException:
                pass  # the exporter is being restarted by another outage: the next round posts again

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _stop(procs: list[ManagedProcess], name: str) -> None:
    next(p for p in reversed(procs) if p.name == name).stop()


def _restart(procs: list[ManagedProcess], name: str, ready: str) -> None:
    old = next(p for p in reversed(procs) if p.name == name)
    restarted = ManagedProcess(old.name, old.argv, old.log_path).start()
    procs.append(restarted)
    restarted.wait_http(ready)


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutageStack]:
    tmp = tmp_path_factory.mktemp("outages")
    began = time.monotonic()
    procs: list[ManagedProcess] = []
    web, smtp = free_port(), free_port()
    inbox = InboxServer(f"127.0.0.1:{web}", f"127.0.0.1:{smtp}")
    inbox.start()
    heartbeat = WebhookReceiver()
    probe = Probe(tmp / "probe.pid")
    probe.start()
    traffic: Verifications | None = None
    stack_exit = ExitStack()
    try:
        # --state: a restart continues the same chain, as a real node does after an outage.
        anvil = Anvil(tmp, procs, "--block-time", "1", "--state", str(tmp / "anvil-state.json")).start()
        # Chain "edge": a node of its own, reached directly and through a relay whose answers turn to garbage.
        edge_node = Anvil(tmp, procs, "--block-time", "1").start()
        relay = stack_exit.enter_context(rpc_server("proxy", edge_node.url))  # any other mode: a plain proxy
        hook = tmp / "slack_webhook_url"
        hook.write_text(f"http://127.0.0.1:{web}/slack\n")
        host_port = free_port()
        stack = start_stack(
            tmp,
            procs,
            system={"processes": [{"name": PROBE, "match": {"pidfile": str(probe.pidfile)}}]},
            business=True,
            networks=[
                {
                    "name": "dev",
                    "chain_id": 31337,
                    "endpoints": [{"name": "local", "url": anvil.url}],
                    "poll_interval": "500ms",
                },
                {
                    "name": "edge",
                    "chain_id": 31337,
                    "endpoints": [{"name": "direct", "url": edge_node.url}, {"name": "relay", "url": relay.url}],
                    "poll_interval": "500ms",
                },
            ],
            sections={"inventory": {"ports": {"system": host_port}, "hosts": [{"name": HOST, "address": "127.0.0.1"}]}},
            alerting={
                "grafana_url": GRAFANA,
                "runbook_base_url": RUNBOOKS,
                "rate_window": f"{RATE_WINDOW:.0f}s",
                "alerts": {
                    "BlockchainEndpointDown": {"for": "2s"},
                    "BlockchainChainDown": {"for": "2s"},
                    "BlockchainSync": {"for": "1s", "delay_seconds": 5},
                    "BlockchainNoNewBlocks": {"for": "1s", "window": "4s"},
                    "BlockchainRPCErrors": {"for": "1s", "ratio": 0.01},
                    "ExporterDown": {"for": "2s"},
                    "HostDown": {"for": "2s"},
                    "WatchedProcessDown": {"for": "1s"},
                    "HighFailureRate": {"for": "1s", "ratio": 0.5},
                },
                "notification_channels": {
                    "slack": [{"name": "oncall", "api_url_file": str(hook)}],
                    "email": [
                        {
                            "name": "oncall-email",
                            "to": ["oncall@alischain.test"],
                            "from": "am@alischain.test",
                            "smarthost": f"127.0.0.1:{smtp}",
                            "require_tls": False,
                        }
                    ],
                    # Alertmanager 0.25 has no url_file: the heartbeat's URL inline.
                    "heartbeat": {"url": heartbeat.url, "interval": f"{HEARTBEAT_INTERVAL:.0f}s"},
                },
                "routing": {
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval_critical": "1h",
                    "repeat_interval_warning": "1h",
                },
            },
        )
        # The inventory host's system exporter: no watched process of its own (the probe is the other one's).
        host_cfg = write_config(tmp / "host.yml", {"system": {"processes": []}})
        host_exporter = ManagedProcess(
            "host-system",
            alismon_argv("system", config_file=host_cfg, listen_address=f"127.0.0.1:{host_port}"),
            tmp / "host-system.log",
        ).start()
        procs.append(host_exporter)
        host_exporter.wait_http(f"http://127.0.0.1:{host_port}/-/ready")
        assert stack.business is not None and stack.blockchain is not None
        traffic = Verifications(stack.business)
        stack_up = time.monotonic()
        business_url, blockchain_url = stack.business, stack.blockchain

        def restart_anvil() -> None:
            anvil.start()

        def relay_mode(mode: str) -> None:
            relay.mode = mode

        def set_failing(failing: bool) -> None:
            assert traffic is not None
            traffic.failing = failing

        outages = [
            Outage(
                "chain",
                "BlockchainChainDown",
                "critical",
                'chain="dev"',
                "chain=dev",
                "blockchain",
                anvil.stop,
                lambda: restart_anvil(),
                frozenset({"BlockchainEndpointDown", "BlockchainSync", "BlockchainNoNewBlocks", "BlockchainRPCErrors"}),
                "BlockchainChainOutage",
            ),
            Outage(
                "chain endpoint",
                "BlockchainEndpointDown",
                "critical",
                'chain="edge", endpoint="relay"',
                "endpoint=relay",
                "blockchain",
                lambda: relay_mode("garbage"),
                lambda: relay_mode("proxy"),
                frozenset({"BlockchainRPCErrors"}),
                "BlockchainEndpointOutage",
            ),
            Outage(
                "host",
                "HostDown",
                "critical",
                f'host="{HOST}"',
                f"host={HOST}",
                "exporters",
                lambda: _stop(procs, "host-system"),
                lambda: _restart(procs, "host-system", f"http://127.0.0.1:{host_port}/-/ready"),
                frozenset({"ExporterDown"}),
                "ExporterOutage",
            ),
            Outage(
                "business failure ratio",
                "HighFailureRate",
                "warning",
                'job="alismon-business"',
                "job=alismon-business",
                "business",
                lambda: set_failing(True),
                lambda: set_failing(False),
            ),
            Outage(
                "watched process",
                "WatchedProcessDown",
                "critical",
                f'process="{PROBE}"',
                f"process={PROBE}",
                "system",
                probe.stop,
                probe.start,
                window="WatchedProcessOutage",
            ),
            Outage(
                "exporter",
                "ExporterDown",
                "critical",
                'job="alismon-blockchain"',
                "job=alismon-blockchain",
                "exporters",
                lambda: _stop(procs, "blockchain"),
                lambda: _restart(procs, "blockchain", f"{blockchain_url}/-/ready"),
                window="ExporterOutage",
            ),
        ]
        out = OutageStack(stack, inbox, heartbeat, {o.name: o for o in outages})
        wait_for(
            lambda: (
                prom_query(stack.prometheus, 'blockchain_up{chain="dev"} == 1')
                and len(prom_query(stack.prometheus, 'blockchain_up{chain="edge"} == 1')) == 2
                and prom_query(stack.prometheus, f'up{{host="{HOST}"}} == 1')
                and prom_query(stack.prometheus, f'system_process_up{{process="{PROBE}"}} == 1')
                and prom_query(stack.prometheus, "business:verifications:rate > 0")
            ),
            30,
            "every exporter, the chain, the probe and the verifications to be scraped",
        )
        print(f"\nstack up {stack_up - began:.0f} s, everything scraped {time.monotonic() - began:.0f} s")
        time.sleep(3)  # a quiet start: nothing is sent while everything is healthy
        quiet = [m.title for m in inbox.inbox.messages()]
        assert quiet == [], f"notices before any outage: {quiet}"
        started = time.monotonic()
        out.wave("chain", "chain endpoint", "host", "business failure ratio", "watched process")
        out.wave("exporter")
        print(f"all outages done in {time.monotonic() - started:.0f} s (business at {business_url})")
        for o in outages:
            page, resolved = o.timings.get("page", -1), o.timings.get("resolved", -1)
            print(f"{o.name}: page after {page:.1f} s, resolved {resolved:.1f} s after recovery")
        yield out
    finally:
        if traffic is not None:
            traffic.stop()
        for p in reversed(procs):
            p.stop()
        stack_exit.close()
        probe.stop()
        inbox.stop()
        heartbeat.close()


OUTAGES = ["chain", "chain endpoint", "host", "business failure ratio", "watched process", "exporter"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", OUTAGES)
def test_an_outage_is_one_page_and_one_resolved_notice_per_receiver(outage_stack: OutageStack, name: str) -> None:
    outage = outage_stack.outages[name]
    assert outage.error == "", outage.error
    expected = [f"[FIRING:1] {outage.page} ({outage.severity})", f"[RESOLVED] {outage.page} ({outage.severity})"]
    for channel in ("slack", "email"):
        titles = [m.title for m in outage_stack.notices(outage, channel)]
        assert titles == (expected if channel in outage.receivers else []), (channel, titles)
    stack = outage_stack.stack
    firing, resolved = (m.text for m in outage_stack.notices(outage, "slack"))
    # The links come from config.yml: runbook_base_url, grafana_url, alertmanager_url, prometheus_url.
    assert f"<{RUNBOOKS}/{outage.page}.md|Runbook>" in firing
    assert f"<{GRAFANA}/d/alischain-{outage.dashboard}|Dashboard>" in firing
    assert f"<{stack.alertmanager}/#/silences/new?filter=" in firing
    assert f"<{stack.prometheus}/graph?g0.expr=" in firing
    assert "*Since:* " in firing
    assert "*Lasted:* " in resolved and "FIRING" not in resolved
    if "email" in outage.receivers:
        mail = outage_stack.notices(outage, "email")[0].text
        assert f"{RUNBOOKS}/{outage.page}.md" in mail and f"{GRAFANA}/d/alischain-{outage.dashboard}" in mail


def test_every_notice_belongs_to_an_outage(outage_stack: OutageStack) -> None:
    """Nothing arrived that is not one of the outages' pages or resolved notices (no symptom, no late notice)."""
    ours = {m.id for o in outage_stack.outages.values() for c in ("slack", "email") for m in outage_stack.notices(o, c)}
    strays = [(m.channel, m.title, m.text[:300]) for m in outage_stack.inbox.inbox.messages() if m.id not in ours]
    assert strays == []


def test_the_heartbeat_reaches_its_receiver_again_and_again(outage_stack: OutageStack) -> None:
    """The Watchdog on the installed Alertmanager (0.25: `heartbeat.url`), every interval while it fires."""
    posts = outage_stack.heartbeat.posts
    assert len(posts) >= 3, posts
    assert {a["labels"]["alertname"] for p in posts for a in p.body["alerts"]} == {"Watchdog"}
    assert all(p.body["status"] == "firing" for p in posts)
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    assert min(gaps) >= HEARTBEAT_INTERVAL / 2, gaps  # repeated at the interval, not a burst
    assert time.time() - posts[-1].at < 5 * HEARTBEAT_INTERVAL, "the heartbeat stopped"
