"""System exporter vs node_exporter (and prometheus-process-exporter), side by side in one run.

Every exporter runs as a real process and is scraped over a keep-alive connection with Prometheus's
own Accept and gzip headers, alternating between them, 300 times each after a warm-up. Reported per
exporter: samples, median/p99 latency, CPU per scrape (from the exporter process's own counters) and
RSS; then the ratios. Two modes, both by default (`--mode host|processes|all`):

- host: ours with the watched-processes collector off vs node_exporter with the same families (cpu,
  load, memory, filesystems, disk and network io, boot time, fds).
  Target: CPU per scrape at most 0.5x node_exporter's at an equal sample count in the shared families.
- processes: 1,000 extra idle processes on the host and one watched process (a `sleep` with its own
  comm); ours with every collector on, watching it by comm, vs node_exporter (same families as above)
  plus prometheus-process-exporter watching the same comm. Two cases in turn: the watched process
  running, then killed (gone). Target: ours at most 0.5x the pair's CPU per scrape in both cases.
  A fourth process, ours with `process_rescan_interval: 0` (a rescan at every scrape), shows what a
  rescan of the whole table costs; it is the bound for a scrape interval as long as the rescan interval.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from benchmarks.common import Target, interleave, report
from exporters.core.tools import find_tool
from exporters.stack.procs import ManagedProcess, free_port, start_alismon

NODE_COLLECTORS = ("cpu", "loadavg", "meminfo", "filesystem", "diskstats", "netdev", "stat", "filefd")
# Families both expose, ours -> node_exporter's, for the sample-count comparison.
SHARED = {
    "system_cpu_seconds": "node_cpu_seconds",
    "system_cpu_guest_seconds": "node_cpu_guest_seconds",
    "system_load1": "node_load1",
    "system_load5": "node_load5",
    "system_load15": "node_load15",
    "system_memory_total_bytes": "node_memory_MemTotal_bytes",
    "system_memory_available_bytes": "node_memory_MemAvailable_bytes",
    "system_memory_free_bytes": "node_memory_MemFree_bytes",
    "system_memory_buffers_bytes": "node_memory_Buffers_bytes",
    "system_memory_cached_bytes": "node_memory_Cached_bytes",
    "system_memory_shared_bytes": "node_memory_Shmem_bytes",
    "system_swap_total_bytes": "node_memory_SwapTotal_bytes",
    "system_swap_free_bytes": "node_memory_SwapFree_bytes",
    "system_filesystem_size_bytes": "node_filesystem_size_bytes",
    "system_filesystem_free_bytes": "node_filesystem_free_bytes",
    "system_filesystem_avail_bytes": "node_filesystem_avail_bytes",
    "system_filesystem_files": "node_filesystem_files",
    "system_filesystem_files_free": "node_filesystem_files_free",
    "system_filesystem_readonly": "node_filesystem_readonly",
    "system_filesystem_device_error": "node_filesystem_device_error",
    "system_disk_reads_completed": "node_disk_reads_completed",
    "system_disk_writes_completed": "node_disk_writes_completed",
    "system_disk_read_bytes": "node_disk_read_bytes",
    "system_disk_written_bytes": "node_disk_written_bytes",
    "system_disk_read_time_seconds": "node_disk_read_time_seconds",
    "system_disk_write_time_seconds": "node_disk_write_time_seconds",
    "system_disk_io_time_seconds": "node_disk_io_time_seconds",
    "system_network_receive_bytes": "node_network_receive_bytes",
    "system_network_transmit_bytes": "node_network_transmit_bytes",
    "system_network_receive_packets": "node_network_receive_packets",
    "system_network_transmit_packets": "node_network_transmit_packets",
    "system_network_receive_errors": "node_network_receive_errs",
    "system_network_transmit_errors": "node_network_transmit_errs",
    "system_network_receive_drop": "node_network_receive_drop",
    "system_network_transmit_drop": "node_network_transmit_drop",
    "system_boot_time_seconds": "node_boot_time_seconds",
    "system_context_switches": "node_context_switches",
    "system_interrupts": "node_intr",
    "system_filefd_allocated": "node_filefd_allocated",
    "system_filefd_maximum": "node_filefd_maximum",
}
# Watched-process families both expose, ours -> process-exporter's.
SHARED_PROCESS = {
    "system_process_matched": "namedprocess_namegroup_num_procs",
    "system_process_cpu_seconds": "namedprocess_namegroup_cpu_seconds",
    "system_process_resident_memory_bytes": "namedprocess_namegroup_memory_bytes",
    "system_process_virtual_memory_bytes": "namedprocess_namegroup_memory_bytes",
    "system_process_open_fds": "namedprocess_namegroup_open_filedesc",
    "system_process_threads": "namedprocess_namegroup_num_threads",
    "system_process_start_time_seconds": "namedprocess_namegroup_oldest_start_time_seconds",
}
WATCHED_COMM = "alismon-watched"  # 15 characters: the whole name fits the kernel's comm
EXTRA_PROCESSES = 1000
# node_exporter 1.5 leaves out lo; so do we, for equal sample counts.
HOST_CONFIG = {"system": {"network": {"exclude": "^lo$"}}}


def sample_counts(target: Target) -> tuple[int, dict[str, int]]:
    raw = target.last_raw
    assert target.last is not None
    text = (gzip.decompress(raw) if target.last.headers.get("Content-Encoding") == "gzip" else raw).decode()
    parse = parse_openmetrics if "openmetrics" in target.last.headers["Content-Type"] else parse_text
    per_family = {f.name: len(f.samples) for f in parse(text)}
    return sum(per_family.values()), per_family


def start_ours(stack: ExitStack, run: Path, name: str, config: dict, *flags: str) -> Target:
    cfg = run / f"{name}.yml"
    cfg.write_text(yaml.safe_dump(config))
    port = free_port()
    proc = start_alismon(
        "system", *flags, config_file=cfg, listen_address=f"127.0.0.1:{port}", log_path=run / f"{name}.log", name=name
    )
    stack.callback(proc.stop)
    proc.wait_http(f"http://127.0.0.1:{port}/-/healthy")
    return Target(name, f"http://127.0.0.1:{port}/metrics", proc.pid)


def start_node_exporter(stack: ExitStack, run: Path) -> Target:
    port = free_port()
    argv = [find_tool("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{port}"]
    flags = ["--collector.disable-defaults", *(f"--collector.{c}" for c in NODE_COLLECTORS)]
    proc = ManagedProcess("node_exporter", [*argv, *flags], run / "node.log").start()
    stack.callback(proc.stop)
    proc.wait_http(f"http://127.0.0.1:{port}/metrics")
    return Target("node_exporter", f"http://127.0.0.1:{port}/metrics", proc.pid)


def start_process_exporter(stack: ExitStack, run: Path) -> Target:
    cfg = run / "process-exporter.yml"
    cfg.write_text(yaml.safe_dump({"process_names": [{"name": "watched", "comm": [WATCHED_COMM]}]}))
    port = free_port()
    argv = [
        find_tool("prometheus-process-exporter"),
        f"-config.path={cfg}",
        f"-web.listen-address=127.0.0.1:{port}",
        # Off: proportional memory (smaps) and per-thread series, which ours does not report either.
        "-gather-smaps=false",
        "-threads=false",
    ]
    proc = ManagedProcess("process-exporter", argv, run / "process-exporter.log").start()
    stack.callback(proc.stop)
    proc.wait_http(f"http://127.0.0.1:{port}/metrics")
    return Target("process-exporter", f"http://127.0.0.1:{port}/metrics", proc.pid)


@contextmanager
def idle_processes(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` sleeping children, killed on the way out (and gone by themselves within 15 minutes)."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    children: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            children.append(subprocess.Popen([sleep, "900"], stdin=subprocess.DEVNULL))
        yield children
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


def shared_samples(ours: dict[str, int], theirs: dict[str, int], shared: dict[str, str]) -> tuple[int, int]:
    return sum(ours.get(a, 0) for a in shared), sum(theirs.get(b, 0) for b in set(shared.values()))


def watched_up(ours: Target) -> bool:
    raw = ours.last_raw
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    return 'system_process_up{process="watched"} 1.0' in text


def reset(targets: list[Target]) -> None:
    for t in targets:
        t.latencies.clear()
        t.cpu = 0.0


def run_host(run: Path, scrapes: int) -> dict[str, float]:
    with ExitStack() as stack:
        ours = start_ours(stack, run, "alismon system", HOST_CONFIG, "--no-collector.processes")
        node = start_node_exporter(stack, run)
        targets = [ours, node]
        interleave(targets, scrapes)
        (ours_total, ours_fam), (node_total, node_fam) = (sample_counts(t) for t in targets)
        shared_ours, shared_node = shared_samples(ours_fam, node_fam, SHARED)
        rows = [ours.stats(ours_total), node.stats(node_total)]
        ratios = {
            "cpu_per_scrape_ratio (target <= 0.5)": rows[0].cpu_ms_per_scrape / rows[1].cpu_ms_per_scrape,
            "p50_latency_ratio": rows[0].p50_ms / rows[1].p50_ms,
            "p99_latency_ratio": rows[0].p99_ms / rows[1].p99_ms,
            "shared_family_sample_ratio (target >= 1)": shared_ours / shared_node,
        }
        notes = [f"shared families: {len(SHARED)}; samples in them: ours {shared_ours}, node_exporter {shared_node}"]
        report("system", rows, ratios, notes)
        return ratios


def run_processes(run: Path, scrapes: int) -> dict[str, float]:
    watched_bin = run / WATCHED_COMM
    watched_bin.symlink_to(shutil.which("sleep") or "/bin/sleep")  # the comm is the name it was run by
    watching = {"processes": [{"name": "watched", "match": {"comm": WATCHED_COMM}}]}
    with ExitStack() as stack:
        stack.enter_context(idle_processes(EXTRA_PROCESSES))
        watched = subprocess.Popen([str(watched_bin), "900"], stdin=subprocess.DEVNULL)
        stack.callback(watched.wait)
        stack.callback(watched.kill)
        ours = start_ours(stack, run, "alismon system", {"system": {**HOST_CONFIG["system"], **watching}})
        every_scrape = {"system": {**HOST_CONFIG["system"], **watching, "process_rescan_interval": 0}}
        ours_rescanning = start_ours(stack, run, "alismon rescan-each", every_scrape)
        node = start_node_exporter(stack, run)
        process_exporter = start_process_exporter(stack, run)
        targets = [ours, node, process_exporter, ours_rescanning]
        host_processes = len(psutil.pids())

        ratios: dict[str, float] = {}
        for case in ("running", "gone"):
            if case == "gone":
                watched.kill()
                watched.wait()
            interleave(targets, scrapes)
            assert watched_up(ours) == (case == "running"), f"ours does not see the watched process {case}"
            counts = [sample_counts(t) for t in targets]
            rows = [t.stats(total) for t, (total, _) in zip(targets, counts, strict=True)]
            pair = rows[1].cpu_ms_per_scrape + rows[2].cpu_ms_per_scrape
            ratios[f"{case}: cpu_per_scrape_ratio vs node_exporter + process-exporter (target <= 0.5)"] = (
                rows[0].cpu_ms_per_scrape / pair
            )
            ratios[f"{case}: rescan at every scrape, cpu ratio vs the pair"] = rows[3].cpu_ms_per_scrape / pair
            ours_fam, node_fam, pe_fam = counts[0][1], counts[1][1], counts[2][1]
            host_ours, host_node = shared_samples(ours_fam, node_fam, SHARED)
            proc_ours, proc_pe = shared_samples(ours_fam, pe_fam, SHARED_PROCESS)
            notes = [
                f"processes on the host: {host_processes} ({EXTRA_PROCESSES} idle extras and the watched one)",
                f"samples in the shared families: host, ours {host_ours} / node_exporter {host_node}; "
                f"watched process, ours {proc_ours} / process-exporter {proc_pe}",
            ]
            print(f"--- watched process {case}")
            report(f"system-processes-{case}", rows, {k: v for k, v in ratios.items() if k.startswith(case)}, notes)
            reset(targets)
        return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--mode", choices=("host", "processes", "all"), default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.mode in ("host", "all"):
            print("=== host families, watched processes off")
            run_host(Path(tmp), args.scrapes)
        if args.mode in ("processes", "all"):
            print(f"=== watched processes on, {EXTRA_PROCESSES} extra processes on the host")
            run_processes(Path(tmp), args.scrapes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
