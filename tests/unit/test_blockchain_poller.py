"""The endpoint poller on an in-memory chain: one batch per tick, unsupported methods, outages, a wrong chain.

The exporter's own poller and RPC client run against tests/unit/fake_chain.py; every value is read from the
endpoint's and the chain's readings, the state the collectors expose.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.unit.fake_chain import (
    BASE_FEE,
    CHAIN_ID,
    GAS_PRICE,
    UNSUPPORTED_DIALECTS,
    FakeChain,
    FakeNode,
    PolledNetwork,
)

TREASURY = "0x" + "7e" * 20


def test_a_tick_reads_head_fees_sync_and_accounts_in_one_batch(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        chain.balances[TREASURY] = 5 * 10**18
        chain.nonces[TREASURY] = 7
        accounts = [{"alias": "treasury", "address": TREASURY}]
        async with PolledNetwork(FakeNode(chain), tmp_path, accounts=accounts) as net:
            await net.step()
            ep = net.endpoint
            assert (ep.up, ep.trusted, ep.chain_id, ep.client_version) == (True, True, CHAIN_ID, "fake-node/v1.0.0")
            assert (ep.head_number, ep.head_hash, ep.head_timestamp) == (10, chain.head.hash, chain.head.timestamp)
            assert (ep.safe, ep.finalized, ep.syncing, ep.peers) == (8, 6, False, 5)
            # The base fee of the next block is the last entry of eth_feeHistory.
            assert (ep.gas_price, ep.base_fee, ep.priority_fee) == (GAS_PRICE, BASE_FEE + 1, 1)
            assert ep.txpool == {"pending": 3, "queued": 1}
            assert (net.state.balances, net.state.nonces) == ({"treasury": 5 * 10**18}, {"treasury": 7})
            assert chain.requests == [
                ["web3_clientVersion", "eth_chainId", "eth_getBlockByNumber"],
                ["eth_getBlockByNumber"] * 3
                + ["eth_syncing", "net_peerCount", "eth_feeHistory", "eth_maxPriorityFeePerGas", "eth_gasPrice"]
                + ["txpool_status", "eth_getBalance", "eth_getTransactionCount"],
            ]
            assert ep.errors == {}

    asyncio.run(scenario())


ANSWERED = {  # what a tick and identify ask, all answered
    "web3_clientVersion", "eth_chainId", "eth_getBlockByNumber(genesis)", "eth_getBlockByNumber(latest)",
    "eth_getBlockByNumber(safe)", "eth_getBlockByNumber(finalized)", "eth_syncing", "eth_feeHistory",
    "eth_maxPriorityFeePerGas", "eth_gasPrice",
}  # fmt: skip


@pytest.mark.parametrize("dialect", sorted(UNSUPPORTED_DIALECTS))
def test_a_missing_method_is_marked_unsupported_logged_once_and_not_asked_again(
    tmp_path: Path, dialect: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        chain.unsupported |= {"net_peerCount", "txpool_status"}
        chain.dialect = dialect
        async with PolledNetwork(FakeNode(chain), tmp_path) as net:
            await net.step(3)
            ep = net.endpoint
            assert (chain.asked("net_peerCount"), chain.asked("txpool_status")) == (1, 1)
            assert chain.asked("eth_gasPrice") == 3
            assert ep.supported == {**dict.fromkeys(ANSWERED, True), "net_peerCount": False, "txpool_status": False}
            # Counted apart from errors, so the error ratio of a healthy node stays 0.
            assert ep.errors == {("net_peerCount", "unsupported"): 1, ("txpool_status", "unsupported"): 1}
            # The rest of the batch is unaffected; what the node lacks is unknown, not zero.
            assert (ep.up, ep.peers, ep.txpool, ep.gas_price) == (True, None, {}, GAS_PRICE)
            logged = [str(r.__dict__.get("method")) for r in caplog.records if r.getMessage().startswith("method not")]
            assert sorted(logged) == ["net_peerCount", "txpool_status"]

            # The node goes away and comes back as the same client: nothing is asked again, nor logged.
            await net.node.stop()
            await net.step()
            await net.node.start()
            await net.step(2)
            assert (chain.asked("net_peerCount"), chain.asked("txpool_status"), ep.up) == (1, 1, True)
            # Another client behind the same URL: every method is tried once more, and logged once more.
            chain.client_version = "fake-node/v2.0.0"
            await net.node.stop()
            await net.step()
            await net.node.start()
            await net.step(2)
            assert (chain.asked("net_peerCount"), chain.asked("txpool_status")) == (2, 2)
            assert (ep.supported["net_peerCount"], ep.supported["txpool_status"]) == (False, False)
            assert len([r for r in caplog.records if r.getMessage().startswith("method not")]) == 4

    caplog.set_level(logging.INFO, logger="exporters.blockchain")
    asyncio.run(scenario())


def test_a_server_error_is_an_error_not_a_missing_method(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        chain.refusals[("txpool_status", "")] = 2
        async with PolledNetwork(FakeNode(chain), tmp_path) as net:
            await net.step(3)
            assert chain.asked("txpool_status") == 3
            assert net.endpoint.supported["txpool_status"] is True
            assert net.endpoint.errors == {("txpool_status", "-32000"): 2}
            assert net.endpoint.txpool == {"pending": 3, "queued": 1}

    asyncio.run(scenario())


def test_an_endpoint_down_then_back_is_identified_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10)
        node = FakeNode(chain)
        async with PolledNetwork(node, tmp_path) as net:
            await net.step()
            ep = net.endpoint
            assert (ep.up, ep.client_version, net.state.followed_number) == (True, "fake-node/v1.0.0", 10)
            await node.stop()
            chain.grow(3, transfers=1)
            await net.step()  # the tick fails
            await net.step()  # identifying it again fails too
            assert (ep.up, ep.trusted, ep.head_number) == (False, None, 10)  # the last head stays
            assert net.error_count("batch", "connect") == 2
            # Another client answers on the same address now.
            chain.client_version = "fake-node/v2.0.0"
            await node.start()
            await net.step()
            assert (ep.up, ep.trusted, ep.client_version, ep.head_number) == (True, True, "fake-node/v2.0.0", 13)
            assert (net.state.followed_number, net.state.blocks_processed, net.state.block_transactions) == (13, 4, 3)
            await net.step(2)
            assert chain.asked("web3_clientVersion") == 2  # at start and after the outage, not on every tick
            assert net.error_count("batch", "connect") == 2

    asyncio.run(scenario())


def test_an_endpoint_on_another_chain_is_not_trusted_and_not_followed(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = FakeChain(head=10, chain_id=1)
        async with PolledNetwork(FakeNode(chain), tmp_path) as net:
            await net.step(3)
            ep = net.endpoint
            assert (ep.up, ep.trusted, ep.chain_id, ep.head_number) == (False, False, 1, None)
            assert (net.state.followed_number, net.state.blocks_processed) == (None, 0)
            # Identified once, not polled; it is asked again after RECHECK_UNTRUSTED_SECONDS.
            assert chain.requests == [["web3_clientVersion", "eth_chainId", "eth_getBlockByNumber"]]

    asyncio.run(scenario())
