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
from exporters.blockchain.rpc import METHOD_NOT_FOUND, Call, RpcClient, RpcError
from exporters.blockchain.state import GAS_BUCKETS, ChainState, Histogram, Store

log = logging.getLogger(__name__)

RING_SIZE = 256
# Blocks per batched request while catching up: big enough for speed, small enough for any provider's limits.
CATCHUP_BATCH = 100
ANCESTOR_BATCH = 32


# Per block hash: (contract alias, operation, receipt) of each call to a watched contract.
Activity = dict[str, list[tuple[str, str, dict]]]
Event = tuple[str, str]  # contract alias, event name


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
        # eth_getBlockReceipts (geth >= 1.13, erigon, reth, anvil); off for good after a -32601.
        self.block_receipts = True
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
            # Catching up, transactions come from the blocks' receipts (much cheaper for a node to serve
            # than full blocks); only the calls to watched contracts are then read for their calldata.
            blocks = await self._fetch(client, chunk, full=self.needs_full_blocks and not self.block_receipts)
            if not await self._process(client, blocks):
                break
        else:
            if await self._process(client, [head]):
                return
        # A block did not link to what we followed. Right after handling a reorg the chain moved again:
        # leave it to the next tick rather than chase it here.
        if not after_reorg:
            await self._reorg(client, head)

    async def _fetch(self, client: RpcClient, numbers: Sequence[int], full: bool) -> list[Block]:
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
            calls, logs = await self._contract_activity(client, linked)
            with self.store.lock:
                for block in linked:
                    self._record(block, calls.get(block.hash, []))
                for key in logs:
                    self.chain.events[key] = self.chain.events.get(key, 0) + 1
        return len(linked) == len(blocks)

    async def _contract_activity(self, client: RpcClient, blocks: Sequence[Block]) -> tuple[Activity, list[Event]]:
        """Calls to watched contracts (per block hash) and their contracts' events."""
        if not self.contracts:
            return {}, []
        if all(b.txs is not None for b in blocks):
            return await self._activity_from_transactions(client, blocks)
        try:
            return await self._activity_from_block_receipts(client, blocks)
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            log.info("eth_getBlockReceipts not supported, reading full blocks", extra={"chain": self.chain.name})
            self.block_receipts = False
            # By hash: the very blocks being processed, even if the chain moved on meanwhile.
            replies = await client.batch([Call("eth_getBlockByHash", (b.hash, True)) for b in blocks])
            full = [parse_block(r.value()) for r in replies]
            return await self._activity_from_transactions(client, full)

    async def _activity_from_transactions(
        self, client: RpcClient, blocks: Sequence[Block]
    ) -> tuple[Activity, list[Event]]:
        """From full blocks: receipts of the calls to watched contracts, and logs of blocks whose bloom may match."""
        calls: list[Call] = []
        watched: list[tuple[str, str, str, str]] = []  # block hash, tx hash, contract alias, operation
        for block in blocks:
            for tx in block.txs or ():
                contract = self.contracts.get(tx.to) if tx.to else None
                if contract is not None:
                    watched.append((block.hash, tx.hash, contract.alias, contract.abi.operation(tx.input)))
                    calls.append(Call("eth_getTransactionReceipt", (tx.hash,)))
        log_blocks = [
            b
            for b in blocks
            if b.logs_bloom is None or any(bloom_may_contain(b.logs_bloom, a) for a in self._address_bytes)
        ]
        for b in log_blocks:
            calls.append(Call("eth_getLogs", ({"blockHash": b.hash, "address": list(self.contracts)},)))
        replies = await client.batch(calls)
        activity: Activity = {}
        for (block_hash, tx_hash, alias, op), reply in zip(watched, replies, strict=False):
            receipt = reply.value()
            if not isinstance(receipt, dict):
                raise ValueError(f"no receipt for {tx_hash}")
            activity.setdefault(block_hash, []).append((alias, op, receipt))
        events: list[Event] = []
        for reply in replies[len(watched) :]:
            entries = reply.value()
            if not isinstance(entries, list):
                raise ValueError("eth_getLogs answered no list")
            for entry in entries:
                events.extend(self._event(entry))
        return activity, events

    async def _activity_from_block_receipts(
        self, client: RpcClient, blocks: Sequence[Block]
    ) -> tuple[Activity, list[Event]]:
        """From every block's receipts (one batch), then the calldata of the watched calls only (one more)."""
        replies = await client.batch([Call("eth_getBlockReceipts", (b.hash,)) for b in blocks])
        watched: list[tuple[str, str, WatchedContract, dict]] = []  # block hash, tx hash, contract, receipt
        events: list[Event] = []
        for block, reply in zip(blocks, replies, strict=True):
            receipts = reply.value()
            if not isinstance(receipts, list):
                raise ValueError(f"eth_getBlockReceipts answered no list for block {block.number}")
            for receipt in receipts:
                if not isinstance(receipt, dict):
                    raise ValueError(f"malformed receipt in block {block.number}")
                contract = self.contracts.get(str(receipt.get("to") or "").lower())
                if contract is not None:
                    watched.append((block.hash, to_hash(receipt.get("transactionHash")), contract, receipt))
                for entry in receipt.get("logs") or ():
                    events.extend(self._event(entry))
        txs = await client.batch([Call("eth_getTransactionByHash", (tx_hash,)) for _, tx_hash, _, _ in watched])
        activity: Activity = {}
        for (block_hash, tx_hash, contract, receipt), reply in zip(watched, txs, strict=True):
            tx = reply.value()
            if not isinstance(tx, dict):
                raise ValueError(f"no transaction {tx_hash}")
            op = contract.abi.operation(str(tx.get("input") or tx.get("data") or "0x"))
            activity.setdefault(block_hash, []).append((contract.alias, op, receipt))
        return activity, events

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

    def _record(self, block: Block, calls: list[tuple[str, str, dict]]) -> None:
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
        for alias, op, receipt in calls:
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
