"""Watched contracts and accounts: every transaction counted exactly, by operation and receipt status."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from eth_typing import HexStr
from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from tests.conftest import Anvil
from tests.contracts.build import compile_source, load_artefact
from tests.integration.blockchain_support import (
    DEV_ACCOUNT,
    FIXED_GAS,
    OPERATIONS,
    OTHER,
    SENDER,
    counted_calls,
    counted_events,
    deploy_registry,
    expected_counts,
    get,
    need,
    network,
    registry_config,
    scrape,
    wait_scrape,
    web3,
)
from tests.integration.rpc_servers import rpc_server


def test_committed_artefact_matches_the_source() -> None:
    art = load_artefact()
    fresh = compile_source()
    assert fresh["abi"] == art["abi"]
    assert fresh["bytecode"] == art["bytecode"], "run: python -m tests.contracts.build"


def test_transfers_and_calls_counted_by_operation_and_status(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    anvil = start_anvil()
    w3 = web3(anvil.url)
    registry = deploy_registry(w3)
    base = start_blockchain_exporter(
        [
            network(
                "dev",
                anvil.url,
                contracts=[registry_config(registry)],
                accounts=[{"alias": "dev0", "address": DEV_ACCOUNT}, {"alias": "other", "address": OTHER}],
            )
        ]
    )
    after_deploy = w3.eth.block_number + 1
    before = wait_scrape(
        base,
        lambda t: (get(t, "blockchain_followed_block_number", chain="dev") or 0) >= after_deploy,
        15,
        "the exporter to follow blocks after the deployment",
    )
    t0 = get(before, "blockchain_block_transactions_total", chain="dev") or 0

    sender, fixed_gas = SENDER, FIXED_GAS
    hashes = [
        w3.eth.send_transaction({**sender, "to": OTHER, "value": Wei(10**15)}),
        w3.eth.send_transaction({**sender, "to": OTHER, "value": Wei(10**15)}),
        w3.eth.send_transaction({**sender, "to": registry.address, "value": Wei(1)}),
        registry.functions.submitClaim(b"\x01" * 32).transact(sender),
        registry.functions.submitClaim(b"\x02" * 32).transact(sender),
        registry.functions.submitClaim(b"\x03" * 32).transact(sender),
    ]
    w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=20, poll_latency=0.1)
    hashes += [
        registry.functions.verifyClaim(0, True).transact(sender),
        registry.functions.verifyClaim(99, False).transact(fixed_gas),  # no such claim
        w3.eth.send_transaction(
            {**fixed_gas, "to": registry.address, "data": HexStr("0xdeadbeef")}
        ),  # no such function
    ]
    w3.eth.wait_for_transaction_receipt(hashes[-3], timeout=20, poll_latency=0.1)
    hashes.append(registry.functions.verifyClaim(0, True).transact(fixed_gas))  # already verified
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.1) for h in hashes]
    last_block = max(r["blockNumber"] for r in receipts)

    text = wait_scrape(
        base,
        lambda t: (get(t, "blockchain_followed_block_number", chain="dev") or 0) >= last_block,
        15,
        "the exporter to follow the last transaction's block",
    )
    ops = ["transfer", "transfer", "transfer", *["submitClaim"] * 3, "verifyClaim", "verifyClaim", "unknown"]
    ops.append("verifyClaim")
    mined = list(zip(ops, receipts, strict=True))
    calls, events = expected_counts(registry, mined)
    assert calls == {
        ("transfer", "success"): 1,
        ("submitClaim", "success"): 3,
        ("verifyClaim", "success"): 1,
        ("verifyClaim", "failed"): 2,
        ("unknown", "failed"): 1,
    }
    assert counted_calls(text) == {key: calls.get(key, 0) for key in counted_calls(text)}
    assert counted_events(text) == events == {"ClaimSubmitted": 3, "ClaimVerified": 1, "Deposit": 1}
    labels = {"chain": "dev", "contract": "registry"}
    for op in OPERATIONS:
        gas = [r["gasUsed"] for o, r in mined if o == op and r["to"] == registry.address]
        assert get(text, "blockchain_gas_used_count", operation=op, **labels) == len(gas)
        assert get(text, "blockchain_gas_used_sum", operation=op, **labels) == sum(gas)
    assert get(text, "blockchain_gas_used_bucket", operation="transfer", le="30000.0", **labels) == 1
    assert need(text, "blockchain_block_transactions_total", chain="dev") - t0 == len(hashes)
    assert get(text, "blockchain_account_nonce", chain="dev", account="dev0") == w3.eth.get_transaction_count(
        DEV_ACCOUNT
    )
    balance = get(scrape(base), "blockchain_account_balance_wei", chain="dev", account="other")
    assert balance == float(w3.eth.get_balance(OTHER))


def test_calls_are_counted_exactly_when_catching_up_through_block_receipts(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], procs: list
) -> None:
    anvil = start_anvil("--chain-id", "31337")  # mines on each transaction: one block per call
    w3 = web3(anvil.url)
    registry = deploy_registry(w3)
    base = start_blockchain_exporter([network("dev", anvil.url, contracts=[registry_config(registry)])])
    head = w3.eth.block_number
    wait_scrape(base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == head, 15, "the head")
    exporter = psutil.Process(procs[-1].pid)
    # The exporter misses these blocks and catches up over them: blocks without transactions, then their
    # receipts; so only the block-receipts path can count these calls.
    exporter.suspend()
    try:
        sender = SENDER
        hashes = [registry.functions.submitClaim(bytes([i]) * 32).transact(sender) for i in range(1, 6)]
        hashes += [registry.functions.verifyClaim(0, True).transact({**sender, "gas": 200_000}) for _ in range(2)]
        receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.1) for h in hashes]
        anvil.rpc("anvil_mine", "0x5")  # and some empty blocks
    finally:
        exporter.resume()
    last = w3.eth.block_number
    assert last - head >= 12
    text = wait_scrape(base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == last, 20, "catch-up")
    labels = {"chain": "dev", "contract": "registry"}
    assert [r["status"] for r in receipts] == [1] * 6 + [0]  # the second verifyClaim reverts: already verified
    assert get(text, "blockchain_transactions_total", operation="submitClaim", status="success", **labels) == 5
    assert get(text, "blockchain_transactions_total", operation="verifyClaim", status="success", **labels) == 1
    assert get(text, "blockchain_transactions_total", operation="verifyClaim", status="failed", **labels) == 1
    assert get(text, "blockchain_gas_used_sum", operation="submitClaim", **labels) == sum(
        r["gasUsed"] for r in receipts[:5]
    )
    assert get(text, "blockchain_contract_events_total", event="ClaimSubmitted", **labels) == 5
    assert get(text, "blockchain_contract_events_total", event="ClaimVerified", **labels) == 1
    assert get(text, "blockchain_reorgs_total", chain="dev") == 0


@dataclass
class Flaky:
    """anvil mining one block per transaction, the registry deployed and watched through a flaky-receipts proxy."""

    anvil: Anvil
    w3: Web3
    registry: Contract
    proxy: Any
    base: str
    head: int  # followed when the exporter is ready


@contextmanager
def flaky_registry(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], **net: Any
) -> Iterator[Flaky]:
    anvil = start_anvil("--chain-id", "31337")
    w3 = web3(anvil.url)
    registry = deploy_registry(w3)
    with rpc_server("flaky-receipts", anvil.url) as proxy:
        base = start_blockchain_exporter([network("dev", proxy.url, contracts=[registry_config(registry)], **net)])
        head = w3.eth.block_number
        wait_scrape(base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == head, 15, "the head")
        yield Flaky(anvil, w3, registry, proxy, base, head)


def test_watched_calls_ride_along_with_the_next_tick_and_a_failed_receipt_is_asked_again(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], tmp_path: Path
) -> None:
    labels = {"chain": "dev", "contract": "registry"}
    with flaky_registry(start_anvil, start_blockchain_exporter) as f:
        w3, registry, proxy, base = f.w3, f.registry, f.proxy, f.base
        sender = SENDER

        def claim(n: int) -> int:
            tx = registry.functions.submitClaim(bytes([n]) * 32).transact(sender)
            return w3.eth.wait_for_transaction_receipt(tx, timeout=20, poll_latency=0.1)["blockNumber"]

        # Refused twice, answered the third time: counted once, and the block is "followed" only then.
        proxy.receipt_failures = 2
        first = claim(1)
        text = wait_scrape(
            base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == first, 15, "the first claim"
        )
        assert get(text, "blockchain_transactions_total", operation="submitClaim", status="success", **labels) == 1
        assert get(text, "blockchain_contract_events_total", event="ClaimSubmitted", **labels) == 1
        assert sorted(proxy.failed.values()) == [2]
        assert get(text, "blockchain_blocks_without_activity_total", chain="dev") == 0
        # Refused by three ticks' batches and once more: the slow path asks it on its own again, counted once.
        proxy.receipt_failures = 4
        slow = claim(2)
        text = wait_scrape(
            base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == slow, 15, "the slow claim"
        )
        assert get(text, "blockchain_transactions_total", operation="submitClaim", status="success", **labels) == 2
        assert get(text, "blockchain_contract_events_total", event="ClaimSubmitted", **labels) == 2
        # Refused for good: after three tries in batches and three alone, the block is recorded without its
        # activity, and the ones behind it are not held up.
        proxy.receipt_failures = 1000
        lost = claim(3)
        wait_scrape(
            base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == lost, 15, "the refused claim"
        )
        proxy.receipt_failures = 0
        last = claim(4)
        text = wait_scrape(
            base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == last, 15, "the fourth claim"
        )
        assert get(text, "blockchain_transactions_total", operation="submitClaim", status="success", **labels) == 3
        assert get(text, "blockchain_blocks_without_activity_total", chain="dev") == 1  # counted, not silent
        assert sorted(proxy.failed.values()) == [2, 4, 6]  # the refused one: three times in batches, three alone
        method_sets = list(proxy.method_sets)
    log = next(tmp_path.glob("blockchain-*.log")).read_text()
    assert f"reading a block's contract activity one request at a time\" chain=dev block={slow} " in log
    assert f'could not be read, not even one request at a time; recorded without it" chain=dev blocks=[{lost}]' in log
    # Receipts and logs ride along in the ticks' batches; only the slow path asks them alone.
    with_receipts = [m for m in method_sets if "eth_getTransactionReceipt" in m or "eth_getLogs" in m]
    batched = [m for m in with_receipts if len(m) > 1]
    assert len(batched) >= 6  # 4 blocks: 2 + 3 + 3 + 1 tries
    assert all("eth_getBlockByNumber" in m and "eth_syncing" in m for m in batched), batched
    alone = [m for m in with_receipts if len(m) == 1]
    assert alone.count(frozenset({"eth_getTransactionReceipt"})) == 2 + 3, alone


def test_a_waiting_block_is_recorded_before_a_catch_up_behind_it(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    labels = {"chain": "dev", "contract": "registry"}
    with flaky_registry(start_anvil, start_blockchain_exporter, poll_interval="2s") as f:
        anvil, w3, registry, proxy, base = f.anvil, f.w3, f.registry, f.proxy, f.base
        proxy.receipt_failures = 1  # the ride-along request fails once
        tx = registry.functions.submitClaim(b"\x09" * 32).transact(SENDER)
        block = w3.eth.wait_for_transaction_receipt(tx, timeout=20, poll_latency=0.1)["blockNumber"]
        # Seen by a tick (head) but waiting for its receipts (not followed yet): now mine three more at once.
        wait_scrape(
            base,
            lambda t: (
                get(t, "blockchain_head_block_number", chain="dev", endpoint="a") == block
                and get(t, "blockchain_followed_block_number", chain="dev") == block - 1
            ),
            8,
            "the claim's block seen and waiting",
        )
        anvil.rpc("anvil_mine", "0x3")
        text = wait_scrape(
            base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == block + 3, 15, "the catch-up"
        )
        assert get(text, "blockchain_transactions_total", operation="submitClaim", status="success", **labels) == 1
        assert get(text, "blockchain_contract_events_total", event="ClaimSubmitted", **labels) == 1
        receipt_requests = [m for m in proxy.method_sets if "eth_getTransactionReceipt" in m]
    # The failed ride-along, then the retry in a round trip of its own before catching up over the rest.
    assert len(receipt_requests) == 2, receipt_requests
    assert "eth_syncing" in receipt_requests[0] and "eth_syncing" not in receipt_requests[1]


def test_catching_up_over_a_block_whose_receipts_are_refused_reads_it_one_request_at_a_time(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], procs: list, tmp_path: Path
) -> None:
    labels = {"chain": "dev", "contract": "registry"}
    with flaky_registry(start_anvil, start_blockchain_exporter) as f:
        anvil, w3, registry, proxy, base, head = f.anvil, f.w3, f.registry, f.proxy, f.base, f.head
        before = scrape(base)
        exporter = psutil.Process(procs[-1].pid)
        exporter.suspend()  # it catches up over these blocks later, through eth_getBlockReceipts
        try:
            sender = SENDER
            txs = [registry.functions.submitClaim(bytes([20 + i]) * 32).transact(sender) for i in range(3)]
            receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.1) for h in txs]
            anvil.rpc("anvil_mine", "0x2")
            # The middle claim's block never gets its receipts from this node's fast path.
            proxy.refused = {("eth_getBlockReceipts", receipts[1]["blockHash"].to_0x_hex())}
        finally:
            exporter.resume()
        last = w3.eth.block_number
        text = wait_scrape(
            base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == last, 20, "following past it"
        )
    # Every claim counted once: the refused block's by its receipts asked one at a time.
    counted = get(text, "blockchain_transactions_total", operation="submitClaim", status="success", **labels)
    assert counted == 3
    assert need(text, "blockchain_contract_events_total", event="ClaimSubmitted", **labels) == 3
    assert get(text, "blockchain_blocks_without_activity_total", chain="dev") == 0
    processed = need(text, "blockchain_blocks_processed_total", chain="dev") - need(
        before, "blockchain_blocks_processed_total", chain="dev"
    )
    assert processed == last - head
    log = next(tmp_path.glob("blockchain-*.log")).read_text()
    block = receipts[1]["blockNumber"]
    assert f"reading a block's contract activity one request at a time\" chain=dev block={block} " in log
    assert "could not be read" not in log
