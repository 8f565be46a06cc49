"""Render a full provisioning tree from a test config and start the real stack on free ports."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exporters.stack.procs import ManagedProcess, free_port
from tests.business_util import TOKEN
from tests.conftest import REPO, tool


@dataclass
class Stack:
    system: str
    prometheus: str
    alertmanager: str
    config_file: Path
    business: str | None = None
    blockchain: str | None = None


def start_stack(
    tmp_path: Path,
    procs: list[ManagedProcess],
    alerting: dict[str, Any] | None = None,
    system: dict[str, Any] | None = None,
    business: bool = False,
    networks: list[dict[str, Any]] | None = None,
) -> Stack:
    """system exporter, Alertmanager and Prometheus (generated rules, 1 s intervals) on loopback.

    `alerting` is merged into config.yml's alerting section; nothing generated is edited by hand.
    """
    sys_port, prom_port, am_port, biz_port, bc_port = free_port(), free_port(), free_port(), free_port(), free_port()
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
            "alertmanager": [f"127.0.0.1:{am_port}"],
        },
    }
    config["exporters"]["business"]["listen_address"] = f"127.0.0.1:{biz_port}"
    config["exporters"]["blockchain"]["listen_address"] = f"127.0.0.1:{bc_port}"
    config["blockchain"] = {"networks": networks or []}
    config["business"].update({"auth_token": TOKEN, "store": {"path": str(tmp_path / "business.sqlite")}})
    config["alerting"].update({"alertmanager_url": f"http://127.0.0.1:{am_port}", **(alerting or {})})
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

    def start(name: str, argv: list[str], ready: str) -> None:
        proc = ManagedProcess(name, argv, tmp_path / f"{name}.log").start()
        procs.append(proc)
        proc.wait_http(ready)

    start(
        "system",
        [sys.executable, "-m", "exporters.cli", "system", "--config.file", str(cfg)],
        f"http://127.0.0.1:{sys_port}/-/ready",
    )
    if business:
        start(
            "business",
            [sys.executable, "-m", "exporters.cli", "business", "--config.file", str(cfg)],
            f"http://127.0.0.1:{biz_port}/-/ready",
        )
    if networks:
        start(
            "blockchain",
            [sys.executable, "-m", "exporters.cli", "blockchain", "--config.file", str(cfg)],
            f"http://127.0.0.1:{bc_port}/-/ready",
        )
    start(
        "alertmanager",
        [
            tool("prometheus-alertmanager"),
            f"--config.file={out / 'provisioning/alertmanager/alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
            f"--web.external-url=http://127.0.0.1:{am_port}",
        ],
        f"http://127.0.0.1:{am_port}/-/ready",
    )
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
    )
