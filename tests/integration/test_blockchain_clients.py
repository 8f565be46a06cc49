"""The blockchain exporter on every EVM client (anvil, ganache, Hardhat), each a real node with 1 s blocks.

Counts are compared with web3's own reading of the node: the receipts and logs of the transactions the
test sent. The exporters run with the default poll interval, as a user would start them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import requests
from web3.contract import Contract

from exporters.config import load_config
from exporters.lint.rules import load_rules
from exporters.stack.procs import ManagedProcess
from tests.conftest import REPO, EvmNode
from tests.helpers import prom_query, wait_for
from tests.integration.blockchain_support import (
    EVENTS,
    OPERATIONS,
    counted_calls,
    counted_events,
    deploy_registry,
    expected_counts,
    get,
    need,
    network,
    receipts_of,
    registry_config,
    scrape,
    send_round,
    wait_scrape,
    web3,
)

# Longer than two default poll intervals (2 s).
PAUSE_SECONDS = 5.0
# Longer than a default poll interval (2 s), shorter than the default request timeout (5 s): polls hang.
FREEZE_SECONDS = 4.0
# Methods some clients lack: what the exporter reports must be what the node answers.
OPTIONAL_METHODS: dict[str, tuple[Any, ...]] = {
    "txpool_status": (),
    "eth_getBlockReceipts": ("latest",),
    "net_peerCount": (),
}


def default_network(node: EvmNode, endpoint: str | dict[str, Any], registry: Contract) -> dict[str, Any]:
    """A network with the default poll interval and timeouts, watching the registry."""
    net = network("dev", endpoint, chain_id=node.chain_id, contracts=[registry_config(registry)])
    del net["poll_interval"], net["request_timeout"]
    return net


def answers(node: EvmNode, method: str, *params: Any) -> bool:
    """Whether the node itself answers `method` without an error."""
    body = requests.post(
        node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=5
    )
    return "error" not in body.json()


def followed(text: str) -> float:
    return get(text, "blockchain_followed_block_number", chain="dev") or 0


def test_every_call_and_event_is_counted_exactly_polled_over_ws_after_a_pause_and_a_frozen_node(
    evm_client: EvmNode,
    start_blockchain_exporter: Callable[..., str],
    start_prometheus: Callable[[dict[str, Any]], str],
    procs: list[ManagedProcess],
    tmp_path: Path,
) -> None:
    node = evm_client
    w3 = web3(node.url)
    registry = deploy_registry(w3)
    exporters = {
        "polled": start_blockchain_exporter([default_network(node, node.url, registry)]),
        "ws": start_blockchain_exporter(
            [default_network(node, {"name": "a", "url": node.url, "ws_url": node.ws_url}, registry)]
        ),
        "paused": start_blockchain_exporter([default_network(node, node.url, registry)]),
    }
    paused = psutil.Process(procs[-1].pid)
    logs = {name: tmp_path / f"blockchain-{base.rsplit(':', 1)[1]}.log" for name, base in exporters.items()}
    start = w3.eth.block_number
    for name, base in exporters.items():
        text = wait_scrape(base, lambda t: followed(t) >= start, 20, f"the {name} exporter to follow the head")
        # Before any call, every label set of the contract's calls is there at 0, plain transfers included.
        for op in OPERATIONS:
            for status in ("success", "failed"):
                labels = {"chain": "dev", "contract": "registry", "operation": op, "status": status}
                assert get(text, "blockchain_transactions_total", **labels) == 0, (name, op, status)

    mined = receipts_of(w3, send_round(node, w3, registry, 0))
    # What the exporters say of a healthy node is read before it is frozen: a frozen node's polls do fail.
    healthy = {name: (scrape(exporters[name]), logs[name].read_text()) for name in ("polled", "ws")}
    # The paused exporter misses more than two polls of blocks with calls in them, then catches up. Meanwhile
    # the node is frozen mid-traffic (a round sent, not mined yet) for longer than a poll, then resumed: the
    # other exporters' polls hang meanwhile, and they go on from where they were.
    assert node.proc is not None
    frozen = psutil.Process(node.proc.pid)
    paused.suspend()
    try:
        suspended = time.monotonic()
        mined += receipts_of(w3, send_round(node, w3, registry, 2))
        sent = send_round(node, w3, registry, 4)
        frozen.suspend()
        try:
            time.sleep(FREEZE_SECONDS)
        finally:
            frozen.resume()
        mined += receipts_of(w3, sent)
        time.sleep(max(0.0, suspended + PAUSE_SECONDS - time.monotonic()))
    finally:
        paused.resume()
    mined += receipts_of(w3, send_round(node, w3, registry, 6))
    last = max(r["blockNumber"] for _, r in mined)
    calls, events = expected_counts(registry, mined)
    assert calls[("verifyClaim", "failed")] >= 4 and calls[("transfer", "success")] == 4  # both paths are there
    assert events["Deposit"] == 4 and events["ClaimSubmitted"] == 8

    for name, base in exporters.items():
        text = wait_scrape(base, lambda t: followed(t) >= last, 30, f"the {name} exporter to follow block {last}")
        assert counted_calls(text) == {key: calls.get(key, 0) for key in counted_calls(text)}, name
        assert counted_events(text) == {event: events[event] for event in EVENTS}, name
        assert get(text, "blockchain_reorgs_total", chain="dev") == 0, name

    # Methods the client lacks are reported as the node answers them, asked and logged once, never errors.
    for name in healthy:
        text, log = healthy[name]
        lacking = 0
        for method, params in OPTIONAL_METHODS.items():
            reported = get(text, "blockchain_rpc_method_supported", chain="dev", endpoint="a", method=method)
            if reported is None:
                assert method == "eth_getBlockReceipts", (name, method)  # asked only when catching up
                continue
            assert reported == (1 if answers(node, method, *params) else 0), (name, method)
            unsupported = get(
                text, "blockchain_rpc_errors_total", chain="dev", endpoint="a", method=method, code="unsupported"
            )
            assert unsupported == (None if reported else 1), (name, method)
            lacking += 0 if reported else 1
        errors = [line for line in text.splitlines() if line.startswith("blockchain_rpc_errors_total{")]
        assert [line for line in errors if 'code="unsupported"' not in line] == [], name
        logged = log.count("method not supported, not asking again")
        assert logged == sum(line.startswith("blockchain_rpc_errors_total{") for line in errors) >= lacking, name
        # A dev chain: no minimum of peers (ganache and Hardhat answer 0), a delay never below 0.
        ep = {"chain": "dev", "endpoint": "a"}
        assert get(text, "blockchain_min_peers", chain="dev") == 0, name
        assert get(text, "blockchain_peers", **ep) in (None, 0), name
        assert need(text, "blockchain_sync_delay_seconds", **ep) >= 0, name
        assert need(text, "blockchain_head_clock_skew_seconds", **ep) >= 0, name
    for name, base in exporters.items():
        assert get(scrape(base), "blockchain_blocks_without_activity_total", chain="dev") == 0, name
    text = scrape(exporters["paused"])  # it caught up: it asked for block receipts
    supported = get(text, "blockchain_rpc_method_supported", chain="dev", endpoint="a", method="eth_getBlockReceipts")
    assert supported == (1 if answers(node, "eth_getBlockReceipts", "latest") else 0)

    # The generated rules on a healthy node: no RPC-error, peers, deep-reorg or stalled-follower alert.
    assert_quiet_alerts(start_prometheus, list(exporters.values()))


QUIET_ON_A_HEALTHY_NODE = (
    "BlockchainRPCErrors",
    "BlockchainPeersLow",
    "BlockchainReorgDeep",
    "BlockchainFollowerStalled",
)


def assert_quiet_alerts(start_prometheus: Callable[[dict[str, Any]], str], exporters: list[str]) -> None:
    """Prometheus scrapes the exporters with the repo's rules: the error ratio is there and 0, and the
    expressions of the alerts a healthy node must never raise return nothing (asked directly: no `for` wait)."""
    job = load_config(REPO / "config.yml").alerting.jobs.blockchain
    prom = start_prometheus(
        {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(REPO / "rules/recording.yml"), str(REPO / "rules/alerts.yml")],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [b.removeprefix("http://") for b in exporters]}]}
            ],
        }
    )
    # Rates need two scrapes: wait until every exporter's round trips have one.
    wait_for(
        lambda: len(prom_query(prom, "count by (instance) (blockchain:rpc_requests:rate)")) == len(exporters),
        30,
        "the round-trip rate of every exporter",
    )
    # No errors at all, or only "unsupported method" answers (which the ratio leaves out): 0 or no series.
    assert all(float(r["value"][1]) == 0 for r in prom_query(prom, "blockchain:rpc_errors:ratio"))
    alerts = {r["alert"]: r["expr"] for r in load_rules(REPO / "rules/alerts.yml") if "alert" in r}
    for name in QUIET_ON_A_HEALTHY_NODE:
        assert prom_query(prom, alerts[name]) == [], name


def test_a_restarted_node_is_followed_afresh_and_a_revert_is_a_reorg(
    evm_client: EvmNode, start_blockchain_exporter: Callable[..., str], tmp_path: Path
) -> None:
    node = evm_client
    w3 = web3(node.url)
    registry = deploy_registry(w3)
    # One exporter polls slower than the node restarts (it never sees it down), one fast enough to see it down.
    slow = default_network(node, node.url, registry)
    slow["poll_interval"] = "6s"
    fast = network("dev", node.url, chain_id=node.chain_id, contracts=[registry_config(registry)])
    exporters = {"slow": start_blockchain_exporter([slow]), "fast": start_blockchain_exporter([fast])}
    mined = receipts_of(w3, send_round(node, w3, registry, 0))
    last = max(r["blockNumber"] for _, r in mined)
    for name, base in exporters.items():
        wait_scrape(base, lambda t: followed(t) >= last, 30, f"the {name} exporter to follow block {last}")
    old_head = w3.eth.block_number

    node.stop()
    node.start()  # a fresh chain on the same port
    assert w3.eth.block_number < old_head
    again = deploy_registry(w3)
    assert again.address == registry.address  # the same deployer and nonce
    new_chain = receipts_of(w3, send_round(node, w3, registry, 0))
    mined += new_chain
    last = max(r["blockNumber"] for _, r in new_chain)
    calls, events = expected_counts(registry, mined)
    for name, base in exporters.items():
        text = wait_scrape(
            base,
            lambda t: get(t, "blockchain_chain_resets_total", chain="dev") == 1 and followed(t) >= last,
            30,
            f"the {name} exporter to follow the new chain to block {last}",
        )
        # Both chains' calls, each counted once; a new chain is no reorg.
        assert counted_calls(text) == {key: calls.get(key, 0) for key in counted_calls(text)}, name
        assert counted_events(text) == {event: events[event] for event in EVENTS}, name
        assert get(text, "blockchain_reorgs_total", chain="dev") == 0, name
    log = "".join(p.read_text() for p in tmp_path.glob("blockchain-*.log"))
    assert log.count("chain replaced") == 2, log[-2000:]

    # A revert to a snapshot, then new blocks at the same heights: a reorg of the blocks reverted.
    base = exporters["fast"]
    snapshot = node.rpc("evm_snapshot")
    reverted_at = w3.eth.block_number
    wait_scrape(base, lambda t: followed(t) >= reverted_at + 2, 20, "two blocks past the snapshot")
    node.rpc("evm_revert", snapshot)
    text = wait_scrape(
        base, lambda t: (get(t, "blockchain_reorgs_total", chain="dev") or 0) >= 1, 20, "the revert seen as a reorg"
    )
    assert need(text, "blockchain_reorg_depth_blocks_sum", chain="dev") >= 2
    assert get(text, "blockchain_chain_resets_total", chain="dev") == 1
    # The blocks reverted and replaced held no transactions: following the new branch counted nothing again.
    assert counted_calls(text) == {key: calls.get(key, 0) for key in counted_calls(text)}
    assert counted_events(text) == {event: events[event] for event in EVENTS}
    # Blocks stamped ahead of our clock after a revert (Hardhat does) are skew, never a negative delay.
    for _ in range(5):
        text = scrape(base)
        ep = {"chain": "dev", "endpoint": "a"}
        delay, skew = (
            need(text, "blockchain_sync_delay_seconds", **ep),
            need(text, "blockchain_head_clock_skew_seconds", **ep),
        )
        assert delay >= 0 and skew >= 0 and min(delay, skew) == 0, (delay, skew)
        time.sleep(0.3)


def test_a_frozen_node_behind_a_websocket_is_seen_down_by_its_polls(
    evm_client: EvmNode, start_blockchain_exporter: Callable[..., str]
) -> None:
    node = evm_client
    # Heads over ws must not slow the polls: with a ws_head_timeout far above the poll interval, a frozen
    # node (its socket stays open, it just stops answering) is still seen down within a poll and a timeout.
    ws = {"name": "a", "url": node.url, "ws_url": node.ws_url}
    base = start_blockchain_exporter(
        [network("dev", ws, chain_id=node.chain_id, poll_interval="1s", request_timeout="1s", ws_head_timeout="30s")]
    )
    ep = {"chain": "dev", "endpoint": "a"}
    wait_scrape(base, lambda t: (get(t, "blockchain_ws_heads_total", **ep) or 0) >= 2, 20, "heads over ws")
    assert node.proc is not None
    frozen = psutil.Process(node.proc.pid)
    frozen.suspend()
    try:
        # 1 s poll + 1 s timeout, with room for a loaded machine; far below the 30 s ws_head_timeout.
        wait_scrape(base, lambda t: get(t, "blockchain_up", **ep) == 0, 8, "the frozen node seen down")
    finally:
        frozen.resume()
    wait_scrape(base, lambda t: get(t, "blockchain_up", **ep) == 1, 20, "the node seen up again")
