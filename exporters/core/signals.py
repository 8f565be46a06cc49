"""Stopping long-running loops cleanly on SIGTERM or SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal


class StopOnSignal:
    """Installs SIGTERM and SIGINT handlers that set `requested`; loops check it and wind down."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, *_: object) -> None:
        self.requested = True
