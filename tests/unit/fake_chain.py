"""An in-memory EVM chain answering the JSON-RPC calls of exporters/blockchain on an in-process loopback port.

The fake transport of the follower and poller unit tests: the exporter's own RpcClient, EndpointPoller and
Follower talk HTTP to an aiohttp app in the test's event loop, so batching, error counting and round trips
are the real ones and only the node is made up. Blocks link by hash; their transactions have receipts and
logs, and a block's logs bloom is computed as a node does, so the follower asks for logs exactly where a
node would make it. A test mines, reorganises, refuses or drops methods, stops and restarts the node
(same port), and reads back the methods of every request the node was sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak

from exporters.blockchain.exporter import build_chains
from exporters.blockchain.follow import Follower
from exporters.blockchain.poller import EndpointPoller
from exporters.blockchain.readings import ChainState, EndpointState, Readings
from exporters.blockchain.rpc import METHOD_NOT_FOUND
from exporters.config.blockchain import BlockchainConfig
from exporters.stack.procs import free_port

CHAIN_ID = 31337
NETWORK = "fake"
BASE_FEE = 7
GAS_PRICE = 9
# How far behind the head the node reports its safe and finalized blocks.
SAFE_DEPTH, FINALIZED_DEPTH = 2, 4
# A code geth and most providers use for "cannot serve this right now" (header not found, rate limits).
SERVER_ERROR = -32000
# How each client answers a method it lacks: code and message. Providers behind gateways often use
# -32000 with such a message.
UNSUPPORTED_DIALECTS = {
    "anvil": (METHOD_NOT_FOUND, "Method not found"),
    "ganache": (-32700, "The method {method} does not exist/is not available"),
    "hardhat": (-32004, "Method {method} is not supported"),
    "gateway": (SERVER_ERROR, "method {method} not supported on this endpoint"),
}

# The platform contract the tests watch: two state-changing functions, a view, two events.
REGISTRY = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
REGISTRY_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "register",
        "inputs": [{"name": "id", "type": "bytes32"}],
        "outputs": [],
        "stateMutability": "nonpayable",
    },
    {
        "type": "function",
        "name": "verify",
        "inputs": [{"name": "id", "type": "bytes32"}, {"name": "ok", "type": "bool"}],
        "outputs": [],
        "stateMutability": "nonpayable",
    },
    {
        "type": "function",
        "name": "owner",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
        "stateMutability": "view",
    },
    {
        "type": "event",
        "name": "Registered",
        "inputs": [{"name": "id", "type": "bytes32", "indexed": True}],
        "anonymous": False,
    },
    {
        "type": "event",
        "name": "Verified",
        "inputs": [
            {"name": "id", "type": "bytes32", "indexed": True},
            {"name": "ok", "type": "bool", "indexed": False},
        ],
        "anonymous": False,
    },
]
EVENT_SIGNATURES = {"register": "Registered(bytes32)", "verify": "Verified(bytes32,bool)"}
FUNCTION_SIGNATURES = {"register": "register(bytes32)", "verify": "verify(bytes32,bool)"}


def _hash(*parts: object) -> str:
    return "0x" + keccak(text=":".join(map(str, parts))).hex()


def logs_bloom(items: Iterable[bytes]) -> str:
    """The 2048-bit bloom of the yellow paper: three bits per item from the low 11 bits of keccak's first pairs."""
    bits = bytearray(256)
    for item in items:
        digest = keccak(item)
        for i in (0, 2, 4):
            bit = ((digest[i] << 8) | digest[i + 1]) & 2047
            bits[255 - bit // 8] |= 1 << (bit % 8)
    return "0x" + bits.hex()


@dataclass(frozen=True)
class Log:
    address: str
    topic0: str


@dataclass(frozen=True)
class Tx:
    hash: str
    to: str | None
    input: str
    status: int
    gas_used: int
    logs: tuple[Log, ...]


@dataclass(frozen=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    txs: tuple[Tx, ...]

    def rpc(self, full: bool) -> dict[str, Any]:
        items = [bytes.fromhex(x[2:]) for tx in self.txs for log in tx.logs for x in (log.address, log.topic0)]
        return {
            "number": hex(self.number),
            "hash": self.hash,
            "parentHash": self.parent_hash,
            "timestamp": hex(self.timestamp),
            "gasUsed": hex(sum(tx.gas_used for tx in self.txs)),
            "gasLimit": hex(30_000_000),
            "baseFeePerGas": hex(BASE_FEE),
            "logsBloom": logs_bloom(items),
            "transactions": [self.tx_rpc(tx) if full else tx.hash for tx in self.txs],
        }

    def tx_rpc(self, tx: Tx) -> dict[str, Any]:
        block = {"blockHash": self.hash, "blockNumber": hex(self.number)}
        return {"hash": tx.hash, "to": tx.to, "input": tx.input, **block}

    def receipt(self, tx: Tx) -> dict[str, Any]:
        return {
            "transactionHash": tx.hash,
            "blockHash": self.hash,
            "blockNumber": hex(self.number),
            "to": tx.to,
            "status": hex(tx.status),
            "gasUsed": hex(tx.gas_used),
            "logs": [self.log_rpc(tx, log) for log in tx.logs],
        }

    def log_rpc(self, tx: Tx, log: Log) -> dict[str, Any]:
        return {
            "address": log.address,
            "topics": [log.topic0],
            "data": "0x",
            "blockHash": self.hash,
            "blockNumber": hex(self.number),
            "transactionHash": tx.hash,
            "removed": False,
        }


class RpcFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FakeChain:
    """Canonical blocks 0..head, every block ever mined by hash, and how the node answers."""

    def __init__(self, head: int = 0, client_version: str = "fake-node/v1.0.0", chain_id: int = CHAIN_ID) -> None:
        self.client_version = client_version
        self.chain_id = chain_id
        self.canonical: list[Block] = []
        self.by_hash: dict[str, Block] = {}
        self.receipts: dict[str, tuple[Block, Tx]] = {}
        self.balances: dict[str, int] = {}
        self.nonces: dict[str, int] = {}
        # Methods answered "method not found"; (method, first parameter) -> how many more answers are refused.
        self.unsupported: set[str] = set()
        self.dialect = "anvil"  # of UNSUPPORTED_DIALECTS: how a method in `unsupported` is refused
        self.refusals: dict[tuple[str, str], int] = {}
        # The methods of each HTTP request, in the order they arrived (one list per round trip).
        self.requests: list[list[str]] = []
        self._branch = 0
        self._ids = itertools.count()
        self._handlers = self._methods()
        self.mine()
        self.grow(head)

    @property
    def head(self) -> Block:
        return self.canonical[-1]

    # ---- making blocks and transactions

    def transfer(self) -> Tx:
        n = next(self._ids)
        return Tx(_hash("tx", n), "0x" + f"{n + 1:040x}", "0x", 1, 21_000, ())

    def call(self, function: str, status: int = 1, gas_used: int = 60_000) -> Tx:
        """A call of the registry; a successful one emits the function's event."""
        calldata = "0x" + function_signature_to_4byte_selector(FUNCTION_SIGNATURES[function]).hex() + "00" * 64
        logs = (Log(REGISTRY, "0x" + keccak(text=EVENT_SIGNATURES[function]).hex()),) if status else ()
        return Tx(_hash("tx", next(self._ids)), REGISTRY, calldata, status, gas_used, logs)

    def mine(self, *txs: Tx) -> Block:
        parent = self.canonical[-1] if self.canonical else None
        number = parent.number + 1 if parent else 0
        block = Block(
            number=number,
            hash=_hash("block", number, self._branch if number else self._branch // 1000),
            parent_hash=parent.hash if parent else "0x" + "00" * 32,
            timestamp=1_700_000_000 + 12 * number,
            txs=txs,
        )
        self.canonical.append(block)
        self.by_hash[block.hash] = block
        for tx in txs:
            self.receipts[tx.hash] = (block, tx)
        return block

    def grow(self, blocks: int, transfers: int = 0) -> None:
        for _ in range(blocks):
            self.mine(*(self.transfer() for _ in range(transfers)))

    def restart(self, head: int, same_genesis: bool = False) -> None:
        """Another chain on the same port, as a restarted dev node: blocks 0..head of their own (with the
        old genesis when `same_genesis`, as a node started from a fixed genesis file)."""
        genesis = self.canonical[0]
        self._branch += 1000
        self.canonical = [genesis] if same_genesis else []
        if not same_genesis:
            self.mine()
        self.grow(head, transfers=1)

    def reorg(self, depth: int, length: int, transfers: int = 1) -> None:
        """Replace the top `depth` blocks by `length` blocks of another branch (other hashes from the fork on)."""
        del self.canonical[-depth:]
        self._branch += 1
        self.grow(length, transfers)

    # ---- answering

    def answer(self, entry: dict[str, Any]) -> dict[str, Any]:
        method, params = entry["method"], entry.get("params") or []
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": entry.get("id")}
        key = (method, str(params[0]) if params else "")
        try:
            if self.refusals.get(key):
                self.refusals[key] -= 1
                raise RpcFault(SERVER_ERROR, "header not found")
            handler = self._handlers.get(method)
            if handler is None or method in self.unsupported:
                code, message = UNSUPPORTED_DIALECTS[self.dialect]
                raise RpcFault(code, message.format(method=method))
            reply["result"] = handler(*params)
        except RpcFault as fault:
            reply["error"] = {"code": fault.code, "message": fault.message}
        return reply

    def _methods(self) -> dict[str, Callable[..., Any]]:
        return {
            "web3_clientVersion": lambda: self.client_version,
            "eth_chainId": lambda: hex(self.chain_id),
            "eth_getBlockByNumber": lambda tag, full: self._rpc_block(self._by_tag(tag), full),
            "eth_getBlockByHash": lambda block_hash, full: self._rpc_block(self.by_hash.get(block_hash), full),
            "eth_syncing": lambda: False,
            "net_peerCount": lambda: "0x5",
            "eth_feeHistory": lambda count, newest, percentiles: {
                "oldestBlock": hex(self.head.number),
                "baseFeePerGas": [hex(BASE_FEE), hex(BASE_FEE + 1)],
                "gasUsedRatio": [0.5],
            },
            "eth_maxPriorityFeePerGas": lambda: hex(1),
            "eth_gasPrice": lambda: hex(GAS_PRICE),
            "txpool_status": lambda: {"pending": "0x3", "queued": "0x1"},
            "eth_getBalance": lambda address, tag: hex(self.balances.get(address.lower(), 0)),
            "eth_getTransactionCount": lambda address, tag: hex(self.nonces.get(address.lower(), 0)),
            "eth_getTransactionReceipt": self._receipt,
            "eth_getTransactionByHash": self._transaction,
            "eth_getBlockReceipts": self._block_receipts,
            "eth_getLogs": self._logs,
        }

    def _by_tag(self, tag: str) -> Block | None:
        head = self.head.number
        tags = {"latest": head, "safe": head - SAFE_DEPTH, "finalized": head - FINALIZED_DEPTH, "earliest": 0}
        number = max(0, tags[tag]) if tag in tags else int(tag, 16)
        return self.canonical[number] if 0 <= number <= head else None

    @staticmethod
    def _rpc_block(block: Block | None, full: bool) -> dict[str, Any] | None:
        return block.rpc(full) if block is not None else None

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        found = self.receipts.get(tx_hash)
        return found[0].receipt(found[1]) if found else None

    def _transaction(self, tx_hash: str) -> dict[str, Any] | None:
        found = self.receipts.get(tx_hash)
        return found[0].tx_rpc(found[1]) if found else None

    def _block_receipts(self, block_hash: str) -> list[dict[str, Any]] | None:
        block = self.by_hash.get(block_hash)
        return [block.receipt(tx) for tx in block.txs] if block else None

    def _logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        block = self.by_hash.get(query["blockHash"])
        if block is None:
            raise RpcFault(SERVER_ERROR, "unknown block")
        wanted = {a.lower() for a in query.get("address") or ()}
        return [block.log_rpc(tx, log) for tx in block.txs for log in tx.logs if not wanted or log.address in wanted]

    # ---- what the node was asked

    def asked(self, method: str) -> int:
        """How many requests carried `method` (a batch counts once per entry)."""
        return sum(methods.count(method) for methods in self.requests)


class FakeNode:
    """A FakeChain served over HTTP/JSON-RPC on a loopback port of this process; stop() and start() keep the port."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeNode:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        """Close the port and every open connection: clients see connection refused until start()."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        entries = body if isinstance(body, list) else [body]
        self.chain.requests.append([entry["method"] for entry in entries])
        answers = [self.chain.answer(entry) for entry in entries]
        return web.json_response(answers if isinstance(body, list) else answers[0])


class PolledNetwork:
    """The exporter's own poller and follower for one network with one endpoint, polling a FakeNode.

    Built by `build_chains` from a validated config as the exporter builds them, and driven by the poller's
    real `run()` loop. The poll interval is an hour: a tick happens only when step() wakes the poller (as a
    websocket head would) and step() returns when that tick is over, so the chain changes only between ticks.
    """

    def __init__(self, node: FakeNode, tmp_path: Path, watch_registry: bool = False, **network: Any) -> None:
        self.node = node
        self.chain = node.chain
        settings: dict[str, Any] = {
            "name": NETWORK,
            "chain_id": CHAIN_ID,
            "endpoints": [{"name": "node", "url": node.url}],
            "poll_interval": "1h",
            "request_timeout": "5s",
            **network,
        }
        if watch_registry:
            abi = tmp_path / "registry.abi.json"
            abi.write_text(json.dumps(REGISTRY_ABI))
            settings["contracts"] = [{"alias": "registry", "address": REGISTRY, "abi_file": str(abi)}]
        self.readings = Readings()
        (chain,) = build_chains(BlockchainConfig.model_validate({"networks": [settings]}), self.readings)
        self.poller: EndpointPoller = chain.pollers[0]
        self.follower: Follower = chain.follower
        self.state: ChainState = self.readings.chains[NETWORK]
        self.endpoint: EndpointState = self.poller.state
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PolledNetwork:
        await self.node.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.poller.close()
        await self.node.stop()

    async def step(self, ticks: int = 1) -> None:
        """Let the poller run `ticks` more iterations of its loop (identify when needed, then one tick)."""
        for _ in range(ticks):
            self.poller.wake.set()
            if self._task is None:
                self._task = asyncio.create_task(self.poller.run())
            async with asyncio.timeout(10):
                # run() clears `wake` after each iteration, right before it waits for the next one.
                while self.poller.wake.is_set():
                    if self._task.done():
                        self._task.result()  # run() never returns: show why it did
                    await asyncio.sleep(0.001)

    @property
    def round_trips(self) -> int:
        return self.poller.client.round_trips

    def error_count(self, method: str, code: str) -> int:
        return self.endpoint.errors.get((method, code), 0)
