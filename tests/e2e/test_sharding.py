"""Two hashmod shards (one server, one agent mode) remote-write a 300-target fleet into a central Prometheus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import requests
import yaml

from benchmarks.fleet import fleet, series_count
from exporters.config import parse_config
from exporters.render.main import render_all, write
from exporters.stack.procs import ManagedProcess, free_port
from tests.conftest import REPO, tool
from tests.helpers import wait_for

TARGETS = 300


def query(prom: str, expr: str) -> list[dict]:
    """prom_query with room for a receiver busy ingesting a fleet on a 2-core machine."""
    r = requests.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=30)
    r.raise_for_status()
    return r.json()["data"]["result"]


def _value(prom: str, expr: str) -> float | None:
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def test_every_target_reaches_the_receiver_exactly_once_and_a_lost_shard_alerts(
    tmp_path: Path, procs: list[ManagedProcess], start_system_exporter: Callable[..., str]
) -> None:
    payload = requests.get(f"{start_system_exporter()}/metrics", timeout=10).content
    per_target = series_count(payload)
    central_port, shard_ports = free_port(), [free_port(), free_port()]
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config["prometheus"].update(
        {
            "scrape_interval": "5s",  # 60 fleet scrapes a second, served by one Python process
            "evaluation_interval": "1s",
            "scale_out": {
                "shards": 2,
                "remote_write": [{"name": "central", "url": f"http://127.0.0.1:{central_port}/api/v1/write"}],
                "shard_targets": [f"127.0.0.1:{p}" for p in shard_ports],
            },
        }
    )
    config["alerting"]["alerts"] = {"PrometheusShardDown": {"for": "1s"}}
    tree = tmp_path / "tree"
    write(render_all(parse_config(config), REPO), tree)
    prom_dir = tree / "provisioning/prometheus"

    def prometheus(name: str, port: int, config_file: Path, *flags: str) -> str:
        argv = [tool("prometheus"), f"--config.file={config_file}", f"--web.listen-address=127.0.0.1:{port}", *flags]
        proc = ManagedProcess(name, argv, tmp_path / f"{name}.log").start()
        procs.append(proc)
        proc.wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        return f"http://127.0.0.1:{port}"

    with fleet([payload], TARGETS) as agents:
        agents.targets_file(prom_dir / "targets/system.yml", labels={"role": "agent"})
        for other in ("blockchain", "business"):
            (prom_dir / f"targets/{other}.yml").write_text("[]\n")
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

        # Every target's series arrive, each target through one shard only.
        # The scraped series only: not `up` & co, nor what the central's own rules record (`:`) or fire.
        sel = '{job="alismon-system", __name__!~"up|scrape_.*|ALERTS.*|.*:.*"}'
        counts: list[float | None] = []

        def all_series_arrived() -> bool:
            counts.append(_value(central, f"count({sel})"))
            return counts[-1] == TARGETS * per_target

        try:
            wait_for(all_series_arrived, 90, f"{TARGETS} x {per_target} series at the receiver")
        except AssertionError:
            raise AssertionError(f"series at the receiver, last counts: {counts[-3:]}") from None
        assert _value(central, 'count(count by (instance) (up{job="alismon-system"}))') == TARGETS
        assert query(central, 'count by (instance) (up{job="alismon-system"}) > 1') == []
        # Exactly TARGETS x per_target series (waited for above) and each target under one shard only:
        # a target scraped by both shards would add a second copy of its series, labelled with the other shard.
        assert _value(central, f"count(count by (instance, shard) ({sel}))") == TARGETS
        by_shard = {r["metric"]["shard"]: float(r["value"][1]) for r in query(
            central, 'count by (shard) (up{job="alismon-system"})')}  # fmt: skip
        assert set(by_shard) == {"0", "1"} and sum(by_shard.values()) == TARGETS
        assert min(by_shard.values()) > TARGETS / 4, f"an uneven hashmod split: {by_shard}"
        assert _value(central, 'count(up{job="alismon-system", role="agent"} == 1)') == TARGETS
        assert min(agents.scrapes) >= 1
        assert query(central, 'ALERTS{alertname="PrometheusShardDown"}') == []

        # A shard that stops shows up as an alert in the central Prometheus.
        procs[-1].stop()
        lost = f'instance="127.0.0.1:{shard_ports[1]}"'
        wait_for(
            lambda: query(central, f'ALERTS{{alertname="PrometheusShardDown", alertstate="firing", {lost}}}'),
            60,
            "PrometheusShardDown for the stopped shard",
        )
        assert len(query(central, 'ALERTS{alertname="PrometheusShardDown"}')) == 1
