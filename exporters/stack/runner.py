"""`alismon stack up`: the native stack in the foreground, stopped by Ctrl-C.

For now: the system exporter and a Prometheus scraping it. Every process gets a log under
<run-dir>/logs and data under <run-dir>/data; ports are checked before anything starts.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import yaml

from exporters.core.config import Config
from exporters.core.types import format_duration, split_listen_address
from exporters.stack.procs import ManagedProcess, find_tool, port_in_use


def prometheus_config(config: Config, system_target: str) -> dict[str, object]:
    return {
        "global": {
            "scrape_interval": format_duration(config.prometheus.scrape_interval),
            "scrape_timeout": format_duration(config.prometheus.effective_scrape_timeout),
            "evaluation_interval": format_duration(config.prometheus.evaluation_interval),
            "external_labels": {"stack": "alismon-native"},
        },
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [config.prometheus.listen_address]}]},
            {"job_name": "alismon-system", "static_configs": [{"targets": [system_target]}]},
        ],
    }


def _loopback(address: str) -> tuple[str, int]:
    host, port = split_listen_address(address)
    return ("127.0.0.1" if host in ("0.0.0.0", "") else host), port


def run_foreground(config_file: str, config: Config, run_dir: str) -> int:
    run = Path(run_dir).resolve()
    (run / "logs").mkdir(parents=True, exist_ok=True)
    sys_host, sys_port = _loopback(config.exporters.system.listen_address)
    prom_host, prom_port = _loopback(config.prometheus.listen_address)
    taken = [f"{h}:{p}" for h, p in ((sys_host, sys_port), (prom_host, prom_port)) if port_in_use(h, p)]
    if taken:
        print(
            f"error: port already in use: {', '.join(taken)}; stop what holds it or change config.yml",
            file=sys.stderr,
        )
        return 1
    prom_file = run / "prometheus.yml"
    prom_file.write_text(yaml.safe_dump(prometheus_config(config, f"{sys_host}:{sys_port}"), sort_keys=False))

    procs = [
        ManagedProcess(
            "system-exporter",
            [
                sys.executable,
                "-m",
                "exporters.cli",
                "system",
                "--config.file",
                str(Path(config_file).resolve()),
                "--web.listen-address",
                f"{sys_host}:{sys_port}",
            ],
            run / "logs/system-exporter.log",
        ),
        ManagedProcess(
            "prometheus",
            [
                find_tool("prometheus"),
                f"--config.file={prom_file}",
                f"--storage.tsdb.path={run / 'data/prometheus'}",
                f"--web.listen-address={prom_host}:{prom_port}",
                f"--storage.tsdb.retention.time={format_duration(config.prometheus.retention)}",
            ],
            run / "logs/prometheus.log",
        ),
    ]
    urls = {
        "system-exporter": f"http://{sys_host}:{sys_port}/metrics",
        "prometheus": f"http://{prom_host}:{prom_port}/-/ready",
    }
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_http(urls[p.name], timeout=30)
        print("AlisChain Monitoring native stack is up:")
        print(f"  system exporter  http://{sys_host}:{sys_port}/")
        print(f"  prometheus       http://{prom_host}:{prom_port}/")
        print(f"  targets          http://{prom_host}:{prom_port}/targets")
        print(f"  logs             {run / 'logs'}")
        print("Grafana is not packaged for Debian: use the compose stack (compose/) for dashboards.")
        print("Press Ctrl-C to stop.")
        sys.stdout.flush()
        while not stop:
            dead = [p.name for p in procs if not p.running()]
            if dead:
                print(f"error: {', '.join(dead)} exited; see {run / 'logs'}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        print("stack stopped")
