"""Blockchain exporter against local EVM dev nodes, with the issue's targets, beside a Python peer when available.

`--client anvil|ganache|hardhat` (default anvil) picks the node; see Node for how each is made to mine by hand
or once a second. Every block the bench mines carries 10 transactions: 7 plain transfers and 3 `submitClaim`
calls to an AlisRegistry contract (exporters/demo/contracts), sent with explicit nonces from the node's unlocked
dev accounts into a node that does not mine on its own, then mined with `evm_mine`. Measured:

1. RPC round trips per new block: deltas of the exporter's own `blockchain_rpc_request_duration_seconds`
   counts (all methods, `batch` included) over deltas of `blockchain_blocks_processed_total`, while one
   block a second is mined. Four exporters follow the same node: poll only or with `ws_url`, with no
   watched contract or with the registry watched. Target <= 2.
2. Backfill rate: the two poll-only exporters are frozen (SIGSTOP) while 3000 blocks are mined, then
   resumed one at a time (SIGCONT); blocks / seconds until `blockchain_followed_block_number` reaches the
   block below the head (the head's own receipts ride along with the next tick by design). Target >= 300
   blocks/s. Beside it, the node alone serving the same blocks as full blocks, receipts and logs in batches
   of 100: the ceiling of a follower on clients without eth_getBlockReceipts (ganache 7, Hardhat 2).
3. Head freshness: from just before `evm_mine` to `blockchain_head_block_number` showing the block,
   polling /metrics every millisecond, with `ws_url` and poll only (poll_interval 1s). Target p50 < 250 ms
   (with ws).
4. Scrape latency while an endpoint hangs (a loopback TCP server that accepts and never answers), one
   healthy and one hanging endpoint on one chain plus a chain whose only endpoint hangs, measured twice:
   by a real Prometheus scraping every 50 ms (its `scrape_duration_seconds`; the target, p99 < 5 ms, is judged
   on this) and by a Python client (requests on a keep-alive session, which adds 1.5-2 ms of its own; the
   peer is timed this way, its scrapes take seconds).
5. RSS with 5 chains (5 anvil nodes, each with ws, a watched account and the watched registry) under
   traffic. Target < 120 MB.

Peer: smartcontractkit/Blockchain-RPC-Exporter (Python; the Go peers need a toolchain this machine lacks).
It runs only when `--peer DIR` points at a checkout whose `venv/bin/python` has its requirements installed,
started from a shim that binds 127.0.0.1 on a free port instead of its fixed 0.0.0.0:8000/8001. It reads
heads from a websocket subscription and queries nodes at scrape time, so it is compared on what both do:
head freshness over ws, scrape latency beside a hanging endpoint, and RSS for 5 chains (one process per
chain, as its config holds one chain). To prepare it (never into .venv, never committed):
`git clone https://github.com/smartcontractkit/Blockchain-RPC-Exporter DIR && python3.11 -m venv DIR/venv &&
DIR/venv/bin/pip install -r DIR/requirements.txt`, then `./scripts/bench blockchain --peer DIR`.
Runs in about 2-2.5 minutes, most of it mining the backfill blocks (3000 on anvil, 1000 on ganache and Hardhat,
which mine slower); results in benchmarks/results/blockchain.json (anvil) or blockchain-<client>.json.
The peer and the RSS phase (5 nodes) run with anvil only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from web3 import Web3

from benchmarks.common import RESULTS, Target, start_prometheus
from exporters.core.tools import find_tool
from exporters.stack.procs import ManagedProcess, alismon_argv, free_port
from tests.contracts.build import ARTEFACT, load_artefact

CHAIN_ID = 31337
TXS_PER_BLOCK = 10
CONTRACT_CALLS_PER_BLOCK = 3
SUBMIT_CLAIM = "0x" + bytes(Web3.keccak(text="submitClaim(bytes32)")[:4]).hex()
TARGETS = {
    "round_trips_per_block": ("<=", 2.0),
    "backfill_blocks_per_s": (">=", 300.0),
    "freshness_ws_p50_ms": ("<", 250.0),
    "scrape_p99_ms_endpoint_hanging": ("<", 5.0),
    "rss_mb_5_chains": ("<", 120.0),
}
PEER_SHIM = """
import sys
from wsgiref.simple_server import make_server
from prometheus_client import REGISTRY, make_wsgi_app
from metrics import PrometheusCustomCollector
REGISTRY.register(PrometheusCustomCollector())
make_server("127.0.0.1", int(sys.argv[1]), make_wsgi_app()).serve_forever()
"""


# ------------------------------------------------------------------ nodes and traffic


# The dev accounts' mnemonic of anvil and Hardhat; ganache is given it too.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
CLIENTS = ("anvil", "ganache", "hardhat")


class Node:
    """One EVM dev node on a free loopback port: mining only when told to (`evm_mine`, which all three clients
    have and which fills a block with every pending transaction), or on its own once a second (`interval`).

    The mining-control layer per client:
    - anvil: `--no-mining`, or `--block-time 1`.
    - ganache 7: interval mining (`--miner.blockTime`, an hour when mining by hand) with the miner stopped
      (`miner_stop`) when mining by hand; not instamine, whose eager mode answers eth_sendTransaction only once
      the transaction is mined.
    - Hardhat 2: `mining: {auto: false, interval: 0}` in a hardhat.config.js of its own, or an interval of 1000 ms.
    """

    def __init__(self, run: Path, client: str = "anvil", *, interval: bool = False) -> None:
        self.client = client
        self.interval = interval
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.chain_id = 1337 if client == "ganache" else CHAIN_ID
        cwd = None
        if client == "anvil":
            mining = ["--block-time", "1"] if interval else ["--no-mining"]
            argv = [find_tool("anvil"), "--host", "127.0.0.1", "--port", str(self.port), "--silent", *mining]
        elif client == "ganache":
            argv = [
                find_tool("node"), find_tool("ganache"), "--server.host", "127.0.0.1", "--server.port", str(self.port),
                "--chain.chainId", str(self.chain_id), "--miner.blockTime", "1" if interval else "3600",
                "--wallet.mnemonic", DEV_MNEMONIC, "--logging.quiet",
            ]  # fmt: skip
        elif client == "hardhat":
            script = find_tool("hardhat")
            cwd = run / f"hardhat-{self.port}"
            cwd.mkdir()
            network = {"chainId": self.chain_id, "mining": {"auto": False, "interval": 1000 if interval else 0}}
            (cwd / "hardhat.config.js").write_text(
                f"module.exports = {{ networks: {{ hardhat: {json.dumps(network)} }} }};\n"
            )
            (cwd / "node_modules").symlink_to(Path(script).parents[3])
            argv = [find_tool("node"), script, "node", "--hostname", "127.0.0.1", "--port", str(self.port)]
        else:
            raise ValueError(f"unknown client {client!r}: one of {', '.join(CLIENTS)}")
        self.proc = ManagedProcess(f"{client}-{self.port}", argv, run / f"{client}-{self.port}.log", cwd=cwd)
        self.session = requests.Session()
        self.accounts: list[str] = []
        self.nonces: dict[str, int] = {}
        self.registry: str | None = None
        self.head = 0

    def start(self) -> Node:
        self.proc.start()
        deadline = time.monotonic() + 40
        while True:
            try:
                self.rpc("eth_chainId")
                break
            except requests.RequestException:
                if not self.proc.running() or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.client} did not start:\n{self.proc.log_tail()}") from None
                time.sleep(0.05)
        if self.client == "ganache" and not self.interval:
            self.rpc("miner_stop")
        self.accounts = self.rpc("eth_accounts")[:TXS_PER_BLOCK]
        self.nonces = {a: int(self.rpc("eth_getTransactionCount", a, "pending"), 16) for a in self.accounts}
        self.head = int(self.rpc("eth_blockNumber"), 16)
        return self

    def stop(self) -> None:
        self.proc.stop()

    def rpc(self, method: str, *params: object) -> Any:
        r = self.session.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10
        )
        body = r.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def _send(self, sender: str, tx: dict[str, str]) -> dict[str, Any]:
        nonce = self.nonces[sender]
        self.nonces[sender] = nonce + 1
        return {"from": sender, "nonce": hex(nonce), **tx}

    def deploy_registry(self) -> str:
        art = load_artefact()
        # Gas given: ganache does not estimate, its default of 90000 is too little for a deployment.
        deploy = {"data": art["bytecode"], "gas": hex(3_000_000)}
        tx_hash = self.rpc("eth_sendTransaction", self._send(self.accounts[0], deploy))
        self.mine()
        receipt = self.rpc("eth_getTransactionReceipt", tx_hash)
        if receipt is None or int(receipt["status"], 16) != 1:
            raise RuntimeError(f"registry deployment failed: {receipt}")
        self.registry = receipt["contractAddress"]
        return self.registry

    def queue_block_txs(self) -> None:
        """10 transactions into the pool in one batch: transfers, and calls to the registry once deployed."""
        registry = self.registry
        calls = CONTRACT_CALLS_PER_BLOCK if registry else 0
        txs = []
        for i, sender in enumerate(self.accounts):
            tx: dict[str, str]
            if registry and i >= TXS_PER_BLOCK - calls:
                digest = (self.head + 1).to_bytes(28, "big").hex() + sender[2:10]
                tx = {"to": registry, "data": SUBMIT_CLAIM + digest, "gas": hex(150_000)}
            else:
                tx = {"to": self.accounts[(i + 1) % len(self.accounts)], "value": "0x1", "gas": hex(21_000)}
            txs.append(self._send(sender, tx))
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendTransaction", "params": [tx]} for i, tx in enumerate(txs)
        ]
        answers = self.session.post(self.url, json=batch, timeout=10).json()
        bad = [a for a in answers if "error" in a]
        if bad:
            raise RuntimeError(f"eth_sendTransaction failed: {bad[:2]}")

    def mine(self) -> int:
        self.rpc("evm_mine")
        self.head += 1
        return self.head

    def mine_block_with_traffic(self) -> tuple[int, float]:
        """Queue 10 transactions and mine them; returns the block number and when mining was asked for."""
        self.queue_block_txs()
        t0 = time.perf_counter()
        return self.mine(), t0


@contextmanager
def hanging_server() -> Iterator[int]:
    """A loopback TCP server that accepts every connection and never answers; yields its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.1)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        done.set()
        thread.join(2)
        for conn in held:
            conn.close()
        srv.close()


# ------------------------------------------------------------------ exporters


def network(name: str, node: Node | None, *, ws: bool, contract: bool, **extra: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"name": "a", "url": node.url if node else extra.pop("url")}
    if ws and node:
        endpoint["ws_url"] = node.ws_url
    net: dict[str, Any] = {
        "name": name,
        "chain_id": node.chain_id if node else CHAIN_ID,
        "endpoints": [endpoint, *extra.pop("more_endpoints", [])],
        "poll_interval": "1s",
        "request_timeout": "2s",
        **extra,
    }
    if contract and node and node.registry:
        net["contracts"] = [{"alias": "registry", "address": node.registry, "abi_file": str(ARTEFACT)}]
    return net


class Ours:
    """`alismon blockchain` with the given networks, on a free loopback port."""

    def __init__(self, run: Path, label: str, networks: list[dict[str, Any]]) -> None:
        self.label = label
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        cfg = run / f"blockchain-{port}.yml"
        cfg.write_text(yaml.safe_dump({"blockchain": {"networks": networks}}))
        argv = alismon_argv("blockchain", config_file=cfg, listen_address=f"127.0.0.1:{port}")
        self.proc = ManagedProcess(f"blockchain-{label}", argv, run / f"blockchain-{port}.log")
        self.session = requests.Session()

    def start(self) -> Ours:
        self.proc.start()
        return self

    def wait_ready(self) -> None:
        self.proc.wait_http(f"{self.base}/-/ready", timeout=20)

    def text(self) -> str:
        r = self.session.get(f"{self.base}/metrics", timeout=5)
        r.raise_for_status()
        return r.text

    def head(self) -> int:
        m = re.search(r"^blockchain_head_block_number\{[^}]*\} (\S+)$", self.text(), re.M)
        return int(float(m.group(1))) if m else -1

    def snapshot(self, chain: str = "bench") -> dict[str, float]:
        """Round trips, followed blocks and errors of one chain, summed over its endpoints and methods."""
        out = {"round_trips": 0.0, "blocks": 0.0, "skipped": 0.0, "followed": -1.0, "errors": 0.0, "timeouts": 0.0}
        for family in text_string_to_metric_families(self.text()):
            for s in family.samples:
                if s.labels.get("chain") != chain:
                    continue
                if s.name == "blockchain_rpc_request_duration_seconds_count":
                    out["round_trips"] += s.value
                elif s.name == "blockchain_blocks_processed_total":
                    out["blocks"] = s.value
                elif s.name == "blockchain_blocks_skipped_total":
                    out["skipped"] = s.value
                elif s.name == "blockchain_followed_block_number":
                    out["followed"] = s.value
                elif s.name == "blockchain_rpc_errors_total":
                    out["errors"] += s.value
                    if s.labels.get("code") == "timeout":
                        out["timeouts"] += s.value
        return out

    def wait_following(self, at_least: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.snapshot()["followed"] >= at_least:
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.label} did not follow block {at_least} within {timeout:.0f}s:\n{self.proc.log_tail()}"
        )

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20


class Peer:
    """smartcontractkit/Blockchain-RPC-Exporter, its `evm` (websocket) collector, one chain per process."""

    def __init__(self, run: Path, peer_dir: Path, label: str, ws_urls: list[str]) -> None:
        self.label = label
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        cfg = run / f"peer-{port}.yml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "blockchain": "Anvil",
                    "chain_id": CHAIN_ID,
                    "network_name": "bench",
                    "network_type": "Testnet",
                    "integration_maturity": "development",
                    "canonical_name": "anvil-bench",
                    "chain_selector": -1,
                    "collector": "evm",
                    # Same budget as ours (request_timeout 2s).
                    "connection_parameters": {
                        "open_timeout": 2,
                        "close_timeout": 1,
                        "ping_interval": 6,
                        "ping_timeout": 2,
                    },
                    "endpoints": [{"url": u, "provider": f"p{i}"} for i, u in enumerate(ws_urls)],
                }
            )
        )
        self.proc = ManagedProcess(
            f"peer-{label}",
            [str(peer_dir / "venv/bin/python"), "-c", PEER_SHIM, str(port)],
            run / f"peer-{port}.log",
            env={"CONFIG_FILE_PATH": str(cfg)},
            cwd=peer_dir / "src",
        )
        self.session = requests.Session()

    def start(self) -> Peer:
        self.proc.start()
        return self

    def wait_ready(self) -> None:
        self.proc.wait_http(f"{self.base}/metrics", timeout=20)

    def wait_listening(self, timeout: float = 20.0) -> None:
        """Its scrape can take longer than wait_http's 1 s while a node hangs: wait for the port only."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(self.base.rsplit(":", 1)[1]))) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.label} did not listen within {timeout:.0f}s:\n{self.proc.log_tail()}")

    def head(self) -> int:
        r = self.session.get(f"{self.base}/metrics", timeout=10)
        m = re.search(r"^brpc_block_height\{[^}]*\} (\S+)$", r.text, re.M)
        return int(float(m.group(1))) if m else -1

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20


# ------------------------------------------------------------------ measurements


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


def wait_visible(head: Callable[[], int], number: int, t0: float, timeout: float) -> float | None:
    """Seconds from t0 until head() shows `number`, polling every millisecond; None on timeout."""
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        try:
            if head() >= number:
                return time.perf_counter() - t0
        except requests.RequestException:
            pass
        time.sleep(0.001)
    return None


def traffic_phase(run: Path, stack: ExitStack, client: str, blocks: int, peer_dir: Path | None) -> dict[str, Any]:
    """Round trips per block (4 configurations) and head freshness, from the same mined blocks."""
    node = Node(run, client).start()
    stack.callback(node.stop)
    node.deploy_registry()
    configs = {
        "poll": {"ws": False, "contract": False},
        "ws": {"ws": True, "contract": False},
        "poll+contract": {"ws": False, "contract": True},
        "ws+contract": {"ws": True, "contract": True},
    }
    ours = {k: Ours(run, k, [network("bench", node, **v)]).start() for k, v in configs.items()}
    for e in ours.values():
        stack.callback(e.proc.stop)
    peer = None
    if peer_dir is not None:
        peer = Peer(run, peer_dir, "freshness", [node.ws_url]).start()
        stack.callback(peer.proc.stop)
    for e in ours.values():
        e.wait_ready()
    if peer is not None:
        peer.wait_ready()
    # A first block with traffic, so every follower is past its start and ws subscriptions are up.
    first, _ = node.mine_block_with_traffic()
    for e in ours.values():
        e.wait_following(first)
    time.sleep(1.0)
    before = {k: e.snapshot() for k, e in ours.items()}
    heads: dict[str, Callable[[], int]] = {k: e.head for k, e in ours.items() if "contract" not in k}
    if peer is not None:
        heads["peer (ws)"] = peer.head
    fresh: dict[str, list[float]] = {k: [] for k in heads}
    missed = dict.fromkeys(heads, 0)
    rng = random.Random(1)
    with ThreadPoolExecutor(max_workers=len(heads)) as pool:
        for _ in range(blocks):
            started = time.perf_counter()
            number, t0 = node.mine_block_with_traffic()
            futures = {k: pool.submit(wait_visible, h, number, t0, 3.0) for k, h in heads.items()}
            for k, f in futures.items():
                dt = f.result()
                if dt is None:
                    missed[k] += 1
                else:
                    fresh[k].append(dt * 1000)
            # About one block a second, jittered so that polling is not phase-locked to mining.
            time.sleep(max(0.0, rng.uniform(0.5, 1.5) - (time.perf_counter() - started)))
    for e in ours.values():
        e.wait_following(node.head, timeout=5)
    time.sleep(0.3)
    after = {k: e.snapshot() for k, e in ours.items()}
    round_trips = {}
    for k in ours:
        blocks_followed = after[k]["blocks"] - before[k]["blocks"]
        rt = after[k]["round_trips"] - before[k]["round_trips"]
        round_trips[k] = {"round_trips": rt, "blocks": blocks_followed, "per_block": rt / max(1.0, blocks_followed)}
    freshness = {
        k: {
            "p50_ms": statistics.median(v) if v else float("nan"),
            "p90_ms": pct(v, 0.9),
            "max_ms": max(v, default=0),
            "samples": len(v),
            "missed": missed[k],
        }
        for k, v in fresh.items()
    }
    for e in ours.values():
        e.proc.stop()
    if peer is not None:
        peer.proc.stop()
    node.stop()
    return {"round_trips": round_trips, "freshness": freshness}


def backfill_phase(run: Path, stack: ExitStack, client: str, blocks: int) -> dict[str, Any]:
    """Freeze two poll-only followers, mine `blocks` blocks of traffic, resume each and time the catch-up."""
    node = Node(run, client).start()
    stack.callback(node.stop)
    node.deploy_registry()
    ours = {
        k: Ours(run, k, [network("bench", node, ws=False, contract=c, max_catchup_blocks=blocks + 100)]).start()
        for k, c in (("no contract", False), ("contract watched", True))
    }
    for e in ours.values():
        stack.callback(e.proc.stop)
    for e in ours.values():
        e.wait_ready()
    first, _ = node.mine_block_with_traffic()
    for e in ours.values():
        e.wait_following(first)
    frozen = {k: e.snapshot() for k, e in ours.items()}
    for e in ours.values():
        os.kill(e.proc.pid, signal.SIGSTOP)
        stack.callback(_cont, e.proc.pid)
    made = time.perf_counter()
    for _ in range(blocks):
        node.mine_block_with_traffic()
    made = time.perf_counter() - made
    out: dict[str, Any] = {"blocks": blocks, "mining_s": made}
    # Caught up when everything below the head is followed: with a contract watched, the head's own receipts
    # ride along with the next tick by design (up to a poll interval later), which is no backfill speed.
    below_head = node.head - 1
    for k, e in ours.items():
        base = frozen[k]
        t0 = time.perf_counter()
        os.kill(e.proc.pid, signal.SIGCONT)
        deadline = t0 + 120
        snap = base
        while time.perf_counter() < deadline:
            snap = e.snapshot()
            if snap["followed"] >= below_head:
                break
            time.sleep(0.02)
        dt = time.perf_counter() - t0
        caught = snap["followed"] >= below_head
        processed = snap["blocks"] - base["blocks"]
        out[k] = {
            "seconds": dt,
            "blocks_processed": processed,
            "blocks_skipped": snap["skipped"] - base["skipped"],
            "blocks_per_s": (below_head - base["followed"]) / dt if caught else float("nan"),
            "round_trips": snap["round_trips"] - base["round_trips"],
            "caught_up": caught,
        }
        e.proc.stop()
    out["node_floor"] = node_floor(node, int(frozen["contract watched"]["followed"]) + 1, node.head)
    node.stop()
    return out


def node_floor(node: Node, first: int, last: int) -> dict[str, float]:
    """How fast the node alone serves what a follower watching the registry needs, without any exporter: batches
    of 100 full blocks, then one batch of the registry calls' receipts and the blocks' logs, one after the other.
    Clients without eth_getBlockReceipts (ganache 7, Hardhat 2) are read this way: no follower of theirs can
    catch up faster (anvil's eth_getBlockReceipts is cheaper)."""
    t0 = time.perf_counter()
    for start in range(first, last + 1, 100):
        numbers = range(start, min(last, start + 99) + 1)
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": [hex(n), True]}
            for i, n in enumerate(numbers)
        ]
        blocks = [a["result"] for a in node.session.post(node.url, json=batch, timeout=60).json()]
        calls = []
        for b in blocks:
            for tx in b["transactions"]:
                if (tx.get("to") or "").lower() == (node.registry or "").lower():
                    calls.append(("eth_getTransactionReceipt", [tx["hash"]]))
            calls.append(("eth_getLogs", [{"blockHash": b["hash"], "address": [node.registry]}]))
        batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        node.session.post(node.url, json=batch, timeout=60).json()
    seconds = time.perf_counter() - t0
    return {"blocks": last - first + 1, "seconds": seconds, "blocks_per_s": (last - first + 1) / seconds}


def _cont(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def prometheus_scrape_ms(stack: ExitStack, run: Path, base: str, seconds: float) -> dict[str, float]:
    """What Prometheus itself measures (scrape_duration_seconds) scraping every 50 ms for `seconds`."""
    config = {
        "global": {"scrape_interval": "50ms", "scrape_timeout": "50ms"},
        "scrape_configs": [{"job_name": "exporter", "static_configs": [{"targets": [base.removeprefix("http://")]}]}],
    }
    url, _, proc = start_prometheus(stack, run, "prometheus-scraper", config)
    time.sleep(seconds + 1)
    window = f"{int(seconds)}s"
    query = f'scrape_duration_seconds{{job="exporter"}}[{window}]'
    result = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=10).json()["data"]["result"]
    proc.stop()
    values = sorted(float(v) * 1000 for _, v in result[0]["values"])
    return {"scrapes": len(values), "p50_ms": statistics.median(values), "p99_ms": pct(values, 0.99)}


def hang_phase(
    run: Path, stack: ExitStack, client: str, scrapes: int, peer_dir: Path | None, prometheus_seconds: float = 30.0
) -> dict[str, Any]:
    """Scrape latency while one endpoint of a chain and the only endpoint of another chain hang: from a Python
    client (requests, keep-alive, Prometheus' headers), then as Prometheus measures it scraping every 50 ms."""
    node = Node(run, client, interval=True).start()
    stack.callback(node.stop)
    port = stack.enter_context(hanging_server())
    hang_http, hang_ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    nets = [
        network(
            "bench", node, ws=True, contract=False, more_endpoints=[{"name": "b", "url": hang_http, "ws_url": hang_ws}]
        ),
        network("stuck", None, ws=False, contract=False, url=hang_http),
    ]
    ours = Ours(run, "hang", nets).start()
    stack.callback(ours.proc.stop)
    peer = None
    if peer_dir is not None:
        peer = Peer(run, peer_dir, "hang", [node.ws_url, hang_ws]).start()
        stack.callback(peer.proc.stop)
    ours.wait_ready()
    time.sleep(2.5)  # past request_timeout: the hanging endpoints have timed out at least once
    out: dict[str, Any] = {}
    t = Target("alismon blockchain", f"{ours.base}/metrics", ours.proc.pid)
    for _ in range(10):
        t.scrape()
    t.latencies.clear()
    t.cpu = 0.0
    for _ in range(scrapes):
        t.scrape()
        time.sleep(0.005)
    s = t.stats(0)
    snap = ours.snapshot("stuck")
    out["ours"] = {
        "scrapes": s.scrapes,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "cpu_ms_per_scrape": s.cpu_ms_per_scrape,
        "stuck_chain_timeouts": snap["timeouts"],
    }
    out["prometheus"] = prometheus_scrape_ms(stack, run, ours.base, prometheus_seconds)
    if peer is not None:
        peer.wait_listening()
        lat = []
        for _ in range(6):
            start = time.perf_counter()
            try:
                peer.session.get(f"{peer.base}/metrics", timeout=15)
            except requests.RequestException:
                pass
            lat.append((time.perf_counter() - start) * 1000)
        lat = lat[1:]  # the first scrape also waits for the subscriptions to start
        out["peer"] = {"scrapes": len(lat), "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 0.99)}
        peer.proc.stop()
    ours.proc.stop()
    node.stop()
    return out


def rss_phase(run: Path, stack: ExitStack, seconds: float, peer_dir: Path | None) -> dict[str, Any]:
    """RSS of one exporter following 5 chains (5 anvils) with traffic, sampled every 0.5 s."""
    nodes = []
    for _ in range(5):
        n = Node(run).start()
        stack.callback(n.stop)
        n.deploy_registry()
        nodes.append(n)
    nets = [
        network(f"chain{i}", n, ws=True, contract=True, accounts=[{"alias": "ops", "address": n.accounts[0]}])
        for i, n in enumerate(nodes)
    ]
    ours = Ours(run, "rss", nets).start()
    stack.callback(ours.proc.stop)
    peers = []
    if peer_dir is not None:
        for i, n in enumerate(nodes):
            p = Peer(run, peer_dir, f"rss{i}", [n.ws_url]).start()
            stack.callback(p.proc.stop)
            peers.append(p)
    ours.wait_ready()
    for p in peers:
        p.wait_ready()
    ours_max, peer_max = 0.0, 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        for n in nodes:
            n.mine_block_with_traffic()
        ours.text()
        for p in peers:
            p.head()
        ours_max = max(ours_max, ours.rss_mb())
        peer_max = max(peer_max, sum(p.rss_mb() for p in peers))
        time.sleep(max(0.0, 0.5 - (time.perf_counter() - started)))
    followed = [ours.snapshot(f"chain{i}")["followed"] for i in range(5)]
    out: dict[str, Any] = {"ours_mb": ours_max, "chains_following": sum(f > 0 for f in followed)}
    if peers:
        out["peer_mb_5_processes"] = peer_max
        out["peer_mb_per_process"] = peer_max / len(peers)
    ours.proc.stop()
    for p in peers:
        p.proc.stop()
    for n in nodes:
        n.stop()
    return out


# ------------------------------------------------------------------ report


def verdict(key: str, value: float) -> str:
    op, target = TARGETS[key]
    ok = {"<=": value <= target, ">=": value >= target, "<": value < target}[op]
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20, help="blocks mined for round trips and freshness")
    parser.add_argument("--client", choices=CLIENTS, default="anvil", help="the EVM dev node to follow")
    parser.add_argument(
        "--backfill-blocks", type=int, help="default 3000 on anvil, 1000 on ganache and Hardhat (slower to mine)"
    )
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--rss-seconds", type=float, default=8.0)
    parser.add_argument(
        "--peer",
        type=Path,
        default=os.environ.get("ALISMON_BENCH_BRPC"),
        help="checkout of smartcontractkit/Blockchain-RPC-Exporter with its requirements in DIR/venv",
    )
    args = parser.parse_args()
    client: str = args.client
    backfill_blocks: int = args.backfill_blocks or (3000 if client == "anvil" else 1000)
    peer_dir: Path | None = args.peer
    notes: list[str] = [f"client: {client}"]
    if client != "anvil":
        notes.append("the peer and the 5-chain RSS phase run with --client anvil only")
        peer_dir = None
    elif peer_dir is not None and not (peer_dir / "venv/bin/python").exists():
        notes.append(f"peer not run: {peer_dir}/venv/bin/python missing")
        peer_dir = None
    elif peer_dir is None:
        notes.append("peer not run: pass --peer DIR (or ALISMON_BENCH_BRPC) with Blockchain-RPC-Exporter in DIR")

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        run = Path(tmp)
        try:
            traffic = traffic_phase(run, stack, client, args.blocks, peer_dir)
            backfill = backfill_phase(run, stack, client, backfill_blocks)
            hang = hang_phase(run, stack, client, args.scrapes, peer_dir)
            rss = rss_phase(run, stack, args.rss_seconds, peer_dir) if client == "anvil" else None
        except Exception:
            for log in sorted(run.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
            raise

    rows: list[dict[str, Any]] = []

    def row(what: str, key: str | None, value: float, peer: float | None = None, unit: str = "") -> None:
        rows.append(
            {
                "measure": what,
                "ours": value,
                "unit": unit,
                "target": f"{TARGETS[key][0]} {TARGETS[key][1]:g}" if key else "",
                "verdict": verdict(key, value) if key else "",
                "peer": peer,
                "ratio_ours_to_peer": value / peer if peer else None,
            }
        )

    for k, v in traffic["round_trips"].items():
        row(f"RPC round trips per block ({k})", "round_trips_per_block", v["per_block"])
    for k, v in backfill.items():
        if isinstance(v, dict) and k != "node_floor":
            row(f"backfill blocks/s ({k})", "backfill_blocks_per_s", v["blocks_per_s"], unit="blocks/s")
    floor = backfill["node_floor"]
    row("node alone, full blocks + receipts + logs", None, floor["blocks_per_s"], unit="blocks/s")
    peer_fresh = traffic["freshness"].get("peer (ws)", {}).get("p50_ms")
    row("head freshness p50 (ws)", "freshness_ws_p50_ms", traffic["freshness"]["ws"]["p50_ms"], peer_fresh, "ms")
    row("head freshness p50 (poll 1s)", None, traffic["freshness"]["poll"]["p50_ms"], unit="ms")
    peer_hang = hang.get("peer", {}).get("p99_ms")
    # The target is judged on what Prometheus measures; a Python client adds ~2 ms of its own (the peer's
    # scrapes, which wait on its nodes, are timed that way too).
    prom_p99 = hang["prometheus"]["p99_ms"]
    row("scrape p99, endpoint hanging (Prometheus)", "scrape_p99_ms_endpoint_hanging", prom_p99, unit="ms")
    row("scrape p99, endpoint hanging (Python client)", None, hang["ours"]["p99_ms"], peer_hang, "ms")
    if rss is not None:
        row("RSS, 5 chains", "rss_mb_5_chains", rss["ours_mb"], rss.get("peer_mb_5_processes"), "MB")

    print(f"{'measure':<48}{'ours':>10}{'target':>10}{'':>8}{'peer':>10}{'ours/peer':>11}")
    for r in rows:
        peer_s = f"{r['peer']:>10.1f}" if r["peer"] is not None else f"{'-':>10}"
        ratio_s = f"{r['ratio_ours_to_peer']:>11.3f}" if r["ratio_ours_to_peer"] is not None else f"{'-':>11}"
        print(f"{r['measure']:<48}{r['ours']:>10.2f}{r['target']:>10}{r['verdict']:>8}{peer_s}{ratio_s}")
    print()
    for k, v in traffic["freshness"].items():
        print(
            f"freshness {k:<10} p50 {v['p50_ms']:.1f} ms, p90 {v['p90_ms']:.1f} ms, max {v['max_ms']:.1f} ms, "
            f"{v['samples']} blocks, {v['missed']} not seen within 3 s"
        )
    for k, v in traffic["round_trips"].items():
        print(f"round trips {k:<14} {v['round_trips']:.0f} over {v['blocks']:.0f} blocks")
    for k, v in backfill.items():
        if isinstance(v, dict) and k != "node_floor":
            print(
                f"backfill {k:<17} {v['seconds']:.2f} s, {v['blocks_processed']:.0f} processed, "
                f"{v['blocks_skipped']:.0f} skipped, {v['round_trips']:.0f} round trips"
            )
    print(
        f"the node alone: {floor['blocks']} blocks as full blocks, registry receipts and logs in batches of 100, "
        f"{floor['seconds']:.2f} s ({floor['blocks_per_s']:.0f} blocks/s): the ceiling of a follower without "
        "eth_getBlockReceipts (ganache 7, Hardhat 2)"
    )
    print(
        f"scrape with hanging endpoints: ours p50 {hang['ours']['p50_ms']:.2f} ms "
        f"over {hang['ours']['scrapes']} scrapes, "
        f"{hang['ours']['stuck_chain_timeouts']:.0f} timeouts counted on the stuck chain; as Prometheus "
        f"measured it: p50 {hang['prometheus']['p50_ms']:.2f} ms, p99 {hang['prometheus']['p99_ms']:.2f} ms "
        f"over {hang['prometheus']['scrapes']} scrapes"
    )
    if "peer" in hang:
        print(
            f"  peer p50 {hang['peer']['p50_ms']:.0f} ms over {hang['peer']['scrapes']} scrapes "
            "(it queries nodes at scrape time)"
        )
    if rss is not None and "peer_mb_per_process" in rss:
        print(f"RSS peer: {rss['peer_mb_per_process']:.1f} MB per process, one process per chain")
    notes.append(
        f"each block: {TXS_PER_BLOCK} transactions ({CONTRACT_CALLS_PER_BLOCK} registry calls); "
        f"backfill of {backfill['blocks']} blocks mined in {backfill['mining_s']:.1f} s"
    )
    notes.append(f"bench took {time.monotonic() - started:.0f} s; load average at the end {os.getloadavg()[0]:.1f}")
    for note in notes:
        print(note)
    RESULTS.mkdir(exist_ok=True)
    name = "blockchain.json" if client == "anvil" else f"blockchain-{client}.json"
    (RESULTS / name).write_text(
        json.dumps(
            {
                "client": client,
                "rows": rows,
                "traffic": traffic,
                "backfill": backfill,
                "hang": hang,
                "rss": rss,
                "notes": notes,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
