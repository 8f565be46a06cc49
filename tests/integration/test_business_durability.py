"""Nothing acknowledged is ever lost: kill -9, client spool across an outage, floods.

(The fuzz run of the ingest API is tests/integration/test_business_fuzz.py.)"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from exporters.business.client import BusinessClient, IngestError, SpoolInUse
from exporters.stack.procs import ManagedProcess
from tests.business_util import TOKEN, start_business
from tests.helpers import value, wait_for


def test_kill_9_loses_no_acknowledged_event(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    biz = start_business(tmp_path, procs)
    acknowledged = [0] * 4
    stop = threading.Event()

    def writer(n: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        for i in range(400):
            if stop.is_set():
                return
            batch = [
                {"type": "claims", "labels": {"type": f"t{n}", "status": "submitted"}, "id": f"{n}-{i}-{j}"}
                for j in range(5)
            ]
            try:
                r = session.post(f"{biz.url}/api/v1/events", json=batch, timeout=5)
            except requests.ConnectionError:
                return
            if r.status_code == 200:
                acknowledged[n] += r.json()["accepted"]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    # Kill while the writers are mid-stream, right after some acknowledgements.
    wait_for(lambda: sum(acknowledged) >= 2000, 60, "2000 acknowledged events", interval=0.001)
    biz.process.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    total = sum(acknowledged)
    assert total >= 2000
    biz.restart()
    body = biz.metrics()
    counted = sum(
        value(body, "business_claims_total", type=f"t{n}", status="submitted")
        for n in range(4)
        if f'type="t{n}"' in body
    )
    # Every acknowledged event is there; at most the in-flight, unacknowledged batches (4 x 5) may be too.
    assert total <= counted <= total + 20, (total, counted)


def test_client_spools_while_the_exporter_is_down(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    biz = start_business(tmp_path, procs)
    client = BusinessClient(biz.url, TOKEN, spool=tmp_path / "spool.jsonl", retries=1, backoff=0.05)
    assert client.send([client.event("claims", {"type": "land", "status": "submitted"})])
    biz.process.stop()
    for i in range(30):
        delivered = client.send([client.event("claims", {"type": "land", "status": "approved"}, id=f"down-{i}")])
        assert not delivered
    assert client.spooled() == 30
    # The spool is plain JSON lines, in the order the events were raised.
    ids = [json.loads(line)["id"] for line in (tmp_path / "spool.jsonl").read_text().splitlines()]
    assert ids == [f"down-{i}" for i in range(30)]
    biz.restart()
    assert client.flush()
    assert client.spooled() == 0
    assert client.flush()  # flushing again sends nothing twice
    body = biz.metrics()
    assert value(body, "business_claims_total", type="land", status="approved") == 30
    assert value(body, "business_claims_total", type="land", status="submitted") == 1


def test_a_refused_batch_does_not_block_the_spool(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    caps = {"claims": {"kind": "counter", "metric": "business_claims_total", "labels": {"type": {"max_values": 1}}}}
    biz = start_business(tmp_path, procs, {"events": caps})
    spool = tmp_path / "spool.jsonl"
    client = BusinessClient(biz.url, TOKEN, spool=spool, retries=0, batch_size=2)
    biz.process.stop()
    events = [client.event("claims", {"type": t}, id=f"e{i}") for i, t in enumerate(["a", "a", "b", "b", "a", "a"])]
    assert not client.send(events)  # down: all six spooled
    biz.restart()
    # The middle pair breaks the cap for good (429 cardinality_cap): it goes to the dead-letter file,
    # the pairs before and after it are delivered, and the spool is empty, not stuck behind it.
    with pytest.raises(IngestError) as refused:
        client.flush()
    assert refused.value.status == 429 and refused.value.body["error"] == "cardinality_cap"
    assert client.spooled() == 0
    dead = [json.loads(line) for line in client.rejected_path.read_text().splitlines()]  # type: ignore[union-attr]
    assert [d["event"]["id"] for d in dead] == ["e2", "e3"]
    assert {d["error"]["error"] for d in dead} == {"cardinality_cap"}
    assert value(biz.metrics(), "business_claims_total", type="a") == 4
    assert client.flush()  # nothing left to send, nothing raised again


def test_the_client_waits_out_a_rate_limit_in_its_spool(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    biz = start_business(tmp_path, procs, {"limits": {"events_per_second": 1, "burst": 3}})
    client = BusinessClient(biz.url, TOKEN, spool=tmp_path / "spool.jsonl", retries=0)
    claim = {"type": "land", "status": "submitted"}
    assert client.send([client.event("claims", claim, id=f"a{i}") for i in range(5)])  # 2 events of debt
    started = time.monotonic()
    assert not client.send([client.event("claims", claim, id="b")])  # 429 rate_limited, Retry-After 2
    assert not client.send([client.event("claims", claim, id="c")])  # within Retry-After: not even sent
    assert client.spooled() == 2
    assert value(biz.metrics(), "business_events_rejected_total", reason="rate_limited") == 1
    wait_for(client.flush, 10, "the spooled events to be delivered after Retry-After", interval=0.5)
    assert time.monotonic() - started >= 2.0
    assert client.spooled() == 0
    assert value(biz.metrics(), "business_claims_total", type="land", status="submitted") == 7


def test_cardinality_flood_is_refused_and_memory_stays_bounded(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    biz = start_business(tmp_path, procs, {"limits": {"max_batch_events": 1000}})
    proc = psutil.Process(biz.process.pid)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    statuses: dict[int, int] = {}
    rss_after_cap = 0
    for start in range(0, 100_000, 1000):  # 100k distinct senders, 1000 per request
        batch = [
            {"type": "node_events", "labels": {"sender": f"node-{start + i}", "event": "heartbeat"}}
            for i in range(1000)
        ]
        r = session.post(f"{biz.url}/api/v1/events", json=batch, timeout=30)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        if start == 10_000:
            rss_after_cap = proc.memory_info().rss
    assert statuses == {200: 1, 429: 99}  # the cap is 1000 senders: the first request fills it
    body = biz.metrics()
    assert value(body, "business_label_values", event="node_events", label="sender") == 1000
    assert body.count("business_node_events_total{") == 1000
    assert value(body, "business_events_rejected_total", reason="cardinality_cap") == 99
    growth = proc.memory_info().rss - rss_after_cap
    assert growth < 20 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB over 89k refused values"


SENDS = 80


def test_one_client_owns_a_spool_and_an_outage_costs_no_requests(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    spool = tmp_path / "spool.jsonl"
    # A listener that takes connections and closes them at once: an exporter that is not there.
    with socket.create_server(("127.0.0.1", 0)) as dead:
        dead.settimeout(0.01)
        url = f"http://127.0.0.1:{dead.getsockname()[1]}"
        with BusinessClient(url, TOKEN, spool=spool, retries=0) as client:  # one connection per try
            with pytest.raises(SpoolInUse, match=rf"used by another client \(pid {os.getpid()}\)"):
                BusinessClient(url, TOKEN, spool=spool)
            attempts = 0
            inode = None
            for i in range(SENDS):
                assert not client.send([client.event("claims", {"type": "land", "status": "approved"}, id=f"d{i}")])
                try:
                    conn, _ = dead.accept()
                    conn.close()
                    attempts += 1
                except TimeoutError:
                    pass
                inode = inode or spool.stat().st_ino
                assert spool.stat().st_ino == inode  # appended, never rewritten while down
            # One request, then none until the outage pause (1 s, then 2 s) has passed: a handful of tries.
            assert 1 <= attempts <= 5, attempts
            assert client.spooled() == SENDS
        # Closed, the spool is free for the next owner, which delivers everything in order.
        biz = start_business(tmp_path, procs)
        with BusinessClient(biz.url, TOKEN, spool=spool) as successor:
            assert successor.flush() and successor.spooled() == 0
        assert value(biz.metrics(), "business_claims_total", type="land", status="approved") == SENDS
