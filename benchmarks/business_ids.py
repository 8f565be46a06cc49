"""RSS per remembered event id, and the restart time, of the business store at N ids.

Run as `python -m benchmarks.business_ids N` (bench_business runs it for 1M and 5M): writes a
store holding N ids (commits of 1,000 uuid4 ids, as the exporter writes them), then opens it as
the exporter does at start and prints one JSON line: RSS growth per id and seconds to open.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psutil

from exporters.business.aggregates import Aggregates
from exporters.business.store import SCHEMA, EventStore
from exporters.config import parse_config

PER_COMMIT = 1000


def measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-ids-") as tmp:
        path = Path(tmp) / "store.sqlite"
        db = sqlite3.connect(path)
        db.executescript(SCHEMA)
        now = time.time()
        rows = (
            (now - 3600 + n / 1000, orjson.dumps([uuid.uuid4().hex for _ in range(PER_COMMIT)]).decode())
            for n in range(count // PER_COMMIT)
        )
        db.executemany("INSERT INTO event_id_batches (seen, ids) VALUES (?, ?)", rows)
        db.commit()
        db.close()
        config = parse_config(
            {"business": {"auth_token": "t", "store": {"path": str(path)}, "idempotency": {"max_ids": count}}}
        ).business
        process = psutil.Process()
        before = process.memory_info().rss
        store = EventStore(config, Aggregates(config))
        start = time.perf_counter()
        store.open()
        opened = time.perf_counter() - start
        rss = process.memory_info().rss - before
        ids = len(store._ids)
        payload = store._ids.nbytes()
        store.close()
    return {
        "ids": ids,
        "rss_bytes_per_id": round(rss / ids, 1),
        "index_bytes_per_id": round(payload / ids, 1),
        "open_seconds": round(opened, 2),
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
