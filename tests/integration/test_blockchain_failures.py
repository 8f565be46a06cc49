"""The blockchain exporter when chains misbehave: reorgs, gaps, nodes that stop, hang, lie or answer garbage."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import psutil
import requests

from tests.conftest import Anvil
from tests.helpers import wait_for
from tests.integration.blockchain_support import get, need, network, scrape, wait_scrape
from tests.integration.rpc_servers import rpc_server

DEV = {"chain": "dev", "endpoint": "a"}


def _manual_anvil(start_anvil: Callable[..., Anvil]) -> Anvil:
    """anvil that mines only when told (no interval mining), so heights stay put between steps."""
    return start_anvil("--chain-id", "31337")


def _followed(base: str, number: int, what: str, timeout: float = 15) -> str:
    return wait_scrape(base, lambda t: get(t, "blockchain_followed_block_number", chain="dev") == number, timeout, what)


def _head(anvil: Anvil) -> int:
    return int(anvil.rpc("eth_blockNumber"), 16)


def _timed_scrape(base: str) -> tuple[str, float]:
    start = time.perf_counter()
    text = scrape(base)
    return text, time.perf_counter() - start


def test_reorgs_of_depth_1_and_3_are_detected_with_their_depth(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    anvil = _manual_anvil(start_anvil)
    anvil.rpc("anvil_mine", "0x5")
    base = start_blockchain_exporter([network("dev", anvil.url)])
    text = _followed(base, 5, "the exporter to follow block 5")
    assert get(text, "blockchain_reorgs_total", chain="dev") == 0
    before_hash_changes = need(text, "blockchain_head_changes_total", **DEV)

    anvil.rpc("anvil_reorg", 1, [])  # block 5 replaced: same height, new hash
    text = wait_scrape(
        base, lambda t: get(t, "blockchain_reorgs_total", chain="dev") == 1, 15, "the depth-1 reorg to be seen"
    )
    assert get(text, "blockchain_reorg_depth_blocks_bucket", chain="dev", le="1.0") == 1
    assert need(text, "blockchain_reorg_depth_blocks_sum", chain="dev") == 1
    assert need(text, "blockchain_followed_block_number", chain="dev") == 5
    assert need(text, "blockchain_head_changes_total", **DEV) == before_hash_changes + 1

    anvil.rpc("anvil_mine", "0x2")
    _followed(base, 7, "the exporter to follow block 7")
    anvil.rpc("anvil_reorg", 3, [])  # blocks 5, 6 and 7 replaced
    anvil.rpc("evm_mine")  # and the new branch grows past the old head
    text = wait_scrape(
        base,
        lambda t: (
            get(t, "blockchain_reorgs_total", chain="dev") == 2
            and get(t, "blockchain_followed_block_number", chain="dev") == 8
        ),
        15,
        "the depth-3 reorg to be seen and the new branch followed",
    )
    assert get(text, "blockchain_reorg_depth_blocks_bucket", chain="dev", le="2.0") == 1
    assert get(text, "blockchain_reorg_depth_blocks_bucket", chain="dev", le="3.0") == 2
    assert get(text, "blockchain_reorg_depth_blocks_count", chain="dev") == 2
    assert get(text, "blockchain_reorg_depth_blocks_sum", chain="dev") == 4
    # Still following the new branch: one more block links to it without another reorg.
    anvil.rpc("evm_mine")
    text = _followed(base, 9, "block 9 on the new branch")
    assert get(text, "blockchain_reorgs_total", chain="dev") == 2


def test_catch_up_after_a_gap_is_bounded_and_skipped_blocks_are_counted(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], procs: list
) -> None:
    anvil = _manual_anvil(start_anvil)
    anvil.rpc("anvil_mine", "0x3")
    base = start_blockchain_exporter([network("dev", anvil.url, max_catchup_blocks=100)])
    text = _followed(base, 3, "block 3")
    processed = need(text, "blockchain_blocks_processed_total", chain="dev")

    anvil.rpc("anvil_mine", "0x32")  # 50 blocks: within the bound, every one is processed
    text = _followed(base, 53, "block 53")
    assert need(text, "blockchain_blocks_processed_total", chain="dev") == processed + 50
    assert get(text, "blockchain_blocks_skipped_total", chain="dev") == 0

    # 600 blocks, mined while the exporter is stopped: anvil_mine is not atomic for readers, and a poll that
    # saw the head halfway would split the gap into steps of its own (that made this test flaky). Resumed,
    # the exporter sees one gap of 600: it processes the newest 100 and counts the other 500 as skipped.
    exporter = psutil.Process(procs[-1].pid)
    exporter.suspend()
    try:
        anvil.rpc("anvil_mine", "0x258")
    finally:
        exporter.resume()
    text = _followed(base, 653, "block 653")
    assert need(text, "blockchain_blocks_skipped_total", chain="dev") == 500
    assert need(text, "blockchain_blocks_processed_total", chain="dev") == processed + 50 + 100
    assert get(text, "blockchain_reorgs_total", chain="dev") == 0


def test_stopped_node_is_down_with_a_growing_delay_then_recovers(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    anvil = start_anvil()
    base = start_blockchain_exporter([network("dev", anvil.url)])
    wait_scrape(base, lambda t: (get(t, "blockchain_head_block_number", **DEV) or 0) >= 1, 15, "a first block")

    anvil.stop()
    text = wait_scrape(base, lambda t: get(t, "blockchain_up", **DEV) == 0, 10, "up 0 after anvil stopped")
    assert (get(text, "blockchain_rpc_errors_total", method="batch", code="connect", **DEV) or 0) >= 1
    delay = get(text, "blockchain_sync_delay_seconds", **DEV)
    assert delay is not None, "the last head is kept while the node is down, so the delay keeps growing"
    time.sleep(1.5)
    text, took = _timed_scrape(base)
    assert need(text, "blockchain_sync_delay_seconds", **DEV) >= delay + 1.4
    assert took < 1.0, f"a scrape took {took:.3f}s while the node was down"

    anvil.start()  # same port, a fresh chain
    text = wait_scrape(
        base,
        lambda t: get(t, "blockchain_up", **DEV) == 1 and (get(t, "blockchain_sync_delay_seconds", **DEV) or 99) < 3,
        20,
        "recovery after anvil restarted",
    )
    assert get(text, "blockchain_chain_id_mismatch", **DEV) == 0


def test_hanging_and_garbage_endpoints_leave_other_chains_fresh(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], procs: list
) -> None:
    anvil = start_anvil()
    with rpc_server("hang") as hung, rpc_server("garbage") as junk:
        base = start_blockchain_exporter(
            [
                network("dev", anvil.url),
                {**network("stuck", hung.url), "request_timeout": "3s"},
                network("junk", junk.url),
            ]
        )
        timeouts = {"chain": "stuck", "endpoint": "a", "method": "batch", "code": "timeout"}
        text = wait_scrape(
            base,
            lambda t: (get(t, "blockchain_rpc_errors_total", **timeouts) or 0) >= 1,
            20,
            "the hung endpoint to time out",
        )
        first = need(text, "blockchain_head_block_number", **DEV)
        # While the stuck endpoint hangs, every scrape answers at once and the good chain keeps moving.
        slowest = 0.0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            text, took = _timed_scrape(base)
            slowest = max(slowest, took)
            time.sleep(0.1)
        assert slowest < 1.0, f"slowest scrape {slowest:.3f}s with a 3s RPC timeout: scrapes wait on RPC"
        assert need(text, "blockchain_head_block_number", **DEV) >= first + 2
        assert need(text, "blockchain_sync_delay_seconds", **DEV) < 3
        assert get(text, "blockchain_up", **DEV) == 1
        assert get(text, "blockchain_up", chain="stuck", endpoint="a") == 0
        assert get(text, "blockchain_up", chain="junk", endpoint="a") == 0
        assert get(text, "blockchain_rpc_errors_total", chain="junk", endpoint="a", method="batch", code="bad_response")
        assert get(text, "blockchain_head_block_number", chain="junk", endpoint="a") is None
    log = procs[-1].log_path.read_text()
    assert 'msg="endpoint down" chain=junk endpoint=a err="bad_response: not JSON' in log, log[-2000:]
    assert 'msg="endpoint down" chain=stuck endpoint=a err="timeout: no answer within 3.0s"' in log, log[-2000:]


def test_wrong_chain_id_is_reported_and_the_endpoint_not_trusted(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str], procs: list
) -> None:
    anvil = start_anvil()
    base = start_blockchain_exporter([network("mainnet", anvil.url, chain_id=1)])
    labels = {"chain": "mainnet", "endpoint": "a"}
    text = wait_scrape(
        base, lambda t: get(t, "blockchain_chain_id_mismatch", **labels) == 1, 10, "the mismatch to be reported"
    )
    assert get(text, "blockchain_endpoint_chain_id", **labels) == 31337
    assert get(text, "blockchain_up", **labels) == 0
    for name in ("blockchain_head_block_number", "blockchain_sync_delay_seconds", "blockchain_gas_price_wei"):
        assert get(text, name, **labels) is None, f"{name} from a node of another chain"
    assert get(text, "blockchain_followed_block_number", chain="mainnet") is None
    assert requests.get(f"{base}/-/ready", timeout=2).ok
    log = procs[-1].log_path.read_text()
    assert 'msg="chain_id mismatch: endpoint not trusted" chain=mainnet endpoint=a expected=1 reported=31337' in log


def test_endpoint_refusing_batches_gets_single_calls_and_integer_answers_are_read(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    anvil = start_anvil()
    with rpc_server("no-batch", anvil.url) as proxy:
        base = start_blockchain_exporter([network("dev", proxy.url)])
        text = wait_scrape(
            base, lambda t: (get(t, "blockchain_head_block_number", **DEV) or 0) >= 2, 15, "heads through the proxy"
        )
        requests_then = proxy.requests
        assert get(text, "blockchain_up", **DEV) == 1
        assert get(text, "blockchain_rpc_errors_total", method="batch", code="refused", **DEV) == 1
        batches = get(text, "blockchain_rpc_request_duration_seconds_count", method="batch", **DEV)
        head = int(anvil.rpc("eth_blockNumber"), 16)
        block = anvil.rpc("eth_getBlockByNumber", hex(head), False)
        text = wait_scrape(
            base,
            lambda t: need(t, "blockchain_head_block_number", **DEV) >= head + 1,
            10,
            "the head to move on with single calls",
        )
        # Batches are not tried again once refused: every later request is a single call.
        assert get(text, "blockchain_rpc_request_duration_seconds_count", method="batch", **DEV) == batches
        assert proxy.requests > requests_then
        assert need(text, "blockchain_block_gas_limit", chain="dev") == int(block["gasLimit"], 16)
        assert need(text, "blockchain_followed_block_number", chain="dev") >= head


def test_head_lag_between_endpoints_of_one_chain(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    ahead, behind = _manual_anvil(start_anvil), _manual_anvil(start_anvil)
    ahead.rpc("anvil_mine", "0xa")
    behind.rpc("anvil_mine", "0x3")
    base = start_blockchain_exporter([network("dev", ahead.url, behind.url)])
    text = wait_scrape(
        base,
        lambda t: get(t, "blockchain_head_lag_blocks", chain="dev", endpoint="b") == 7,
        15,
        "endpoint b to be 7 blocks behind",
    )
    assert get(text, "blockchain_head_lag_blocks", **DEV) == 0
    behind.rpc("anvil_mine", "0x5")
    wait_scrape(
        base, lambda t: get(t, "blockchain_head_lag_blocks", chain="dev", endpoint="b") == 2, 10, "lag to shrink"
    )
    # When the leading node stops, the follower moves to the next healthy endpoint and lag is measured from it.
    ahead.stop()
    wait_for(
        lambda: get(scrape(base), "blockchain_up", **DEV) == 0,
        10,
        "the first endpoint down",
    )
    behind.rpc("anvil_mine", "0x1")
    text = wait_scrape(
        base, lambda t: get(t, "blockchain_head_block_number", chain="dev", endpoint="b") == 9, 10, "b's new block"
    )
    assert get(text, "blockchain_head_lag_blocks", chain="dev", endpoint="b") == 1  # a's last head was 10
    assert get(text, "blockchain_up", chain="dev", endpoint="b") == 1


def test_websocket_heads_trigger_a_poll_at_once(
    start_anvil: Callable[..., Anvil], start_blockchain_exporter: Callable[..., str]
) -> None:
    anvil = _manual_anvil(start_anvil)
    slow = {**network("dev", {"name": "a", "url": anvil.url, "ws_url": anvil.ws_url}), "poll_interval": "30s"}
    base = start_blockchain_exporter([slow])
    wait_scrape(base, lambda t: get(t, "blockchain_ws_connected", **DEV) == 1, 15, "the subscription")
    for n in (1, 2, 3):
        anvil.rpc("evm_mine")
        # With a 30 s poll interval only the pushed head can make the exporter see the block this soon.
        wait_scrape(base, functools.partial(_at_head, n), 5, f"block {n} via ws")
    text = scrape(base)
    assert need(text, "blockchain_ws_heads_total", **DEV) >= 3
    assert get(text, "blockchain_followed_block_number", chain="dev") == 3


def _at_head(number: int, text: str) -> bool:
    return get(text, "blockchain_head_block_number", **DEV) == number
