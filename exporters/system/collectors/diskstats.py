"""diskstats: per block device io counters from /proc/diskstats, partitions and virtual devices left out by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.procfs import PROC, ProcFile

SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's own sector size

DiskCounters = tuple[int, int, int, int, int, int, int]  # reads, writes, read/written sectors, read/write/busy ms


def parse_diskstats(diskstats: bytes) -> Iterator[tuple[str, DiskCounters]]:
    """(device, counters) per line of /proc/diskstats, in the kernel's order."""
    for line in diskstats.splitlines():
        fields = line.split()
        if len(fields) == 14 or len(fields) >= 18:  # 14 columns before Linux 4.18, then 18, then 20
            reads, _, read_sectors, read_ms, writes, _, written_sectors, write_ms, _, busy_ms = map(int, fields[3:13])
        elif len(fields) == 7:  # a partition on kernels before 2.6.25: four counters only
            reads, read_sectors, writes, written_sectors = map(int, fields[3:7])
            read_ms = write_ms = busy_ms = 0
        else:
            continue
        yield fields[2].decode(), (reads, writes, read_sectors, written_sectors, read_ms, write_ms, busy_ms)


class DiskstatsCollector:
    name = "diskstats"

    def __init__(self, devices: Callable[[str], bool], procfs: str = PROC) -> None:
        self._devices = devices
        self._diskstats = ProcFile(f"{procfs}/diskstats")

    def collect(self) -> list[MetricFamily]:
        labels = ("device",)
        reads = MetricFamily.counter("system_disk_reads_completed", "Reads completed.", labels)
        writes = MetricFamily.counter("system_disk_writes_completed", "Writes completed.", labels)
        read_bytes = MetricFamily.counter("system_disk_read_bytes", "Bytes read.", labels)
        written = MetricFamily.counter("system_disk_written_bytes", "Bytes written.", labels)
        read_time = MetricFamily.counter("system_disk_read_time_seconds", "Seconds spent reading.", labels)
        write_time = MetricFamily.counter("system_disk_write_time_seconds", "Seconds spent writing.", labels)
        io_time = MetricFamily.counter("system_disk_io_time_seconds", "Seconds spent doing I/O.", labels)
        for device, (n_reads, n_writes, read_sectors, written_sectors, read_ms, write_ms, busy_ms) in parse_diskstats(
            self._diskstats.read()
        ):
            if not self._devices(device):
                continue
            lv = (device,)
            reads.add(lv, n_reads)
            writes.add(lv, n_writes)
            read_bytes.add(lv, read_sectors * SECTOR_BYTES)
            written.add(lv, written_sectors * SECTOR_BYTES)
            # The kernel counts milliseconds; Prometheus wants base units.
            read_time.add(lv, read_ms / 1000.0)
            write_time.add(lv, write_ms / 1000.0)
            io_time.add(lv, busy_ms / 1000.0)
        return [reads, writes, read_bytes, written, read_time, write_time, io_time]


SPEC = CollectorSpec(
    "diskstats",
    True,
    "block device io counters (system.disk filters the devices)",
    lambda config: DiskstatsCollector(config.disk.name_filter()),
)
