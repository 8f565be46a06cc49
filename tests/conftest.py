"""The tiers of the suite, and fixtures starting real components on free loopback ports (stopped afterwards)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from exporters.core.tools import ToolMissing, find_tool
from exporters.stack.procs import ManagedProcess, free_port, start_alismon

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
# A test's tier is the directory it lives in, so a new test gets one without anyone remembering to mark it.
TIERS = ("unit", "tools", "integration", "e2e")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else None
        if tier not in TIERS:
            where = ", ".join(f"tests/{t}/" for t in TIERS)
            raise pytest.UsageError(f"{item.nodeid}: put the test in its tier's directory: {where}")
        item.add_marker(tier)


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
        **wait_kwargs: float,
    ) -> str:
        port = free_port()
        cfg = write_config(tmp_path / f"config-{port}.yml", config)
        p = start_alismon(
            "system",
            *extra,
            config_file=cfg,
            listen_address=f"127.0.0.1:{port}",
            name=f"system-exporter-{port}",
            log_path=tmp_path / f"system-{port}.log",
        )
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


# ---------------------------------------------------------------- blockchain


class Anvil:
    """A real anvil node on a free loopback port; stop() and start() keep the port (a restart is a fresh chain)."""

    def __init__(self, tmp_path: Path, procs: list[ManagedProcess], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.args = args
        self._tmp = tmp_path
        self._procs = procs
        self.proc: ManagedProcess | None = None

    def start(self) -> Anvil:
        argv = [tool("anvil"), "--host", "127.0.0.1", "--port", str(self.port), "--silent", *self.args]
        self.proc = ManagedProcess(f"anvil-{self.port}", argv, self._tmp / f"anvil-{self.port}.log").start()
        self._procs.append(self.proc)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.rpc("eth_chainId")
                return self
            except requests.RequestException:
                if not self.proc.running() or time.monotonic() > deadline:
                    raise RuntimeError(f"anvil did not start:\n{self.proc.log_tail()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.stop()

    def rpc(self, method: str, *params: object) -> Any:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        r = requests.post(self.url, json=payload, timeout=10)
        r.raise_for_status()
        body = r.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]


@pytest.fixture
def start_anvil(tmp_path: Path, procs: list[ManagedProcess]) -> Callable[..., Anvil]:
    """Start anvil (`--block-time 1` unless other args are given); returns a handle with url, rpc(), stop()."""

    def start(*args: str) -> Anvil:
        return Anvil(tmp_path, procs, *(args or ("--block-time", "1"))).start()

    return start


@pytest.fixture
def start_blockchain_exporter(tmp_path: Path, procs: list[ManagedProcess]) -> Callable[..., str]:
    """Start `alismon blockchain` with the given networks on a free port; returns its base URL."""

    def start(networks: list[dict[str, Any]], *extra: str) -> str:
        port = free_port()
        cfg = write_config(tmp_path / f"config-{port}.yml", {"blockchain": {"networks": networks}})
        p = start_alismon(
            "blockchain",
            *extra,
            config_file=cfg,
            listen_address=f"127.0.0.1:{port}",
            name=f"blockchain-exporter-{port}",
            log_path=tmp_path / f"blockchain-{port}.log",
        )
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        p.wait_http(f"{base}/-/healthy")
        return base

    return start
