"""Host-wide collectors: cpu, load, memory, swap, disk io, network io, kernel stats."""

from __future__ import annotations

import os
from collections.abc import Iterable

import psutil
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporters.system.filters import NameFilter

# psutil reports these /proc/stat columns; guest time is already inside user/nice, as in the kernel.
_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


class CPUCollector:
    name = "cpu"

    def collect(self) -> Iterable[Metric]:
        seconds = CounterMetricFamily(
            "system_cpu_seconds", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
        )
        guest = CounterMetricFamily(
            "system_cpu_guest_seconds",
            "Seconds the CPUs spent running guests (already included in user and nice).",
            labels=["cpu", "mode"],
        )
        per_cpu = psutil.cpu_times(percpu=True)
        for index, times in enumerate(per_cpu):
            cpu = str(index)
            for mode in _CPU_MODES:
                seconds.add_metric([cpu, mode], getattr(times, mode, 0.0))
            guest.add_metric([cpu, "user"], getattr(times, "guest", 0.0))
            guest.add_metric([cpu, "nice"], getattr(times, "guest_nice", 0.0))
        count = GaugeMetricFamily("system_cpus", "Number of logical CPUs.")
        count.add_metric([], len(per_cpu))
        stats = psutil.cpu_stats()
        ctx = CounterMetricFamily("system_context_switches", "Context switches since boot.")
        ctx.add_metric([], stats.ctx_switches)
        intr = CounterMetricFamily("system_interrupts", "Interrupts serviced since boot.")
        intr.add_metric([], stats.interrupts)
        return [seconds, guest, count, ctx, intr]


class LoadCollector:
    name = "loadavg"

    def collect(self) -> Iterable[Metric]:
        out = []
        for minutes, value in zip((1, 5, 15), os.getloadavg(), strict=True):
            family = GaugeMetricFamily(f"system_load{minutes}", f"{minutes}m load average.")
            family.add_metric([], value)
            out.append(family)
        return out


def read_meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    """/proc/meminfo as bytes by field name. One read: psutil's virtual_memory() and
    swap_memory() read it twice and parse /proc/vmstat as well, at three times the cost."""
    out = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            fields = rest.split()
            out[key] = int(fields[0]) * (1024 if len(fields) > 1 else 1)
    return out


def read_swap_activity(path: str = "/proc/vmstat") -> tuple[int, int]:
    """Pages swapped in and out since boot, in bytes (pswpin/pswpout count pages)."""
    pages = {"pswpin": 0, "pswpout": 0}
    with open(path) as f:
        for line in f:
            if line.startswith("psw"):
                key, value = line.split()
                pages[key] = int(value)
    size = os.sysconf("SC_PAGE_SIZE")
    return pages["pswpin"] * size, pages["pswpout"] * size


# (metric, help, /proc/meminfo fields summed)
_MEMORY_GAUGES = (
    ("system_memory_total_bytes", "Total usable memory (MemTotal).", ("MemTotal",)),
    (
        "system_memory_available_bytes",
        "Memory available for new work without swapping (MemAvailable).",
        ("MemAvailable",),
    ),
    ("system_memory_free_bytes", "Unused memory (MemFree).", ("MemFree",)),
    ("system_memory_buffers_bytes", "Memory in kernel buffers (Buffers).", ("Buffers",)),
    (
        "system_memory_cached_bytes",
        "Page cache and reclaimable slab (Cached + SReclaimable).",
        ("Cached", "SReclaimable"),
    ),
    ("system_memory_shared_bytes", "Shared memory, mostly tmpfs (Shmem).", ("Shmem",)),
    ("system_swap_total_bytes", "Total swap space.", ("SwapTotal",)),
    ("system_swap_free_bytes", "Unused swap space.", ("SwapFree",)),
)


class MemoryCollector:
    name = "meminfo"

    def collect(self) -> Iterable[Metric]:
        info = read_meminfo()
        out: list[Metric] = []
        for name, help_text, fields in _MEMORY_GAUGES:
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], sum(info.get(f, 0) for f in fields))
            out.append(gauge)
        swapped_in, swapped_out = read_swap_activity()
        for name, help_text, value in (
            ("system_swap_in_bytes", "Bytes swapped in from disk since boot.", swapped_in),
            ("system_swap_out_bytes", "Bytes swapped out to disk since boot.", swapped_out),
        ):
            counter = CounterMetricFamily(name, help_text)
            counter.add_metric([], value)
            out.append(counter)
        return out


class DiskIOCollector:
    name = "diskstats"

    def __init__(self, devices: NameFilter) -> None:
        self.devices = devices

    def collect(self) -> Iterable[Metric]:
        labels = ["device"]
        reads = CounterMetricFamily("system_disk_reads_completed", "Reads completed.", labels=labels)
        writes = CounterMetricFamily("system_disk_writes_completed", "Writes completed.", labels=labels)
        read_bytes = CounterMetricFamily("system_disk_read_bytes", "Bytes read.", labels=labels)
        written = CounterMetricFamily("system_disk_written_bytes", "Bytes written.", labels=labels)
        read_time = CounterMetricFamily("system_disk_read_time_seconds", "Seconds spent reading.", labels=labels)
        write_time = CounterMetricFamily("system_disk_write_time_seconds", "Seconds spent writing.", labels=labels)
        io_time = CounterMetricFamily("system_disk_io_time_seconds", "Seconds spent doing I/O.", labels=labels)
        # nowrap=False: the kernel's counters are 64-bit, and psutil's wrap bookkeeping costs a third of the call.
        for device, c in (psutil.disk_io_counters(perdisk=True, nowrap=False) or {}).items():
            if not self.devices(device):
                continue
            lv = [device]
            reads.add_metric(lv, c.read_count)
            writes.add_metric(lv, c.write_count)
            read_bytes.add_metric(lv, c.read_bytes)
            written.add_metric(lv, c.write_bytes)
            # psutil reports milliseconds; Prometheus wants base units.
            read_time.add_metric(lv, c.read_time / 1000.0)
            write_time.add_metric(lv, c.write_time / 1000.0)
            io_time.add_metric(lv, getattr(c, "busy_time", 0) / 1000.0)
        return [reads, writes, read_bytes, written, read_time, write_time, io_time]


_NET_COUNTERS = (
    ("receive_bytes", "bytes_recv", "Bytes received."),
    ("transmit_bytes", "bytes_sent", "Bytes transmitted."),
    ("receive_packets", "packets_recv", "Packets received."),
    ("transmit_packets", "packets_sent", "Packets transmitted."),
    ("receive_errors", "errin", "Receive errors."),
    ("transmit_errors", "errout", "Transmit errors."),
    ("receive_drop", "dropin", "Received packets dropped."),
    ("transmit_drop", "dropout", "Transmitted packets dropped."),
)


class NetworkCollector:
    name = "netdev"

    def __init__(self, devices: NameFilter) -> None:
        self.devices = devices

    def collect(self) -> Iterable[Metric]:
        families = [
            (CounterMetricFamily(f"system_network_{metric}", help_text, labels=["device"]), field)
            for metric, field, help_text in _NET_COUNTERS
        ]
        for device, c in psutil.net_io_counters(pernic=True, nowrap=False).items():
            if not self.devices(device):
                continue
            for family, field in families:
                family.add_metric([device], getattr(c, field))
        return [family for family, _ in families]


def _read_file_nr() -> tuple[int, int] | None:
    try:
        with open("/proc/sys/fs/file-nr") as f:
            allocated, _unused, maximum = f.read().split()
        return int(allocated), int(maximum)
    except (OSError, ValueError):
        return None


class KernelCollector:
    name = "kernel"

    def __init__(self) -> None:
        self._boot_time = psutil.boot_time()

    def collect(self) -> Iterable[Metric]:
        boot = GaugeMetricFamily("system_boot_time_seconds", "Unix time the host booted.")
        boot.add_metric([], self._boot_time)
        procs = GaugeMetricFamily("system_processes", "Number of processes on the host.")
        procs.add_metric([], len(psutil.pids()))
        out: list[Metric] = [boot, procs]
        file_nr = _read_file_nr()
        if file_nr is not None:
            allocated = GaugeMetricFamily("system_filefd_allocated", "Open file descriptors, host wide.")
            allocated.add_metric([], file_nr[0])
            maximum = GaugeMetricFamily("system_filefd_maximum", "Maximum open file descriptors, host wide.")
            maximum.add_metric([], file_nr[1])
            out += [allocated, maximum]
        return out
