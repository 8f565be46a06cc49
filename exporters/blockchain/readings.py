"""What the pollers know, kept in memory and read by the scrape.

Pollers write on the event loop; the scrape reads from the collection thread. Both hold `Readings.lock`
only for plain assignments and copies (never across an await or I/O), so a scrape never waits on a node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from exporters.config.blockchain import REORG_DEPTH_BUCKETS
from exporters.core.metrics import Histogram, HistogramBounds

# Seconds per JSON-RPC round trip: loopback nodes answer in ~1 ms, remote providers in 50-500 ms.
RPC_DURATION_BOUNDS = HistogramBounds((0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
# Gas per transaction: a transfer is 21000, a block holds up to ~36M.
GAS_BOUNDS = HistogramBounds(
    (21_000, 30_000, 50_000, 75_000, 100_000, 150_000, 250_000, 500_000, 1e6, 2e6, 5e6, 1e7, 3e7)
)
REORG_DEPTH_BOUNDS = HistogramBounds(REORG_DEPTH_BUCKETS)

log = logging.getLogger(__name__)


@dataclass
class EndpointState:
    chain: str
    name: str
    has_ws: bool = False
    polled: bool = False  # at least one poll attempt finished
    up: bool = False
    trusted: bool | None = None  # None until the chain id has been read
    chain_id: int | None = None
    client_version: str | None = None
    last_success: float | None = None
    head_number: int | None = None
    head_hash: str | None = None
    head_timestamp: int | None = None
    head_changes: int = 0
    safe: int | None = None
    finalized: int | None = None
    syncing: bool | None = None
    sync_current: int | None = None
    sync_highest: int | None = None
    peers: int | None = None
    gas_price: int | None = None
    base_fee: int | None = None
    priority_fee: int | None = None
    txpool: dict[str, int] = field(default_factory=dict)
    supported: dict[str, bool] = field(default_factory=dict)
    errors: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    durations: dict[str, Histogram] = field(default_factory=dict)
    ws_connected: bool = False
    ws_heads: int = 0


@dataclass
class ChainState:
    name: str
    min_peers: int | None = None  # from config: peers each node should have; None leaves it to the alert
    followed_number: int | None = None
    block_gas_used: int | None = None
    block_gas_limit: int | None = None
    block_transactions: int = 0
    blocks_processed: int = 0
    blocks_skipped: int = 0
    blocks_without_activity: int = 0  # recorded without their watched-contract calls and events (unreadable)
    chain_resets: int = 0  # another chain behind the endpoints: followed afresh
    progressed_at: float = field(default_factory=time.time)  # when a block was last recorded (or the start)
    reorgs: int = 0
    reorg_depth: Histogram = field(default_factory=lambda: Histogram(REORG_DEPTH_BOUNDS))
    balances: dict[str, int] = field(default_factory=dict)  # account alias -> wei
    nonces: dict[str, int] = field(default_factory=dict)
    transactions: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (contract, operation, status)
    gas_used: dict[tuple[str, str], Histogram] = field(default_factory=dict)  # (contract, operation)
    events: dict[tuple[str, str], int] = field(default_factory=dict)  # (contract, event)


class Readings:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chains: dict[str, ChainState] = {}
        self.endpoints: list[EndpointState] = []


class EndpointStats:
    """The RpcStats of one endpoint: round-trip durations and error counts by method, under the store lock."""

    def __init__(self, store: Readings, state: EndpointState) -> None:
        self._lock = store.lock
        self._state = state

    def observe_request(self, method: str, seconds: float) -> None:
        with self._lock:
            hist = self._state.durations.get(method)
            if hist is None:
                hist = self._state.durations[method] = Histogram(RPC_DURATION_BOUNDS)
            hist.observe(seconds)

    def count_error(self, method: str, code: str) -> None:
        with self._lock:
            self._state.errors[(method, code)] += 1

    def set_supported(self, method: str, supported: bool | None) -> None:
        with self._lock:
            if supported is None:
                self._state.supported.pop(method, None)
            else:
                self._state.supported[method] = supported
        if supported is False:  # once per endpoint and method until the endpoint's client changes
            log.info(
                "method not supported, not asking again",
                extra={"chain": self._state.chain, "endpoint": self._state.name, "method": method},
            )
