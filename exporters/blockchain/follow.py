"""Following a chain block by block: bounded catch-up, reorg detection, watched contracts.

One follower per chain, driven by the chain's leading endpoint (the first healthy one in config order),
so a block is counted once however many endpoints a chain has. A ring of recent number -> hash is the
memory: a block whose parent is not the hash we saw at its height means a reorg; we then read the
node's canonical hashes downwards until one matches the ring (the common ancestor), and the depth is
how many blocks we had followed above it.

Counters count blocks as they were seen: transactions of an orphaned block stay counted, and the
replacing blocks are counted too (Prometheus counters cannot go down; the reorg metrics say why).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from exporters.blockchain.abi import ContractABI
from exporters.blockchain.parse import Block, bloom_may_contain, parse_block, to_hash, to_int
from exporters.blockchain.rpc import Call, RpcClient
from exporters.blockchain.state import GAS_BUCKETS, ChainState, Histogram, Store

log = logging.getLogger(__name__)

RING_SIZE = 256
# Blocks per batched request while catching up: big enough for speed, small enough for any provider's limits.
CATCHUP_BATCH = 100
ANCESTOR_BATCH = 32


@dataclass(frozen=True)
class WatchedContract:
    alias: str
    address: str  # lower case
    abi: ContractABI


def _chunks(numbers: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(numbers), size):
        yield numbers[i : i + size]


class Follower:
    def __init__(self, store: Store, chain: ChainState, contracts: Sequence[WatchedContract], max_catchup: int) -> None:
        self.store = store
        self.chain = chain
        self.contracts = {c.address: c for c in contracts}
        self._address_bytes = [bytes.fromhex(a[2:]) for a in self.contracts]
        self.max_catchup = max_catchup
        self.ring: OrderedDict[int, str] = OrderedDict()
        self.followed: int | None = None
        self.genesis: str | None = None
        self.lock = asyncio.Lock()
        with store.lock:
            for c in contracts:
                for op in sorted(c.abi.operations):
                    for status in ("success", "failed"):
                        chain.transactions.setdefault((c.alias, op, status), 0)
                for event in sorted(set(c.abi.events.values())):
                    chain.events.setdefault((c.alias, event), 0)

    @property
    def needs_full_blocks(self) -> bool:
        """Transactions' calldata is needed only to attribute calls to watched contracts."""
        return bool(self.contracts)

    def _reset(self, genesis: str) -> None:
        if self.genesis is not None:
            log.warning("chain restarted from a new genesis, following afresh", extra={"chain": self.chain.name})
        self.genesis = genesis
        self.ring.clear()
        self.followed = None

    async def advance(self, client: RpcClient, head: Block, genesis: str) -> None:
        async with self.lock:
            if genesis != self.genesis:
                self._reset(genesis)
            if self.followed is None:
                await self._process(client, [head])
                return
            known = self.ring.get(head.number)
            if known == head.hash:
                return  # nothing new, or a node behind us on the same chain
            if head.number <= self.followed:
                if known is not None:
                    await self._reorg(client, head)
                return
            await self._follow_to(client, head)

    async def _follow_to(self, client: RpcClient, head: Block, after_reorg: bool = False) -> None:
        assert self.followed is not None
        first = self.followed + 1
        if head.number - first + 1 > self.max_catchup:
            skipped = head.number - self.max_catchup + 1 - first
            first = head.number - self.max_catchup + 1
            log.warning(
                "gap larger than max_catchup_blocks, skipping blocks",
                extra={"chain": self.chain.name, "skipped": skipped},
            )
            with self.store.lock:
                self.chain.blocks_skipped += skipped
        numbers = list(range(first, head.number))
        for chunk in _chunks(numbers, CATCHUP_BATCH):
            blocks = await self._fetch(client, chunk)
            if not await self._process(client, blocks):
                break
        else:
            if await self._process(client, [head]):
                return
        # A block did not link to what we followed. Right after handling a reorg the chain moved again:
        # leave it to the next tick rather than chase it here.
        if not after_reorg:
            await self._reorg(client, head)

    async def _fetch(self, client: RpcClient, numbers: Sequence[int]) -> list[Block]:
        full = self.needs_full_blocks
        replies = await client.batch([Call("eth_getBlockByNumber", (hex(n), full)) for n in numbers])
        blocks = []
        for n, reply in zip(numbers, replies, strict=True):
            raw = reply.value()
            if raw is None:
                raise ValueError(f"block {n} not available")
            blocks.append(parse_block(raw))
        return blocks

    def _links(self, block: Block) -> bool:
        parent = self.ring.get(block.number - 1)
        return parent is None or parent == block.parent_hash

    async def _process(self, client: RpcClient, blocks: Sequence[Block]) -> bool:
        """Record consecutive blocks; False (nothing recorded from the break on) when one does not link."""
        linked: list[Block] = []
        for block in blocks:
            if (linked and block.parent_hash != linked[-1].hash) or (not linked and not self._links(block)):
                break
            linked.append(block)
        if linked:
            receipts, logs = await self._contract_activity(client, linked)
            with self.store.lock:
                for block in linked:
                    self._record(block, receipts)
                for key in logs:
                    self.chain.events[key] = self.chain.events.get(key, 0) + 1
        return len(linked) == len(blocks)

    async def _contract_activity(
        self, client: RpcClient, blocks: Sequence[Block]
    ) -> tuple[dict[str, tuple[str, str, dict]], list[tuple[str, str]]]:
        """Receipts of calls to watched contracts, and their events; one batched round trip for many blocks."""
        if not self.contracts:
            return {}, []
        calls: list[Call] = []
        watched: list[tuple[str, str, str]] = []  # tx hash, contract alias, operation
        for block in blocks:
            for tx in block.txs or ():
                contract = self.contracts.get(tx.to) if tx.to else None
                if contract is not None:
                    watched.append((tx.hash, contract.alias, contract.abi.operation(tx.input)))
                    calls.append(Call("eth_getTransactionReceipt", (tx.hash,)))
        log_blocks = [
            b
            for b in blocks
            if b.logs_bloom is None or any(bloom_may_contain(b.logs_bloom, a) for a in self._address_bytes)
        ]
        for b in log_blocks:
            calls.append(Call("eth_getLogs", ({"blockHash": b.hash, "address": list(self.contracts)},)))
        replies = await client.batch(calls)
        receipts: dict[str, tuple[str, str, dict]] = {}
        for (tx_hash, alias, op), reply in zip(watched, replies, strict=False):
            receipt = reply.value()
            if not isinstance(receipt, dict):
                raise ValueError(f"no receipt for {tx_hash}")
            receipts[tx_hash] = (alias, op, receipt)
        events: list[tuple[str, str]] = []
        for reply in replies[len(watched) :]:
            entries = reply.value()
            if not isinstance(entries, list):
                raise ValueError("eth_getLogs answered no list")
            for entry in entries:
                events.extend(self._event(entry))
        return receipts, events

    def _event(self, entry: object) -> Iterator[tuple[str, str]]:
        if not isinstance(entry, dict) or entry.get("removed"):
            return
        contract = self.contracts.get(str(entry.get("address", "")).lower())
        topics = entry.get("topics") or []
        if contract is None or not topics:
            return
        name = contract.abi.event(str(topics[0]))
        if name is not None:
            yield contract.alias, name

    def _record(self, block: Block, receipts: dict[str, tuple[str, str, dict]]) -> None:
        """Apply one block to the chain state (caller holds the store lock)."""
        chain = self.chain
        self.ring[block.number] = block.hash
        while len(self.ring) > RING_SIZE:
            self.ring.popitem(last=False)
        self.followed = block.number
        chain.followed_number = block.number
        chain.block_gas_used = block.gas_used
        chain.block_gas_limit = block.gas_limit
        chain.block_transactions += block.tx_count
        chain.blocks_processed += 1
        for tx in block.txs or ():
            hit = receipts.get(tx.hash)
            if hit is None:
                continue
            alias, op, receipt = hit
            key = (alias, op, _status(receipt.get("status")))
            chain.transactions[key] = chain.transactions.get(key, 0) + 1
            hist = chain.gas_used.get((alias, op))
            if hist is None:
                hist = chain.gas_used[(alias, op)] = Histogram(GAS_BUCKETS)
            try:
                hist.observe(to_int(receipt.get("gasUsed")))
            except ValueError:
                pass

    async def _reorg(self, client: RpcClient, head: Block) -> None:
        """Find the common ancestor, count the reorg, then follow the new branch up to `head`."""
        assert self.followed is not None
        old_head = self.followed
        top = min(old_head, head.number)
        numbers = [n for n in sorted(self.ring, reverse=True) if n <= top]
        ancestor: int | None = None
        for chunk in _chunks(numbers, ANCESTOR_BATCH):
            replies = await client.batch([Call("eth_getBlockByNumber", (hex(n), False)) for n in chunk])
            for n, reply in zip(chunk, replies, strict=True):
                raw = reply.value()
                if isinstance(raw, dict) and to_hash(raw.get("hash")) == self.ring[n]:
                    ancestor = n
                    break
            if ancestor is not None:
                break
        if ancestor is None:
            ancestor = (min(self.ring) - 1) if self.ring else old_head
            log.warning(
                "reorg deeper than the remembered blocks", extra={"chain": self.chain.name, "ring": len(self.ring)}
            )
        depth = old_head - ancestor
        for n in [n for n in self.ring if n > ancestor]:
            del self.ring[n]
        self.followed = ancestor
        if depth > 0:
            log.warning(
                "reorg", extra={"chain": self.chain.name, "depth": depth, "ancestor": ancestor, "old_head": old_head}
            )
            with self.store.lock:
                self.chain.reorgs += 1
                self.chain.reorg_depth.observe(depth)
        if head.number > ancestor:
            await self._follow_to(client, head, after_reorg=True)


def _status(value: object) -> str:
    try:
        return "success" if to_int(value) == 1 else "failed"
    except ValueError:
        return "unknown"  # pre-Byzantium receipts carry a state root instead of a status
