"""The tiers of the suite, and fixtures starting real components on free loopback ports (stopped afterwards)."""

from __future__ import annotations

import json
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


# The dev accounts of anvil and Hardhat; ganache is given the same mnemonic so one test drives all three.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


class EvmNode:
    """A real EVM dev node on a free loopback port; stop() and start() keep the port (a restart is a fresh chain).

    Subclasses say how their client is started; `chain_id` is what it answers, ws is served on the same port."""

    client = ""
    chain_id = 31337

    def __init__(self, tmp_path: Path, procs: list[ManagedProcess], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.args = args
        self._tmp = tmp_path
        self._procs = procs
        self.proc: ManagedProcess | None = None
        self.startup_seconds = 0.0

    def argv(self) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> Path | None:
        return None

    def start(self) -> EvmNode:
        started = time.monotonic()
        name = f"{self.client}-{self.port}"
        self.proc = ManagedProcess(name, self.argv(), self._tmp / f"{name}.log", cwd=self.cwd()).start()
        self._procs.append(self.proc)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.rpc("eth_chainId")
                self.startup_seconds = time.monotonic() - started
                return self
            except requests.RequestException:
                if not self.proc.running() or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.client} did not start:\n{self.proc.log_tail()}") from None
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


class Anvil(EvmNode):
    """anvil: `--block-time 1` unless other args are given."""

    client = "anvil"

    def argv(self) -> list[str]:
        return [tool("anvil"), "--host", "127.0.0.1", "--port", str(self.port), "--silent", *self.args]


class Ganache(EvmNode):
    """ganache 7: interval mining of `block_time` seconds (0: a block per transaction), chain id 1337."""

    client = "ganache"
    chain_id = 1337

    def __init__(self, tmp_path: Path, procs: list[ManagedProcess], block_time: int = 1) -> None:
        super().__init__(tmp_path, procs)
        self.block_time = block_time

    def argv(self) -> list[str]:
        return [
            tool("node"), tool("ganache"), "--server.host", "127.0.0.1", "--server.port", str(self.port),
            "--chain.chainId", str(self.chain_id), "--miner.blockTime", str(self.block_time),
            "--wallet.mnemonic", DEV_MNEMONIC, "--logging.quiet",
        ]  # fmt: skip


class Hardhat(EvmNode):
    """Hardhat 2's node: interval mining of `block_time` seconds (0: a block per transaction), chain id 31337.

    Hardhat reads its mining settings from a hardhat.config.js and insists on a local install, so the
    node runs in a directory of its own holding that config and a link to .tools/node_modules."""

    client = "hardhat"

    def __init__(self, tmp_path: Path, procs: list[ManagedProcess], block_time: int = 1) -> None:
        super().__init__(tmp_path, procs)
        self.block_time = block_time
        self.project = tmp_path / f"hardhat-{self.port}"

    def cwd(self) -> Path:
        return self.project

    def argv(self) -> list[str]:
        script = tool("hardhat")
        self.project.mkdir(exist_ok=True)
        mining = {"auto": False, "interval": self.block_time * 1000} if self.block_time else {"auto": True}
        network = {"chainId": self.chain_id, "mining": mining}
        (self.project / "hardhat.config.js").write_text(
            f"module.exports = {{ networks: {{ hardhat: {json.dumps(network)} }} }};\n"
        )
        link = self.project / "node_modules"
        if not link.exists():
            link.symlink_to(Path(script).parents[3])
        return [tool("node"), script, "node", "--hostname", "127.0.0.1", "--port", str(self.port)]


@pytest.fixture
def start_anvil(tmp_path: Path, procs: list[ManagedProcess]) -> Callable[..., Anvil]:
    """Start anvil (`--block-time 1` unless other args are given); returns a handle with url, rpc(), stop()."""

    def start(*args: str) -> Anvil:
        node = Anvil(tmp_path, procs, *(args or ("--block-time", "1"))).start()
        assert isinstance(node, Anvil)
        return node

    return start


EVM_CLIENTS = {"anvil": Anvil, "ganache": Ganache, "hardhat": Hardhat}


@pytest.fixture(params=sorted(EVM_CLIENTS))
def evm_client(request: pytest.FixtureRequest, tmp_path: Path, procs: list[ManagedProcess]) -> EvmNode:
    """Each EVM client in turn, started with 1 s blocks: the tests using it run once per client."""
    name: str = request.param
    if name == "anvil":
        return Anvil(tmp_path, procs, "--block-time", "1").start()
    return EVM_CLIENTS[name](tmp_path, procs).start()


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
