"""Following a chain block by block: bounded catch-up, reorg detection, watched contracts.

One follower per chain, driven by the chain's leading endpoint (the first healthy one in config order),
so a block is counted once however many endpoints a chain has. A ring of recent number -> hash is the
memory: a block whose parent is not the hash we saw at its height means a reorg; we then read the
node's canonical hashes downwards until one matches the ring (the common ancestor), and the depth is
how many blocks we had followed above it.

Counters count blocks as they were seen: transactions of an orphaned block stay counted, and the
replacing blocks are counted too (Prometheus counters cannot go down; the reorg metrics say why).

At the head, a new block's watched-contract receipts and logs are not fetched in a round trip of their
own: they ride along in the next tick's batch (`batch_with_deferred`), so following costs one
round trip per tick however many contracts are watched. Such a block is recorded (all its counters and
`followed_number` at once) when that tick answers, and blocks after it queue behind it, so "followed
up to N" always means everything up to N is counted.

Nothing is dropped silently. When a fast path cannot read a block's activity (an entry of the ride-along
batch refused DEFERRED_ATTEMPTS times, or eth_getBlockReceipts / the batched receipts failing while
catching up), the slow path reads that block one request at a time: the full block by hash, each watched
call's receipt and the block's logs, each asked again a bounded number of times. Only when that fails too
is the block recorded without its activity, counted in blocks_without_activity and logged with its number
and the cause. An endpoint that stops answering altogether is down, not unreadable: the block waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from exporters.blockchain.abi import ContractABI
from exporters.blockchain.parse import Block, bloom_may_contain, parse_block, to_hash, to_int
from exporters.blockchain.readings import GAS_BOUNDS, ChainState, Readings
from exporters.blockchain.rpc import Call, Reply, RpcClient, RpcError
from exporters.core.metrics import Histogram

log = logging.getLogger(__name__)

RING_SIZE = 256
# Blocks per batched request while catching up: big enough for speed, small enough for any provider's limits.
CATCHUP_BATCH = 100
ANCESTOR_BATCH = 32
# geth >= 1.13, erigon, reth, anvil; not ganache 7 nor Hardhat 2 (they answer each receipt on its own).
BLOCK_RECEIPTS = "eth_getBlockReceipts"
# A deferred request whose answer failed is asked again this many times (next ticks), then read slowly.
DEFERRED_ATTEMPTS = 3
# The slow path asks each request on its own this many times, pausing SLOW_PAUSE, then twice that, between.
SLOW_ATTEMPTS = 3
SLOW_PAUSE = 0.2


# Per block hash: (contract alias, operation, receipt) of each call to a watched contract.
Receipt = dict[str, Any]  # a transaction receipt as the node answered it
Activity = dict[str, list[tuple[str, str, Receipt]]]
ContractEvent = tuple[str, str]  # contract alias, event name


# block hash, tx hash, contract alias, operation: one per call to a watched contract, in request order.
Watched = list[tuple[str, str, str, str]]


@dataclass(eq=False)  # compared by identity: the same request object in and out of flight
class Deferred:
    """Linked blocks whose receipt and log requests wait to join the next tick's batch."""

    blocks: list[Block]
    calls: list[Call]
    watched: Watched
    attempts: int = 0
    slow: bool = False  # the fast path gave up: the follower reads these blocks one request at a time
    cause: Exception | None = None


@dataclass(frozen=True)
class WatchedContract:
    alias: str
    address: str  # lower case
    abi: ContractABI


def _chunks(numbers: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(numbers), size):
        yield numbers[i : i + size]


class Follower:
    def __init__(
        self, store: Readings, chain: ChainState, contracts: Sequence[WatchedContract], max_catchup: int
    ) -> None:
        self.store = store
        self.chain = chain
        self.contracts = {c.address: c for c in contracts}
        self._address_bytes = [bytes.fromhex(a[2:]) for a in self.contracts]
        self.max_catchup = max_catchup
        self.ring: OrderedDict[int, str] = OrderedDict()
        self.followed: int | None = None
        self.genesis: str | None = None
        self.lock = asyncio.Lock()
        self._deferred: list[Deferred] = []
        self._in_flight: list[Deferred] = []
        self.restarts = 0  # times another chain was found behind the endpoint and followed afresh
        with store.lock:
            # Every series starts at 0, so that rate() and increase() see the first call of each kind.
            for c in contracts:
                for op in sorted(c.abi.labelled_operations):
                    for status in ("success", "failed"):
                        chain.transactions.setdefault((c.alias, op, status), 0)
                    chain.gas_used.setdefault((c.alias, op), Histogram(GAS_BOUNDS))
                for event in sorted(set(c.abi.events.values())):
                    chain.events.setdefault((c.alias, event), 0)

    @property
    def needs_full_blocks(self) -> bool:
        """Transactions' calldata is needed only to attribute calls to watched contracts."""
        return bool(self.contracts)

    async def advance(self, client: RpcClient, head: Block, genesis: str) -> None:
        async with self.lock:
            if self.genesis is None:
                self.genesis = genesis
            elif genesis != self.genesis:
                await self._restart(client, head, genesis, "new genesis")
                return
            await self._read_slow_deferred(client)
            if self.followed is None:
                await self._process(client, [head], defer=True)
                return
            known = self.ring.get(head.number)
            if known == head.hash:
                return  # nothing new, or a node behind us on the same chain
            try:
                if head.number > self.followed:
                    await self._follow_to(client, head)
                elif known is not None:
                    await self._reorg(client, head)
                else:
                    await self._check_below(client, head)
            except ChainReplaced as replaced:
                await self._restart(client, head, replaced.genesis, replaced.reason)

    async def _check_below(self, client: RpcClient, head: Block) -> None:
        """The head is below every block remembered: a node behind us on the same chain, or another chain
        (a dev node restarted with the same genesis). The node's block at our lowest height tells."""
        lowest = min(self.ring)
        replies = await client.batch(
            [Call("eth_getBlockByNumber", ("0x0", False)), Call("eth_getBlockByNumber", (hex(lowest), False))]
        )
        self._check_genesis(replies[0])
        ours = replies[1].value()
        if not isinstance(ours, dict) or to_hash(ours.get("hash")) != self.ring[lowest]:
            raise ChainReplaced(self.genesis or "", f"block {lowest} is gone")

    def _check_genesis(self, reply: Reply) -> None:
        raw = reply.value()
        genesis = to_hash(raw.get("hash")) if isinstance(raw, dict) else None
        if genesis is not None and genesis != self.genesis:
            raise ChainReplaced(genesis, "new genesis")

    async def _restart(self, client: RpcClient, head: Block, genesis: str, reason: str) -> None:
        """Another chain behind the endpoint (a node restarted or replaced): forget the old one and follow the
        new one from its start (at most max_catchup blocks back). Not a reorg: nothing was replaced on a chain."""
        log.warning(
            "chain replaced, following the new one from its start",
            extra={"chain": self.chain.name, "reason": reason, "old_followed": self.followed, "head": head.number},
        )
        self.restarts += 1
        self.genesis = genesis
        self.ring.clear()
        self._deferred.clear()  # the old chain's blocks: their receipts are gone with it
        self.followed = max(0, head.number - self.max_catchup)
        with self.store.lock:
            self.chain.chain_resets += 1
            # The old chain's height is no block of the new one: "followed up to N" starts again from where
            # the new chain is followed (a scrape during the catch-up must not see the old height).
            self.chain.followed_number = self.followed
            self.chain.progressed_at = time.time()
        await self._follow_to(client, head, after_reorg=True)

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
            full = self.needs_full_blocks and not client.supports(BLOCK_RECEIPTS)
            blocks = await self._fetch(client, chunk, full=full)
            if not await self._process(client, blocks):
                break
        else:
            if await self._process(client, [head], defer=True):
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

    async def _process(self, client: RpcClient, blocks: Sequence[Block], defer: bool = False) -> bool:
        """Record consecutive blocks; False (nothing recorded from the break on) when one does not link.

        With `defer`, full blocks' contract activity is left to the next tick's batch (batch_with_deferred)."""
        linked: list[Block] = []
        for block in blocks:
            if (linked and block.parent_hash != linked[-1].hash) or (not linked and not self._links(block)):
                break
            linked.append(block)
        if not linked:
            return not blocks
        if defer and self.contracts and all(b.txs is not None for b in linked):
            for block in linked:
                self._link(block)
            calls, watched = self._activity_request(linked)
            if calls or self.has_deferred:  # behind the blocks still waiting, to keep their order
                self._deferred.append(Deferred(linked, calls, watched))
            else:
                with self.store.lock:
                    for block in linked:
                        self._record(block, [])
            return len(linked) == len(blocks)
        if self._deferred:  # catching up or after a reorg: the older blocks' activity first
            await self._flush(client)
        activity, logs = await self._activity_or_give_up(client, linked)  # may fail: then nothing is linked
        with self.store.lock:
            for block in linked:
                self._link(block)
                self._record(block, activity.get(block.hash, []))
            self._count_events(logs)
        return len(linked) == len(blocks)

    async def _activity_or_give_up(
        self, client: RpcClient, blocks: Sequence[Block]
    ) -> tuple[Activity, list[ContractEvent]]:
        """The blocks' contract activity, in one or two round trips. When that fails, each block is asked
        alone the same way, then one request at a time (the slow path); a block that still fails is recorded
        without its activity (counted and logged), so an unreadable receipt never stops following."""
        try:
            return await self._contract_activity(client, blocks)
        except (RpcError, ValueError) as exc:
            if len(blocks) == 1:
                return await self._slowly_or_without(client, blocks[0], exc)
        activity: Activity = {}
        logs: list[ContractEvent] = []
        for block in blocks:
            try:
                one, one_logs = await self._contract_activity(client, [block])
            except (RpcError, ValueError) as exc:
                one, one_logs = await self._slowly_or_without(client, block, exc)
            activity.update(one)
            logs.extend(one_logs)
        return activity, logs

    async def _slowly_or_without(
        self, client: RpcClient, block: Block, cause: Exception
    ) -> tuple[Activity, list[ContractEvent]]:
        """The slow path for one block whose fast read failed with `cause`; nothing (counted, logged) when that
        fails too. A transport failure is raised: the endpoint is down and the block waits for it."""
        log.info(
            "reading a block's contract activity one request at a time",
            extra={"chain": self.chain.name, "block": block.number, "err": str(cause)[:200]},
        )
        try:
            return await self._activity_slowly(client, block)
        except (RpcError, ValueError) as exc:
            self._unreadable([block], exc)
            return {}, []

    async def _activity_slowly(self, client: RpcClient, block: Block) -> tuple[Activity, list[ContractEvent]]:
        """One block's activity one request at a time: its full form by hash (when not at hand), then each
        watched call's receipt and the block's logs."""
        if block.txs is None:
            raw = await self._ask(client, Call("eth_getBlockByHash", (block.hash, True)))
            if not isinstance(raw, dict):
                raise ValueError(f"eth_getBlockByHash answered no block for {block.number}")
            block = parse_block(raw)
        calls, watched = self._activity_request([block])
        replies = [Reply(result=await self._ask(client, call)) for call in calls]
        return self._activity_result(watched, replies)

    @staticmethod
    async def _ask(client: RpcClient, call: Call) -> Any:
        """One request in a round trip of its own, asked again while the node answers an error or null
        (a receipt not indexed yet), SLOW_ATTEMPTS times in all with growing pauses."""
        failure: Exception = ValueError(f"{call.method} answered null")
        for attempt in range(SLOW_ATTEMPTS):
            if attempt:
                await asyncio.sleep(SLOW_PAUSE * 2 ** (attempt - 1))
            try:
                result = await client.call(call.method, *call.params, label=call.label)
            except RpcError as exc:
                failure = exc
                continue
            if result is not None:
                return result
            failure = ValueError(f"{call.method} answered null")
        raise failure

    def _count_events(self, logs: list[ContractEvent]) -> None:
        for key in logs:
            self.chain.events[key] = self.chain.events.get(key, 0) + 1

    def _unreadable(self, blocks: Sequence[Block], exc: Exception) -> None:
        with self.store.lock:
            self.chain.blocks_without_activity += len(blocks)
        log.warning(
            "contract activity of a block could not be read, not even one request at a time; recorded without it",
            extra={"chain": self.chain.name, "blocks": [b.number for b in blocks], "err": str(exc)[:200]},
        )

    # ---- requests that ride along in the next tick's batch

    async def batch_with_deferred(self, client: RpcClient, calls: Sequence[Call]) -> list[Reply]:
        """`calls` and the waiting requests in one round trip; records what the waiting ones brought
        back and returns the answers to `calls`. The waiting requests are in flight meanwhile, so two
        endpoints' ticks never both carry (and count) them; a failed round trip keeps them, in order."""
        # Up to the first one left to the slow path: the blocks behind it wait for it, in order.
        ready = next((i for i, d in enumerate(self._deferred) if d.slow), len(self._deferred))
        taken, self._deferred = self._deferred[:ready], self._deferred[ready:]
        self._in_flight.extend(taken)
        try:
            replies = await client.batch([*calls, *(c for d in taken for c in d.calls)])
        except BaseException:
            self._deferred[:0] = taken
            raise
        finally:
            self._in_flight = [d for d in self._in_flight if d not in taken]
        self._complete(taken, replies[len(calls) :])
        return replies[: len(calls)]

    def _complete(self, deferred: list[Deferred], replies: Sequence[Reply]) -> None:
        """Record the blocks with what the tick brought back, in order. A request whose answer failed
        is asked again with the next tick (and the blocks behind it wait), then left to the slow path."""
        offset = 0
        for i, item in enumerate(deferred):
            answers = replies[offset : offset + len(item.calls)]
            offset += len(item.calls)
            try:
                activity, logs = self._activity_result(item.watched, answers)
            except (RpcError, ValueError) as exc:
                item.attempts += 1
                if item.attempts >= DEFERRED_ATTEMPTS:
                    item.slow = True
                    item.cause = exc
                self._deferred[:0] = deferred[i:]
                return
            with self.store.lock:
                for block in item.blocks:
                    self._record(block, activity.get(block.hash, []))
                self._count_events(logs)

    async def _flush(self, client: RpcClient) -> None:
        """Ask for the waiting requests now, in a round trip of their own; what keeps failing is read slowly.
        Bounded: each round trip records requests or brings the first failing one closer to the slow path."""
        for _ in range((DEFERRED_ATTEMPTS + 1) * len(self._deferred) + 1):
            if not self._deferred:
                return
            if self._deferred[0].slow:
                await self._read_slow_deferred(client)
            else:
                await self.batch_with_deferred(client, [])

    async def _read_slow_deferred(self, client: RpcClient) -> None:
        """Record the waiting blocks the ride-along could not read, each read one request at a time and
        recorded as soon as it is read (an endpoint going down midway leaves only the rest waiting)."""
        while self._deferred and self._deferred[0].slow:
            item = self._deferred[0]
            while item.blocks:
                block = item.blocks[0]
                activity, logs = await self._slowly_or_without(client, block, item.cause or ValueError("unread"))
                item.blocks.pop(0)
                with self.store.lock:
                    self._record(block, activity.get(block.hash, []))
                    self._count_events(logs)
            self._deferred.pop(0)

    @property
    def has_deferred(self) -> bool:
        return bool(self._deferred or self._in_flight)

    async def _contract_activity(
        self, client: RpcClient, blocks: Sequence[Block]
    ) -> tuple[Activity, list[ContractEvent]]:
        """Calls to watched contracts (per block hash) and their contracts' events."""
        if not self.contracts:
            return {}, []
        if all(b.txs is not None for b in blocks):
            return await self._activity_from_transactions(client, blocks)
        if client.supports(BLOCK_RECEIPTS):
            try:
                return await self._activity_from_block_receipts(client, blocks)
            except RpcError as exc:
                if not exc.unsupported:
                    raise
        # Without eth_getBlockReceipts: the full blocks (by hash: the very blocks being processed, even if the
        # chain moved on meanwhile), then the receipt of each watched call, all in one batch.
        replies = await client.batch([Call("eth_getBlockByHash", (b.hash, True)) for b in blocks])
        full = [parse_block(r.value()) for r in replies]
        return await self._activity_from_transactions(client, full)

    async def _activity_from_transactions(
        self, client: RpcClient, blocks: Sequence[Block]
    ) -> tuple[Activity, list[ContractEvent]]:
        """From full blocks: receipts of the calls to watched contracts, and logs of blocks whose bloom may match."""
        calls, watched = self._activity_request(blocks)
        return self._activity_result(watched, await client.batch(calls))

    def _activity_request(self, blocks: Sequence[Block]) -> tuple[list[Call], Watched]:
        calls: list[Call] = []
        watched: Watched = []
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
        return calls, watched

    def _activity_result(self, watched: Watched, replies: Sequence[Reply]) -> tuple[Activity, list[ContractEvent]]:
        activity: Activity = {}
        for (block_hash, tx_hash, alias, op), reply in zip(watched, replies, strict=False):
            receipt = reply.value()
            if not isinstance(receipt, dict):
                raise ValueError(f"no receipt for {tx_hash}")
            activity.setdefault(block_hash, []).append((alias, op, receipt))
        events: list[ContractEvent] = []
        for reply in replies[len(watched) :]:
            entries = reply.value()
            if not isinstance(entries, list):
                raise ValueError("eth_getLogs answered no list")
            for entry in entries:
                events.extend(self._event(entry))
        return activity, events

    async def _activity_from_block_receipts(
        self, client: RpcClient, blocks: Sequence[Block]
    ) -> tuple[Activity, list[ContractEvent]]:
        """From every block's receipts (one batch), then the calldata of the watched calls only (one more)."""
        replies = await client.batch([Call(BLOCK_RECEIPTS, (b.hash,)) for b in blocks])
        watched: list[tuple[str, str, WatchedContract, Receipt]] = []  # block hash, tx hash, contract, receipt
        events: list[ContractEvent] = []
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

    def _link(self, block: Block) -> None:
        """Remember a block as followed: the ring and `followed` drive linking and reorgs at once,
        even while the block's counters wait for its contract activity."""
        self.ring[block.number] = block.hash
        while len(self.ring) > RING_SIZE:
            self.ring.popitem(last=False)
        self.followed = block.number

    def _record(self, block: Block, calls: list[tuple[str, str, Receipt]]) -> None:
        """Apply one block to the chain state (caller holds the store lock)."""
        chain = self.chain
        chain.followed_number = block.number
        chain.progressed_at = time.time()
        chain.block_gas_used = block.gas_used
        chain.block_gas_limit = block.gas_limit
        chain.block_transactions += block.tx_count
        chain.blocks_processed += 1
        self._count_calls(calls)

    def _count_calls(self, calls: list[tuple[str, str, Receipt]]) -> None:
        chain = self.chain
        for alias, op, receipt in calls:
            key = (alias, op, _status(receipt.get("status")))
            chain.transactions[key] = chain.transactions.get(key, 0) + 1
            hist = chain.gas_used.get((alias, op))
            if hist is None:
                hist = chain.gas_used[(alias, op)] = Histogram(GAS_BOUNDS)
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
        for i, chunk in enumerate(_chunks(numbers, ANCESTOR_BATCH)):
            calls = [Call("eth_getBlockByNumber", (hex(n), False)) for n in chunk]
            if i == 0:  # is it still the same chain at all? Asked along, in the same round trip
                calls.append(Call("eth_getBlockByNumber", ("0x0", False), "eth_getBlockByNumber(genesis)"))
            replies = await client.batch(calls)
            if i == 0:
                self._check_genesis(replies[-1])
            for n, reply in zip(chunk, replies[: len(chunk)], strict=True):
                raw = reply.value()
                if isinstance(raw, dict) and to_hash(raw.get("hash")) == self.ring[n]:
                    ancestor = n
                    break
            if ancestor is not None:
                break
        if ancestor is None:
            if len(self.ring) >= RING_SIZE or not self.ring or min(self.ring) == 0:
                # Nothing in common with a full memory of blocks (or down to the genesis): another chain
                # under the same genesis (a dev node restarted from a genesis file). The old chain is gone.
                raise ChainReplaced(self.genesis or "", f"no common block in the last {len(self.ring)}")
            # Following started less than a ring ago: the fork is just below the first block we saw.
            ancestor = min(self.ring) - 1
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


class ChainReplaced(Exception):
    """The endpoint serves another chain than the one followed."""

    def __init__(self, genesis: str, reason: str) -> None:
        super().__init__(reason)
        self.genesis = genesis
        self.reason = reason


def _status(value: object) -> str:
    try:
        return "success" if to_int(value) == 1 else "failed"
    except ValueError:
        return "unknown"  # pre-Byzantium receipts carry a state root instead of a status
