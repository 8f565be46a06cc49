"""Values the blockchain collectors compute at scrape time, and what they take from config."""

from __future__ import annotations

import time

from prometheus_client.metrics_core import Metric

from exporters.blockchain.collector import ChainCollector, EndpointCollector
from exporters.blockchain.readings import ChainState, EndpointState, Readings


def values(families: list[Metric], name: str) -> dict[tuple[str, ...], float]:
    family = next(f for f in families if f.name == name)
    return {tuple(s.labels.values()): s.value for s in family.samples}


def test_a_head_from_the_future_is_clock_skew_not_a_negative_delay() -> None:
    readings = Readings()
    now = time.time()
    readings.endpoints += [
        EndpointState("dev", "ahead", trusted=True, up=True, head_number=5, head_timestamp=int(now) + 30),
        EndpointState("dev", "behind", trusted=True, up=True, head_number=5, head_timestamp=int(now) - 30),
    ]
    families = list(EndpointCollector(readings).collect())
    delay = values(families, "blockchain_sync_delay_seconds")
    skew = values(families, "blockchain_head_clock_skew_seconds")
    assert delay[("dev", "ahead")] == 0.0
    assert 28 < skew[("dev", "ahead")] <= 30
    assert 30 <= delay[("dev", "behind")] < 32
    assert skew[("dev", "behind")] == 0.0


def test_the_minimum_of_peers_is_exported_only_where_config_sets_one() -> None:
    readings = Readings()
    readings.chains.update(
        {"dev": ChainState("dev", min_peers=0), "main": ChainState("main"), "poly": ChainState("poly", min_peers=8)}
    )
    assert values(list(ChainCollector(readings).collect()), "blockchain_min_peers") == {("dev",): 0, ("poly",): 8}


def test_the_follower_is_stalled_only_while_a_trusted_head_is_beyond_it() -> None:
    readings = Readings()
    now = time.time()
    for name, head in (("behind", 8), ("caught_up", 5)):
        readings.chains[name] = ChainState(name, followed_number=5, progressed_at=now - 100)
        readings.endpoints.append(EndpointState(name, "a", trusted=True, up=True, head_number=head))
        # A node of another chain (not trusted) says nothing about this chain's progress.
        readings.endpoints.append(EndpointState(name, "b", trusted=False, head_number=head + 50))
    stalled = values(list(ChainCollector(readings).collect()), "blockchain_follower_stalled_seconds")
    assert 100 <= stalled[("behind",)] < 102
    assert stalled[("caught_up",)] == 0.0
