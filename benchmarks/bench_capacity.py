"""Capacity inputs for docs/scaling.md: our exporters' real series, and what Prometheus 2.42 spends on them.

1. Capture: the three real exporters run on loopback (the blockchain one following an anvil that the demo
   traffic keeps busy, the business one taking the demo's events plus node events from synthetic agents),
   and their text-format /metrics are captured. Series per role = samples in the payload + the 5 series
   Prometheus adds per target (up, scrape_duration_seconds, scrape_samples_scraped,
   scrape_samples_post_metric_relabeling, scrape_series_added). Business series per agent = growth of the
   business payload per synthetic agent that reports started, heartbeat and synced.
2. Fleet: for each size, a fresh Prometheus (the "shard") scrapes that many impersonated system exporters
   (benchmarks/fleet.py, the captured payload, one instance and path per target, file SD) every 5 s and
   remote-writes to a second fresh Prometheus (`--web.enable-remote-write-receiver`). Once the head holds
   every target's series, a 20 s window gives samples appended/s, remote-write bytes per sample sent and
   WAL bytes per sample; then both report RSS, and live Go heap after a forced GC (/debug/pprof/heap?gc=1).
   Bytes per series are the least-squares slope over the sizes, not one point.
3. Disk: a third Prometheus scrapes the three real exporters every second for the whole run (real, moving
   values; the fleet's payloads are static and would compress unrealistically well); a TSDB snapshot of its
   head (admin API) is a compacted block whose chunks and index give bytes per sample and per series; its
   WAL over its samples gives WAL bytes per sample on moving values. It also evaluates rules/recording.yml,
   which counts the series the recording rules add per target.

4. Stores (`--store prometheus|victoriametrics|both`, default both): the shard remote-writes every sample to
   each chosen store at once (a Prometheus receiver, a VictoriaMetrics 1.79 single node), so both stores get
   the same samples under the same machine conditions. Per store: RSS per active series (slope over the
   sizes), CPU per 100k samples/s ingested (slope), and bytes per stored sample on real moving values: the
   third Prometheus also remote-writes to a VictoriaMetrics of its own, whose data size after a flush and a
   forced merge is set against the samples it stored; the Prometheus figure is the block of step 3. The
   shard's own figures then include one remote-write queue per store.

Everything binds 127.0.0.1 on free ports and stops in `finally`. Runs in 4.5 to 8 minutes on 2 cores;
results in benchmarks/results/capacity.json (one run; the docs quote several).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.common import RESULTS, start_listening, start_prometheus
from benchmarks.fleet import fleet, series_count
from exporters.business.client import BusinessClient
from exporters.core.exporter_table import EXPORTER_NAMES, EXPORTERS
from exporters.core.tools import find_tool
from exporters.demo.contract import ARTEFACT, OPERATOR, REGISTRY_ADDRESS, TREASURY
from exporters.stack.procs import ManagedProcess, free_port, start_alismon

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-capacity-token"
SIZES = (250, 500, 1000, 2000)
SCRAPE_INTERVAL = 5.0  # fast, to get samples quickly; per-15 s figures are scaled from it
WINDOW = 20.0  # seconds over which rates are measured, once the head is full
SERIES_ADDED_PER_TARGET = (
    5  # up, scrape_duration_seconds, scrape_samples_{scraped,post_metric_relabeling}, scrape_series_added
)
AGENT_EVENTS = ("started", "heartbeat", "synced")  # what a running node agent reports (its lifecycle)
SYNTHETIC_AGENTS = 50
TEXT_ACCEPT = {"Accept": "text/plain;version=0.0.4"}  # the fleet serves the text format


STORES = ("prometheus", "victoriametrics")


@dataclass
class StorePoint:
    """One store receiving the shard's remote write, over the same window as the shard."""

    store: str
    series: int  # active series it holds (counted by a query)
    samples_per_s: float  # samples it ingested per second
    rss_bytes: int
    cpu_cores: float  # its CPU seconds per second over the window


@dataclass
class FleetPoint:
    targets: int
    head_series: int
    expected_series: int
    samples_per_s: float
    rss_bytes: int
    heap_inuse_after_gc: int
    receiver_head_series: int
    receiver_rss_bytes: int
    receiver_heap_inuse_after_gc: int
    remote_bytes_per_sample: float
    remote_samples_per_s: float
    wal_bytes_per_sample: float
    scrape_ok_ratio: float
    cpu_cores: float  # the shard's CPU seconds per second over the window (scrape, append, WAL, remote write)
    seconds: float
    stores: dict[str, StorePoint]


# ------------------------------------------------------------------ small helpers


def metrics_of(url: str) -> dict[str, float]:
    """Unlabelled and summed-over-labels values of a Prometheus /metrics page."""
    text = requests.get(f"{url}/metrics", headers=TEXT_ACCEPT, timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def wait_until(what: str, check: Callable[[], bool], timeout: float, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return b, my - b * mx


def live_heap(url: str) -> int:
    """Go heap in use right after a forced GC: the live data, without the garbage GOGC lets pile up."""
    requests.get(f"{url}/debug/pprof/heap", params={"gc": "1"}, timeout=30).raise_for_status()
    return int(metrics_of(url)["go_memstats_heap_inuse_bytes"])


def remote_bytes(m: dict[str, float]) -> float:
    # 2.42 has both; prometheus_remote_storage_bytes_total is the current name (samples, not metadata).
    return m.get("prometheus_remote_storage_bytes_total", m.get("prometheus_remote_storage_sent_bytes_total", 0.0))


def remote_samples(m: dict[str, float]) -> float:
    return m.get(
        "prometheus_remote_storage_samples_total", m.get("prometheus_remote_storage_succeeded_samples_total", 0.0)
    )


# ------------------------------------------------------------------ 1. capture real payloads


def exporter_config(run: Path, chain_url: str) -> Path:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config["blockchain"] = {
        "networks": [
            {
                "name": "demo",
                "chain_id": 31337,
                "endpoints": [{"name": "anvil", "url": chain_url}],
                "poll_interval": 1.0,
                "request_timeout": 2.0,
                "accounts": [{"alias": "operator", "address": OPERATOR}, {"alias": "treasury", "address": TREASURY}],
                "contracts": [{"alias": "registry", "address": REGISTRY_ADDRESS, "abi_file": str(ARTEFACT)}],
            }
        ]
    }
    config["business"].update(
        {"auth_token": TOKEN, "auth_token_file": None, "store": {"path": str(run / "biz.sqlite")}}
    )
    path = run / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_exporters(stack: ExitStack, run: Path) -> dict[str, str]:
    chain_port = free_port()
    chain_url = f"http://127.0.0.1:{chain_port}"
    anvil = ManagedProcess(
        "anvil",
        [find_tool("anvil"), "--host", "127.0.0.1", "--port", str(chain_port), "--block-time", "1", "--silent"],
        run / "anvil.log",
    ).start()
    stack.callback(anvil.stop)
    wait_until(
        "anvil",
        lambda: requests.post(chain_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1).ok,
        20,
        0.1,
    )
    cfg = exporter_config(run, chain_url)
    urls = {"chain": chain_url}
    for role in EXPORTER_NAMES:
        port = free_port()
        proc = start_alismon(role, config_file=cfg, listen_address=f"127.0.0.1:{port}", log_path=run / f"{role}.log")
        stack.callback(proc.stop)
        urls[role] = f"http://127.0.0.1:{port}"
        proc.wait_http(f"{urls[role]}/-/ready", timeout=30)
    token_file = run / "token"
    token_file.write_text(TOKEN + "\n")
    traffic = start_alismon(
        "demo traffic",
        "--rpc-url",
        chain_url,
        "--business-url",
        urls["business"],
        "--token-file",
        str(token_file),
        "--seed",
        "3",
        name="traffic",
        log_path=run / "traffic.log",
    )
    stack.callback(traffic.stop)
    return urls


def payload(url: str) -> bytes:
    r = requests.get(f"{url}/metrics", headers=TEXT_ACCEPT, timeout=10)
    r.raise_for_status()
    return r.content


def business_series_per_agent(url: str) -> float:
    """Growth of the business payload per agent that reports its lifecycle through the ingest API."""
    before = series_count(payload(url))
    events = [
        BusinessClient.event("node_events", {"sender": f"bench-agent-{i}", "event": e})
        for i in range(SYNTHETIC_AGENTS)
        for e in AGENT_EVENTS
    ]
    r = requests.post(f"{url}/api/v1/events", json=events, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    r.raise_for_status()
    return (series_count(payload(url)) - before) / SYNTHETIC_AGENTS


# ------------------------------------------------------------------ 2. the fleet at one size


def start_victoriametrics(stack: ExitStack, run: Path, name: str) -> tuple[str, Path]:
    """A fresh VictoriaMetrics single node; its Prometheus remote-write endpoint is <url>/api/v1/write."""
    port = free_port()
    data = run / f"{name}-data"
    argv = [
        find_tool("victoria-metrics"),
        f"-storageDataPath={data}",
        f"-httpListenAddr=127.0.0.1:{port}",
        "-retentionPeriod=1",  # months
        "-loggerLevel=ERROR",
    ]
    url, _ = start_listening(stack, run, name, port, argv, "/health")
    return url, data


def count_series(url: str) -> int:
    r = requests.get(f"{url}/api/v1/query", params={"query": 'count({__name__=~".+"})'}, timeout=120)
    r.raise_for_status()
    result = r.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def ingested(store: str, m: dict[str, float]) -> float:
    """Samples a store has taken in so far, from its own /metrics."""
    if store == "prometheus":
        return m["prometheus_tsdb_head_samples_appended_total"]
    return m["vm_rows_inserted_total"]


def measure_fleet(run: Path, system_payload: bytes, targets: int, stores: tuple[str, ...]) -> FleetPoint:
    started = time.monotonic()
    per_target = series_count(system_payload) + SERIES_ADDED_PER_TARGET
    expected = targets * per_target
    sub = run / f"fleet-{targets}"
    sub.mkdir()
    with ExitStack() as stack:
        f = stack.enter_context(fleet([system_payload], targets))
        sd = f.targets_file(sub / "targets.yml", prefix="alis-agent", labels={"region": "eu-west-1", "role": "agent"})
        receivers: dict[str, str] = {}
        if "prometheus" in stores:
            receivers["prometheus"], _, _ = start_prometheus(
                stack, sub, "receiver", {"global": {"scrape_interval": "1m"}}, "--web.enable-remote-write-receiver"
            )
        if "victoriametrics" in stores:
            receivers["victoriametrics"], _ = start_victoriametrics(stack, sub, "victoriametrics")
        shard_cfg = {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL:g}s", "scrape_timeout": f"{SCRAPE_INTERVAL:g}s"},
            "scrape_configs": [{"job_name": "alismon-system", "file_sd_configs": [{"files": [str(sd)]}]}],
            "remote_write": [{"url": f"{url}/api/v1/write", "name": store} for store, url in receivers.items()],
        }
        shard, tsdb, _ = start_prometheus(stack, sub, "shard", shard_cfg)
        wait_until(
            f"{expected} head series",
            lambda: metrics_of(shard).get("prometheus_tsdb_head_series", 0) >= expected,
            60 + targets / 50,
        )
        time.sleep(2 * SCRAPE_INTERVAL)  # every target scraped a few times; remote write caught up
        for store, url in receivers.items():

            def complete(url: str = url) -> bool:
                return count_series(url) >= expected

            try:
                wait_until(f"{expected} series in {store}", complete, 30 + targets / 50)
            except RuntimeError as exc:  # an overloaded machine: measured, flagged, left out of the fits
                print(f"        {exc}")
        r0 = {store: metrics_of(url) for store, url in receivers.items()}
        m0, wal0, t0 = metrics_of(shard), dir_bytes(tsdb / "wal"), time.monotonic()
        time.sleep(WINDOW)
        m1, wal1, t1 = metrics_of(shard), dir_bytes(tsdb / "wal"), time.monotonic()
        r1 = {store: metrics_of(url) for store, url in receivers.items()}
        appended = m1["prometheus_tsdb_head_samples_appended_total"] - m0["prometheus_tsdb_head_samples_appended_total"]
        sent = remote_samples(m1) - remote_samples(m0)
        ups = requests.get(f"{shard}/api/v1/query", params={"query": "avg(up)"}, timeout=10).json()
        points = {
            store: StorePoint(
                store=store,
                series=count_series(url),
                samples_per_s=(ingested(store, r1[store]) - ingested(store, r0[store])) / (t1 - t0),
                rss_bytes=int(r1[store]["process_resident_memory_bytes"]),
                cpu_cores=(r1[store]["process_cpu_seconds_total"] - r0[store]["process_cpu_seconds_total"]) / (t1 - t0),
            )
            for store, url in receivers.items()
        }
        prom = receivers.get("prometheus")
        rm = metrics_of(prom) if prom else {}
        return FleetPoint(
            targets=targets,
            head_series=int(m1["prometheus_tsdb_head_series"]),
            expected_series=expected,
            samples_per_s=appended / (t1 - t0),
            rss_bytes=int(m1["process_resident_memory_bytes"]),
            heap_inuse_after_gc=live_heap(shard),
            receiver_head_series=int(rm.get("prometheus_tsdb_head_series", 0)),
            receiver_rss_bytes=int(rm.get("process_resident_memory_bytes", 0)),
            receiver_heap_inuse_after_gc=live_heap(prom) if prom else 0,
            # Sent to every store: per store, the shard's counters add up the queues.
            remote_bytes_per_sample=(remote_bytes(m1) - remote_bytes(m0)) / sent if sent else float("nan"),
            remote_samples_per_s=sent / (t1 - t0) / max(1, len(receivers)),
            wal_bytes_per_sample=(wal1 - wal0) / appended,
            scrape_ok_ratio=float(ups["data"]["result"][0]["value"][1]),
            cpu_cores=(m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]) / (t1 - t0),
            seconds=time.monotonic() - started,
            stores=points,
        )


# ------------------------------------------------------------------ 3. compacted bytes on real data


def real_prometheus_config(urls: dict[str, str]) -> dict[str, Any]:
    jobs = {row.name: row.job for row in EXPORTERS}
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "5s"},
        "rule_files": [str(REPO / "rules/recording.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [urls[role].removeprefix("http://")]}]}
            for role, job in jobs.items()
        ],
    }


def recorded_series(url: str) -> dict[str, float]:
    """Series the generated recording rules add, per job (one target each here; job:* rules are fleet-wide)."""
    out: dict[str, float] = {}
    for prefix in (*EXPORTER_NAMES, "job"):
        r = requests.get(f"{url}/api/v1/query", params={"query": f'count({{__name__=~"{prefix}:.+"}})'}, timeout=10)
        result = r.json()["data"]["result"]
        out[prefix] = float(result[0]["value"][1]) if result else 0.0
    return out


def snapshot_block(url: str, tsdb: Path) -> dict[str, float]:
    """Write the head as a block (TSDB snapshot) and read its size and stats."""
    r = requests.post(f"{url}/api/v1/admin/tsdb/snapshot", timeout=60)
    r.raise_for_status()
    snap = tsdb / "snapshots" / r.json()["data"]["name"]
    blocks = [d for d in snap.iterdir() if (d / "meta.json").exists()]
    stats = {"series": 0, "samples": 0, "chunks": 0, "chunk_bytes": 0, "index_bytes": 0, "block_bytes": 0}
    for block in blocks:
        meta = json.loads((block / "meta.json").read_text())["stats"]
        stats["series"] += meta["numSeries"]
        stats["samples"] += meta["numSamples"]
        stats["chunks"] += meta["numChunks"]
        stats["chunk_bytes"] += dir_bytes(block / "chunks")
        stats["index_bytes"] += (block / "index").stat().st_size
        stats["block_bytes"] += dir_bytes(block)
    return {
        **stats,
        "blocks": len(blocks),
        "bytes_per_sample": stats["block_bytes"] / stats["samples"],
        "chunk_bytes_per_sample": stats["chunk_bytes"] / stats["samples"],
        "index_bytes_per_series": stats["index_bytes"] / stats["series"],
        "samples_per_series": stats["samples"] / stats["series"],
    }


def typed_metrics(url: str, name: str) -> dict[str, float]:
    """One metric of a /metrics page by its `type` label (VictoriaMetrics' storage/small, storage/big, indexdb)."""
    text = requests.get(f"{url}/metrics", headers=TEXT_ACCEPT, timeout=10).text
    return {
        s.labels.get("type", ""): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def victoriametrics_bytes(url: str) -> dict[str, float]:
    """Flush, merge every partition, then VictoriaMetrics' bytes per stored sample and per series."""
    requests.get(f"{url}/internal/force_flush", timeout=60).raise_for_status()
    requests.get(f"{url}/internal/force_merge", timeout=60).raise_for_status()
    time.sleep(1)
    wait_until("merges", lambda: sum(typed_metrics(url, "vm_active_merges").values()) == 0, 120)
    size = typed_metrics(url, "vm_data_size_bytes")
    rows = typed_metrics(url, "vm_rows")
    samples = rows["storage/small"] + rows["storage/big"]
    data = size["storage/small"] + size["storage/big"]
    series = count_series(url)
    return {
        "series": series,
        "samples": samples,
        "data_bytes": data,
        "index_bytes": size["indexdb"],
        "bytes_per_sample": (data + size["indexdb"]) / samples,
        "data_bytes_per_sample": data / samples,
        "index_bytes_per_series": size["indexdb"] / series,
        "samples_per_series": samples / series,
    }


def store_table(stores: dict[str, dict[str, float]]) -> list[str]:
    """Stores side by side, and each one's ratio to Prometheus."""
    rows = (
        ("bytes per stored sample (real data, on disk)", "bytes_per_sample", "{:.2f} B"),
        ("RSS per active series", "rss_bytes_per_series", "{:,.0f} B"),
        ("CPU per 100k samples/s ingested", "cpu_cores_per_100k_samples_per_s", "{:.3f} cores"),
    )
    names = list(stores)
    lines = [f"| | {' | '.join(names)} |" + (" ratio |" if len(names) == 2 else ""), "|---" * (len(names) + 1) + "|"]
    if len(names) == 2:
        lines[1] += "---|"
    for label, key, fmt in rows:
        cells = [fmt.format(stores[n][key]) for n in names]
        line = f"| {label} | {' | '.join(cells)} |"
        if len(names) == 2:
            a, b = (stores[n][key] for n in names)
            line += f" {b / a:.2f} |" if a else " - |"
        lines.append(line)
    return lines


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="fleet sizes (system-exporter targets)"
    )
    parser.add_argument("--traffic-seconds", type=float, default=20.0, help="demo traffic before the capture")
    parser.add_argument("--output", default="capacity", help="results file name under benchmarks/results/")
    parser.add_argument(
        "--store",
        choices=(*STORES, "both"),
        default="both",
        help="the store(s) the shard remote-writes to, measured side by side (default: both)",
    )
    args = parser.parse_args()
    stores: tuple[str, ...] = STORES if args.store == "both" else (args.store,)
    began = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="alismon-capacity-") as tmp, ExitStack() as stack:
        run = Path(tmp)
        urls = start_exporters(stack, run)
        real_config = real_prometheus_config(urls)
        real_vm = None
        if "victoriametrics" in stores:
            real_vm, _ = start_victoriametrics(stack, run, "real-victoriametrics")
            real_config["remote_write"] = [{"url": f"{real_vm}/api/v1/write"}]
        real, real_tsdb, _ = start_prometheus(stack, run, "real", real_config)
        time.sleep(args.traffic_seconds)
        agent_business = business_series_per_agent(urls["business"])
        payloads = {role: payload(urls[role]) for role in EXPORTER_NAMES}
        for role, body in payloads.items():
            (run / f"{role}.prom").write_bytes(body)
        series = {role: series_count(body) for role, body in payloads.items()}
        print(f"captured series: {series}; business series per agent: {agent_business:.2f}")

        points: list[FleetPoint] = []
        for n in args.sizes:
            point = measure_fleet(run, payloads["system"], n, stores)
            points.append(point)
            print(
                f"{n:>5} targets: head {point.head_series} (expected {point.expected_series}), "
                f"{point.samples_per_s:.0f} samples/s, RSS {point.rss_bytes / 2**20:.0f} MiB, "
                f"live heap {point.heap_inuse_after_gc / 2**20:.0f} MiB, "
                f"remote write {point.remote_bytes_per_sample:.2f} B/sample, CPU {point.cpu_cores:.2f} cores, "
                f"WAL {point.wal_bytes_per_sample:.2f} B/sample, up {point.scrape_ok_ratio:.3f}, {point.seconds:.0f}s"
            )
            for sp in point.stores.values():
                print(
                    f"        {sp.store}: {sp.series} series, {sp.samples_per_s:.0f} samples/s, "
                    f"RSS {sp.rss_bytes / 2**20:.0f} MiB, CPU {sp.cpu_cores:.3f} cores"
                )
        recorded = recorded_series(real)
        appended = metrics_of(real)["prometheus_tsdb_head_samples_appended_total"]
        real_wal_bytes_per_sample = dir_bytes(real_tsdb / "wal") / appended
        print(f"recorded series per target: {recorded}")
        block = snapshot_block(real, real_tsdb)
        print(
            f"real data block: {block['samples_per_series']:.0f} samples/series, "
            f"{block['bytes_per_sample']:.2f} B/sample "
            f"({block['chunk_bytes_per_sample']:.2f} in chunks), index {block['index_bytes_per_series']:.0f} B/series"
        )
        vm_block = None
        if real_vm is not None:
            time.sleep(2 * SCRAPE_INTERVAL)  # the real Prometheus's remote write caught up with its head
            vm_block = victoriametrics_bytes(real_vm)
            print(
                f"real data in VictoriaMetrics: {vm_block['samples_per_series']:.0f} samples/series, "
                f"{vm_block['bytes_per_sample']:.2f} B/sample ({vm_block['data_bytes_per_sample']:.2f} in data), "
                f"index {vm_block['index_bytes_per_series']:.0f} B/series"
            )

    xs = [float(p.head_series) for p in points]
    fits = {
        name: slope(xs, [float(getattr(p, name)) for p in points])
        for name in ("rss_bytes", "heap_inuse_after_gc", "receiver_rss_bytes", "receiver_heap_inuse_after_gc")
    }
    store_summary: dict[str, dict[str, float]] = {}
    for store in stores:
        # Only sizes where the store held every series: a store still catching up would bend the fit.
        sps = [p.stores[store] for p in points if p.stores[store].series >= p.expected_series]
        if len(sps) < 2:
            raise RuntimeError(f"{store}: fewer than two sizes where it held every series; the machine is overloaded")
        store_summary[store] = {
            "rss_bytes_per_series": slope([float(sp.series) for sp in sps], [float(sp.rss_bytes) for sp in sps])[0],
            "cpu_cores_per_100k_samples_per_s": slope(
                [sp.samples_per_s for sp in sps], [sp.cpu_cores * 100_000 for sp in sps]
            )[0],
            "bytes_per_sample": (block if store == "prometheus" else vm_block or {})["bytes_per_sample"],
            "sizes_fitted": float(len(sps)),
        }
    summary = {
        "rss_bytes_per_series": fits["rss_bytes"][0],
        "rss_base_bytes": fits["rss_bytes"][1],
        "live_heap_bytes_per_series": fits["heap_inuse_after_gc"][0],
        "live_heap_base_bytes": fits["heap_inuse_after_gc"][1],
        "receiver_rss_bytes_per_series": fits["receiver_rss_bytes"][0],
        "receiver_live_heap_bytes_per_series": fits["receiver_heap_inuse_after_gc"][0],
        "remote_write_bytes_per_sample": statistics.fmean(p.remote_bytes_per_sample for p in points),
        "wal_bytes_per_sample": statistics.fmean(p.wal_bytes_per_sample for p in points),
        "samples_per_s_per_series": statistics.fmean(p.samples_per_s / p.head_series for p in points),
        "cpu_cores_per_100k_samples_per_s": slope(
            [p.samples_per_s for p in points], [p.cpu_cores * 100_000 for p in points]
        )[0],
        "block_bytes_per_sample_real": block["bytes_per_sample"],
        "block_chunk_bytes_per_sample_real": block["chunk_bytes_per_sample"],
        "block_index_bytes_per_series_real": block["index_bytes_per_series"],
        "wal_bytes_per_sample_real": real_wal_bytes_per_sample,
    }
    per_role = {
        "system_target": series["system"] + SERIES_ADDED_PER_TARGET,
        "blockchain_target": series["blockchain"] + SERIES_ADDED_PER_TARGET,
        "business_target_fixed": series["business"] + SERIES_ADDED_PER_TARGET - agent_business * SYNTHETIC_AGENTS,
        "business_per_agent": agent_business,
        "system_recorded": recorded["system"],
        "blockchain_recorded": recorded["blockchain"],
        "business_recorded": recorded["business"],
        "fleet_wide_recorded": recorded["job"],
    }
    print("per role:", json.dumps(per_role))
    print("\nstores side by side (same fleet, same samples, one run):")
    print("\n".join(store_table(store_summary)))
    print("summary:", json.dumps(summary, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.output}.json"
    out.write_text(
        json.dumps(
            {
                "scrape_interval_s": SCRAPE_INTERVAL,
                "window_s": WINDOW,
                "payload_series": series,
                "series_per_role": per_role,
                "agent_events": list(AGENT_EVENTS),
                "fleet": [asdict(p) for p in points],
                "real_block": block,
                "real_victoriametrics": vm_block,
                "summary": summary,
                "stores": store_summary,
                "prometheus": prometheus_version(),
                "victoriametrics": victoriametrics_version() if "victoriametrics" in stores else None,
                "seconds": time.monotonic() - began,
            },
            indent=2,
        )
    )
    print(f"wrote {out} in {time.monotonic() - began:.0f}s")
    return 0


def prometheus_version() -> str:
    out = subprocess.run([find_tool("prometheus"), "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0]


def victoriametrics_version() -> str:
    # Debian's 1.79.5 prints nothing for -version; the package manager knows.
    out = subprocess.run(["dpkg-query", "-W", "victoria-metrics"], capture_output=True, text=True, timeout=10)
    return out.stdout.strip() or "victoria-metrics (version unknown)"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
