"""meminfo: memory and swap from one read of /proc/meminfo, swap activity from /proc/vmstat."""

from __future__ import annotations

import re

from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.procfs import PAGE_SIZE, PROC, ProcFile

# (metric, help, /proc/meminfo fields summed)
MEMORY_GAUGES = (
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

# "MemTotal:       24684084 kB": the fields the gauges need, all in kB (KiB); the other ~50 lines are skipped.
_MEMINFO_FIELDS = re.compile(
    rb"^(" + b"|".join(sorted({f.encode() for _, _, fields in MEMORY_GAUGES for f in fields})) + rb"):\s+(\d+) kB$",
    re.M,
)


def parse_meminfo(meminfo: bytes) -> dict[str, int]:
    """The /proc/meminfo fields of MEMORY_GAUGES in bytes (psutil's virtual_memory() and swap_memory()
    read the file twice and parse /proc/vmstat as well, at three times the cost)."""
    return {key.decode(): int(kib) * 1024 for key, kib in _MEMINFO_FIELDS.findall(meminfo)}


def parse_swap_activity(vmstat: bytes, page_size: int = PAGE_SIZE) -> tuple[int, int]:
    """Bytes swapped in and out since boot (/proc/vmstat's pswpin and pswpout count pages)."""
    return _vmstat_field(vmstat, b"pswpin") * page_size, _vmstat_field(vmstat, b"pswpout") * page_size


def _vmstat_field(vmstat: bytes, name: bytes) -> int:
    # Two of its ~190 lines: finding them beats splitting (or a regex over) the whole file tenfold.
    start = vmstat.find(b"\n" + name + b" ")
    if start < 0:
        return 0
    start += len(name) + 2
    end = vmstat.find(b"\n", start)
    return int(vmstat[start : end if end >= 0 else None])


class MeminfoCollector:
    name = "meminfo"

    def __init__(self, procfs: str = PROC, page_size: int = PAGE_SIZE) -> None:
        self._meminfo = ProcFile(f"{procfs}/meminfo")
        self._vmstat = ProcFile(f"{procfs}/vmstat")
        self._page_size = page_size

    def collect(self) -> list[MetricFamily]:
        info = parse_meminfo(self._meminfo.read())
        out = []
        for name, help_text, fields in MEMORY_GAUGES:
            gauge = MetricFamily.gauge(name, help_text)
            gauge.add((), sum(info.get(f, 0) for f in fields))
            out.append(gauge)
        swapped_in, swapped_out = parse_swap_activity(self._vmstat.read(), self._page_size)
        for name, help_text, value in (
            ("system_swap_in_bytes", "Bytes swapped in from disk since boot.", swapped_in),
            ("system_swap_out_bytes", "Bytes swapped out to disk since boot.", swapped_out),
        ):
            counter = MetricFamily.counter(name, help_text)
            counter.add((), value)
            out.append(counter)
        return out


SPEC = CollectorSpec("meminfo", True, "memory and swap sizes, swap activity", lambda _: MeminfoCollector())
