"""Shared pieces of the side-by-side benchmarks: scraping like Prometheus, CPU accounting, reports."""

from __future__ import annotations

import json
import statistics
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml

from exporters.core.tools import find_tool
from exporters.stack.procs import ManagedProcess, free_port

# What Prometheus 2.42 sends: OpenMetrics preferred, gzip accepted.
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class ScrapeStats:
    name: str
    scrapes: int
    samples: int
    body_bytes_gzip: int
    p50_ms: float
    p99_ms: float
    cpu_ms_per_scrape: float
    rss_mb: float


class Target:
    """One exporter under test: a keep-alive session and the pid whose CPU time is charged."""

    def __init__(self, name: str, url: str, pid: int) -> None:
        self.name = name
        self.url = url
        self.proc = psutil.Process(pid)
        self.session = requests.Session()
        self.session.headers.update(PROMETHEUS_HEADERS)
        self.latencies: list[float] = []
        self.cpu = 0.0
        self.last: requests.Response | None = None

    def cpu_seconds(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def scrape(self) -> None:
        before = self.cpu_seconds()
        start = time.perf_counter()
        r = self.session.get(self.url, timeout=10, stream=True)
        raw = r.raw.read(decode_content=False)
        self.latencies.append(time.perf_counter() - start)
        self.cpu += self.cpu_seconds() - before
        r.raise_for_status()
        self.last = r
        self.last_raw = raw

    def stats(self, samples: int) -> ScrapeStats:
        lat = sorted(self.latencies)
        return ScrapeStats(
            name=self.name,
            scrapes=len(lat),
            samples=samples,
            body_bytes_gzip=len(self.last_raw),
            p50_ms=statistics.median(lat) * 1000,
            p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
            cpu_ms_per_scrape=self.cpu / len(lat) * 1000,
            rss_mb=self.proc.memory_info().rss / 2**20,
        )


def interleave(targets: list[Target], scrapes: int, warmup: int = 10, pause: float = 0.005) -> None:
    """Alternate scrapes so both exporters see the same machine conditions."""
    for _ in range(warmup):
        for t in targets:
            t.scrape()
    for t in targets:
        t.latencies.clear()
        t.cpu = 0.0
    for _ in range(scrapes):
        for t in targets:
            t.scrape()
            time.sleep(pause)


def report(name: str, rows: list[ScrapeStats], ratios: dict[str, float], notes: list[str]) -> None:
    header = f"{'exporter':<16}{'scrapes':>8}{'samples':>9}{'gzip B':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms/scrape':>15}"
    print(header)
    for r in rows:
        print(
            f"{r.name:<16}{r.scrapes:>8}{r.samples:>9}{r.body_bytes_gzip:>8}{r.p50_ms:>8.2f}{r.p99_ms:>8.2f}"
            f"{r.cpu_ms_per_scrape:>15.3f}"
        )
    for key, value in ratios.items():
        print(f"{key}: {value:.3f}")
    for note in notes:
        print(note)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"rows": [asdict(r) for r in rows], "ratios": ratios, "notes": notes}, indent=2)
    )


def start_listening(
    stack: ExitStack, run: Path, name: str, port: int, argv: list[str], ready_path: str
) -> tuple[str, ManagedProcess]:
    """Start a server that listens on 127.0.0.1:`port`, stopped with `stack`; its URL once `ready_path` answers."""
    proc = ManagedProcess(name, argv, run / f"{name}.log").start()
    stack.callback(proc.stop)
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{url}{ready_path}", timeout=30)
    return url, proc


def start_prometheus(
    stack: ExitStack, run: Path, name: str, config: dict[str, Any], *extra: str
) -> tuple[str, Path, ManagedProcess]:
    port = free_port()
    cfg = run / f"{name}.yml"
    cfg.write_text(yaml.safe_dump(config))
    tsdb = run / f"{name}-tsdb"
    argv = [
        find_tool("prometheus"),
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tsdb}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-admin-api",
        *extra,
    ]
    url, proc = start_listening(stack, run, name, port, argv, "/-/ready")
    return url, tsdb, proc
