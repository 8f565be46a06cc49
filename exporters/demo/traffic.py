"""`alismon demo traffic`: chain and business traffic until stopped, steerable through a control file.

`alismon stack break business` writes {"verification_failure_ratio": 0.6} into the control file; the
generator reads it every round, so the failure share changes without a restart.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import requests

from exporters.business.client import IngestError
from exporters.core.signals import StopOnSignal
from exporters.demo.business import USUAL_FAILURE_RATIO, BusinessTraffic
from exporters.demo.chain import ChainTraffic

log = logging.getLogger(__name__)

# verification_failure_ratio: of the breakable verifier's verifications (exporters.demo.business).
DEFAULTS = {"verification_failure_ratio": USUAL_FAILURE_RATIO, "transaction_failure_ratio": 0.1}


def read_control(path: Path | None) -> dict[str, float]:
    settings = dict(DEFAULTS)
    if path is None:
        return settings
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return settings
    except (OSError, ValueError) as exc:
        log.warning("control file unreadable, keeping defaults", extra={"path": str(path), "err": str(exc)})
        return settings
    if isinstance(raw, dict):
        for key in DEFAULTS:
            value = raw.get(key)
            if isinstance(value, int | float) and 0 <= value <= 1:
                settings[key] = float(value)
    return settings


def run_traffic(
    rpc_url: str | None,
    business_url: str | None,
    token: str | None,
    interval: float,
    duration: float,
    control: Path | None,
    seed: int | None = None,
    spool: Path | None = None,
) -> int:
    rng = random.Random(seed)
    stop = StopOnSignal()
    chain = ChainTraffic(rpc_url, rng) if rpc_url else None
    biz = BusinessTraffic(business_url, token or "", rng, spool) if business_url else None
    deadline = time.monotonic() + duration if duration > 0 else float("inf")
    rounds = 0
    log.info("demo traffic started", extra={"rpc_url": rpc_url or "-", "business_url": business_url or "-"})
    while not stop.requested and time.monotonic() < deadline:
        started = time.monotonic()
        settings = read_control(control)
        if chain is not None:
            try:
                chain.step(settings["transaction_failure_ratio"])
            except (requests.RequestException, OSError, ValueError) as exc:
                # The chain may be down on purpose (`stack break chain`): keep the business traffic going.
                log.warning("chain traffic failed", extra={"err": str(exc)[:200]})
                chain.registry = None
        if biz is not None:
            try:
                if not biz.step(settings["verification_failure_ratio"]):
                    log.warning(
                        "business exporter unreachable, events spooled", extra={"spooled": biz.client.spooled()}
                    )
            except IngestError as exc:
                # Refused for good (wrong token, an event type the config lacks): say why, keep the chain going.
                log.error("business events refused", extra={"err": str(exc)[:300]})
        rounds += 1
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    log.info("demo traffic stopped", extra={"rounds": rounds})
    return 0
