"""Render a full provisioning tree from a test config and start the real stack on free ports."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporters.stack.procs import ManagedProcess, alismon_argv, free_port
from tests.business_util import TOKEN
from tests.conftest import REPO, tool


@dataclass
class AlertmanagerPeer:
    """One Alertmanager process; `cluster` is its gossip host:port ("" when clustering is off)."""

    url: str
    cluster: str
    process: ManagedProcess
    started_at: float = 0.0

    def restart(self, procs: list[ManagedProcess]) -> None:
        """Start it again with the same flags: same web and cluster ports, same storage dir."""
        self.process = ManagedProcess(self.process.name, self.process.argv, self.process.log_path).start()
        procs.append(self.process)
        self.started_at = time.monotonic()
        self.process.wait_http(f"{self.url}/-/ready")


@dataclass
class Stack:
    system: str
    prometheus: str
    alertmanager: str
    config_file: Path
    business: str | None = None
    blockchain: str | None = None
    # Every Alertmanager started; Prometheus sends to all of them. `alertmanager` is the first.
    alertmanagers: list[AlertmanagerPeer] = field(default_factory=list)


def start_stack(
    tmp_path: Path,
    procs: list[ManagedProcess],
    alerting: dict[str, Any] | None = None,
    system: dict[str, Any] | None = None,
    business: bool = False,
    networks: list[dict[str, Any]] | None = None,
    alertmanagers: int = 1,
    cluster: dict[str, str] | None = None,
    sections: dict[str, Any] | None = None,
) -> Stack:
    """system exporter, Alertmanager and Prometheus (generated rules, 1 s intervals) on loopback.

    `alerting` is merged into config.yml's alerting section; nothing generated is edited by hand.
    With `alertmanagers` > 1 the peers form an HA cluster (each gets a loopback cluster port and
    every other peer as `--cluster.peer`; `cluster` adds `--cluster.<key>=<value>` flags such as
    short gossip timings) and all of them are Prometheus' Alertmanager targets. `sections` replaces
    whole top-level sections (e.g. `inventory`).
    """
    sys_port, prom_port, biz_port, bc_port = free_port(), free_port(), free_port(), free_port()
    am_ports = [free_port() for _ in range(alertmanagers)]
    cluster_addrs = [f"127.0.0.1:{free_port()}" for _ in range(alertmanagers)] if alertmanagers > 1 else [""]
    am_port = am_ports[0]
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config["exporters"]["system"]["listen_address"] = f"127.0.0.1:{sys_port}"
    config["system"].update(system or {})
    config["prometheus"] = {
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
        "targets": {
            "system": [f"127.0.0.1:{sys_port}"],
            "blockchain": [f"127.0.0.1:{bc_port}"] if networks else [],
            "business": [f"127.0.0.1:{biz_port}"] if business else [],
            "prometheus": [f"127.0.0.1:{prom_port}"],
            "alertmanager": [f"127.0.0.1:{p}" for p in am_ports],
        },
    }
    config["exporters"]["business"]["listen_address"] = f"127.0.0.1:{biz_port}"
    config["exporters"]["blockchain"]["listen_address"] = f"127.0.0.1:{bc_port}"
    config["blockchain"] = {"networks": networks or []}
    config["business"].update({"auth_token": TOKEN, "store": {"path": str(tmp_path / "business.sqlite")}})
    config["alerting"].update(
        {
            "alertmanager_url": f"http://127.0.0.1:{am_port}",
            "prometheus_url": f"http://127.0.0.1:{prom_port}",
            **(alerting or {}),
        }
    )
    config.update(sections or {})
    cfg = tmp_path / "config.yml"
    cfg.write_text(yaml.safe_dump(config))
    out = tmp_path / "tree"
    rendered = subprocess.run(
        alismon_argv("render", "--root", str(REPO), "--out", str(out), config_file=cfg),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr

    def start(name: str, argv: list[str], ready: str) -> None:
        proc = ManagedProcess(name, argv, tmp_path / f"{name}.log").start()
        procs.append(proc)
        proc.wait_http(ready)

    start("system", alismon_argv("system", config_file=cfg), f"http://127.0.0.1:{sys_port}/-/ready")
    if business:
        start("business", alismon_argv("business", config_file=cfg), f"http://127.0.0.1:{biz_port}/-/ready")
    if networks:
        start("blockchain", alismon_argv("blockchain", config_file=cfg), f"http://127.0.0.1:{bc_port}/-/ready")
    peers = []
    for i, (port, addr) in enumerate(zip(am_ports, cluster_addrs, strict=True)):
        name = "alertmanager" if i == 0 else f"alertmanager-{i + 1}"
        if addr:
            cluster_flags = [f"--cluster.listen-address={addr}", f"--cluster.advertise-address={addr}"]
            cluster_flags += [f"--cluster.peer={other}" for other in cluster_addrs if other != addr]
            cluster_flags += [f"--cluster.{key}={val}" for key, val in (cluster or {}).items()]
        else:
            cluster_flags = ["--cluster.listen-address="]
        started_at = time.monotonic()
        start(
            name,
            [
                tool("prometheus-alertmanager"),
                f"--config.file={out / 'provisioning/alertmanager/alertmanager.yml'}",
                f"--storage.path={tmp_path / ('am' if i == 0 else name)}",
                f"--web.listen-address=127.0.0.1:{port}",
                *cluster_flags,
                f"--web.external-url=http://127.0.0.1:{port}",
            ],
            f"http://127.0.0.1:{port}/-/ready",
        )
        peers.append(AlertmanagerPeer(f"http://127.0.0.1:{port}", addr, procs[-1], started_at))
    start(
        "prometheus",
        [
            tool("prometheus"),
            f"--config.file={out / 'provisioning/prometheus/prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=1s",
        ],
        f"http://127.0.0.1:{prom_port}/-/ready",
    )
    return Stack(
        f"http://127.0.0.1:{sys_port}",
        f"http://127.0.0.1:{prom_port}",
        f"http://127.0.0.1:{am_port}",
        cfg,
        f"http://127.0.0.1:{biz_port}" if business else None,
        f"http://127.0.0.1:{bc_port}" if networks else None,
        peers,
    )
