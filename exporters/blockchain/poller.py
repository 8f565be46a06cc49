"""One async task per endpoint: identify the node, then one batched round trip per tick.

A tick asks for the latest, safe and finalized blocks, sync state, peers, fees and the txpool in a
single JSON-RPC batch. The chain's leading endpoint also reads the watched accounts in the same batch
and hands the latest block to the chain's follower. Methods a node lacks (in any client's words, see
rpc.is_unsupported) are asked once, then marked unsupported and left out of later batches until the
endpoint's client changes. Every failure is caught here: an endpoint that
is down, hangs or answers garbage only ever affects its own state.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporters.blockchain.follow import Follower
from exporters.blockchain.parse import Block, parse_block, parse_syncing, to_hash, to_int
from exporters.blockchain.readings import ChainState, EndpointState, EndpointStats, Readings
from exporters.blockchain.rpc import Call, Reply, RpcClient, RpcError, TransportError
from exporters.config.blockchain import Endpoint, Network

log = logging.getLogger(__name__)

# Block tags that many L2s and older nodes refuse with "invalid params" rather than "method not found".
INVALID_PARAMS = -32602
# An untrusted endpoint (wrong chain id) is asked again this often, in case it was fixed.
RECHECK_UNTRUSTED_SECONDS = 30.0


@dataclass(frozen=True)
class Account:
    alias: str
    address: str


class Chain:
    """One configured network: its state, its follower and its endpoints' pollers."""

    def __init__(self, store: Readings, net: Network, follower: Follower, accounts: list[Account]) -> None:
        self.net = net
        self.store = store
        self.state: ChainState = store.chains[net.name]
        self.follower = follower
        self.accounts = accounts
        self.pollers: list[EndpointPoller] = []

    def leader(self) -> EndpointPoller | None:
        """The first endpoint in config order that answers and is on the right chain."""
        for poller in self.pollers:
            if poller.state.up and poller.state.trusted:
                return poller
        return None


class EndpointPoller:
    def __init__(self, chain: Chain, endpoint: Endpoint, state: EndpointState) -> None:
        self.chain = chain
        self.net = chain.net
        self.endpoint = endpoint
        self.state = state
        self.store = chain.store
        self.client = RpcClient(
            endpoint.url, endpoint.request_headers(), chain.net.request_timeout, EndpointStats(chain.store, state)
        )
        self.wake = asyncio.Event()
        self.genesis: str | None = None
        self.last_ws_head = float("-inf")
        self._identified_at = float("-inf")
        self._failures = 0
        self._logged_down = False

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.poll_once()
                self._failures = 0
            except asyncio.CancelledError:
                raise
            except (TransportError, RpcError, ValueError) as exc:
                self._down(exc)
            except Exception as exc:  # never let one endpoint's surprise end its task
                log.exception("poll failed unexpectedly", extra=self._labels())
                self._down(exc)
            with self.store.lock:
                self.state.polled = True
            delay = self._next_delay() - (time.monotonic() - started)
            self.wake.clear()
            if delay > 0:
                try:
                    await asyncio.wait_for(self.wake.wait(), delay)
                except TimeoutError:
                    pass

    async def poll_once(self) -> None:
        if self.state.trusted is None or (
            not self.state.trusted and time.monotonic() - self._identified_at > RECHECK_UNTRUSTED_SECONDS
        ):
            await self.identify()
        if self.state.trusted:
            await self.tick()

    def on_ws_head(self) -> None:
        self.last_ws_head = time.monotonic()
        with self.store.lock:
            self.state.ws_heads += 1
        self.wake.set()

    def _next_delay(self) -> float:
        poll = self.net.poll_interval
        if self._failures:
            # Exponential backoff with jitter, capped so that a restarted node is noticed soon.
            cap = max(poll, min(30.0, 8 * poll))
            return float(min(cap, poll * 2 ** (self._failures - 1)) * random.uniform(0.8, 1.2))
        # A head pushed over ws wakes the poller early and restarts this wait; polling goes on at
        # poll_interval all the same, since a frozen node keeps its websocket open and just stops talking:
        # slower polls would see it down later than without ws.
        return poll

    def _labels(self) -> dict[str, str]:
        return {"chain": self.net.name, "endpoint": self.endpoint.name}

    def _down(self, exc: BaseException) -> None:
        self._failures += 1
        with self.store.lock:
            self.state.up = False
            # Re-read client version and chain id once it answers again: it may be another node now.
            if self.state.trusted:
                self.state.trusted = None
        self.client.batching = True
        if not self._logged_down:
            log.warning("endpoint down", extra={**self._labels(), "err": str(exc)[:200]})
            self._logged_down = True

    # ------------------------------------------------------------------ identify

    async def identify(self) -> None:
        self._identified_at = time.monotonic()
        replies = await self.client.batch(
            [
                Call("web3_clientVersion"),
                Call("eth_chainId"),
                Call("eth_getBlockByNumber", ("0x0", False), "eth_getBlockByNumber(genesis)"),
            ]
        )
        chain_id = to_int(replies[1].value())
        genesis = replies[2].value()
        version = replies[0].result if replies[0].error is None else None
        trusted = chain_id == self.net.chain_id
        genesis_hash = to_hash(genesis.get("hash")) if isinstance(genesis, dict) else "unknown"
        version_text = str(version)[:120] if version is not None else None
        if self.genesis is not None and (genesis_hash, version_text) != (self.genesis, self.state.client_version):
            # Another node (or another chain) behind the same URL: what it lacks must be learnt afresh.
            log.info(
                "endpoint's client changed, asking every method again",
                extra={**self._labels(), "client_version": version_text},
            )
            self.client.forget_support()
        with self.store.lock:
            self.state.chain_id = chain_id
            self.state.client_version = version_text
            self.state.trusted = trusted
            if not trusted:
                self.state.up = False
        self.genesis = genesis_hash
        if not trusted:
            log.error(
                "chain_id mismatch: endpoint not trusted",
                extra={**self._labels(), "expected": self.net.chain_id, "reported": chain_id},
            )
        elif self._logged_down or not self.state.polled:
            log.info("endpoint up", extra={**self._labels(), "client_version": self.state.client_version})
            self._logged_down = False

    # ------------------------------------------------------------------ tick

    def _wanted(self, call: Call) -> bool:
        return self.client.supports(call.name)

    async def tick(self) -> None:
        leader = self.chain.leader()
        leading = leader is None or leader is self
        full = leading and self.chain.follower.needs_full_blocks
        calls = [
            Call("eth_getBlockByNumber", ("latest", full), "eth_getBlockByNumber(latest)"),
            Call("eth_getBlockByNumber", ("safe", False), "eth_getBlockByNumber(safe)"),
            Call("eth_getBlockByNumber", ("finalized", False), "eth_getBlockByNumber(finalized)"),
            Call("eth_syncing"),
            Call("net_peerCount"),
            Call("eth_feeHistory", (1, "latest", [])),
            Call("eth_maxPriorityFeePerGas"),
            Call("eth_gasPrice"),
            Call("txpool_status"),
        ]
        calls = [c for c in calls if self._wanted(c)]
        account_calls: list[Call] = []
        if leading:
            for acc in self.chain.accounts:
                account_calls.append(Call("eth_getBalance", (acc.address, "latest")))
                account_calls.append(Call("eth_getTransactionCount", (acc.address, "latest")))
        if leading:  # the receipts and logs of the block the last tick followed travel in this round trip
            replies = await self.chain.follower.batch_with_deferred(self.client, calls + account_calls)
        else:
            replies = await self.client.batch(calls + account_calls)
        answers = dict(zip((c.name for c in calls), replies, strict=False))
        self._note_support(answers)
        head = parse_block(answers["eth_getBlockByNumber(latest)"].value())
        values = self._read_values(answers)
        balances, nonces = self._read_accounts(replies[len(calls) :]) if leading else ({}, {})
        with self.store.lock:
            self._apply(head, values)
            if leading:
                self.chain.state.balances.update(balances)
                self.chain.state.nonces.update(nonces)
        if self._logged_down:
            log.info("endpoint up", extra=self._labels())
            self._logged_down = False
        if self.chain.leader() is self and self.genesis is not None:
            follower = self.chain.follower
            restarts = follower.restarts
            try:
                await follower.advance(self.client, head, self.genesis)
            except (RpcError, ValueError) as exc:
                # The endpoint answers; following failed on one block. The next tick resumes from the last one.
                log.warning("following blocks failed", extra={**self._labels(), "err": str(exc)[:200]})
            if follower.restarts != restarts:
                # The follower found another chain behind this endpoint between two polls (a node restarted
                # faster than a poll): it may be another client too.
                await self.identify()

    def _note_support(self, answers: dict[str, Reply]) -> None:
        """Block tags a node refuses as invalid parameters are as good as missing methods; every other
        answer already told the client what the endpoint supports."""
        for name in ("eth_getBlockByNumber(safe)", "eth_getBlockByNumber(finalized)"):
            reply = answers.get(name)
            if reply is not None and reply.error is not None and reply.error.code == INVALID_PARAMS:
                self.client.learn(name, False)

    @staticmethod
    def _get(answers: dict[str, Reply], name: str, parse: Callable[[Any], Any]) -> Any:
        """A value from the batch, or None when it failed (already counted) or is malformed."""
        reply = answers.get(name)
        if reply is None or reply.error is not None or reply.result is None:
            return None
        try:
            return parse(reply.result)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            return None

    def _read_values(self, answers: dict[str, Reply]) -> dict[str, Any]:
        g = self._get
        return {
            "safe": g(answers, "eth_getBlockByNumber(safe)", lambda r: to_int(r["number"])),
            "finalized": g(answers, "eth_getBlockByNumber(finalized)", lambda r: to_int(r["number"])),
            "syncing": g(answers, "eth_syncing", parse_syncing),
            "peers": g(answers, "net_peerCount", to_int),
            # The last entry of baseFeePerGas is the base fee of the next block.
            "base_fee": g(answers, "eth_feeHistory", lambda r: to_int(r["baseFeePerGas"][-1])),
            "priority_fee": g(answers, "eth_maxPriorityFeePerGas", to_int),
            "gas_price": g(answers, "eth_gasPrice", to_int),
            "txpool": g(answers, "txpool_status", lambda r: {k: to_int(r[k]) for k in ("pending", "queued")}),
        }

    def _read_accounts(self, replies: list[Reply]) -> tuple[dict[str, int], dict[str, int]]:
        balances, nonces = {}, {}
        for i, acc in enumerate(self.chain.accounts):
            balance = self._get({"b": replies[2 * i]}, "b", to_int)
            nonce = self._get({"n": replies[2 * i + 1]}, "n", to_int)
            if balance is not None:
                balances[acc.alias] = balance
            if nonce is not None:
                nonces[acc.alias] = nonce
        return balances, nonces

    def _apply(self, head: Block, v: dict[str, Any]) -> None:
        s = self.state
        s.up = True
        s.last_success = time.time()
        if head.hash != s.head_hash:
            s.head_changes += 1
        s.head_number, s.head_hash, s.head_timestamp = head.number, head.hash, head.timestamp
        s.safe, s.finalized, s.peers = v["safe"], v["finalized"], v["peers"]
        s.base_fee = v["base_fee"] if v["base_fee"] is not None else head.base_fee
        s.priority_fee, s.gas_price = v["priority_fee"], v["gas_price"]
        s.txpool = v["txpool"] or {}
        sync = v["syncing"]
        s.syncing = sync.syncing if sync is not None else None
        s.sync_current = sync.current if sync is not None else None
        s.sync_highest = sync.highest if sync is not None else None

    async def close(self) -> None:
        await self.client.close()
