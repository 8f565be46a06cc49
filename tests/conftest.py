"""Fixtures starting real components on free loopback ports, and stopping them afterwards."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from exporters.stack.procs import ManagedProcess, ToolMissing, find_tool, free_port

REPO = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    """A required external tool; a missing one fails the test with the install command."""
    try:
        return find_tool(name)
    except ToolMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for p in reversed(started):
        p.stop()


def write_config(path: Path, overrides: dict | None = None) -> Path:
    """The repo's config.yml with `overrides` merged in (section by section)."""
    config = yaml.safe_load((REPO / "config.yml").read_text())
    for section, values in (overrides or {}).items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def start_system_exporter(tmp_path: Path, procs: list[ManagedProcess]) -> Callable[..., str]:
    """Start `alismon system` on a free port; returns its base URL."""

    def start(
        *extra: str,
        config: dict | None = None,
        scheme: str = "http",
        wait: bool = True,
        **wait_kwargs: object,
    ) -> str:
        port = free_port()
        cfg = write_config(tmp_path / f"config-{port}.yml", config)
        p = ManagedProcess(
            f"system-exporter-{port}",
            [
                sys.executable,
                "-m",
                "exporters.cli",
                "system",
                "--config.file",
                str(cfg),
                "--web.listen-address",
                f"127.0.0.1:{port}",
                *extra,
            ],
            tmp_path / f"system-{port}.log",
        ).start()
        procs.append(p)
        base = f"{scheme}://127.0.0.1:{port}"
        if wait:
            p.wait_http(f"{base}/-/healthy", **wait_kwargs)
        return base

    return start


@pytest.fixture
def start_prometheus(tmp_path: Path, procs: list[ManagedProcess]) -> Callable[[dict], str]:
    """Start a real Prometheus with the given config dict; returns its base URL."""

    def start(config: dict) -> str:
        port = free_port()
        cfg = tmp_path / f"prometheus-{port}.yml"
        cfg.write_text(yaml.safe_dump(config))
        p = ManagedProcess(
            f"prometheus-{port}",
            [
                tool("prometheus"),
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / f'tsdb-{port}'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--rules.alert.resend-delay=1s",
            ],
            tmp_path / f"prometheus-{port}.log",
        ).start()
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        p.wait_http(f"{base}/-/ready")
        return base

    return start


@pytest.fixture
def start_node_exporter(tmp_path: Path, procs: list[ManagedProcess]) -> Callable[..., str]:
    def start(*collectors: str) -> str:
        port = free_port()
        flags = ["--collector.disable-defaults", *(f"--collector.{c}" for c in collectors)]
        p = ManagedProcess(
            f"node-exporter-{port}",
            [tool("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{port}", *flags],
            tmp_path / f"node-exporter-{port}.log",
        ).start()
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        p.wait_http(f"{base}/metrics")
        return base

    return start
