"""Watched processes (the chain client, the exporters themselves): cpu, memory, fds, threads, up.

Matching is done by a full process-table scan, which is costly, so matched processes are
remembered and only re-verified each scrape (pid + create time, via psutil); a rescan happens
when one of them is gone, when a group has none, or every `process_rescan_interval`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path

import psutil
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporters.config.system import WatchedProcess


class _Matcher:
    def __init__(self, spec: WatchedProcess) -> None:
        self.name = spec.name
        self.comm = spec.match.comm
        self.cmdline = re.compile(spec.match.cmdline) if spec.match.cmdline else None
        self.pidfile: Path | None = spec.match.pidfile

    def matches(self, info: dict[str, object]) -> bool:
        if self.comm is not None:
            return info.get("name") == self.comm
        if self.cmdline is not None:
            cmd = info.get("cmdline") or []
            return bool(self.cmdline.search(" ".join(cmd)))  # type: ignore[arg-type]
        return False

    def from_pidfile(self) -> list[psutil.Process]:
        assert self.pidfile is not None
        try:
            return [psutil.Process(int(self.pidfile.read_text().strip()))]
        except (OSError, ValueError, psutil.Error):
            return []


class ProcessCollector:
    name = "processes"

    def __init__(self, watched: list[WatchedProcess], rescan_interval: float) -> None:
        self._matchers = [_Matcher(w) for w in watched]
        self._rescan_interval = rescan_interval
        self._groups: dict[str, list[psutil.Process]] = {m.name: [] for m in self._matchers}
        self._last_scan = float("-inf")

    def _scan(self) -> None:
        scanned = [m for m in self._matchers if m.pidfile is None]
        groups: dict[str, list[psutil.Process]] = {m.name: [] for m in scanned}
        if scanned:
            own = psutil.Process().pid
            for proc in psutil.process_iter(["name", "cmdline"]):
                if proc.pid == own:
                    continue
                for m in scanned:
                    if m.matches(proc.info):
                        groups[m.name].append(proc)
        self._groups.update(groups)
        self._last_scan = time.monotonic()

    def _refresh(self) -> None:
        for m in self._matchers:
            if m.pidfile is not None:  # a pid file is cheap to read: follow it every scrape
                self._groups[m.name] = m.from_pidfile()
        stale = time.monotonic() - self._last_scan > self._rescan_interval
        lost = any(not p.is_running() for procs in self._groups.values() for p in procs)
        empty = any(not self._groups[m.name] for m in self._matchers if m.pidfile is None)
        if stale or lost or empty:
            self._scan()

    def collect(self) -> Iterable[Metric]:
        labels = ["process"]
        up = GaugeMetricFamily("system_process_up", "1 if at least one matching process runs.", labels=labels)
        count = GaugeMetricFamily("system_process_matched", "Number of matching processes.", labels=labels)
        cpu = CounterMetricFamily(
            "system_process_cpu_seconds",
            "CPU seconds used by the matching processes.",
            labels=["process", "mode"],
        )
        rss = GaugeMetricFamily("system_process_resident_memory_bytes", "Resident memory.", labels=labels)
        vms = GaugeMetricFamily("system_process_virtual_memory_bytes", "Virtual memory.", labels=labels)
        fds = GaugeMetricFamily("system_process_open_fds", "Open file descriptors.", labels=labels)
        threads = GaugeMetricFamily("system_process_threads", "Threads.", labels=labels)
        start = GaugeMetricFamily(
            "system_process_start_time_seconds",
            "Unix start time of the oldest matching process.",
            labels=labels,
        )
        if not self._matchers:
            return []
        self._refresh()
        for m in self._matchers:
            totals = {"user": 0.0, "system": 0.0, "rss": 0.0, "vms": 0.0, "fds": 0.0, "threads": 0.0}
            oldest = None
            alive = 0
            for proc in self._groups[m.name]:
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        mem = proc.memory_info()
                        totals["fds"] += proc.num_fds()
                        totals["threads"] += proc.num_threads()
                        created = proc.create_time()
                except psutil.Error:
                    continue  # exited between match and read; the next scrape rescans
                totals["user"] += times.user
                totals["system"] += times.system
                totals["rss"] += mem.rss
                totals["vms"] += mem.vms
                oldest = created if oldest is None else min(oldest, created)
                alive += 1
            lv = [m.name]
            up.add_metric(lv, 1.0 if alive else 0.0)
            count.add_metric(lv, alive)
            if alive:
                cpu.add_metric([m.name, "user"], totals["user"])
                cpu.add_metric([m.name, "system"], totals["system"])
                rss.add_metric(lv, totals["rss"])
                vms.add_metric(lv, totals["vms"])
                fds.add_metric(lv, totals["fds"])
                threads.add_metric(lv, totals["threads"])
                start.add_metric(lv, oldest or 0.0)
        return [up, count, cpu, rss, vms, fds, threads, start]
