"""The block follower on an in-memory chain: head by head, bounded catch-up, reorgs, receipts that fail.

The exporter's own poller, follower and RPC client run against tests/unit/fake_chain.py; every count is
read from the chain's readings, the state the collectors expose.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from exporters.blockchain import follow
from exporters.config.blockchain import REORG_DEPTH_BUCKETS
from exporters.core.metrics import Histogram
from tests.unit.fake_chain import SERVER_ERROR, UNSUPPORTED_DIALECTS, FakeChain, FakeNode, PolledNetwork


def cumulative(histogram: Histogram) -> dict[str, float]:
    """le -> cumulative count, as a scrape shows the histogram."""
    return dict(zip(histogram.bounds.le, itertools.accumulate(histogram.counts), strict=True))


def test_new_heads_are_followed_one_by_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path) as net:
            await net.step()
            # Following starts at the head the exporter first sees; nothing before it is fetched.
            assert (net.state.followed_number, net.state.blocks_processed, net.state.block_transactions) == (10, 1, 0)
            assert net.round_trips == 2  # identify, then the tick
            for transfers in (1, 2, 3):
                chain.grow(1, transfers)
                await net.step()
                assert net.state.followed_number == 10 + transfers
                assert net.state.block_gas_used == 21_000 * transfers
            await net.step()  # no new block: nothing is counted twice
            assert net.state.blocks_processed == 4
            assert net.state.block_transactions == 1 + 2 + 3
            assert (net.state.blocks_skipped, net.state.reorgs) == (0, 0)
            assert net.round_trips == 2 + 4  # one round trip per tick
            assert list(net.follower.ring) == list(range(10, 14))

    asyncio.run(scenario())


def test_watched_calls_ride_along_in_the_next_tick(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path, watch_registry=True) as net:
            await net.step()
            # Before any call, every label set is there at 0: functions, plain transfers and unknown calldata.
            ops = ("register", "verify", "transfer", "unknown")
            assert net.state.transactions == {("registry", op, st): 0 for op in ops for st in ("success", "failed")}
            assert {k: sum(h.counts) for k, h in net.state.gas_used.items()} == {("registry", op): 0 for op in ops}
            chain.mine(chain.call("register"), chain.call("verify", status=0, gas_used=30_000), chain.transfer())
            await net.step()
            # Block 11 waits for its receipts, which travel in the next tick's batch.
            assert (net.state.followed_number, net.state.blocks_processed) == (10, 1)
            assert net.state.transactions[("registry", "register", "success")] == 0
            await net.step()
            assert (net.state.followed_number, net.state.blocks_processed, net.state.block_transactions) == (11, 2, 3)
            assert net.state.transactions == {
                ("registry", "register", "success"): 1,
                ("registry", "register", "failed"): 0,
                ("registry", "verify", "success"): 0,
                ("registry", "verify", "failed"): 1,
                **{("registry", op, status): 0 for op in ("transfer", "unknown") for status in ("success", "failed")},
            }
            assert net.state.events == {("registry", "Registered"): 1, ("registry", "Verified"): 0}
            register_gas = net.state.gas_used[("registry", "register")]
            assert register_gas.sum == 60_000 and cumulative(register_gas)["+Inf"] == 1.0
            assert cumulative(net.state.gas_used[("registry", "verify")])["30000.0"] == 1.0
            assert chain.requests[-1].count("eth_getTransactionReceipt") == 2
            assert chain.requests[-1].count("eth_getLogs") == 1
            # A block whose logs bloom cannot hold the registry's address costs no eth_getLogs.
            chain.grow(1, transfers=2)
            await net.step()
            assert (net.state.followed_number, chain.asked("eth_getLogs")) == (12, 1)
            assert net.round_trips == 2 + 3  # receipts and logs never took a round trip of their own

    asyncio.run(scenario())


def test_a_gap_is_caught_up_in_batches_and_the_blocks_beyond_max_catchup_are_skipped(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path, watch_registry=True, max_catchup_blocks=150) as net:
            await net.step()
            requests_before = len(chain.requests)
            chain.grow(19, transfers=1)
            chain.mine(chain.call("register"))  # block 30: beyond max_catchup_blocks, skipped
            chain.grow(69, transfers=1)
            chain.mine(chain.call("register"))  # block 100: caught up
            chain.grow(109, transfers=1)
            chain.mine(chain.call("verify"), chain.transfer())  # block 210, the head
            await net.step()
            # 200 new blocks, 150 followed: 11..60 skipped, 61..209 in batches of 100 and 49, then the head.
            assert net.state.blocks_skipped == 50
            catchup = chain.requests[requests_before + 1 :]
            assert [len(r) for r in catchup if set(r) == {"eth_getBlockByNumber"}] == [100, 49]
            assert [len(r) for r in catchup if set(r) == {"eth_getBlockReceipts"}] == [100, 49]
            # The head's receipts ride along in the next tick; everything before it is recorded.
            assert (net.state.followed_number, net.state.blocks_processed) == (209, 1 + 149)
            await net.step()
            assert (net.state.followed_number, net.state.blocks_processed) == (210, 1 + 150)
            assert net.state.block_transactions == 149 + 2
            assert net.state.transactions[("registry", "register", "success")] == 1
            assert net.state.transactions[("registry", "verify", "success")] == 1
            assert net.state.events == {("registry", "Registered"): 1, ("registry", "Verified"): 1}
            assert (net.state.blocks_skipped, net.state.reorgs) == (50, 0)

    asyncio.run(scenario())


@pytest.mark.parametrize("dialect", sorted(UNSUPPORTED_DIALECTS))
def test_catching_up_without_eth_get_block_receipts_reads_full_blocks_and_asks_once(
    tmp_path: Path, dialect: str
) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        chain.unsupported.add("eth_getBlockReceipts")
        chain.dialect = dialect
        async with PolledNetwork(FakeNode(chain), tmp_path, watch_registry=True) as net:
            await net.step()
            for _ in range(2):  # two gaps: the first finds the method missing, the second does not ask
                chain.grow(4, transfers=1)
                chain.mine(chain.call("register"))
                chain.grow(5, transfers=1)
                await net.step()
            assert net.state.followed_number == 30
            assert net.state.transactions[("registry", "register", "success")] == 2
            assert net.state.events[("registry", "Registered")] == 2
            assert net.endpoint.supported["eth_getBlockReceipts"] is False
            assert sum("eth_getBlockReceipts" in r for r in chain.requests) == 1
            assert net.error_count("eth_getBlockReceipts", "unsupported") == 9  # each entry of that one batch

    asyncio.run(scenario())


@pytest.mark.parametrize(("depth", "new_blocks"), [(1, 1), (3, 4)], ids=["depth-1-same-height", "depth-3-longer"])
def test_a_reorg_finds_the_common_ancestor_and_counts_its_depth(tmp_path: Path, depth: int, new_blocks: int) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path) as net:
            await net.step()
            chain.grow(10, transfers=1)
            await net.step()
            assert (net.state.followed_number, net.state.blocks_processed, net.state.block_transactions) == (20, 11, 10)
            ancestor = chain.canonical[20 - depth]
            chain.reorg(depth, new_blocks, transfers=1)
            head = chain.head.number
            await net.step()
            assert net.state.reorgs == 1
            reorg_depth = net.state.reorg_depth
            assert list(cumulative(reorg_depth).values()) == [float(depth <= b) for b in REORG_DEPTH_BUCKETS] + [1.0]
            assert reorg_depth.sum == depth
            # The new branch is followed from the common ancestor; the orphaned blocks' counts stay.
            assert net.follower.ring[ancestor.number] == ancestor.hash
            assert net.follower.ring == {n: chain.canonical[n].hash for n in range(10, head + 1)}
            assert (net.state.followed_number, net.state.blocks_processed) == (head, 11 + new_blocks)
            assert net.state.block_transactions == 10 + new_blocks
            await net.step()
            assert (net.state.reorgs, net.state.blocks_processed, net.state.blocks_skipped) == (1, 11 + new_blocks, 0)

    asyncio.run(scenario())


def test_a_receipt_refused_twice_is_counted_once_and_later_blocks_wait_for_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path, watch_registry=True) as net:
            await net.step()
            call = chain.call("register")
            chain.mine(call)
            chain.refusals[("eth_getTransactionReceipt", call.hash)] = 2
            await net.step()  # head 11 seen; its receipt request waits for the next tick
            await net.step()  # refused once
            chain.grow(1, transfers=1)
            await net.step()  # refused twice; block 12 queues behind block 11
            assert (net.state.followed_number, net.state.blocks_processed) == (10, 1)
            assert net.state.transactions[("registry", "register", "success")] == 0
            await net.step()  # answered: blocks 11 and 12 are recorded, in order
            assert (net.state.followed_number, net.state.blocks_processed, net.state.block_transactions) == (12, 3, 2)
            await net.step()
            assert net.state.transactions[("registry", "register", "success")] == 1
            assert cumulative(net.state.gas_used[("registry", "register")])["+Inf"] == 1.0
            assert net.state.events[("registry", "Registered")] == 1
            assert chain.asked("eth_getTransactionReceipt") == 3
            assert net.error_count("eth_getTransactionReceipt", str(SERVER_ERROR)) == 2
            assert net.round_trips == 2 + 5

    asyncio.run(scenario())


@pytest.mark.parametrize("refusals", [4, 1000], ids=["read-slowly", "unreadable"])
def test_a_receipt_the_ride_along_cannot_read_is_read_one_request_at_a_time_or_counted_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, refusals: int
) -> None:
    monkeypatch.setattr(follow, "SLOW_PAUSE", 0.0)

    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path, watch_registry=True) as net:
            await net.step()
            call = chain.call("register")
            chain.mine(call)
            chain.refusals[("eth_getTransactionReceipt", call.hash)] = refusals
            await net.step(3)  # seen, then refused in two ticks' batches
            chain.grow(1, transfers=1)
            assert (net.state.followed_number, net.state.blocks_processed) == (10, 1)
            # Refused a third time: the same tick reads it slowly (the receipt on its own, up to three times)
            # and goes on to block 12.
            await net.step()
            assert (net.state.followed_number, net.state.blocks_processed, net.state.block_transactions) == (12, 3, 2)
            read = refusals < follow.DEFERRED_ATTEMPTS + follow.SLOW_ATTEMPTS
            assert net.state.transactions[("registry", "register", "success")] == int(read)
            assert net.state.events[("registry", "Registered")] == int(read)
            assert net.state.blocks_without_activity == int(not read)
            assert chain.asked("eth_getTransactionReceipt") == (5 if read else 6)

    with caplog.at_level("INFO", logger="exporters.blockchain.follow"):
        asyncio.run(scenario())
    slow = [r for r in caplog.records if r.getMessage().startswith("reading a block's contract activity one")]
    assert [getattr(r, "block", None) for r in slow] == [11]
    lost = [r for r in caplog.records if r.getMessage().startswith("contract activity of a block could not be read")]
    assert [getattr(r, "blocks", None) for r in lost] == ([] if refusals == 4 else [[11]])


def test_catching_up_over_a_block_whose_receipts_are_refused_reads_it_one_request_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow, "SLOW_PAUSE", 0.0)

    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path, watch_registry=True) as net:
            await net.step()
            chain.mine(chain.call("register"))
            refused = chain.mine(chain.call("register"), chain.call("verify"))
            chain.mine(chain.call("verify", status=0))
            chain.grow(2, transfers=1)
            chain.refusals[("eth_getBlockReceipts", refused.hash)] = 1000
            await net.step(2)  # caught up over 11..14, then the head's receipts ride along
            assert (net.state.followed_number, net.state.blocks_processed) == (15, 6)
            assert net.state.transactions[("registry", "register", "success")] == 2
            assert net.state.transactions[("registry", "verify", "success")] == 1
            assert net.state.transactions[("registry", "verify", "failed")] == 1
            assert net.state.events == {("registry", "Registered"): 2, ("registry", "Verified"): 1}
            assert net.state.blocks_without_activity == 0
            # The batch failed, so each block was asked alone; the refused one then slowly: by hash, its two
            # watched receipts and its logs, each in a round trip of its own.
            slow = {"eth_getBlockByHash", "eth_getTransactionReceipt", "eth_getLogs"}
            singles = [r[0] for r in chain.requests if len(r) == 1 and r[0] in slow]
            assert singles == ["eth_getBlockByHash", *["eth_getTransactionReceipt"] * 2, "eth_getLogs"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("old_head", "new_head", "same_genesis"),
    [(20, 3, False), (20, 25, False), (20, 3, True), (300, 5, False), (300, 5, True), (300, 310, True)],
    ids=[
        "new-genesis-below",
        "new-genesis-above",
        "same-genesis-below",
        "old-chain-beyond-the-ring",
        "same-genesis-beyond-the-ring",
        "same-genesis-longer-nothing-in-common",
    ],
)
def test_a_node_restarted_between_two_ticks_is_followed_afresh_not_reported_as_a_reorg(
    tmp_path: Path, old_head: int, new_head: int, same_genesis: bool
) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        async with PolledNetwork(FakeNode(chain), tmp_path, watch_registry=True, max_catchup_blocks=1000) as net:
            await net.step()
            chain.grow(old_head - 10, transfers=1)
            await net.step(2)
            assert (net.state.followed_number, net.state.chain_resets) == (old_head, 0)
            processed = net.state.blocks_processed
            chain.restart(new_head, same_genesis=same_genesis)  # faster than a poll: the endpoint never failed
            chain.mine(chain.call("register"))
            await net.step(2)
            assert (net.state.chain_resets, net.state.reorgs, net.state.blocks_skipped) == (1, 0, 0)
            # The new chain is followed from its start: every block of it counted, its call too.
            assert net.state.followed_number == new_head + 1
            assert net.state.blocks_processed - processed == new_head + 1
            assert net.state.transactions[("registry", "register", "success")] == 1
            assert chain.asked("web3_clientVersion") == 2  # identified again: it may be another client now
            chain.grow(2, transfers=1)
            await net.step(2)
            assert (net.state.followed_number, net.state.chain_resets, net.state.reorgs) == (new_head + 3, 1, 0)

    asyncio.run(scenario())
