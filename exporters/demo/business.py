"""Business traffic: claims, verifications (a share failing) and node lifecycle events."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from exporters.business.client import BusinessClient

CLAIM_TYPES = ("land", "identity", "asset")
VERIFICATION_TYPES = ("kyc", "land")
# `stack break business` breaks one verifier, as a failing provider does: its failure share is the steered one,
# the others keep the usual share. One verification type failing is one HighFailureRate alert, so one page.
BREAKABLE_VERIFIER = "kyc"
# A healthy verifier's failure share. About one verification of a type arrives per second, so the demo's 60 s rule
# window holds ~60 of them: at 5 %, 7 or more failures (over HighFailureRate's 10 %) came up in ~3 % of windows, and
# a healthy type paged now and then; at 2 % that is ~1 in 5,000.
USUAL_FAILURE_RATIO = 0.02
# Its share once `stack break business` broke it.
BROKEN_FAILURE_RATIO = 0.6
NODES = ("node-1", "node-2", "node-3")


class BusinessTraffic:
    def __init__(self, url: str, token: str, rng: random.Random, spool: Path | None = None) -> None:
        self.client = BusinessClient(url, token, spool=spool, retries=2, timeout=5.0)
        self.rng = rng

    def events(self, failure_ratio: float) -> list[dict[str, Any]]:
        rng, event = self.rng, BusinessClient.event
        out = []
        for _ in range(rng.randint(1, 3)):
            status = rng.choices(("submitted", "approved", "rejected"), weights=(6, 3, 1))[0]
            out.append(event("claims", {"type": rng.choice(CLAIM_TYPES), "status": status}))
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(VERIFICATION_TYPES)
            failed = rng.random() < (failure_ratio if kind == BREAKABLE_VERIFIER else USUAL_FAILURE_RATIO)
            seconds = rng.lognormvariate(-0.5, 0.7) * (3 if failed else 1)
            labels = {"type": kind, "outcome": "failed" if failed else "success"}
            out.append(event("verifications", labels, value=round(seconds, 3)))
        for node in NODES:
            out.append(event("node_events", {"sender": node, "event": "heartbeat"}))
        if rng.random() < 0.05:
            out.append(event("node_events", {"sender": rng.choice(NODES), "event": "synced"}))
        return out

    def step(self, failure_ratio: float) -> bool:
        """Post one round; False when the exporter is unreachable (the events wait in the spool)."""
        return self.client.send(self.events(failure_ratio))
