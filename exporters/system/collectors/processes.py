"""processes: the watched processes of `system.processes` (the chain client, the exporters): up, cpu, memory,
fds, threads, start time, summed over the processes each entry matches."""

from __future__ import annotations

from exporters.config.system import SystemConfig
from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.process_table import ProcessTable
from exporters.system.procfs import CLOCK_TICKS, PAGE_SIZE, read_boot_time
from exporters.system.watched import WatchedProcesses


class ProcessesCollector:
    name = "processes"

    def __init__(self, watched: WatchedProcesses, clock_ticks: int = CLOCK_TICKS, page_size: int = PAGE_SIZE) -> None:
        self._watched = watched
        self._ticks = clock_ticks
        self._page_size = page_size
        self._boot_time = read_boot_time(watched.table.procfs) if watched.names else 0.0

    def collect(self) -> list[MetricFamily]:
        if not self._watched.names:
            return []
        labels = ("process",)
        up = MetricFamily.gauge("system_process_up", "1 if at least one matching process runs.", labels)
        count = MetricFamily.gauge("system_process_matched", "Number of matching processes.", labels)
        cpu = MetricFamily.counter(
            "system_process_cpu_seconds", "CPU seconds used by the matching processes.", ("process", "mode")
        )
        rss = MetricFamily.gauge("system_process_resident_memory_bytes", "Resident memory.", labels)
        vms = MetricFamily.gauge("system_process_virtual_memory_bytes", "Virtual memory.", labels)
        fds = MetricFamily.gauge("system_process_open_fds", "Open file descriptors.", labels)
        threads = MetricFamily.gauge("system_process_threads", "Threads.", labels)
        start = MetricFamily.gauge(
            "system_process_start_time_seconds", "Unix start time of the oldest matching process.", labels
        )
        table, ticks = self._watched.table, self._ticks
        for name, stats in self._watched.current().items():
            user = system = resident = virtual = open_fds = n_threads = 0.0
            fds_readable = True
            oldest: float | None = None
            alive = 0
            for stat in stats:
                try:
                    n_fds = table.open_fds(stat.pid)
                except PermissionError:  # another user's process without root: the rest is still readable
                    n_fds, fds_readable = 0, False
                if n_fds is None:
                    continue  # exited since its stat was read
                user += stat.user_ticks / ticks
                system += stat.system_ticks / ticks
                resident += stat.resident_pages * self._page_size
                virtual += stat.virtual_bytes
                open_fds += n_fds
                n_threads += stat.threads
                created = stat.start_ticks / ticks + self._boot_time
                oldest = created if oldest is None else min(oldest, created)
                alive += 1
            lv = (name,)
            up.add(lv, 1.0 if alive else 0.0)
            count.add(lv, alive)
            if alive:
                cpu.add((name, "user"), user)
                cpu.add((name, "system"), system)
                rss.add(lv, resident)
                vms.add(lv, virtual)
                if fds_readable:  # a partial sum would understate; leave the series out instead
                    fds.add(lv, open_fds)
                threads.add(lv, n_threads)
                start.add(lv, oldest or 0.0)
        return [up, count, cpu, rss, vms, fds, threads, start]


def build(config: SystemConfig) -> ProcessesCollector:
    watched = WatchedProcesses(config.processes, config.process_rescan_interval, ProcessTable())
    return ProcessesCollector(watched)


SPEC = CollectorSpec(
    "processes",
    True,
    "the watched processes of system.processes: up, cpu, memory, fds, threads",
    build,
)
