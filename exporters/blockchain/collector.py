"""Scrape-time view of the pollers' state: custom collectors, no I/O, values that depend on "now" computed now."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric

from exporters.blockchain.readings import Readings
from exporters.core.metrics import MetricFamily

EP = ["chain", "endpoint"]


def _gauge(name: str, doc: str, labels: list[str] = EP) -> MetricFamily:
    return MetricFamily.gauge(name, doc, labels)


def _counter(name: str, doc: str, labels: list[str] = EP) -> MetricFamily:
    return MetricFamily.counter(name, doc, labels)


def _histogram(name: str, doc: str, labels: list[str]) -> MetricFamily:
    return MetricFamily.histogram(name, doc, labels)


class EndpointCollector:
    """Head, sync, fees, client and health of every endpoint."""

    name = "endpoints"

    def __init__(self, store: Readings) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        up = _gauge("blockchain_up", "1 if the endpoint answered its last poll and is on the configured chain.")
        last = _gauge("blockchain_last_success_timestamp_seconds", "Unix time of the endpoint's last successful poll.")
        chain_id = _gauge("blockchain_endpoint_chain_id", "Chain id the endpoint reports (eth_chainId).")
        mismatch = _gauge(
            "blockchain_chain_id_mismatch", "1 if the endpoint reports another chain id than configured (not trusted)."
        )
        info = MetricFamily.info("blockchain_client", "Client software of the endpoint.", [*EP, "client_version"])
        head = _gauge("blockchain_head_block_number", "Number of the latest block.")
        head_ts = _gauge("blockchain_head_timestamp_seconds", "Timestamp of the latest block.")
        delay = _gauge(
            "blockchain_sync_delay_seconds",
            "Seconds between now (at scrape time) and the latest block's timestamp; 0 for a block from the future.",
        )
        skew = _gauge(
            "blockchain_head_clock_skew_seconds",
            "Seconds the latest block's timestamp is ahead of the exporter's clock (0 when it is not).",
        )
        changes = _counter("blockchain_head_changes", "Times the latest block's hash changed (new blocks and reorgs).")
        lag = _gauge("blockchain_head_lag_blocks", "Blocks this endpoint is behind the highest endpoint of its chain.")
        safe = _gauge("blockchain_safe_block_number", "Number of the latest safe block.")
        final = _gauge("blockchain_finalized_block_number", "Number of the latest finalized block.")
        syncing = _gauge("blockchain_syncing", "1 if the node reports it is syncing (eth_syncing).")
        sync_cur = _gauge("blockchain_sync_current_block_number", "Current block of a syncing node.")
        sync_high = _gauge("blockchain_sync_highest_block_number", "Highest known block of a syncing node.")
        peers = _gauge("blockchain_peers", "Peers of the node (net_peerCount).")
        gas_price = _gauge("blockchain_gas_price_wei", "Suggested gas price (eth_gasPrice).")
        base_fee = _gauge("blockchain_base_fee_wei", "Base fee per gas of the next block (eth_feeHistory).")
        prio = _gauge("blockchain_max_priority_fee_wei", "Suggested priority fee per gas (eth_maxPriorityFeePerGas).")
        txpool = _gauge(
            "blockchain_txpool_transactions", "Transactions in the node's pool (txpool_status).", [*EP, "state"]
        )
        ws = _gauge("blockchain_ws_connected", "1 while the newHeads websocket subscription is up.")
        ws_heads = _counter("blockchain_ws_heads", "New heads received over the websocket subscription.")

        now = time.time()
        with self.store.lock:
            endpoints = list(self.store.endpoints)
            highest: dict[str, int] = {}
            for e in endpoints:
                if e.trusted is not False and e.head_number is not None:
                    highest[e.chain] = max(highest.get(e.chain, e.head_number), e.head_number)
            for e in endpoints:
                lv = [e.chain, e.name]
                up.add(lv, 1.0 if e.up else 0.0)
                if e.last_success is not None:
                    last.add(lv, e.last_success)
                if e.chain_id is not None:
                    chain_id.add(lv, e.chain_id)
                    mismatch.add(lv, 1.0 if e.trusted is False else 0.0)
                if e.has_ws:
                    ws.add(lv, 1.0 if e.ws_connected else 0.0)
                    ws_heads.add(lv, e.ws_heads)
                if e.trusted is False:
                    continue  # what a node of another chain says about blocks means nothing here
                # A node that went down keeps its last head: sync delay and lag keep growing, as they should.
                if e.client_version is not None:
                    info.add([*lv, e.client_version], 1.0)
                if e.head_number is not None and e.head_timestamp is not None:
                    head.add(lv, e.head_number)
                    head_ts.add(lv, e.head_timestamp)
                    # A node's clock ahead of ours (or blocks stamped ahead, as dev chains do after a revert)
                    # must not read as "fresher than fresh": the delay stops at 0 and the skew says by how much.
                    delay.add(lv, max(0.0, now - e.head_timestamp))
                    skew.add(lv, max(0.0, e.head_timestamp - now))
                    lag.add(lv, highest[e.chain] - e.head_number)
                changes.add(lv, e.head_changes)
                for family, v in (
                    (safe, e.safe),
                    (final, e.finalized),
                    (sync_cur, e.sync_current),
                    (sync_high, e.sync_highest),
                    (peers, e.peers),
                    (gas_price, e.gas_price),
                    (base_fee, e.base_fee),
                    (prio, e.priority_fee),
                ):
                    if v is not None:
                        family.add(lv, v)
                if e.syncing is not None:
                    syncing.add(lv, 1.0 if e.syncing else 0.0)
                for state, n in sorted(e.txpool.items()):
                    txpool.add([*lv, state], n)
        return [
            up, last, chain_id, mismatch, info, head, head_ts, delay, skew, changes, lag, safe, final,
            syncing, sync_cur, sync_high, peers, gas_price, base_fee, prio, txpool, ws, ws_heads,
        ]  # fmt: skip


class RpcCollector:
    """Round trips, errors and method support per endpoint."""

    name = "rpc"

    def __init__(self, store: Readings) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        labels = [*EP, "method"]
        duration = _histogram(
            "blockchain_rpc_request_duration_seconds",
            "Duration of JSON-RPC round trips; method is 'batch' for a batched request.",
            labels,
        )
        errors = _counter(
            "blockchain_rpc_errors",
            "JSON-RPC errors by method and code (a JSON-RPC error code, or timeout, connect, http_<status>, "
            "bad_response, refused, closed).",
            [*labels, "code"],
        )
        supported = _gauge(
            "blockchain_rpc_method_supported",
            "1 if the endpoint answered the method, 0 if it said it has no such method (not asked again).",
            labels,
        )
        with self.store.lock:
            for e in self.store.endpoints:
                for method, hist in sorted(e.durations.items()):
                    duration.add_histogram((e.chain, e.name, method), hist)
                for (method, code), n in sorted(e.errors.items()):
                    errors.add([e.chain, e.name, method, code], n)
                for method, ok in sorted(e.supported.items()):
                    supported.add([e.chain, e.name, method], 1.0 if ok else 0.0)
        return [duration, errors, supported]


class ChainCollector:
    """What the follower saw: blocks, transactions, reorgs, and the watched accounts."""

    name = "chains"

    def __init__(self, store: Readings) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        c = ["chain"]
        followed = _gauge("blockchain_followed_block_number", "Latest block the exporter has processed.", c)
        gas_used = _gauge("blockchain_block_gas_used", "Gas used by the latest processed block.", c)
        gas_limit = _gauge("blockchain_block_gas_limit", "Gas limit of the latest processed block.", c)
        txs = _counter("blockchain_block_transactions", "Transactions in processed blocks.", c)
        blocks = _counter("blockchain_blocks_processed", "Blocks processed.", c)
        skipped = _counter("blockchain_blocks_skipped", "Blocks skipped because a gap exceeded max_catchup_blocks.", c)
        unread = _counter(
            "blockchain_blocks_without_activity",
            "Blocks recorded without their watched-contract calls and events: the node would not serve them.",
            c,
        )
        reorgs = _counter("blockchain_reorgs", "Chain reorganisations seen.", c)
        resets = _counter(
            "blockchain_chain_resets",
            "Times the endpoints served another chain than the one followed (node restarted or replaced): "
            "followed afresh from the new chain's start.",
            c,
        )
        stalled = _gauge(
            "blockchain_follower_stalled_seconds",
            "Seconds since the follower last recorded a block while an endpoint's head is beyond it (0: caught up).",
            c,
        )
        depth = _histogram("blockchain_reorg_depth_blocks", "Blocks replaced by each reorganisation.", c)
        balance = _gauge("blockchain_account_balance_wei", "Balance of a watched account.", ["chain", "account"])
        nonce = _gauge("blockchain_account_nonce", "Transactions sent by a watched account.", ["chain", "account"])
        min_peers = _gauge(
            "blockchain_min_peers",
            "Peers each node of the chain should have, from config (0: no minimum); absent: the alert's default.",
            c,
        )
        now = time.time()
        with self.store.lock:
            heads: dict[str, int] = {}
            for e in self.store.endpoints:
                if e.trusted and e.head_number is not None:
                    heads[e.chain] = max(heads.get(e.chain, e.head_number), e.head_number)
            for name, s in self.store.chains.items():
                if s.followed_number is not None:
                    followed.add([name], s.followed_number)
                if name in heads:
                    behind = s.followed_number is None or heads[name] > s.followed_number
                    stalled.add([name], max(0.0, now - s.progressed_at) if behind else 0.0)
                resets.add([name], s.chain_resets)
                if s.block_gas_used is not None and s.block_gas_limit is not None:
                    gas_used.add([name], s.block_gas_used)
                    gas_limit.add([name], s.block_gas_limit)
                txs.add([name], s.block_transactions)
                blocks.add([name], s.blocks_processed)
                skipped.add([name], s.blocks_skipped)
                unread.add([name], s.blocks_without_activity)
                if s.min_peers is not None:
                    min_peers.add([name], s.min_peers)
                reorgs.add([name], s.reorgs)
                depth.add_histogram((name,), s.reorg_depth)
                for alias, wei in sorted(s.balances.items()):
                    balance.add([name, alias], wei)
                for alias, n in sorted(s.nonces.items()):
                    nonce.add([name, alias], n)
        return [
            followed, gas_used, gas_limit, txs, blocks, skipped, unread, reorgs, depth, resets, stalled,
            balance, nonce, min_peers,
        ]  # fmt: skip


class ContractCollector:
    """The platform's own transactions to watched contracts, by operation and status, and their events."""

    name = "contracts"

    def __init__(self, store: Readings) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        txs = _counter(
            "blockchain_transactions",
            "Transactions to a watched contract by called function and receipt status.",
            ["chain", "contract", "operation", "status"],
        )
        gas = _histogram(
            "blockchain_gas_used",
            "Gas used by transactions to a watched contract, by called function.",
            ["chain", "contract", "operation"],
        )
        events = _counter(
            "blockchain_contract_events", "Events emitted by a watched contract.", ["chain", "contract", "event"]
        )
        with self.store.lock:
            for name, s in self.store.chains.items():
                for (contract, op, status), n in sorted(s.transactions.items()):
                    txs.add([name, contract, op, status], n)
                for (contract, op), hist in sorted(s.gas_used.items()):
                    gas.add_histogram((name, contract, op), hist)
                for (contract, event), n in sorted(s.events.items()):
                    events.add([name, contract, event], n)
        return [txs, gas, events]
