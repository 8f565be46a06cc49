"""A token bucket over accepted events, for `business.limits.events_per_second` / `burst`."""

from __future__ import annotations

import math
import time


class EventRateLimit:
    """Admit a request while the bucket holds a token; it then pays for all its events.

    A batch larger than the bucket is not refused forever: it may take the bucket into debt,
    which later requests wait out, so the long-run rate stays `rate` whatever the batch sizes.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst) if burst > 0 else max(rate, 1.0)  # no burst set: one second's worth
        self._tokens = self.capacity
        self._last = time.monotonic()

    def admit(self, events: int) -> float:
        """0 when admitted (and charged), else the seconds until a token is back."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens <= 0:
            return (1e-9 - self._tokens) / self.rate
        self._tokens -= events
        return 0.0

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))  # Retry-After takes whole seconds
