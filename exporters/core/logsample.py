"""Log lines about refused requests, bounded: a flood of bad requests must not flood the log too.

As zap's sampler and nginx's one-line summaries do: the first `burst` lines of each `window` are
written as they come; past that, refusals are only counted by reason, and one summary line per
window says how many were left out and why. The counters (business_events_rejected_total, ...)
still count every one.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable


class SampledLog:
    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        burst: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.message, self.burst, self.window, self.clock = logger, message, burst, window, clock
        self._end = float("-inf")
        self._written = 0
        self._left_out: collections.Counter[str] = collections.Counter()
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self, reason: str, **fields: object) -> None:
        now = self.clock()
        if now >= self._end:
            self.flush()
            self._end, self._written = now + self.window, 0
        if self._written < self.burst:
            self._written += 1
            self.logger.info(self.message, extra={"reason": reason, **fields})
            return
        self._left_out[reason] += 1
        if self._timer is None:
            try:  # the summary is due when the window ends, even if no refusal comes after it
                self._timer = asyncio.get_running_loop().call_later(max(0.0, self._end - now), self.flush)
            except RuntimeError:
                pass  # no loop (a test, a thread): the next call after the window writes it

    def flush(self) -> None:
        """Write the summary of what was left out, if anything was."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._left_out:
            return
        by_reason = ",".join(f"{reason}:{n}" for reason, n in self._left_out.most_common())
        self.logger.info(
            f"{self.message} (more, not logged one by one)",
            extra={"left_out": sum(self._left_out.values()), "by_reason": by_reason, "window_seconds": self.window},
        )
        self._left_out.clear()
