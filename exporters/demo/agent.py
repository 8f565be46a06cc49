"""`alismon demo agent`: a stand-in for a platform node agent, a long-running process that reports heartbeats.

The demo's system exporter watches it (system.processes); `alismon stack break host` kills it, which is
the real condition behind WatchedProcessDown.
"""

from __future__ import annotations

import logging
import time

from exporters.business.client import BusinessClient, IngestError
from exporters.core.signals import StopOnSignal

log = logging.getLogger(__name__)


def run_agent(business_url: str, token: str, name: str, interval: float) -> int:
    client = BusinessClient(business_url, token, retries=1, timeout=5.0)
    stop = StopOnSignal()

    def report(event: str) -> None:
        try:
            client.send([client.event("node_events", {"sender": name, "event": event})])
        except IngestError as exc:
            log.error("node event refused", extra={"err": str(exc)[:300]})

    report("started")
    while not stop.requested:
        report("heartbeat")
        deadline = time.monotonic() + interval
        while not stop.requested and time.monotonic() < deadline:
            time.sleep(0.2)
    report("stopped")
    return 0
