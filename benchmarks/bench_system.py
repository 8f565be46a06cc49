"""System exporter vs node_exporter, side by side in one run.

Both expose the same families (cpu, load, memory, filesystems, disk and network io, boot time,
fds); each is scraped 200+ times over a keep-alive connection with Prometheus's own Accept and
gzip headers, alternating between the two. Reported: samples, median/p99 latency, exporter CPU
per scrape (from /proc of the exporter process), and the ratios against node_exporter.
Target (issue 2): CPU per scrape at most 0.8 of node_exporter's at an equal or larger sample
count for the shared families.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from benchmarks.common import Target, interleave, report
from exporters.core.tools import find_tool
from exporters.stack.procs import ManagedProcess, free_port, start_alismon

NODE_COLLECTORS = ("cpu", "loadavg", "meminfo", "filesystem", "diskstats", "netdev", "stat", "filefd")
OUR_COLLECTORS_OFF = ("processes",)
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


def sample_counts(target: Target) -> tuple[int, dict[str, int]]:
    raw = target.last_raw
    text = (gzip.decompress(raw) if target.last.headers.get("Content-Encoding") == "gzip" else raw).decode()
    parse = parse_openmetrics if "openmetrics" in target.last.headers["Content-Type"] else parse_text
    per_family = {f.name: len(f.samples) for f in parse(text)}
    return sum(per_family.values()), per_family


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        cfg = run / "config.yml"
        cfg.write_text("system:\n  network:\n    exclude: '^lo$'\n")  # node_exporter 1.5 leaves out lo too
        ours_port, node_port = free_port(), free_port()
        ours = start_alismon(
            "system",
            *(f"--no-collector.{c}" for c in OUR_COLLECTORS_OFF),
            config_file=cfg,
            listen_address=f"127.0.0.1:{ours_port}",
            log_path=run / "system.log",
        )
        node = ManagedProcess(
            "node_exporter",
            [
                find_tool("prometheus-node-exporter"),
                f"--web.listen-address=127.0.0.1:{node_port}",
                "--collector.disable-defaults",
                *(f"--collector.{c}" for c in NODE_COLLECTORS),
            ],
            run / "node.log",
        ).start()
        try:
            ours.wait_http(f"http://127.0.0.1:{ours_port}/-/healthy")
            node.wait_http(f"http://127.0.0.1:{node_port}/metrics")
            targets = [
                Target("alismon system", f"http://127.0.0.1:{ours_port}/metrics", ours.pid),
                Target("node_exporter", f"http://127.0.0.1:{node_port}/metrics", node.pid),
            ]
            interleave(targets, args.scrapes)
            (ours_total, ours_fam), (node_total, node_fam) = (sample_counts(t) for t in targets)
            shared_ours = sum(ours_fam.get(a, 0) for a in SHARED)
            shared_node = sum(node_fam.get(b, 0) for b in SHARED.values())
            rows = [targets[0].stats(ours_total), targets[1].stats(node_total)]
            ratios = {
                "cpu_per_scrape_ratio (target <= 0.8)": rows[0].cpu_ms_per_scrape / rows[1].cpu_ms_per_scrape,
                "p50_latency_ratio": rows[0].p50_ms / rows[1].p50_ms,
                "p99_latency_ratio": rows[0].p99_ms / rows[1].p99_ms,
                "shared_family_sample_ratio (target >= 1)": shared_ours / shared_node,
            }
            notes = [
                f"shared families: {len(SHARED)}; samples in them: ours {shared_ours}, node_exporter {shared_node}"
            ]
            report("system", rows, ratios, notes)
        finally:
            ours.stop()
            node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
