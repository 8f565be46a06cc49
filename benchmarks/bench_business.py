"""Business exporter ingest vs pushgateway, side by side in one run.

Both run as real processes on loopback, each with durable state: ours acknowledges an event
only after its group commit is fsynced (store.synchronous: full); pushgateway runs with
--persistence.file. Load: 8 asyncio aiohttp clients on keep-alive connections, each sending
as fast as it gets answers, for a fixed time per phase, measured in slices (--rounds) in which
ours and pushgateway take turns, so that load from elsewhere on the machine falls on both alike:

- batch:  ours, POST 100 events (unique ids) per request; pushgateway, PUT a group of 100
          samples per request (one group per client);
- single: one event / one sample per request.

Reported per phase: requests/s, events (or samples)/s, ACK latency p50/p99/max, server CPU
seconds per 1000 events, and the ratios ours / pushgateway, over the whole phase and per round.
Targets: batches of 100 at >= 1.5x pushgateway's events/s with p99 <= 0.7x its p99 (issue 16);
from 8 clients at >= 50,000 events/s with ACK p99 < 50 ms (issue 4). At the end /metrics must count
exactly the acknowledged events. Then, beside the ingest phases: scrape latency while the batch
load runs, ours and pushgateway each (fresh connections from another process and loopback
address); scrape latency and RSS before, with 2,000 idle connections held open, and after they
closed; and the store's RSS per remembered id and its open (restart)
time at 1M and 5M ids (benchmarks/business_ids.py).

Not the same job: pushgateway replaces a group's samples on each push (no counting, no event
ids, no idempotency, no cardinality caps) and writes its persistence file only every
--persistence.interval (5m), so an acknowledged push can be lost in a crash; ours counts every
event and has fsynced it before the 2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.common import RESULTS
from exporters.core.tools import find_tool
from exporters.stack.procs import ManagedProcess, free_port, start_alismon

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-ingest-token"
CLIENTS = 8
BATCH = 100
TYPES = [f"t{i}" for i in range(10)]
STATUSES = ["submitted", "approved", "rejected"]
IDLE_CONNECTIONS = 2000
IDLE_SCRAPES = 100
UNDER_LOAD_SECONDS = 8.0
UNDER_LOAD_DELAY = 1.0
UNDER_LOAD_SCRAPES = 100


@dataclass
class Phase:
    name: str
    target: str
    seconds: float
    requests: int = 0
    events: int = 0
    errors: int = 0
    cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)

    def merge(self, part: Phase) -> None:
        """Add a slice measured apart (the phases of the two targets alternate in slices)."""
        self.seconds += part.seconds
        self.requests += part.requests
        self.events += part.events
        self.errors += part.errors
        self.cpu_seconds += part.cpu_seconds
        self.client_cpu_seconds += part.client_cpu_seconds
        self.latencies.extend(part.latencies)

    def summary(self) -> dict[str, float | int | str]:
        lat = sorted(self.latencies) or [0.0]
        return {
            "phase": self.name,
            "target": self.target,
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "events": self.events,
            "errors": self.errors,
            "requests_per_s": round(self.requests / self.seconds, 1),
            "events_per_s": round(self.events / self.seconds, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
            "max_ms": round(lat[-1] * 1000, 2),
            "server_cpu_s_per_1k_events": round(self.cpu_seconds / max(1, self.events) * 1000, 4),
            "server_cpu_cores": round(self.cpu_seconds / self.seconds, 2),
            "client_cpu_cores": round(self.client_cpu_seconds / self.seconds, 2),
        }


# ---- request bodies (built as text: the clients share the 2 cores with the servers)


def our_body(client: int, seq: int, size: int) -> bytes:
    parts = []
    for j in range(size):
        n = seq * size + j
        parts.append(
            f'{{"type":"claims","labels":{{"type":"{TYPES[n % len(TYPES)]}","status":"{STATUSES[n % 3]}"}},'
            f'"id":"s{size}c{client}-{seq}-{j}"}}'
        )
    return ("[" + ",".join(parts) + "]").encode()


def pushgateway_body(seq: int, size: int) -> bytes:
    lines = ["# TYPE bench_claims_total counter"]
    lines += [f'bench_claims_total{{type="{TYPES[j % len(TYPES)]}",n="{j}"}} {seq}' for j in range(size)]
    return ("\n".join(lines) + "\n").encode()


# ---- load


async def drive(
    phase: Phase, send: Callable[[aiohttp.ClientSession, int, int], object], pid: int, warmup: float
) -> None:
    """CLIENTS concurrent senders for warmup + phase.seconds; only the measured part is recorded."""
    proc, me = psutil.Process(pid), psutil.Process()
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:
        loop = asyncio.get_running_loop()
        measure_from = loop.time() + warmup
        end = measure_from + phase.seconds
        cpu_start: list[float] = []

        async def client(n: int) -> None:
            seq = 0
            while (now := loop.time()) < end:
                if now >= measure_from and not cpu_start:
                    t, c = proc.cpu_times(), me.cpu_times()
                    cpu_start.extend((t.user + t.system, c.user + c.system))
                started = time.perf_counter()
                ok, events = await send(session, n, seq)  # type: ignore[misc]
                took = time.perf_counter() - started
                seq += 1
                if now >= measure_from:
                    phase.latencies.append(took)
                    phase.requests += 1
                    phase.events += events
                    phase.errors += 0 if ok else 1

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
        t, c = proc.cpu_times(), me.cpu_times()
        if cpu_start:
            phase.cpu_seconds = t.user + t.system - cpu_start[0]
            phase.client_cpu_seconds = c.user + c.system - cpu_start[1]


class Ours:
    def __init__(self, url: str, size: int) -> None:
        self.url = f"{url}/api/v1/events"
        self.size = size
        self.headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        self.acknowledged = 0  # every accepted event, warmup included: /metrics must show exactly these
        self._sent: dict[int, int] = {}  # requests per client over every slice: the next request's seq

    async def __call__(self, session: aiohttp.ClientSession, client: int, seq: int) -> tuple[bool, int]:
        seq = self._sent[client] = self._sent.get(client, -1) + 1
        body = our_body(client, seq, self.size)  # ids unique across clients, slices and phases
        async with session.post(self.url, data=body, headers=self.headers) as r:
            answer = await r.read()
            if r.status != 200:
                return False, 0
        accepted = json.loads(answer)["accepted"]
        self.acknowledged += accepted
        return accepted == self.size, accepted


class Pushgateway:
    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size

    async def __call__(self, session: aiohttp.ClientSession, client: int, seq: int) -> tuple[bool, int]:
        url = f"{self.url}/metrics/job/bench/instance/c{client}-{self.size}"
        async with session.put(url, data=pushgateway_body(seq, self.size)) as r:
            await r.read()
            return r.status in (200, 202), self.size if r.status in (200, 202) else 0


# ---- processes


def start_ours(run: Path) -> tuple[ManagedProcess, str]:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    (run / "token").write_text(TOKEN + "\n")
    business = config["business"]
    business.pop("auth_token", None)
    business["auth_token_file"] = str(run / "token")
    business["store"] = {"path": str(run / "business.sqlite"), "synchronous": "full"}
    # Room for the idle-connection phase to hold IDLE_CONNECTIONS for real (the defaults would close most).
    limits = {"max_connections": IDLE_CONNECTIONS + 100, "max_connections_per_client": IDLE_CONNECTIONS + 100}
    config["exporters"]["business"]["http"] = {**limits, "header_timeout": "5m", "idle_timeout": "5m"}
    cfg = run / "config.yml"
    cfg.write_text(yaml.safe_dump(config))
    port = free_port()
    address = f"127.0.0.1:{port}"
    proc = start_alismon(
        "business", "--log.level", "warn", config_file=cfg, listen_address=address, log_path=run / "business.log"
    )
    url = f"http://{address}"
    proc.wait_http(f"{url}/-/ready")
    return proc, url


def rss_mib(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def scrape_latencies(url: str, count: int) -> dict[str, float]:
    """`count` scrapes on fresh connections from another loopback address than the idle ones."""
    host, port = url.removeprefix("http://").split(":")
    took = []
    for _ in range(count):
        start = time.perf_counter()
        conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=("127.0.0.2", 0))
        conn.request("GET", "/metrics")
        conn.getresponse().read()
        conn.close()
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return {"p50_ms": round(took[len(took) // 2], 2), "p99_ms": round(took[int(len(took) * 0.99) - 1], 2)}


def idle_connections(url: str, pid: int) -> dict[str, float | int]:
    """Scrape latency and RSS with IDLE_CONNECTIONS idle keep-alive connections held open, and after."""
    host, port = url.removeprefix("http://").split(":")
    out: dict[str, float | int] = {"idle_connections": IDLE_CONNECTIONS, "rss_mib_before": rss_mib(pid)}
    out.update({f"before_{k}": v for k, v in scrape_latencies(url, IDLE_SCRAPES).items()})
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(IDLE_CONNECTIONS)]
    try:
        time.sleep(1.0)
        out.update({f"idle_{k}": v for k, v in scrape_latencies(url, IDLE_SCRAPES).items()})
        out["rss_mib_idle"] = rss_mib(pid)
    finally:
        for s in held:
            s.close()
    time.sleep(2.0)
    out["rss_mib_after"] = rss_mib(pid)
    out["idle_p99_ratio"] = round(float(out["idle_p99_ms"]) / max(0.01, float(out["before_p99_ms"])), 3)
    return out


def _scrapes_after(url: str, delay: float, count: int) -> dict[str, float]:
    time.sleep(delay)
    start = time.monotonic()
    out = scrape_latencies(url, count)
    out["seconds"] = round(time.monotonic() - start, 2)
    return out


async def scrapes_under_load(url: str, pid: int, send: Callable[..., object]) -> dict[str, float]:
    """Scrape latency while CLIENTS load the target at full rate, the batch phase's way. The scrapes
    come from another process (the load generator's GIL would add its own waits) and another
    loopback address, on fresh connections, starting once the load runs."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        scrapes = loop.run_in_executor(pool, _scrapes_after, url, UNDER_LOAD_DELAY, UNDER_LOAD_SCRAPES)
        load = Phase("load", "", UNDER_LOAD_SECONDS)
        await drive(load, send, pid, 0.0)
        out = await scrapes
    out["scrape_bytes"] = len(requests.get(f"{url}/metrics", timeout=10).content)
    out["events_per_s"] = float(load.summary()["events_per_s"])
    # The scrapes must have run inside the load, or they measured an idle server.
    out["within_load"] = UNDER_LOAD_DELAY + out["seconds"] < UNDER_LOAD_SECONDS
    return out


def start_pushgateway(run: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    proc = ManagedProcess(
        "pushgateway",
        [
            find_tool("prometheus-pushgateway"),
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={run / 'pushgateway.db'}",
            "--log.level=warn",
        ],
        run / "pushgateway.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{url}/-/ready")
    return proc, url


def counted(url: str) -> tuple[float, float, float]:
    """(sum of business_claims_total, business_events_accepted_total, business_events_duplicate_total)."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    claims = accepted = duplicates = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "business_claims_total":
                claims += s.value
            elif s.name == "business_events_accepted_total":
                accepted = s.value
            elif s.name == "business_events_duplicate_total":
                duplicates = s.value
    return claims, accepted, duplicates


async def run_phases(
    ours_url: str, ours_pid: int, pgw_url: str, pgw_pid: int, args: argparse.Namespace
) -> tuple[list[Phase], list[Ours], dict[str, list[float]]]:
    """Each phase in `args.rounds` slices, ours and pushgateway taking turns (and turns at going
    first): the two share the machine with whatever else runs on it, and load that comes and
    goes then falls on both alike instead of on one whole phase."""
    phases: list[Phase] = []
    senders: list[Ours] = []
    per_round: dict[str, list[float]] = {}
    for kind, size, seconds in (("batch", BATCH, args.batch_seconds), ("single", 1, args.single_seconds)):
        ours = Ours(ours_url, size)
        senders.append(ours)
        name = f"{kind}{size}"
        targets: list[tuple[Phase, Callable[[aiohttp.ClientSession, int, int], object], int]] = [
            (Phase(name, "ours", 0.0), ours, ours_pid),
            (Phase(name, "pushgateway", 0.0), Pushgateway(pgw_url, size), pgw_pid),
        ]
        for r in range(args.rounds):
            rates: dict[str, tuple[float, float]] = {}
            for phase, send, pid in targets if r % 2 == 0 else targets[::-1]:
                part = Phase(name, phase.target, seconds / args.rounds)
                await drive(part, send, pid, args.warmup if r == 0 else 0.5)
                phase.merge(part)
                row = part.summary()
                rates[phase.target] = (float(row["events_per_s"]), float(row["p99_ms"]))
            (ours_rate, ours_p99), (pgw_rate, pgw_p99) = rates["ours"], rates["pushgateway"]
            per_round.setdefault(f"{name}_events_per_s_ratio", []).append(round(ours_rate / max(1.0, pgw_rate), 3))
            per_round.setdefault(f"{name}_p99_ratio", []).append(round(ours_p99 / max(0.01, pgw_p99), 3))
        for phase, _, _ in targets:
            phases.append(phase)
            print(json.dumps(phase.summary()), flush=True)
    return phases, senders, per_round


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-seconds", type=float, default=20.0)
    parser.add_argument("--single-seconds", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=4, help="slices per phase, ours and pushgateway alternating")
    parser.add_argument("--out", default="business")
    parser.add_argument("--ids", default="1000000,5000000", help="id counts to measure RSS per id at ('' skips)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-business-") as tmp:
        run = Path(tmp)
        started: list[ManagedProcess] = []
        try:
            ours, ours_url = start_ours(run)
            started.append(ours)
            pgw, pgw_url = start_pushgateway(run)
            started.append(pgw)
            phases, senders, per_round = asyncio.run(run_phases(ours_url, ours.pid, pgw_url, pgw.pid, args))
            # The batch phase's senders again: ours keeps counting from its own ids, so none is sent twice.
            loaded = {
                target: asyncio.run(scrapes_under_load(url, pid, send))
                for target, url, pid, send in (
                    ("ours", ours_url, ours.pid, senders[0]),
                    ("pushgateway", pgw_url, pgw.pid, Pushgateway(pgw_url, BATCH)),
                )
            }
            acknowledged = sum(s.acknowledged for s in senders)
            claims, accepted, duplicates = counted(ours_url)
            idle = idle_connections(ours_url, ours.pid)
        finally:
            for p in reversed(started):
                p.stop()

    id_costs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-m", "benchmarks.business_ids", n],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            ).stdout
        )
        for n in args.ids.split(",")
        if n
    ]
    rows = [p.summary() for p in phases]
    by = {(r["phase"], r["target"]): r for r in rows}
    ratios = {}
    for kind in ("batch100", "single1"):
        o, g = by[(kind, "ours")], by[(kind, "pushgateway")]
        ratios[f"{kind}_requests_per_s_ratio"] = round(float(o["requests_per_s"]) / float(g["requests_per_s"]), 3)
        ratios[f"{kind}_p99_ratio"] = round(float(o["p99_ms"]) / max(0.01, float(g["p99_ms"])), 3)
        ratios[f"{kind}_events_per_s_ratio"] = round(float(o["events_per_s"]) / max(1.0, float(g["events_per_s"])), 3)
        ratios[f"{kind}_cpu_per_event_ratio"] = round(
            float(o["server_cpu_s_per_1k_events"]) / max(1e-9, float(g["server_cpu_s_per_1k_events"])), 3
        )
        for what in ("events_per_s_ratio", "p99_ratio"):
            rounds = per_round[f"{kind}_{what}"]
            ratios[f"{kind}_{what}_by_round"] = rounds  # type: ignore[assignment]
            ratios[f"{kind}_{what}_round_median"] = round(statistics.median(rounds), 3)
    under_load = {f"under_load_{k}_{target}": v for target, out in loaded.items() for k, v in out.items()}
    under_load["under_load_scrape_p99_ratio"] = round(
        loaded["ours"]["p99_ms"] / max(0.01, loaded["pushgateway"]["p99_ms"]), 3
    )
    batch = by[("batch100", "ours")]
    checks = {
        "target_events_per_s_1_5x_pushgateway": ratios["batch100_events_per_s_ratio"] >= 1.5,
        "target_p99_0_7x_pushgateway": ratios["batch100_p99_ratio"] <= 0.7,
        "acknowledged_events": acknowledged,
        "metrics_claims_total_sum": claims,
        "metrics_events_accepted_total": accepted,
        "metrics_events_duplicate_total": duplicates,
        "counts_exact": claims == accepted == acknowledged and duplicates == 0,
        "target_events_per_s_50000": float(batch["events_per_s"]) >= 50_000,
        "target_p99_under_50ms": float(batch["p99_ms"]) < 50,
    }
    header = f"{'phase':<10}{'target':<13}{'req/s':>9}{'events/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
    print(header + f"{'errors':>7}{'CPU s/1k ev':>12}{'srv cores':>10}{'cli cores':>10}")
    for r in rows:
        print(
            f"{r['phase']:<10}{r['target']:<13}{r['requests_per_s']:>9}{r['events_per_s']:>11}{r['p50_ms']:>8}"
            f"{r['p99_ms']:>8}{r['max_ms']:>8}{r['errors']:>7}{r['server_cpu_s_per_1k_events']:>12}"
            f"{r['server_cpu_cores']:>10}{r['client_cpu_cores']:>10}"
        )
    for key, value in {**ratios, **checks, **under_load, **idle}.items():
        print(f"{key}: {value}")
    for cost in id_costs:
        print(f"remembered ids: {cost}")
    notes = [
        "pushgateway replaces a group per push (no counting, ids or caps) and persists every 5m, "
        "so a crash can lose acknowledged pushes; ours fsyncs every group commit before the 2xx.",
        f"{CLIENTS} clients on keep-alive connections, one process of asyncio clients on the same 2 cores.",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(
        json.dumps(
            {
                "rows": rows,
                "ratios": ratios,
                "checks": checks,
                "under_load": under_load,
                "idle": idle,
                "ids": id_costs,
                "notes": notes,
            },
            indent=2,
        )
    )
    return 0 if checks["counts_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
