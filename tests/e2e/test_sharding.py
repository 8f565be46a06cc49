"""Hashmod shards of a 300-target fleet remote-writing into two stores at once, a central Prometheus and
VictoriaMetrics, with vmalert evaluating the generated rules over VictoriaMetrics into Alertmanager;
and a vmagent HA pair per shard deduplicated in VictoriaMetrics.

Everything is rendered from config.yml (`render_all`) and started from the local binaries; the
VictoriaMetrics processes get the rendered flags files plus their listen address and data path
(exporters/stack/victoriametrics.py), as `alismon stack up` starts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from benchmarks.fleet import fleet, series_count
from exporters.config import parse_config
from exporters.render.main import render_all, write
from exporters.stack.procs import ManagedProcess, free_port
from exporters.stack.victoriametrics import store_argv, vmagent_argv, vmalert_argv
from tests.conftest import REPO, tool
from tests.e2e.receivers import WebhookReceiver, slack_alerts
from tests.helpers import wait_for

TARGETS = 300
# The scraped series only: not `up` & co, nor what rules record (`:`) or fire.
SCRAPED = '{job="alismon-system", __name__!~"up|scrape_.*|ALERTS.*|.*:.*"}'
# A chain endpoint's state, written straight into VictoriaMetrics: the chain alert comes from vmalert alone.
CHAIN = 'blockchain_up{job="alismon-blockchain", instance="chain-node-1:9811", chain="alischain-dev", endpoint="rpc-1"}'


def query(prom: str, expr: str) -> list[dict]:
    """An instant query with room for a receiver busy ingesting a fleet on a 2-core machine."""
    r = requests.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=30)
    r.raise_for_status()
    return r.json()["data"]["result"]


def _value(prom: str, expr: str) -> float | None:
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def _vmalert_alerts(vmalert: str) -> list[dict]:
    """vmalert's active alerts (its API says null, not [], when there are none)."""
    return requests.get(f"{vmalert}/api/v1/alerts", timeout=10).json()["data"]["alerts"] or []


def _active_at(alert: dict) -> float:
    return datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00")).timestamp()


@pytest.fixture
def slack() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def _config(scale_out: dict[str, Any], **prometheus: Any) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config["prometheus"].update({"evaluation_interval": "1s", "scale_out": scale_out, **prometheus})
    return config


def _render(config: dict[str, Any], tree: Path) -> Path:
    write(render_all(parse_config(config), REPO), tree)
    return tree / "provisioning/prometheus"


def _start(procs: list[ManagedProcess], tmp_path: Path, name: str, argv: list[str], ready: str, **kw: Any) -> str:
    proc = ManagedProcess(name, argv, tmp_path / f"{name}.log", **kw).start()
    procs.append(proc)
    proc.wait_http(ready, timeout=30)
    return ready.rsplit("/", 2)[0] if ready.endswith("/-/ready") else ready.rsplit("/", 1)[0]


def _shard_split(store: str, per_target: int) -> dict[str, float]:
    """Every target's series exactly once, each target under one shard only: targets per shard."""
    assert _value(store, f"count({SCRAPED})") == TARGETS * per_target, store
    # A target scraped by both shards would add a second copy of its series, labelled with the other shard.
    assert _value(store, f"count(count by (instance, shard) ({SCRAPED}))") == TARGETS, store
    return {r["metric"]["shard"]: float(r["value"][1]) for r in query(
        store, 'count by (shard) (up{job="alismon-system"})')}  # fmt: skip


@pytest.mark.timeout(300)
def test_shards_fill_prometheus_and_victoriametrics_exactly_once_and_vmalert_alerts(
    tmp_path: Path, procs: list[ManagedProcess], start_system_exporter: Callable[..., str], slack: WebhookReceiver
) -> None:
    payload = requests.get(f"{start_system_exporter()}/metrics", timeout=10).content
    per_target = series_count(payload)
    central_port, vm_port, am_port, shard_ports = free_port(), free_port(), free_port(), [free_port(), free_port()]
    vm_url = f"http://127.0.0.1:{vm_port}"
    config = _config(
        {
            "shards": 2,
            # The central Prometheus is listed; VictoriaMetrics, the store, is added to every shard's remote_write.
            "remote_write": [{"name": "central", "url": f"http://127.0.0.1:{central_port}/api/v1/write"}],
            "shard_targets": [f"127.0.0.1:{p}" for p in shard_ports],
            "store": "victoriametrics",
            "victoriametrics": {"url": vm_url, "query_latency_offset": "1s"},
        },
        scrape_interval="5s",  # 60 fleet scrapes a second, served by one Python process
        targets={"alertmanager": [f"127.0.0.1:{am_port}"]},
    )
    hook = tmp_path / "slack_webhook_url"
    hook.write_text(slack.url)
    config["alerting"].update(
        {
            "alerts": {"PrometheusShardDown": {"for": "1s"}, "BlockchainEndpointDown": {"for": "1s"}},
            "notification_channels": {"slack": [{"name": "oncall", "api_url_file": str(hook)}], "email": []},
            "routing": {"group_wait": "1s", "group_interval": "1s"},
        }
    )
    tree = tmp_path / "tree"
    prom_dir = _render(config, tree)

    def prometheus(name: str, port: int, config_file: Path, *flags: str) -> str:
        argv = [tool("prometheus"), f"--config.file={config_file}", f"--web.listen-address=127.0.0.1:{port}", *flags]
        return _start(procs, tmp_path, name, argv, f"http://127.0.0.1:{port}/-/ready")

    with fleet([payload], TARGETS) as agents:
        agents.targets_file(prom_dir / "targets/system.yml", labels={"role": "agent"})
        for other in ("blockchain", "business"):
            (prom_dir / f"targets/{other}.yml").write_text("[]\n")
        # Alertmanager hears from vmalert only (vmalert.flags): the central Prometheus keeps its alerts to itself.
        (prom_dir / "targets/alertmanager.yml").write_text("[]\n")
        am_argv = [
            tool("prometheus-alertmanager"),
            f"--config.file={tree / 'provisioning/alertmanager/alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ]
        _start(procs, tmp_path, "alertmanager", am_argv, f"http://127.0.0.1:{am_port}/-/ready")
        vm = _start(
            procs, tmp_path, "victoria-metrics", store_argv(tree, tmp_path / "vm", f"127.0.0.1:{vm_port}"),
            f"{vm_url}/health", cwd=tree,
        )  # fmt: skip
        central = prometheus(
            "central", central_port, prom_dir / "scale-out/central.yml",
            f"--storage.tsdb.path={tmp_path / 'central'}", "--web.enable-remote-write-receiver",
        )  # fmt: skip
        prometheus(
            "shard-0", shard_ports[0], prom_dir / "scale-out/shard-0-0.yml", f"--storage.tsdb.path={tmp_path / 's0'}"
        )
        prometheus(
            "shard-1", shard_ports[1], prom_dir / "scale-out/agent-1-0.yml",
            "--enable-feature=agent", f"--storage.agent.path={tmp_path / 's1'}",
        )  # fmt: skip
        shard_1 = procs[-1]
        # The chain endpoint's series, up, from the start: a new series takes seconds to be searchable.
        requests.post(f"{vm}/api/v1/import/prometheus", data=f"{CHAIN} 1\n", timeout=10).raise_for_status()
        vmalert_port = free_port()
        vmalert = _start(
            procs, tmp_path, "vmalert", vmalert_argv(tree, f"127.0.0.1:{vmalert_port}"),
            f"http://127.0.0.1:{vmalert_port}/health", cwd=tree,
        )  # fmt: skip

        # Both stores hold every target's series exactly once.
        counts: dict[str, list[float | None]] = {"central": [], "victoriametrics": []}

        def all_series_arrived() -> bool:
            for name, store in (("central", central), ("victoriametrics", vm)):
                counts[name].append(_value(store, f"count({SCRAPED})"))
            return all(c[-1] == TARGETS * per_target for c in counts.values())

        try:
            wait_for(all_series_arrived, 120, f"{TARGETS} x {per_target} series in both stores", interval=1)
        except AssertionError:
            raise AssertionError(f"series in the stores, last counts: {counts}") from None
        by_shard = _shard_split(central, per_target)
        assert set(by_shard) == {"0", "1"} and sum(by_shard.values()) == TARGETS, by_shard
        assert min(by_shard.values()) > TARGETS / 4, f"an uneven hashmod split: {by_shard}"
        assert _value(central, 'count(count by (instance) (up{job="alismon-system"}))') == TARGETS
        assert _value(central, 'count(up{job="alismon-system", role="agent"} == 1)') == TARGETS
        # The same shards wrote the same split into VictoriaMetrics. Its `up` series are new series of their own,
        # searchable some seconds after their first sample (once: 200 of 300 right after the scraped ones).
        vm_split: dict[str, float] = {}

        def same_split() -> bool:
            vm_split.clear()
            vm_split.update(_shard_split(vm, per_target))
            return vm_split == by_shard

        try:
            wait_for(same_split, 30, "the same split in VictoriaMetrics", interval=1)
        except AssertionError:
            raise AssertionError(f"split in VictoriaMetrics {vm_split}, in the central {by_shard}") from None
        assert min(agents.scrapes) >= 1
        assert query(central, 'ALERTS{alertname="PrometheusShardDown"}') == []
        assert query(vm, 'ALERTS{alertname="PrometheusShardDown"}') == []

        # A chain alert through vmalert, end to end: an endpoint down in the store fires, then resolves.
        def chain_state(up: int, status: str) -> Callable[[], list[tuple[float, dict]]]:
            def check() -> list[tuple[float, dict]]:
                requests.post(f"{vm}/api/v1/import/prometheus", data=f"{CHAIN} {up}\n", timeout=10).raise_for_status()
                return slack_alerts(slack, "BlockchainEndpointDown", status)

            return check

        wait_for(chain_state(0, "firing"), 60, "BlockchainEndpointDown from vmalert in Slack", interval=1)
        ((_, firing),) = slack_alerts(slack, "BlockchainEndpointDown", "firing")
        assert firing["title"] == "[FIRING:1] BlockchainEndpointDown (critical)"
        assert "Endpoint rpc-1 of chain alischain-dev has failed every poll from chain-node-1:9811" in firing["text"]
        # While it fires, vmalert writes the alert's state back into the store (remote write, flushed every few
        # seconds), where it restores it from after a restart (remote read). Looked for before the resolve: the
        # store keeps one sample per dedup interval, and once the resolve's staleness marker took the place of
        # the only state sample of an alert that fired for under one interval.
        state = 'count_over_time(ALERTS_FOR_STATE{alertname="BlockchainEndpointDown"}[5m])'
        wait_for(lambda: query(vm, state), 30, "vmalert's ALERTS_FOR_STATE in VictoriaMetrics", interval=1)
        wait_for(chain_state(1, "resolved"), 60, "BlockchainEndpointDown resolved in Slack", interval=1)

        # A shard that stops fires PrometheusShardDown in the central Prometheus and through vmalert.
        # Only what arrives from now on: the store starts before the shards, so its first scrape of each may
        # fail and, with `for: 1s`, page once at start (then resolve) - as for any target not yet up.
        stopped_at = time.time()
        shard_1.stop()
        lost = f"127.0.0.1:{shard_ports[1]}"
        firing_alert = f'ALERTS{{alertname="PrometheusShardDown", alertstate="firing", instance="{lost}"}}'
        wait_for(
            lambda: query(central, firing_alert),
            60,
            "PrometheusShardDown for the stopped shard in the central Prometheus",
        )
        assert len(query(central, 'ALERTS{alertname="PrometheusShardDown"}')) == 1
        shard_down_in_slack = "PrometheusShardDown from vmalert in Slack"

        def shard_down_pages() -> list[dict]:
            return [a for at, a in slack_alerts(slack, "PrometheusShardDown", "firing") if at >= stopped_at]

        wait_for(shard_down_pages, 60, shard_down_in_slack)
        (shard_down,) = shard_down_pages()
        assert f"Shard {lost} has not answered" in shard_down["text"]
        down = [a for a in _vmalert_alerts(vmalert) if a["name"] == "PrometheusShardDown"]
        assert [(a["state"], a["labels"]["instance"]) for a in down] == [("firing", lost)]
        assert "alertgroup" not in down[0]["labels"]  # the same labels as Prometheus's alert: one alert in Alertmanager

        # vmalert restarted while the alert fires takes its state back from the store (remote read): the
        # same activeAt, not the restart's, so a restart (an upgrade, a crash) starts no `for` window over.
        active_at = _active_at(down[0])
        wait_for(
            lambda: query(vm, f'ALERTS_FOR_STATE{{alertname="PrometheusShardDown", instance="{lost}"}}'),
            30,
            "PrometheusShardDown's ALERTS_FOR_STATE in VictoriaMetrics",
            interval=1,
        )
        time.sleep(max(0.0, active_at + 5 - time.time()))  # a restart's activeAt would be 5 s later or more
        ruler = next(p for p in procs if p.name == "vmalert")
        ruler.stop()
        restarted_at = time.time()
        ruler.start().wait_http(f"{vmalert}/health", timeout=30)

        def restored() -> list[dict]:
            return [
                a
                for a in _vmalert_alerts(vmalert)
                if a["name"] == "PrometheusShardDown" and a["labels"]["instance"] == lost
            ]

        wait_for(restored, 30, "PrometheusShardDown in vmalert after its restart", interval=1)
        (again,) = restored()
        again_at = _active_at(again)
        assert abs(again_at - active_at) <= 1 < restarted_at - active_at, (again, active_at, restarted_at)


@pytest.mark.timeout(180)
def test_vmagent_shard_pairs_split_the_fleet_and_the_store_keeps_one_copy(
    tmp_path: Path, procs: list[ManagedProcess], start_system_exporter: Callable[..., str]
) -> None:
    """Two vmagent shards, each an HA pair of replicas scraping the same targets: one copy of every sample."""
    payload = requests.get(f"{start_system_exporter()}/metrics", timeout=10).content
    per_target, targets, interval = series_count(payload), 16, 1
    vm_port, agent_ports = free_port(), [[free_port(), free_port()], [free_port(), free_port()]]
    vm_url = f"http://127.0.0.1:{vm_port}"
    config = _config(
        {
            "shards": 2,
            "replicas": 2,
            "store": "victoriametrics",
            "victoriametrics": {
                "url": vm_url,
                "query_latency_offset": "1s",
                "vmagent_targets": [f"127.0.0.1:{p}" for pair in agent_ports for p in pair],
            },
        },
        scrape_interval=f"{interval}s",
    )
    tree = tmp_path / "tree"
    prom_dir = _render(config, tree)
    assert f"-dedup.minScrapeInterval={interval}s" in store_argv(tree, tmp_path, "x")
    with fleet([payload], targets) as agents:
        agents.targets_file(prom_dir / "targets/system.yml")
        for other in ("blockchain", "business", "alertmanager"):
            (prom_dir / f"targets/{other}.yml").write_text("[]\n")
        vm = _start(
            procs, tmp_path, "victoria-metrics", store_argv(tree, tmp_path / "vm", f"127.0.0.1:{vm_port}"),
            f"{vm_url}/health", cwd=tree,
        )  # fmt: skip
        for shard, pair in enumerate(agent_ports):
            for replica, port in enumerate(pair):
                name = f"vmagent-{shard}-{replica}"
                argv = vmagent_argv(tree, shard, replica, tmp_path / name, f"127.0.0.1:{port}")
                _start(procs, tmp_path, name, argv, f"http://127.0.0.1:{port}/health", cwd=tree)

        sel = '{job="alismon-system", __name__!~"up|scrape_.*"}'
        wait_for(lambda: _value(vm, f"count({sel})") == targets * per_target, 60, "every series in the store", 1)
        # Both replicas of both shards deliver (the store scrapes them as the shards it watches) ...
        wait_for(lambda: _value(vm, 'count(up{job="prometheus-shards"} == 1)') == 4, 30, "4 vmagents up", 1)
        for pair in agent_ports:
            for port in pair:
                metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
                assert any(
                    line.startswith("vmagent_remotewrite_requests_total") and 'status_code="2XX"' in line
                    and float(line.rsplit(" ", 1)[1]) > 0 for line in metrics.splitlines()
                ), f"vmagent on {port} wrote nothing"  # fmt: skip
        # ... yet each series is stored once, without the replica label, under one shard ...
        assert _value(vm, f"count({sel})") == targets * per_target
        assert [r["metric"] for r in query(vm, f"count by (replica) ({sel})")] == [{}]
        assert _value(vm, f"count(count by (instance, shard) ({sel}))") == targets
        shards = {r["metric"]["shard"] for r in query(vm, f"count by (shard) ({sel})")}
        assert shards == {"0", "1"}
        # ... with one sample per scrape interval: two replicas without deduplication would give twice as many.
        window = 12
        wait_for(lambda: min(agents.scrapes) >= 2 * (window // interval), 90, "a window of scrapes by both replicas", 1)
        per_series = query(vm, f'count_over_time(up{{job="alismon-system"}}[{window}s])')
        assert len(per_series) == targets
        counts = sorted(float(r["value"][1]) for r in per_series)
        assert counts[-1] <= window / interval + 1, f"samples per {window}s window, deduplicated: {counts}"
        assert counts[0] >= window / interval - 3, f"samples per {window}s window: {counts}"
