"""Limits of an exporter's HTTP server, and the throttle on failed basic-auth attempts.

aiohttp's own server settings do most of it (no body decompressed by the server, a short
lingering close, an idle keep-alive timeout); what aiohttp lacks is here: a cap on concurrent
connections (as Prometheus' --web.max-connections) and on failed logins per client address.
"""

from __future__ import annotations

import math
import time

from pydantic import Field

from exporters.core.models import Strict
from exporters.core.types import Duration


class HTTPLimits(Strict):
    """`exporters.<name>.http`: how much a client may hold of the exporter's HTTP server."""

    # Connections open at once; past it a new connection is closed at once (Prometheus' default is 512).
    max_connections: int = Field(default=512, ge=1, le=100_000)
    # An idle keep-alive connection is closed after this long (Prometheus reuses its connection every scrape).
    idle_timeout: Duration = 120.0
    # How long an unread request body is drained before the connection closes, so the client still
    # reads its answer; the server never decompresses what it drains.
    lingering_timeout: Duration = 1.0
    # Failed basic-auth attempts one client address may make per minute; past it 429 without a check.
    max_auth_failures_per_minute: int = Field(default=30, ge=1)


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
