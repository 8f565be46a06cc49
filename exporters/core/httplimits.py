"""Limits of an exporter's HTTP server, and the throttle on failed basic-auth attempts.

aiohttp's own server settings do most of it (no body decompressed by the server, a short
lingering close, an idle keep-alive timeout); what aiohttp lacks is here: a cap on concurrent
connections (as Prometheus' --web.max-connections) and on failed logins per client address.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import time

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from pydantic import Field

from exporters.core.models import Strict
from exporters.core.types import Duration


class HTTPLimits(Strict):
    """`exporters.<name>.http`: how much a client may hold of the exporter's HTTP server."""

    # Connections open at once; past it a new connection is closed at once (Prometheus' default is 512).
    max_connections: int = Field(default=512, ge=1, le=100_000)
    # Connections open at once from one client address, so one client cannot take every slot.
    max_connections_per_client: int = Field(default=64, ge=1, le=100_000)
    # A new connection must complete its TLS handshake and its first request's headers within this long.
    header_timeout: Duration = 10.0
    # An idle keep-alive connection is closed after this long (Prometheus reuses its connection every scrape).
    idle_timeout: Duration = 120.0
    # How long an unread request body is drained before the connection closes, so the client still
    # reads its answer; the server never decompresses what it drains.
    lingering_timeout: Duration = 1.0
    # Failed basic-auth attempts one client address may make per minute; past it 429 without a check.
    max_auth_failures_per_minute: int = Field(default=30, ge=1)


log = logging.getLogger(__name__)


REFUSAL_REASONS = ("max_connections", "max_connections_per_client", "header_timeout")


class ConnectionGuard:
    """Counts open connections, in all and per client address, and admits or refuses new ones.

    When many connections have closed since the peak, the C heap is trimmed: TLS and read buffers
    of closed connections otherwise stay with the process (glibc keeps freed arenas).
    """

    TRIM_AFTER = 128  # connections closed since the peak before the heap is trimmed

    def __init__(self, limits: HTTPLimits) -> None:
        self.limits = limits
        self.total = 0
        self.peak = 0
        # Connections closed unserved, by reason: alismon_http_connections_refused_total{reason}.
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self._per_client: dict[str, int] = {}

    def admit(self, client: str) -> bool:
        if self.total >= self.limits.max_connections:
            self.refused["max_connections"] += 1
            return False
        if self._per_client.get(client, 0) >= self.limits.max_connections_per_client:
            self.refused["max_connections_per_client"] += 1
            return False
        self.total += 1
        self.peak = max(self.peak, self.total)
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return True

    def release(self, client: str) -> None:
        self.total -= 1
        left = self._per_client.get(client, 1) - 1
        if left:
            self._per_client[client] = left
        else:
            self._per_client.pop(client, None)
        if self.peak - self.total >= self.TRIM_AFTER or (self.total == 0 and self.peak > 1):
            self.peak = self.total
            trim_heap()

    def collect(self) -> list[Metric]:
        """The refusals as a counter, every reason from the start (a scrape of the exporter's registry)."""
        family = CounterMetricFamily(
            "alismon_http_connections_refused",
            "Connections closed unserved: at max_connections, at max_connections_per_client, "
            "or without a complete request head within header_timeout.",
            labels=["reason"],
        )
        for reason, count in self.refused.items():
            family.add_metric([reason], count)
        return [family]


def trim_heap() -> None:
    """Give freed C heap back to the system (glibc's malloc_trim); nothing elsewhere."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


M_MMAP_THRESHOLD = -3


def pin_mmap_threshold(size: int = 128 * 1024) -> None:
    """Serve every allocation of `size` or more (a TLS connection's 256 KiB buffers) from its own
    mapping, returned to the system when freed. glibc otherwise raises the threshold after the
    first such free, and the buffers of closed connections stay in a fragmented heap."""
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(M_MMAP_THRESHOLD, size)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


class AuthFailureThrottle:
    """A token bucket of failed logins per client address (refills at the per-minute rate).

    Only failures are charged, and a cached success is answered before the throttle is asked,
    so a flood of wrong passwords costs its sender 429s, not the authorized scraper its scrape.
    """

    MAX_CLIENTS = 10_000  # addresses remembered; emptied when full, so spoofed variety costs no memory

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def _tokens(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def take(self, address: str) -> int:
        """Charge one attempt before its bcrypt check: 0 when taken, else whole seconds until one is back.

        Charging before the check, not after it fails, keeps concurrent attempts within the bound."""
        now = time.monotonic()
        tokens = self._tokens(address, now)
        if tokens < 1:
            return max(1, math.ceil((1 - tokens) / self.rate))
        if len(self._buckets) >= self.MAX_CLIENTS:
            self._buckets.clear()
        self._buckets[address] = (tokens - 1, now)
        return 0

    def refund(self, address: str) -> None:
        """The attempt succeeded: it does not count as a failure."""
        now = time.monotonic()
        self._buckets[address] = (self._tokens(address, now) + 1, now)
