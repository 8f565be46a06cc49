"""meminfo: memory and swap from one read of /proc/meminfo, swap activity from /proc/vmstat."""

from __future__ import annotations

import re

from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.procfs import PAGE_SIZE, PROC, read_file

# "MemTotal:       24684084 kB": the kernel reports kB (KiB); a few fields are plain counts.
_MEMINFO_LINE = re.compile(rb"^([^:\n]+):\s+(\d+)( kB)?$", re.M)
_SWAP_PAGES = re.compile(rb"^(pswpin|pswpout) (\d+)$", re.M)

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


def read_meminfo(procfs: str = PROC) -> dict[str, int]:
    """/proc/meminfo in bytes by field name. One read: psutil's virtual_memory() and swap_memory()
    read it twice and parse /proc/vmstat as well, at three times the cost."""
    return {
        key.decode(): int(value) * 1024 if kib else int(value)
        for key, value, kib in _MEMINFO_LINE.findall(read_file(f"{procfs}/meminfo"))
    }


def read_swap_activity(procfs: str = PROC, page_size: int = PAGE_SIZE) -> tuple[int, int]:
    """Bytes swapped in and out since boot (/proc/vmstat's pswpin and pswpout count pages)."""
    pages: dict[bytes, bytes] = dict(_SWAP_PAGES.findall(read_file(f"{procfs}/vmstat")))
    return int(pages.get(b"pswpin", 0)) * page_size, int(pages.get(b"pswpout", 0)) * page_size


class MeminfoCollector:
    name = "meminfo"

    def __init__(self, procfs: str = PROC, page_size: int = PAGE_SIZE) -> None:
        self._procfs = procfs
        self._page_size = page_size

    def collect(self) -> list[MetricFamily]:
        info = read_meminfo(self._procfs)
        out = []
        for name, help_text, fields in MEMORY_GAUGES:
            gauge = MetricFamily.gauge(name, help_text)
            gauge.add((), sum(info.get(f, 0) for f in fields))
            out.append(gauge)
        swapped_in, swapped_out = read_swap_activity(self._procfs, self._page_size)
        for name, help_text, value in (
            ("system_swap_in_bytes", "Bytes swapped in from disk since boot.", swapped_in),
            ("system_swap_out_bytes", "Bytes swapped out to disk since boot.", swapped_out),
        ):
            counter = MetricFamily.counter(name, help_text)
            counter.add((), value)
            out.append(counter)
        return out


SPEC = CollectorSpec("meminfo", True, "memory and swap sizes, swap activity", lambda _: MeminfoCollector())
